"""Which copy process HP Image Copy uses for a statement, and when it releases the
database: the ``FASTIC`` availability rules of Advanced Image Copy Services.

Facts (S17-S22, S45, S79; ``docs/sources.md``):

* ``FASTIC=N`` (or no FASTIC): the standard process reads the data set itself; a batch
  copy (IC) holds the database for the whole read, a concurrent copy (CIC) never holds it.
* ``DUMP``: DFSMSdss DUMP with Concurrent Copy; the database is held until the CC
  session is initialised (logical completion).  DFSMSdss's CONCURRENT(ANYPREFERRED)
  tries virtual CC first, then cache CC (S45); virtual CC needs data-set FlashCopy or
  SnapShot in the subsystem.
* ``FDUMP``: fast replication (FlashCopy or SnapShot) into a shadow data set, release,
  then a dump of the shadow (S20).
* ``COPY``: a FlashCopy or SnapShot clone, the Fast Recovery image copy (S17, S19).
* ``DATA_MOVER=EMCSNAP`` makes the FDUMP shadow and the COPY clone with EMC TimeFinder
  instead of DFSMSdss; it applies to the FDUMP and COPY processes (and to the recovery
  of a Fast Recovery copy), not to DUMP; without TimeFinder set up the job ends with an
  error, whatever the availability operand says (S79).
  dasdlab extension: ``DATA_MOVER=NAME`` names any registered copy service with the
  fast-replication capability (process ``copy-NAME``); the subsystem must have it.
* ``REQ``: fail if the method's copy services are not available; ``FREQ``: fail unless
  FlashCopy or SnapShot is available; ``PREF``: use what is available, and with
  ``PREF,DUMP`` and nothing available make a plain DSS DUMP that keeps the database held
  until the physical copy ends; ``PREF,COPY`` behaves exactly like ``REQ,COPY``; once the
  logical copy has failed there is no fallback to ``FASTIC=N`` (S18).

Choices where the sources are silent (documented here and tested):

* ``DATA_MOVER=EMCSNAP`` with FDUMP makes the shadow with a TimeFinder/Clone session
  in CopyOnAccess mode (no background copy, like the FlashCopy NOCOPY shadow); the
  dump reads it, and the session is terminated with the shadow.

* ``PREF,FDUMP`` with no FlashCopy or SnapShot falls back as ``PREF,DUMP`` does
  (Concurrent Copy if available, else a plain dump held to physical completion);
  ``REQ,FDUMP`` fails.
* A CIC statement never holds the database, whatever the process: the copy is fuzzy.
* An RVA-like subsystem (SnapShot, no FlashCopy) has no cache-based Concurrent Copy: its
  Concurrent Copy is virtual, snapping to working space (S44), whatever CC_TYPE asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from dasdlab.engine.icein import Statement
from dasdlab.errors import DasdlabError
from dasdlab.host import replication

#: every process the engine can run, with the outage-method name the benchmark uses
PROCESSES = {
    "standard": "standard",  # IC with FASTIC=N
    "cic": "cic",  # CIC with FASTIC=N
    "dump-cc": "dump-cc",
    "dump-vcc": "dump-vcc",
    "dump-plain": "dump-plain",  # PREF,DUMP fallback: DSS DUMP with no CC
    "fdump-flashcopy": "fdump",
    "fdump-snapshot": "fdump",
    "fdump-timefinder": "fdump",  # DATA_MOVER=EMCSNAP
    "copy-flashcopy": "copy-flashcopy",
    "copy-snapshot": "copy-snapshot",
    "copy-timefinder": "copy-timefinder",
}


def method_of(process: str) -> str:
    """The outage-method name of a process (``copy-NAME`` for a copy service by name)."""
    return PROCESSES.get(process, process)


class PlanError(DasdlabError):
    """The copy services a statement requires are not available for the data set."""


@dataclass(frozen=True)
class Plan:
    process: str  # a key of PROCESSES
    release_at: str  # "physical", "logical" or "never-held"
    service: str | None  # copy service used: flashcopy, snapshot, concurrent_copy, timefinder
    virtual_cc: bool = False
    fallback: str | None = None  # why the plan is not what FASTIC asked for

    @property
    def fast_recovery(self) -> bool:
        return self.process.startswith("copy-")

    @property
    def clean(self) -> bool:
        return self.release_at != "never-held"


def plan(st: Statement, capabilities: frozenset[str] | set[str], subsystem: str = "") -> Plan:
    """The process for statement ``st`` when its data set lives on a subsystem with
    ``capabilities`` (e.g. {"flashcopy", "concurrent_copy"})."""
    o = st.options
    caps = set(capabilities)
    held = "never-held" if st.concurrent else None
    where = f" on subsystem {subsystem}" if subsystem else ""

    def need(msgid: str, what: str) -> PlanError:
        return PlanError(msgid, f"{st.kind} DBD={st.dbd}: FASTIC=({o.fastic[0]},{o.fastic[1]}) needs {what}"
                                f"{where}, which has {', '.join(sorted(caps)) or 'no copy services'} (line {st.line}).")

    if o.fastic is None:
        return Plan("cic" if st.concurrent else "standard", held or "physical", None)
    avail, method = o.fastic
    # the data mover's fast replication, by the replication facade's preference order
    dm = o.data_mover.upper()
    wanted = replication.services_of(dm) if dm in replication.DATA_MOVERS else None
    # FDUMP's shadow under a copy service by name is DFSMSdss's, as the name applies to COPY
    fr = replication.choose(dm if wanted is not None else "ADRDSSU", caps)
    if method == "COPY":
        if wanted is None:  # dasdlab extension: a copy service by name
            name = o.data_mover.lower()
            if name not in caps:
                raise need("DLB825E", f"copy service {name} (DATA_MOVER={o.data_mover})")
            return Plan(f"copy-{name}", held or "logical", name)
        if fr is None:  # PREF,COPY behaves as REQ,COPY
            if dm == "ADRDSSU":
                raise need("DLB651E", replication.DATA_MOVER_NEEDS[dm])
            raise need("DLB650E", f"{replication.DATA_MOVER_NEEDS[dm]} (DATA_MOVER={dm})")
        return Plan(f"copy-{fr}", held or "logical", fr)
    if method == "FDUMP":
        if fr is not None:
            return Plan(f"fdump-{fr}", held or "logical", fr)
        if dm != "ADRDSSU" and wanted is not None:  # EMCSNAP without TimeFinder: the job ends (S79)
            raise need("DLB650E", f"{replication.DATA_MOVER_NEEDS[dm]} (DATA_MOVER={dm})")
        if avail in ("REQ", "FREQ"):
            raise need("DLB652E", f"{replication.DATA_MOVER_NEEDS['ADRDSSU']} for the shadow data set")
        return _dump(st, caps, held, fallback="PREF,FDUMP without fast replication: as PREF,DUMP")
    # DUMP
    if avail == "FREQ":  # rejected by the parser; kept for API callers
        raise need("DLB653E", "FlashCopy or SnapShot, which DUMP does not use")
    if not replication.has_concurrent_copy(caps):
        if avail == "REQ":
            raise need("DLB654E", "Concurrent Copy")
        return Plan("dump-plain", held or "physical", None,
                    fallback="PREF,DUMP with no Concurrent Copy: plain DSS DUMP, held until physical completion")
    return _dump(st, caps, held)


def _dump(st: Statement, caps: set[str], held: str | None, fallback: str | None = None) -> Plan:
    if not replication.has_concurrent_copy(caps):
        return Plan("dump-plain", held or "physical", None,
                    fallback=(fallback + "; " if fallback else "") + "no Concurrent Copy: plain DSS DUMP")
    from dasdlab.emulator.services import registry

    virtual_possible = bool(registry.virtual_cc_mechanisms(caps))
    cache_possible = registry.cache_cc_possible(caps)
    cc_type = st.options.cc_type
    virtual = virtual_possible and (cc_type in ("ANY", "VIRTUAL") or not cache_possible)
    if cc_type == "VIRTUAL" and not virtual_possible:
        fallback = (fallback + "; " if fallback else "") + "VIRTUALPREFERRED without FlashCopy/SnapShot: cache CC"
    return Plan("dump-vcc" if virtual else "dump-cc", held or "logical", replication.CONCURRENT_COPY,
                virtual_cc=virtual, fallback=fallback)
