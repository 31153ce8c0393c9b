"""Every listing Hercules 3.13 ``dasdls`` prints, option for option.

Facts from ``dasdls.c`` (Hercules 3.x, https://github.com/rbowler/spinhawk), checked by
the interop tests against ``dasdls`` on the same volumes:

* Options, each given before the image it applies to: ``-info`` (the Format-1 columns
  of :func:`dasdlab.emulator.listing.format_dasdls`), ``-hdr`` (column headers), ``-caldt``
  (dates as ``yyyyMonDD``), ``-refdt`` and ``-expdt`` (last-reference and expiry date
  columns), ``-dsnl`` (names 26 wide) or ``-dsnl=N``, ``-yroffs`` (28 years added to
  every date shown) or ``-yroffs=N``; every option but none implies ``-info``.  Options
  stay set for the images after them; an image may be followed by ``sf=NAME``.
* Without options only the names are listed, each padded to 44 (a longer name is never
  cut).  Each image's listing starts with ``NAME: VOLSER=volser`` (the name as given),
  and every listing after the first with an empty line.
* A date is ``yyddd`` (year modulo 100, day of year), with ``-caldt`` ``yyyyMonDD``, or
  ``*********`` when the day is not one of that year; the last-reference and expiry
  dates are dashes when their first two bytes are 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: DSCB offsets (key included) of the creation, expiry and last-reference dates.
CREATED_AT, EXPIRES_AT, REFERENCED_AT = 53, 56, 75


@dataclass
class Options:
    info: bool = False
    header: bool = False
    caldate: bool = False
    refdate: bool = False
    expdate: bool = False
    dsnlen: int = 44
    yroffs: int = 0


@dataclass
class Request:
    """What one ``dasdls`` command line asks: (image, sf) pairs with the options then set."""

    images: list[tuple[str, str | None, Options]] = field(default_factory=list)


def parse_args(args: list[str]) -> Request:
    """Read a ``dasdls`` argument list as ``dasdls`` does; ValueError names an unknown
    option (which ``dasdls`` would take for an image name)."""
    req, opt, i = Request(), Options(), 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "-info":
            opt.info = True
        elif a == "-caldt":
            opt.caldate = opt.info = True
        elif a == "-expdt":
            opt.expdate = opt.info = True
        elif a == "-refdt":
            opt.refdate = opt.info = True
        elif a == "-hdr":
            opt.header = opt.info = True
        elif a.startswith("-dsnl=") and len(a) > 6:
            opt.dsnlen, opt.info = _atoi(a[6:]), True
        elif a == "-dsnl":
            opt.dsnlen, opt.info = 26, True
        elif a.startswith("-yroffs=") and len(a) > 8:
            opt.yroffs, opt.info = _atoi(a[8:]), True
        elif a == "-yroffs":
            opt.yroffs, opt.info = 28, True
        elif a.startswith("-") and len(a) > 1:
            # dasdls would try to open it as an image; a usage error says more
            raise ValueError(a)
        else:
            sf = None
            if i < len(args) and args[i].startswith("sf=") and len(args[i]) > 3:
                sf = args[i][3:]
                i += 1
            req.images.append((a, sf, Options(**vars(opt))))
    return req


def _atoi(text: str) -> int:
    """C ``atoi``: the leading digits (with a sign), 0 when there are none."""
    s = text.strip()
    sign, j = 1, 0
    if s[:1] in "+-" and s:
        sign, j = (-1 if s[0] == "-" else 1), 1
    k = j
    while k < len(s) and s[k].isdigit():
        k += 1
    return sign * int(s[j:k]) if k > j else 0


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def format_date(raw: bytes, opt: Options) -> str:
    y = raw[0] + opt.yroffs
    d = (raw[1] << 8) | raw[2]
    if opt.caldate:
        y += 1900
        days = 366 if _leap(y) else 365
        if not 0 < d <= days:
            return " *********"
        month, left = 0, d
        for m, n in enumerate((31, 29 if _leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)):
            if left <= n:
                month = m
                break
            left -= n
        return f" {y:04d}{MONTHS[month]}{left:02d}"
    return f" {y % 100:02d}{d:03d}"


def _optional_date(raw: bytes, opt: Options) -> str:
    if raw[0] or raw[1]:
        return format_date(raw, opt)
    return " ---------" if opt.caldate else " -----"


def header(opt: Options) -> str:
    cal = opt.caldate
    return (f"{'Dsname':<{opt.dsnlen}}" + ("  Created " if cal else " CREDT")
            + ((" Last Ref." if cal else " REFDT") if opt.refdate else "")
            + ((" Exp. Date" if cal else " EXPDT") if opt.expdate else "")
            + " ORG RECFM LRECL BLKSZ Key  Trks%Use#Ext 2ndry_alloc")


def listing(vol, name: str, opt: Options) -> list[str]:
    """The lines ``dasdls`` prints for one volume (without the separating empty line)."""
    from dasdlab.emulator.listing import entry_of, format_dasdls

    vt = vol.vtoc
    lines = [f"{name}: VOLSER={vol.volser}"]
    if opt.header:
        lines.append(header(opt))
    for ds in sorted(vt.datasets.values(), key=lambda d: d.f1_addr):
        line = f"{ds.dsn:<{opt.dsnlen}}"
        if opt.info:
            raw = vt._read_dscb(ds.f1_addr)
            e = entry_of(ds, vol.heads, vol.slot)
            # the columns after the creation date are format_dasdls' own
            tail = format_dasdls(e)[44 + 1 + len(e.created):]
            line += format_date(raw[CREATED_AT : CREATED_AT + 3], opt)
            if opt.refdate:
                line += _optional_date(raw[REFERENCED_AT : REFERENCED_AT + 3], opt)
            if opt.expdate:
                line += _optional_date(raw[EXPIRES_AT : EXPIRES_AT + 3], opt)
            line += tail
        lines.append(line)
    return lines


__all__ = ["Options", "Request", "format_date", "header", "listing", "parse_args"]
