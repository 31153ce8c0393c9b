"""The replication facade: how host software gets a point-in-time copy of tracks.

One concept: host programs -- DFSMSdss (:mod:`dasdlab.host.dss`), HP Image Copy
(:mod:`dasdlab.engine.hpic`) and recovery (:mod:`dasdlab.engine.recovery`) -- reach a
subsystem's fast replication through a *data mover*, as the real HP Image Copy calls
ADRDSSU (DFSMSdss) or EMCSNAP (the EMC TimeFinder API) rather than the hardware
(IMS Recovery Solution Pack, DATA_MOVER keyword, S79; DFSMSdss FASTREPLICATION, S46;
z/OS DFSMSdss Storage Administration; ``docs/sources.md``).  Which service each data
mover drives, in which order of preference, what a service is called in the host's
messages, and how its copies end live here and nowhere else; everything else is asked
of the services' declared :class:`~dasdlab.emulator.services.contract.Capabilities`
and done through the contract's verbs (``establish``, ``drain``, ``withdraw``,
``describe``, ``query`` and completion events), so callers never branch on a service's
name.

Data movers (S79, S46):

* ``ADRDSSU`` -- DFSMSdss fast replication: FlashCopy, then SnapShot.
* ``EMCSNAP`` -- TimeFinder/Clone through the EMC API (no DFSMSdss start-up).
* any registered copy service with the fast-replication capability, by its name (a
  dasdlab extension, ``DATA_MOVER=NAME``): that service.

DFSMSdss's own ``COPY ... FASTREPLICATION`` also drives TimeFinder/Clone on a
Symmetrix-like subsystem (EMC's FlashCopy emulation): :data:`DSS_FAST_REPLICATION`.

Costs of each service under a device profile are :func:`dasdlab.engine.timemodel.service_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dasdlab.errors import CopyServiceError


@dataclass(frozen=True)
class Mover:
    """What host software needs to know of one copy service beyond its capabilities.

    ``title``: how messages name it; ``data_mover``: the host interface that drives it
    (``ADRDSSU``, ``EMCSNAP`` or the service's own name); ``ends``: how messages say one
    of its copies was ended; ``id_label``: the report key of a copy's id;
    ``pointer_copy``: a copy moves pointers, not data; ``holds_when_complete``: a
    physically complete copy keeps its tracks until it is ended; ``takes_dsn``: its
    establish records the data set name; ``busy_form``: how a note names a copy that
    still uses tracks; ``establish_cost``/``background_cost``: the device-profile
    fields of its establish and background copy (None: it declares its own).
    """

    service: str
    title: str
    data_mover: str
    ends: str = "withdrawn"
    id_label: str = "relationship"
    pointer_copy: bool = False
    holds_when_complete: bool = True
    takes_dsn: bool = False
    busy_form: str = "{title} {id} ({state})"
    #: the device-profile fields that price it (a plug-in declares its own costs instead,
    #: :func:`dasdlab.engine.timemodel.service_cost`)
    establish_cost: str | None = None
    background_cost: str | None = None

    @property
    def uses_dss(self) -> bool:
        """Whether calling it starts DFSMSdss (its start-up cost is paid, S90)."""
        return self.data_mover == "ADRDSSU"


#: the built-ins; a plug-in is :func:`mover` with its own name everywhere
BUILT_IN: dict[str, Mover] = {
    "flashcopy": Mover("flashcopy", "FlashCopy", "ADRDSSU", holds_when_complete=False,
                       busy_form="{title} {id} ({source} -> {target}, {state})",
                       establish_cost="flashcopy_establish_s", background_cost="background_copy_mb_s"),
    "snapshot": Mover("snapshot", "SnapShot", "ADRDSSU", id_label="snap", pointer_copy=True,
                      holds_when_complete=False, takes_dsn=True, establish_cost="snapshot_s"),
    "timefinder": Mover("timefinder", "TimeFinder/Clone", "EMCSNAP", ends="terminated",
                        id_label="clone_session", establish_cost="clone_activate_s",
                        background_cost="background_copy_mb_s"),
}

#: data mover -> the services it drives, in order of preference (S79)
DATA_MOVERS: dict[str, tuple[str, ...]] = {
    "ADRDSSU": ("flashcopy", "snapshot"),
    "EMCSNAP": ("timefinder",),
}
#: what each built-in data mover needs, as HP Image Copy's messages say it
DATA_MOVER_NEEDS = {"ADRDSSU": "FlashCopy or SnapShot", "EMCSNAP": "TimeFinder/Clone"}

#: DFSMSdss COPY FASTREPLICATION, in order of preference: FlashCopy on a DS8000-like,
#: SnapShot on an RVA-like, TimeFinder/Clone (EMC's FlashCopy emulation) on a
#: Symmetrix-like subsystem
DSS_FAST_REPLICATION: tuple[str, ...] = ("flashcopy", "snapshot", "timefinder")

#: the service DFSMSdss CONCURRENT and HP Image Copy's DUMP process use
CONCURRENT_COPY = "concurrent_copy"
#: the service DFSMSdss's FlashCopy keywords (FCNOCOPY, FCWITHDRAW, ...) address
FLASHCOPY = "flashcopy"


def mover(service: str) -> Mover:
    """The host's view of ``service`` (a plug-in: its own name as title and data mover)."""
    return BUILT_IN.get(service) or Mover(service, service, service.upper())


def services_of(data_mover: str) -> tuple[str, ...] | None:
    """The services ``data_mover`` drives in order of preference; a registered copy
    service with fast replication for its own name; None when it names neither."""
    dm = data_mover.upper()
    if dm in DATA_MOVERS:
        return DATA_MOVERS[dm]
    from dasdlab.emulator.services import registry

    info = registry.services().get(dm.lower())
    if info is None or not info.capabilities.fast_replication:
        return None
    return (info.name,)


def choose(data_mover: str, names) -> str | None:
    """The service ``data_mover`` uses among a subsystem's services ``names``."""
    names = set(names)
    return next((s for s in services_of(data_mover) or () if s in names), None)


def data_mover_of(service: str) -> str:
    """The DATA_MOVER a copy made by ``service`` was made with."""
    return mover(service).data_mover


def dss_fast_replication(names) -> str | None:
    """The service DFSMSdss COPY FASTREPLICATION uses among ``names``."""
    names = set(names)
    return next((s for s in DSS_FAST_REPLICATION if s in names), None)


def has_concurrent_copy(names) -> bool:
    return CONCURRENT_COPY in set(names)


# ====================================================================== a copy
def ended_states(svc) -> frozenset[str]:
    """The states (values and names) in which a copy of ``svc`` has ended: those its
    lifecycle table leads nowhere from, or only to such states (a failed relationship
    that can only be withdrawn)."""
    tables = getattr(svc, "lifecycle", None)
    if tables is None:
        return frozenset()
    states, transitions, _ = tables
    terminal = {st for st in states if not transitions.get(st)}
    ended = terminal | {st for st in states if transitions.get(st) and set(transitions[st]) <= terminal}
    return frozenset(str(st.value) for st in ended) | frozenset(st.name for st in ended)


def _terminal_states(svc) -> frozenset[str]:
    tables = getattr(svc, "lifecycle", None)
    if tables is None:
        return frozenset()
    states, transitions, _ = tables
    terminal = [st for st in states if not transitions.get(st)]
    return frozenset(str(st.value) for st in terminal) | frozenset(st.name for st in terminal)


class Replica:
    """One point-in-time copy made through :func:`establish`: the contract's verbs on it."""

    def __init__(self, svc, rid: str) -> None:
        self.svc = svc
        self.id = rid
        self.mover = mover(svc.name)

    @property
    def service(self) -> str:
        return self.svc.name

    def describe(self):
        """The copy's descriptor; None once the service no longer knows it (withdrawn)."""
        try:
            return self.svc.describe(self.id)
        except CopyServiceError:
            return None

    def physically_complete(self) -> bool:
        d = self.describe()
        return d is not None and d.physical_at is not None

    def settled(self) -> bool:
        """Physically complete, or ended otherwise (failed, withdrawn): nothing more
        will reach the target by itself."""
        d = self.describe()
        return d is None or d.physical_at is not None or str(d.state) in ended_states(self.svc)

    def active(self, d=None) -> bool:
        """Whether the copy still runs: not physically complete and not ended."""
        d = d if d is not None else self.describe()
        return d is not None and d.physical_at is None and str(d.state) not in ended_states(self.svc)

    def drain(self) -> int:
        return self.svc.drain(self.id)

    def withdraw(self):
        return self.svc.withdraw(self.id)


def establish(sub, service: str, source: str, target: str, source_runs, target_runs, *,
              background_copy: bool, dsn: str | None = None,
              on_physical: Callable[[Replica], None] | None = None, freeze: bool = False,
              space_efficient: bool = False, **options) -> Replica:
    """A point-in-time copy of ``source_runs`` of ``source`` onto ``target_runs`` of
    ``target`` by ``service`` of subsystem ``sub``; logically complete on return.

    ``background_copy`` False asks for no background copy (a NOCOPY shadow) from a
    service that has the choice; a service without background copy ignores it.
    ``on_physical(replica)`` is called once at physical completion (at once when the
    copy is complete on return), through the contract's completion events.
    ``freeze`` holds the source volume's writes until :func:`thaw` (a consistency group;
    the ``consistency_groups`` capability); ``space_efficient`` makes a target whose
    tracks come from the subsystem's repository (``space_efficient_targets``).  Both
    ``source_runs`` and ``target_runs`` None ask for a volume-level copy.
    """
    svc = sub.service(service)
    caps = svc.capabilities
    if freeze:
        if not caps.consistency_groups:
            raise CopyServiceError("DLB446E", f"{mover(service).title} on {sub.name} has no consistency groups "
                                   "(freeze).")
        options["freeze"] = True
    if space_efficient:
        if not caps.space_efficient_targets:
            raise CopyServiceError("DLB446E", f"{mover(service).title} on {sub.name} has no space-efficient "
                                   "targets.")
        options["space_efficient"] = True
    bg = bool(background_copy) if caps.background_copy else None
    if mover(service).takes_dsn and dsn is not None:
        options["dsn"] = dsn
    rel = svc.establish(source, target, source_runs=source_runs, target_runs=target_runs,
                        background_copy=bg, **options)
    rep = Replica(svc, rel.id)
    if on_physical is not None and bg is not False:  # a NOCOPY copy never completes by itself
        if rel.physical_at is not None:
            on_physical(rep)
        else:
            def listen(ev, rep=rep) -> None:
                if ev.rel.id != rep.id or ev.kind == "logical":
                    return
                svc.unsubscribe(listen)
                if ev.kind == "physical":
                    on_physical(rep)

            svc.subscribe(listen)
    return rep


def consistency_group_services(sub) -> list:
    """The services of ``sub`` that can freeze a source volume (consistency groups)."""
    return [sub.service(n) for n in sorted(sub.capabilities) if sub.service(n).capabilities.consistency_groups]


def frozen(sub) -> dict[str, float]:
    """Volumes of ``sub`` whose writes a consistency-group freeze holds, with the
    modeled time each one's timer releases it."""
    out: dict[str, float] = {}
    for svc in consistency_group_services(sub):
        out.update(svc.frozen())
    return out


def thaw(sub, volsers=None) -> list[str]:
    """Release the frozen volumes of ``sub`` (all, or those named): a consistency group
    has been formed (DFSMSdss CGCREATED).  Returns the volumes thawed."""
    out: list[str] = []
    for svc in consistency_group_services(sub):
        out += [v for v in svc.thaw(volsers) if v not in out]
    return out


def copy_back(sub, service: str, source: str, target: str, source_runs, target_runs) -> Replica:
    """Copy a clone back onto its data set with the service that made it: establish with
    background copy, copy every track now, end the copy (recovery of a Fast Recovery
    image copy, S79)."""
    rep = establish(sub, service, source, target, source_runs, target_runs, background_copy=True)
    if rep.svc.capabilities.background_copy:
        rep.drain()
    rep.withdraw()
    return rep


def holders(sub, service: str, regions) -> tuple[list[str], list[str]]:
    """The copies of ``service`` that use any of ``regions`` ((volser, runs, side) with
    side "source" or "target"): (busy -- still copying, as "TITLE ID (STATE)" --,
    finished -- physically complete ones that keep their tracks until ended, by id)."""
    mv = mover(service)
    svc = sub.service(service)
    busy, finished = [], []
    terminal = _terminal_states(svc)

    def overlap(x, y) -> bool:
        return any(a < d and c < b for a, b in x for c, d in y)

    for r in svc.query():
        uses = any((r.target if side == "target" else r.source) == volser
                   and overlap((r.target_runs if side == "target" else r.source_runs) or [], runs)
                   for volser, runs, side in regions)
        if not uses:
            continue
        if r.physical_at is not None:
            if mv.holds_when_complete:
                finished.append(r.id)
        elif str(r.state) not in terminal:  # a failed copy still holds its tracks
            busy.append(mv.busy_form.format(title=mv.title, id=r.id, source=r.source, target=r.target,
                                            state=r.state))
    return busy, finished


__all__ = ["BUILT_IN", "CONCURRENT_COPY", "DATA_MOVERS", "DSS_FAST_REPLICATION", "Mover", "Replica", "choose",
           "consistency_group_services", "copy_back", "data_mover_of", "dss_fast_replication", "establish", "frozen",
           "has_concurrent_copy", "holders", "mover", "services_of", "thaw"]
