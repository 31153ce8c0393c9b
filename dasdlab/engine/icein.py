"""ICEIN control statements of IMS High Performance Image Copy (a documented subset).

Syntax (IMS Recovery Solution Pack 2.1, "ICEIN control statements" and "GLOBAL
statement"): 80-byte records; a statement is coded in columns 2-72 (column 1 may hold
it too); the statement name and the first option are on the same line, separated by
blanks; options are ``KEYWORD=value`` separated by commas *without* blanks; a line that
ends with a comma continues on the next; text after the options (``/* ... */`` or any
remark after a blank) is a comment; a line with ``*`` in column 1 is a comment.

Statements: ``GLOBAL`` (defaults for the job, at most one, first), ``IC``/``AIC``
(batch image copy), ``CIC``/``ACIC`` (concurrent image copy) and ``GROUP`` (every DBDS of
a CA group or DBDS group defined in RECON, ``FUNC=IC|AIC|CIC|ACIC`` required, S104;
expanded into one statement per member by :func:`expand` when the job runs).
Keywords (S17-S23, ``docs/sources.md``):

=============  ===============================================================
DBD=name       the database (required on IC/CIC)
DDN=ddname     one data set group; omitted: every DBDS of the database
ICOUT=         ``*`` one copy, ``(*,*)`` primary and secondary (IC1/IC2), up to
               seven ``(*,*,...)``; ``%NO`` reads the data set (HASH check) and writes
               no copy (S21).  RECON records IC1 and IC2 only (S13): copies 3-7 are
               written and reported, not registered
FASTIC=        ``(REQ|PREF|FREQ,DUMP|FDUMP|COPY[,FCTOPPRCP[(PRESMIRREQ|PRESMIRPREF|
               PMR|PMP)]])`` Advanced Image Copy Services, or ``N`` for the standard
               process.  The third operand is DFSMSdss's FCTOPPRCPRIMARY for the COPY
               process, ignored with DUMP and FDUMP (S105); dasdlab has no Metro Mirror,
               so no FlashCopy target is a PPRC primary and the operand changes nothing:
               it is parsed, checked and reported (``Options.fctopprcp``)
CAGRP=, DBDSGRP=  GROUP only: the RECON group whose members are copied (one of them)
FUNC=          GROUP only: ``IC``, ``AIC``, ``CIC`` or ``ACIC`` (CRC is not modeled)
REGTIMESTMP=   GLOBAL only: ``SAME`` -- every batch FDUMP copy of the job is registered
               with one time stamp: the databases are all held first, the shadows made
               one by one, each database released after its own (S102); ``DIFFER``
               (default) each its own.  Ignored unless FASTIC=(,FDUMP)
DBALL=         GLOBAL only: ``(Y|XIDX|N[,N|Y])`` -- a statement also copies the
               databases its DBD's LCHILD statements relate it to (``XIDX``: not the
               index databases, PTR=INDX) when they are registered in RECON; a second
               operand ``Y`` gives their FDUMP copies one time stamp, as REGTIMESTMP=SAME
               (S103)
DATA_MOVER=    GLOBAL only: ``ADRDSSU`` (DFSMSdss, default) or ``EMCSNAP``
               (TimeFinder/Clone) for the FDUMP and COPY processes (S79)
               dasdlab extension: ``DATA_MOVER=NAME``, any registered copy service with
               the fast-replication capability (``dasdlab services list``), makes the
               Fast Recovery clone of ``FASTIC=(REQ|PREF,COPY)`` with that service
COMP=Y|N       compressed output format
DBRC=Y|N       register the copy in RECON
TOIAUTO_Q=Y|N  GLOBAL only: batch copies hold updaters with UPDATE DB QUIESCE
               instead of /DBR (S23)
TOIAUTO=       ``Y`` stop the database before a batch copy and start it after,
               ``O`` stop it only, ``N`` neither (it must be stopped already);
               on GLOBAL also ``(Y|O,EVERY|LAST|NO,DBR|DBD,FIRST|SECOND)``: switch
               the OLDS and take a checkpoint at every stop / at the job's last
               stop / never; stop with /DBR or /DBD (read-only) (S92).  Not coded:
               dasdlab stops (/DBR) and starts the database itself, as before
ICHLQ=hlq      high-level qualifier of the output data set names (default IMSIC)
VOLSER=vol     output volume (default: the site volume with the most free space)
SHDWVOLSER=v   volume of the FDUMP shadow data set (default: the database's volume)
CC_TYPE=       dasdlab extension: which Concurrent Copy a DUMP asks DFSMSdss for —
               ``ANY`` (default: DFSMSdss's ANYPREFERRED, virtual CC first, then cache
               CC, S45), ``CACHE`` (CACHEPREFERRED) or ``VIRTUAL`` (VIRTUALPREFERRED)
=============  ===============================================================

GLOBAL values are defaults that each IC/CIC statement may override, except the
GLOBAL-only keywords ``DATA_MOVER`` and ``TOIAUTO_Q`` ("Statements that support this
keyword: GLOBAL statement", S79, S23), which an IC/CIC statement may not code
(DLB622E).  Illegal combinations are rejected with a message id and the statement's
line.

``DATA_MOVER`` applies to the FDUMP and COPY processes only (S79): with ``FASTIC=N``
or ``DUMP`` it is ignored -- our reading of the keyword's "applicable to" list, since
a GLOBAL default must not make the job's other statements fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from dasdlab.errors import ParseError

STATEMENTS = ("GLOBAL", "IC", "AIC", "CIC", "ACIC", "GROUP")
#: keywords only the GLOBAL statement supports (S79, S23, S102, S103)
GLOBAL_ONLY = ("DATA_MOVER", "TOIAUTO_Q", "REGTIMESTMP", "DBALL")
#: keywords only the GROUP statement supports (S104)
GROUP_ONLY = ("CAGRP", "DBDSGRP", "FUNC")
MAX_COPIES = 7  # ICOUT (S21)
FCTOPPRCP = ("FCTOPPRCP", "FCTOPPRCP(PRESMIRREQ)", "FCTOPPRCP(PRESMIRPREF)", "FCTOPPRCP(PMR)", "FCTOPPRCP(PMP)")
AVAILABILITY = ("REQ", "PREF", "FREQ")
METHODS = ("DUMP", "FDUMP", "COPY")
_NAME = re.compile(r"^[A-Z@#$][A-Z0-9@#$]{0,7}$")
_VOLSER = re.compile(r"^[A-Z0-9@#$]{1,6}$")
_HLQ = re.compile(r"^[A-Z@#$][A-Z0-9@#$-]{0,7}(\.[A-Z@#$][A-Z0-9@#$-]{0,7})*$")


@dataclass(frozen=True)
class Options:
    """Options in force for one statement (GLOBAL defaults merged with its own)."""

    dbrc: bool = True
    copies: int = 1  # ICOUT=* -> 1, ICOUT=(*,*) -> 2, ... up to 7; ICOUT=%NO -> 0
    fastic: tuple[str, str] | None = None  # (availability, method) or None for FASTIC=N
    data_mover: str = "ADRDSSU"
    compress: bool = False
    quiesce: bool = False
    ichlq: str = "IMSIC"
    volser: str | None = None
    shadow_volser: str | None = None
    cc_type: str = "ANY"
    #: TOIAUTO=(Y|N|O, EVERY|LAST|NO, DBR|DBD, FIRST|SECOND); None: not coded
    toiauto: tuple[str, str, str, str] | None = None
    #: FASTIC's third operand (FCTOPPRCP...), None when not coded
    fctopprcp: str | None = None
    regtimestmp: str = "DIFFER"  # SAME | DIFFER
    dball: tuple[str, str] = ("N", "N")  # (Y|XIDX|N, N|Y)

    @property
    def method(self) -> str:
        """The copy kind in words: standard, dump, fdump, copy or emcsnap."""
        if self.fastic is None:
            return "standard"
        if self.data_mover == "EMCSNAP" and self.fastic[1] in ("FDUMP", "COPY"):
            return "emcsnap"
        return self.fastic[1].lower()


@dataclass(frozen=True)
class Statement:
    """One IC/AIC/CIC/ACIC statement with its effective options."""

    kind: str  # IC, AIC, CIC, ACIC
    dbd: str
    ddn: str | None
    options: Options
    line: int
    text: str = field(compare=False, default="")
    #: a GROUP statement: ("CAGRP" | "DBDSGRP", name), before :func:`expand`
    group: tuple[str, str] | None = None
    #: the statements expanded from one DBALL search share this key (DBALL=(,Y))
    same_key: str | None = None

    @property
    def concurrent(self) -> bool:
        return self.kind in ("CIC", "ACIC")

    @property
    def parallel(self) -> bool:
        """AIC and ACIC run their processes in parallel (FUNC keyword, S89)."""
        return self.kind in ("AIC", "ACIC")


@dataclass(frozen=True)
class Icein:
    source: str
    glob: Options
    statements: list[Statement]


def _err(msgid: str, source: str, line: int, col: int, text: str) -> ParseError:
    return ParseError(msgid, f"{source} line {line} column {col}: {text}")


def _split_options(body: str, line: int, col0: int, source: str) -> list[tuple[str, str, int]]:
    """``KEY=value,KEY=(a,b)`` -> [(KEY, value, column)], honouring parentheses."""
    out = []
    depth = 0
    start = 0
    for i, ch in enumerate(body + ","):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise _err("DLB601E", source, line, col0 + i, "unbalanced parenthesis.")
        elif ch == "," and depth == 0:
            item = body[start:i]
            if not item:
                raise _err("DLB601E", source, line, col0 + start, "empty option (two commas in a row).")
            if "=" not in item:
                raise _err("DLB601E", source, line, col0 + start, f"option {item!r} is not KEYWORD=value.")
            k, v = item.split("=", 1)
            out.append((k.upper(), v.upper(), col0 + start))
            start = i + 1
    if depth:
        raise _err("DLB601E", source, line, col0 + len(body), "unbalanced parenthesis.")
    return out


def _logical_statements(text: str, source: str):
    """Yield (first line number, name, [(option text, line, column)...], full text)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i][:72]
        lineno = i + 1
        i += 1
        if not raw.strip() or raw.startswith("*") or raw.strip().startswith("/*"):
            continue
        m = re.match(r"^(\s*)(\S+)(\s+)(\S+)?", raw)
        assert m is not None
        name = m.group(2).upper()
        if m.group(4) is None:
            raise _err("DLB600E", source, lineno, len(raw) + 1,
                       f"statement {name} has no options on its first line.")
        col = m.start(4) + 1
        pieces = []
        opt = m.group(4)
        full = raw.rstrip()
        pieces.append((opt, lineno, col))
        while opt.endswith(","):
            if i >= len(lines):
                raise _err("DLB602E", source, lineno, col + len(opt), "the statement continues past the end of the input.")
            nxt = lines[i][:72]
            lineno = i + 1
            i += 1
            mm = re.match(r"^(\s*)(\S+)", nxt)
            if mm is None:
                raise _err("DLB602E", source, lineno, 1, "a continued statement needs more options on this line.")
            opt = mm.group(2)
            col = mm.start(2) + 1
            pieces.append((opt, lineno, col))
            full += "\n" + nxt.rstrip()
        yield pieces[0][1], name, pieces, full


def _yn(v: str, key: str, source: str, line: int, col: int) -> bool:
    if v not in ("Y", "N"):
        raise _err("DLB603E", source, line, col, f"{key}= must be Y or N, not {v!r}.")
    return v == "Y"


def _apply(opts: Options, key: str, v: str, source: str, line: int, col: int, stmt: str) -> tuple[Options, dict]:
    """Apply one keyword to ``opts``; returns (options, {"dbd"/"ddn": value})."""
    extra: dict = {}
    if key in GLOBAL_ONLY and stmt != "GLOBAL":
        raise _err("DLB622E", source, line, col, f"{key}= is a GLOBAL-only keyword; code it on the GLOBAL "
                   f"statement, not on {stmt}.")
    if key in GROUP_ONLY:
        if stmt != "GROUP":
            raise _err("DLB563E", source, line, col, f"{key}= goes on the GROUP statement only, not on {stmt}.")
        if key == "FUNC":
            if v not in ("IC", "AIC", "CIC", "ACIC"):
                raise _err("DLB563E", source, line, col, f"FUNC={v}: code IC, AIC, CIC or ACIC (the Create "
                           "Image Copy function, CRC, is not modeled).")
            extra["func"] = v
        else:
            if not _NAME.match(v):
                raise _err("DLB563E", source, line, col, f"{key}={v} is not a valid group name (1-8 characters).")
            extra["group"] = (key, v)
        return opts, extra
    if key == "REGTIMESTMP":
        if v not in ("SAME", "DIFFER"):
            raise _err("DLB564E", source, line, col, f"REGTIMESTMP={v}: code SAME or DIFFER.")
        return replace(opts, regtimestmp=v), extra
    if key == "DBALL":
        m = re.match(r"^\(([^()]*)\)$", v)
        parts = m.group(1).split(",") if m else [v]
        if not (1 <= len(parts) <= 2) or parts[0] not in ("Y", "XIDX", "N") or \
                (len(parts) == 2 and parts[1] not in ("Y", "N")):
            raise _err("DLB565E", source, line, col, f"DBALL={v}: code DBALL=Y|XIDX|N or DBALL=(Y|XIDX|N,N|Y).")
        return replace(opts, dball=(parts[0], parts[1] if len(parts) == 2 else "N")), extra
    if key in ("DBD", "DDN"):
        if stmt == "GLOBAL":
            raise _err("DLB604E", source, line, col, f"{key}= is not allowed on GLOBAL.")
        if not _NAME.match(v):
            raise _err("DLB605E", source, line, col, f"{key}={v} is not a valid name (1-8 characters).")
        extra[key.lower()] = v
        return opts, extra
    if key == "ICOUT":
        if v == "*":
            return replace(opts, copies=1), extra
        if v == "%NO":
            return replace(opts, copies=0), extra
        m = re.match(r"^\(([^()]*)\)$", v)
        parts = m.group(1).split(",") if m else []
        if parts and all(x == "*" for x in parts):
            if len(parts) > MAX_COPIES:
                raise _err("DLB566E", source, line, col, f"ICOUT={v}: at most {MAX_COPIES} image copies (S21).")
            return replace(opts, copies=len(parts)), extra
        raise _err("DLB606E", source, line, col, f"ICOUT={v}: code ICOUT=*, (*,*) ... up to seven, or %NO "
                   "(dynamic allocation; DD names are not supported).")
    if key == "FASTIC":
        if v == "N":
            return replace(opts, fastic=None, fctopprcp=None), extra
        m = re.match(r"^\((\w+),(\w+)(?:,(FCTOPPRCP(?:\(\w+\))?))?\)$", v)
        if not m or m.group(1) not in AVAILABILITY or m.group(2) not in METHODS:
            third = re.match(r"^\((\w+),(\w+),(.*)\)$", v)
            if third and third.group(1) in AVAILABILITY and third.group(2) in METHODS:
                raise _err("DLB567E", source, line, col, f"FASTIC={v}: the third operand is one of "
                           f"{', '.join(FCTOPPRCP)} (S105).")
            raise _err("DLB607E", source, line, col,
                       f"FASTIC={v}: code FASTIC=(REQ|PREF|FREQ,DUMP|FDUMP|COPY) or FASTIC=N.")
        if m.group(3) is not None and m.group(3) not in FCTOPPRCP:
            raise _err("DLB567E", source, line, col, f"FASTIC={v}: the third operand is one of "
                       f"{', '.join(FCTOPPRCP)} (S105).")
        return replace(opts, fastic=(m.group(1), m.group(2)), fctopprcp=m.group(3)), extra
    if key == "DATA_MOVER":
        if v not in ("ADRDSSU", "EMCSNAP") and v.lower() not in fast_replication_services():
            others = "".join(f", {n.upper()}" for n in sorted(fast_replication_services()))
            raise _err("DLB608E", source, line, col, f"DATA_MOVER={v}: code ADRDSSU or EMCSNAP{others} "
                                                     "(a registered copy service with fast replication).")
        return replace(opts, data_mover=v), extra
    if key == "COMP":
        return replace(opts, compress=_yn(v, key, source, line, col)), extra
    if key == "DBRC":
        return replace(opts, dbrc=_yn(v, key, source, line, col)), extra
    if key == "TOIAUTO_Q":
        return replace(opts, quiesce=_yn(v, key, source, line, col)), extra
    if key == "TOIAUTO":
        return replace(opts, toiauto=_toiauto(opts, v, source, line, col, stmt)), extra
    if key == "ICHLQ":
        if not _HLQ.match(v) or len(v) > 26:
            raise _err("DLB605E", source, line, col, f"ICHLQ={v} is not a valid high-level qualifier.")
        return replace(opts, ichlq=v), extra
    if key == "CC_TYPE":
        if v not in ("ANY", "CACHE", "VIRTUAL"):
            raise _err("DLB621E", source, line, col, f"CC_TYPE={v}: code ANY, CACHE or VIRTUAL.")
        return replace(opts, cc_type=v), extra
    if key in ("VOLSER", "SHDWVOLSER"):
        if not _VOLSER.match(v):
            raise _err("DLB605E", source, line, col, f"{key}={v} is not a valid volume serial.")
        return (replace(opts, volser=v) if key == "VOLSER" else replace(opts, shadow_volser=v)), extra
    raise _err("DLB609E", source, line, col, f"keyword {key} is not supported on {stmt}.")


def _toiauto(opts: Options, v: str, source: str, line: int, col: int, stmt: str) -> tuple[str, str, str, str]:
    """TOIAUTO=Y|N|O or (Y|O,EVERY|LAST|NO,DBR|DBD,FIRST|SECOND) (S92); the optional
    parameters only on GLOBAL, which an IC/AIC statement's Y or O inherits."""
    if stmt in ("CIC", "ACIC"):
        raise _err("DLB625E", source, line, col, f"TOIAUTO= is not supported on {stmt}: a concurrent image "
                   "copy never stops the database (the keyword is for GLOBAL, GROUP and IC/AIC, S92).")
    m = re.match(r"^\(([^()]*)\)$", v)
    parts = m.group(1).split(",") if m else [v]
    allowed = (("Y", "N", "O"), ("EVERY", "LAST", "NO"), ("DBR", "DBD"), ("FIRST", "SECOND"))
    if len(parts) > len(allowed):
        raise _err("DLB624E", source, line, col, f"TOIAUTO={v}: only the first four operands "
                   "(Y|N|O, EVERY|LAST|NO, DBR|DBD, FIRST|SECOND) are supported.")
    for i, (p, ok) in enumerate(zip(parts, allowed)):
        if p not in ok:
            raise _err("DLB624E", source, line, col, f"TOIAUTO={v}: operand {i + 1} must be "
                       f"{'|'.join(ok)}, not {p!r}.")
    if len(parts) > 1 and (stmt != "GLOBAL" or parts[0] == "N"):
        raise _err("DLB624E", source, line, col, f"TOIAUTO={v}: the optional parameters go on GLOBAL only, "
                   "with Y or O (S92).")
    inherited = opts.toiauto[1:] if opts.toiauto is not None else ("EVERY", "DBR", "FIRST")
    given = tuple(parts[1:])
    return (parts[0], *given, *inherited[len(given):])  # type: ignore[return-value]


def fast_replication_services() -> frozenset[str]:
    """Registered copy services usable as ``DATA_MOVER=NAME`` (besides the three that
    HP Image Copy itself knows as FlashCopy, SnapShot and EMCSNAP)."""
    from dasdlab.emulator.services import registry

    return frozenset(n for n, info in registry.services().items()
                     if info.capabilities.fast_replication and n not in ("flashcopy", "snapshot", "timefinder"))


def _check(st: Statement, source: str) -> None:
    """Reject illegal combinations (each with the statement's line)."""
    o = st.options

    def bad(msgid: str, text: str) -> ParseError:
        what = f"GROUP {st.group[0]}={st.group[1]}" if st.group else f"{st.kind} DBD={st.dbd}"
        return ParseError(msgid, f"{source} line {st.line}: {what}: {text}")

    if not st.concurrent and o.quiesce and o.toiauto is not None and o.toiauto[0] != "N":
        raise bad("DLB626E", "TOIAUTO_Q=Y (UPDATE DB QUIESCE) and TOIAUTO=Y|O (stop and start the "
                             "database) are two ways of holding it; code one of them.")
    if st.concurrent and not o.dbrc:
        raise bad("DLB610E", "a concurrent image copy needs DBRC=Y: IMS allows CIC only for "
                             "databases registered with DBRC (S2).")
    if o.data_mover not in ("ADRDSSU", "EMCSNAP") and o.fastic is not None and o.fastic[1] == "FDUMP":
        # like DATA_MOVER itself, a copy service named as data mover is ignored by the
        # standard process and DUMP (S79); it makes Fast Recovery clones, not shadows
        raise bad("DLB611E", f"DATA_MOVER={o.data_mover} cannot make the FDUMP shadow: a copy service as "
                             "data mover makes Fast Recovery clones only (FASTIC=(REQ|PREF,COPY)); "
                             "use DATA_MOVER=ADRDSSU or EMCSNAP for FDUMP.")
    if o.fastic is not None and o.fastic[1] == "COPY" and o.compress:
        raise bad("DLB612E", "COMP=Y cannot be used with FASTIC=(...,COPY): a Fast Recovery image copy "
                             "is a clone of the data set, not a compressed copy (S11).")
    if o.fastic is not None and o.fastic[1] == "COPY" and o.copies == 0:
        raise bad("DLB566E", "ICOUT=%NO cannot be used with FASTIC=(...,COPY): the Fast Recovery clone is "
                             "the copy.")
    if o.fastic is not None and o.fastic[1] == "COPY" and o.copies > 1:
        raise bad("DLB613E", "ICOUT=(*,*) cannot be used with FASTIC=(...,COPY): the clone is the only "
                             "copy (HP-IC's offload of a second copy is not modelled).")
    if o.fastic is not None and o.fastic[0] == "FREQ" and o.fastic[1] == "DUMP":
        raise bad("DLB614E", "FASTIC=(FREQ,DUMP): FREQ asks for FlashCopy or SnapShot, which DUMP "
                             "(Concurrent Copy) does not use; code FDUMP or COPY.")
    if o.fastic is not None and o.fastic[0] == "FREQ" and o.fastic[1] != "DUMP" and o.data_mover == "EMCSNAP":
        raise bad("DLB615E", "FASTIC=(FREQ,...) needs FlashCopy or SnapShot; DATA_MOVER=EMCSNAP uses "
                             "TimeFinder/Clone.")


def parse(text: str, source: str = "ICEIN") -> Icein:
    """Parse ICEIN text; raises :class:`ParseError` naming line and column."""
    glob = Options()
    statements: list[Statement] = []
    seen_global = False
    for first, name, pieces, full in _logical_statements(text, source):
        if name not in STATEMENTS:
            col = pieces[0][2]
            raise _err("DLB600E", source, first, 1 if col <= 1 else col - len(name) - 1,
                       f"{name} is not a statement dasdlab knows ({', '.join(STATEMENTS)}).")
        if name == "GLOBAL":
            if seen_global:
                raise _err("DLB616E", source, first, 1, "only one GLOBAL statement is allowed.")
            if statements:
                raise _err("DLB616E", source, first, 1, "GLOBAL must come before the IC and CIC statements.")
            seen_global = True
        opts = glob
        named: dict = {}
        for body, line, col in pieces:
            for key, value, kcol in _split_options(body.rstrip(","), line, col, source):
                if key in named or (key in ("DBD", "DDN") and key.lower() in named):
                    raise _err("DLB617E", source, line, kcol, f"{key}= is given twice.")
                opts, extra = _apply(opts, key, value, source, line, kcol, name)
                named.update(extra)
                named[key] = True
        if name == "GLOBAL":
            glob = opts
            continue
        if name == "GROUP":
            if "dbd" in named or "ddn" in named:
                raise _err("DLB563E", source, first, 1, "GROUP names its DBDSs by CAGRP= or DBDSGRP=, not DBD= "
                           "or DDN=.")
            if ("CAGRP" in named) == ("DBDSGRP" in named):
                raise _err("DLB563E", source, first, 1, "GROUP needs one of CAGRP= and DBDSGRP=.")
            if "func" not in named:
                raise _err("DLB563E", source, first, 1, "GROUP needs FUNC=IC|AIC|CIC|ACIC (S104).")
            st = Statement(named["func"], "", None, opts, first, full, group=named["group"])
            _check(st, source)
            statements.append(st)
            continue
        if "dbd" not in named:
            raise _err("DLB618E", source, first, 1, f"{name} needs DBD=.")
        st = Statement(name, named["dbd"], named.get("ddn"), opts, first, full)
        _check(st, source)
        statements.append(st)
    if not statements:
        raise ParseError("DLB619E", f"{source}: no IC, AIC, CIC, ACIC or GROUP statement.")
    return Icein(source, glob, statements)


def expand(icein: Icein, site, recon) -> Icein:
    """The job's statements as the engine runs them: each GROUP statement becomes one
    statement (its FUNC) per member DBDS of its RECON group, in the group's order; with
    GLOBAL DBALL=Y|XIDX each statement is followed by one per database its DBD relates
    to (LCHILD) that RECON knows, not already named.  Refuses (DLB630E) a group RECON
    does not have; returns ``icein`` itself when there is nothing to expand."""
    if not any(st.group for st in icein.statements) and icein.glob.dball[0] == "N":
        return icein
    out: list[Statement] = []
    for st in icein.statements:
        if st.group is not None:
            kind, name = st.group
            g = recon.group(name, kind)
            out += [replace(st, dbd=d, ddn=x, group=None) for d, x in g["members"]]
        else:
            out.append(st)
    if icein.glob.dball[0] != "N":
        named = {st.dbd for st in out}
        more: list[Statement] = []
        for st in out:
            more.append(st)
            related = logical_group(site, recon, st.dbd, include_index=icein.glob.dball[0] == "Y")
            key = f"DBALL:{st.dbd}:{st.line}" if icein.glob.dball[1] == "Y" else None
            if related and key:
                more[-1] = replace(st, same_key=key)
            for db in related:
                if db not in named:
                    named.add(db)
                    more.append(replace(st, dbd=db, ddn=None, same_key=key))
        out = more
    return Icein(icein.source, icein.glob, out)


def logical_group(site, recon, dbd: str, include_index: bool = True) -> list[str]:
    """The registered databases DBD ``dbd`` names in its LCHILD statements
    (``NAME=(segment,database)``), index databases (``PTR=INDX``) only with
    ``include_index`` (DBALL=Y vs XIDX, S103); ones RECON does not know are left out
    (dasdlab does not build index databases)."""
    from dasdlab.engine.database import ImsDatabase

    known = {d["dbd"] for d in recon.databases()}
    try:
        lchild = ImsDatabase.open(site, dbd, recon).dbd.lchild
    except Exception:  # noqa: BLE001 - the statement's own check reports a bad database
        return []
    out = []
    for text in lchild:
        m = re.search(r"NAME=\((\w+),(\w+)\)", text.upper())
        if not m:
            continue
        index = re.search(r"PTR=INDX\b", text.upper()) is not None
        if (include_index or not index) and m.group(2) in known and m.group(2) != dbd and m.group(2) not in out:
            out.append(m.group(2))
    return out


def parse_file(path: str | Path) -> Icein:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ParseError("DLB620E", f"ICEIN file {p} does not exist.") from None
    return parse(text, p.name)
