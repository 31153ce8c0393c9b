"""The copy methods the outage comparison runs: what each one asks HP Image Copy for, and
on which storage subsystem.

One concept: *the method table*.  Each method is one ICEIN statement (S17-S23,
``docs/sources.md``) run against the scenario database placed on a subsystem that has the copy
service it needs (``dasdlab site init``: DS8K1 FlashCopy + Concurrent Copy, RVA1 SnapShot +
virtual Concurrent Copy, VMAX1 TimeFinder/Clone).  The expected process is what
:func:`dasdlab.engine.hpicplan.plan` must choose; the scenario refuses a plan that falls
back to something else, so a row of the comparison always measures what its name says.

Batch (IC) statements use ``TOIAUTO_Q=Y`` (S23; like ``DATA_MOVER`` a GLOBAL-only
keyword, so :meth:`Method.icein` puts it on a GLOBAL statement): ``UPDATE DB QUIESCE`` holds updaters
instead of refusing them (``/DBR``), so their extra latency can be measured.  The
concurrent image copy (CIC) never holds the database (TOIAUTO_Q is ignored for CIC, S23).

=================  =====  =============================================  ==================
method             box    statement (besides DBD=, DDN=, ICOUT=*)         expected process
=================  =====  =============================================  ==================
standard           DS8K1  IC  FASTIC=N,TOIAUTO_Q=Y                        standard
cic                DS8K1  CIC FASTIC=N                                    cic
dump-cc            DS8K1  IC  FASTIC=(REQ,DUMP),CC_TYPE=CACHE,TOIAUTO_Q=Y  dump-cc
dump-vcc           RVA1   IC  FASTIC=(REQ,DUMP),CC_TYPE=VIRTUAL,TOIAUTO_Q=Y  dump-vcc
fdump              DS8K1  IC  FASTIC=(REQ,FDUMP),TOIAUTO_Q=Y              fdump-flashcopy
copy-flashcopy     DS8K1  IC  FASTIC=(REQ,COPY),TOIAUTO_Q=Y               copy-flashcopy
copy-snapshot      RVA1   IC  FASTIC=(REQ,COPY),TOIAUTO_Q=Y               copy-snapshot
copy-timefinder    VMAX1  IC  FASTIC=(REQ,COPY),DATA_MOVER=EMCSNAP,...    copy-timefinder
copy-NAME          (1)    IC  FASTIC=(REQ,COPY),DATA_MOVER=NAME,...       copy-NAME
=================  =====  =============================================  ==================

(1) ``copy-NAME`` is every other registered copy service with the fast-replication
capability (a plug-in, :mod:`dasdlab.emulator.services.registry`), on the first site
subsystem of a kind it runs on, which is given the service (``Site.add_service``) when
its kind does not have it.  :func:`available` lists them all, :func:`order` their order.
"""

from __future__ import annotations

from dataclasses import dataclass

from dasdlab.engine.icein import GLOBAL_ONLY


@dataclass(frozen=True)
class Method:
    name: str
    subsystem: str  # the site subsystem the database is placed on
    kind: str  # IC or CIC
    options: tuple[str, ...]  # ICEIN keywords besides DBD=, DDN=, ICOUT=*
    process: str  # the process hpicplan must choose
    label: str  # short description for tables and plots
    service: str | None = None  # a copy service the subsystem must be given (plug-ins)

    @property
    def clean(self) -> bool:
        return self.kind == "IC"

    @property
    def fast_recovery(self) -> bool:
        return self.process.startswith("copy-")

    def icein(self, dbd: str, ddn: str) -> str:
        """The ICEIN text: 80-byte records, options in columns 2-72, a comma at the end
        of a line continues the statement on the next (``dasdlab.engine.icein``)."""
        # DATA_MOVER and TOIAUTO_Q are GLOBAL-only keywords (dasdlab.engine.icein)
        glob = [o for o in self.options if o.split("=", 1)[0] in GLOBAL_ONLY]
        opts = [f"DBD={dbd}", f"DDN={ddn}", "ICOUT=*", *(o for o in self.options if o not in glob)]
        lines: list[str] = [f"  {'GLOBAL':<8} {','.join(glob)}"] if glob else []
        cur = f"  {self.kind:<8} "
        for i, o in enumerate(opts):
            piece = o + ("," if i < len(opts) - 1 else "")
            if len(cur) + len(piece) > 71 and not cur.endswith(" "):
                lines.append(cur)
                cur = " " * 11
            cur += piece
        lines.append(cur)
        return f"* outage comparison: method {self.name}\n" + "\n".join(lines) + "\n"


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("standard", "DS8K1", "IC", ("FASTIC=N", "TOIAUTO_Q=Y"), "standard",
           "standard batch copy (quiesce for the whole read)"),
    Method("cic", "DS8K1", "CIC", ("FASTIC=N",), "cic",
           "concurrent image copy (fuzzy, never held)"),
    Method("dump-cc", "DS8K1", "IC", ("FASTIC=(REQ,DUMP)", "CC_TYPE=CACHE", "TOIAUTO_Q=Y"), "dump-cc",
           "DSS DUMP with Concurrent Copy (cache sidefile)"),
    Method("dump-vcc", "RVA1", "IC", ("FASTIC=(REQ,DUMP)", "CC_TYPE=VIRTUAL", "TOIAUTO_Q=Y"), "dump-vcc",
           "DSS DUMP with virtual Concurrent Copy (snap to working space)"),
    Method("fdump", "DS8K1", "IC", ("FASTIC=(REQ,FDUMP)", "TOIAUTO_Q=Y"), "fdump-flashcopy",
           "FlashCopy NOCOPY into a shadow, then a dump of the shadow"),
    Method("copy-flashcopy", "DS8K1", "IC", ("FASTIC=(REQ,COPY)", "TOIAUTO_Q=Y"), "copy-flashcopy",
           "FlashCopy COPY: Fast Recovery clone"),
    Method("copy-snapshot", "RVA1", "IC", ("FASTIC=(REQ,COPY)", "TOIAUTO_Q=Y"), "copy-snapshot",
           "SnapShot: Fast Recovery clone by pointer copy"),
    Method("copy-timefinder", "VMAX1", "IC", ("FASTIC=(REQ,COPY)", "DATA_MOVER=EMCSNAP", "TOIAUTO_Q=Y"),
           "copy-timefinder", "TimeFinder/Clone COPY: Fast Recovery clone"),
)}

#: the order of every table, plot and JSON list
ORDER = tuple(METHODS)


#: site subsystem per kind, as ``dasdlab site init`` makes them
_SUBSYSTEM_OF_KIND = {"ds8000": "DS8K1", "rva": "RVA1", "symmetrix": "VMAX1"}


def available() -> dict[str, Method]:
    """The built-in methods, then ``copy-NAME`` for every other registered service with
    the fast-replication capability."""
    from dasdlab.emulator.services import registry
    from dasdlab.host import replication

    out = dict(METHODS)
    for name, info in sorted(registry.services().items()):
        caps = info.capabilities
        mname = f"copy-{name}"
        if not caps.fast_replication or mname in out or name in replication.BUILT_IN:
            continue
        kinds = [k for k in _SUBSYSTEM_OF_KIND if caps.runs_on(k)]
        if not kinds:
            continue
        doc = (info.cls.__doc__ or "").strip().splitlines()
        what = getattr(info.cls, "label", None) or (doc[0].rstrip(".") if doc else name)
        label = f"{what}: Fast Recovery clone ({info.origin})"
        out[mname] = Method(mname, _SUBSYSTEM_OF_KIND[kinds[0]], "IC",
                            ("FASTIC=(REQ,COPY)", f"DATA_MOVER={name.upper()}", "TOIAUTO_Q=Y"), mname, label,
                            service=name)
    return out


def order() -> tuple[str, ...]:
    return tuple(available())
