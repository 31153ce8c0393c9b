"""Track maps: one state per track of a copy relationship, read from the copy services'
own state, drawn side by side for the source and the copy.

One concept: *where the point-in-time image of each track is now*.  The facts behind
the states come from the services' modules (and the manuals they cite: FlashCopy,
IBM DS8000 Copy Services SG24-8367 and z/OS DFSMSdss; Concurrent Copy, z/OS DFSMSdfp
Advanced Services and DFSMSdss Storage Administration; SnapShot, IBM RVA Redbook
SG24-5360; TimeFinder/Clone, EMC Mainframe Enablers TimeFinder/Clone Product Guide):

==============  ====================================================================
state           meaning
==============  ====================================================================
never written   the source track was never written: there is nothing to copy
shared          shared / not yet copied: the copy's image is still the source's own
                track (FlashCopy or TimeFinder bit still to copy -- a read of the
                target is served from the source --, a Concurrent Copy track the dump
                has not read, a SnapShot pointer both volumes share)
copied          on the copy by the background copy, read by the dump, or copied
                because the copy was read (TimeFinder copy on access)
saved           saved by copy-on-write or into the sidefile: a host write reached the
                source before the copy had the track, so its point-in-time image was
                saved first (FlashCopy/TimeFinder copy-on-write, CC sidefile)
changed         changed after the point in time: this side was written after its
                point-in-time image was safe, so source and copy now differ
redirected      redirected on write (SnapShot): the pair no longer shares a track, the
                write went to a new place and the other side kept the old one
uncommitted     not fixed yet: a TimeFinder target that is Not Ready until the session
                is activated (no point in time yet); in the lab, a committed change
                still in the buffer pool, not yet on DASD
uncommitted     (``U``) uncommitted data on DASD or in a copy: a track of an IMS
on DASD         database holding bytes a unit of work still in flight changed (a
                buffer steal or a checkpoint wrote them before its commit); it is
                backed out if the unit of work fails (:func:`uncommitted_tracks`)
lost            the copy failed, was cancelled or ended before it had this track: the
                track is *not* in the copy (never drawn as copied); in the lab, a
                track that is wrong after a recovery
outside         not part of the relationship
==============  ====================================================================

*Copied* and *saved* both mean "the image is on the target"; the bitmaps alone do not
say why.  A :class:`WriteHistory` (a write-path observer registered before the
services' own intercepts, as in :mod:`dasdlab.bench.trace`) decides it at the write:
if the track's image was still unprotected, the service is about to save it.  Without
a history (another process made the relationship), a NOCOPY relationship's copied
tracks can only have come by copy-on-write or a target write, and are drawn saved.

The services are asked through one adapter per capability (:data:`ADAPTERS`; any
other service, a plug-in, through :data:`GENERIC`, which needs only the contract's
``query()`` descriptors and ``read_point_in_time``: copied where the target holds the
point-in-time image, shared / not yet copied where it does not, changed where the
source no longer does, never written where the source track never was), never
by branching on names: ``maps(sub, svc, history)`` and ``classify(sub, svc, volser,
tracks)`` (which tracks of a write were still unprotected).  The relationships and
their counters are the copy-service contract's descriptors (``svc.query()``: the
standard ``tracks_total``, ``tracks_copied``, ``cow_count`` and the service's own
details); the per-track state, which the contract does not describe, is each
service's own bitmaps (FlashCopy ``to_copy`` and change recording, Concurrent Copy
``unread``/``saved``, TimeFinder ``pending`` and changed-track maps, SnapShot's
Functional Track Directory pointers).  Errors: DLB851E-DLB853E, DLB880E.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from dasdlab.errors import DasdlabError


class TrackMapError(DasdlabError):
    """A track map that cannot be made or written where asked."""


class TrackState(IntEnum):
    NEVER_WRITTEN = 0
    SHARED = 1
    COPIED = 2
    SAVED = 3
    CHANGED = 4
    REDIRECTED = 5
    UNCOMMITTED = 6
    LOST = 7
    OUTSIDE = 8
    IN_FLIGHT = 9


T = TrackState
#: state -> (short label, glyph for the terminal, colour).  Glyphs keep the map
#: readable without colour (a projector, a pasted log); colours are Okabe-Ito.
LEGEND: dict[TrackState, tuple[str, str, str]] = {
    T.NEVER_WRITTEN: ("never written", ".", "#ffffff"),
    T.SHARED: ("shared / not yet copied", "o", "#bdbdbd"),
    T.COPIED: ("copied (background copy, dump read, copy on a read)", "#", "#0072b2"),
    T.SAVED: ("saved by copy-on-write or into the sidefile", "S", "#e69f00"),
    T.CHANGED: ("changed after the point in time", "x", "#d55e00"),
    T.REDIRECTED: ("redirected on write (own new track)", "R", "#009e73"),
    T.UNCOMMITTED: ("not fixed yet: a change not on DASD yet, or no point in time yet", "u", "#cc79a7"),
    T.LOST: ("lost: not in the copy (failed, cancelled) or wrong after recovery", "!", "#000000"),
    T.OUTSIDE: ("not in the relationship", " ", "#f2f2f2"),
    T.IN_FLIGHT: ("uncommitted: holds data no unit of work has committed", "U", "#f0e442"),
}


@dataclass
class Side:
    """One column of a map: a state per track of ``volser`` (``ntracks`` long)."""

    volser: str
    role: str
    states: np.ndarray
    heads: int

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.states, minlength=len(T))
        return {LEGEND[s][0]: int(c[s]) for s in T if c[s] and s is not T.OUTSIDE}


@dataclass
class RelationshipMap:
    """The map of one relationship, session or snap: source and copy side by side."""

    subsystem: str
    capability: str
    id: str
    state: str
    source: Side
    target: Side
    counters: dict = field(default_factory=dict)
    note: str = ""
    failed: bool = False

    @property
    def title(self) -> str:
        t = f"{self.id} ({self.capability.replace('_', ' ')}, {self.subsystem}) {self.source.volser} -> " \
            f"{self.target.volser}: {self.state}"
        return t


# ====================================================================== history
@dataclass
class _Seen:
    src_saved: set = field(default_factory=set)
    src_changed: set = field(default_factory=set)
    tgt_changed: set = field(default_factory=set)


class WriteHistory:
    """Host writes after each point in time, classified at the write (see module doc).

    :meth:`watch` registers an observer on a volume; register it before any copy
    service's intercept on that volume so that it sees each write first.
    """

    def __init__(self) -> None:
        self.seen: dict[tuple, _Seen] = {}
        self._observers: dict[tuple[str, str], _Observer] = {}

    def watch(self, sub, volser: str) -> None:
        key = (sub.name, volser.upper())
        if key not in self._observers:
            obs = self._observers[key] = _Observer(self, sub, volser.upper())
            sub.register_intercept(volser, obs)

    def unwatch_all(self) -> None:
        for (_, volser), obs in self._observers.items():
            obs.sub.unregister_intercept(volser, obs)
        self._observers.clear()

    def of(self, key: tuple) -> _Seen | None:
        return self.seen.get(key)

    def _written(self, sub, volser: str, tracks: np.ndarray) -> None:
        for cap, svc in _used_services(sub):
            for key, role, rels, unprotected in adapter(cap).classify(sub, svc, volser, tracks):
                seen = self.seen.setdefault(key, _Seen())
                rl, up = rels.tolist(), unprotected.tolist()
                if role == "source":
                    for r, u in zip(rl, up):
                        if u:
                            seen.src_saved.add(r)
                        seen.src_changed.add(r)
                else:
                    seen.tgt_changed.update(rl)


class _Observer:
    redirects_reads = False

    def __init__(self, history: WriteHistory, sub, volser: str) -> None:
        self.history, self.sub, self.volser = history, sub, volser

    def before_write(self, vol, tracks: np.ndarray) -> None:
        self.history._written(self.sub, self.volser, np.asarray(tracks, dtype=np.int64))

    def before_write_one(self, vol, t: int) -> None:
        self.history._written(self.sub, self.volser, np.array([t], dtype=np.int64))

    def redirect_read(self, vol, t: int):  # pragma: no cover - redirects_reads is False
        return None


def _used_services(sub) -> list[tuple[str, object]]:
    """(capability, service) of every service of ``sub`` that has state (a service with
    no state directory has no relationships: it is not created)."""
    out = []
    for cap in sorted(sub.capabilities):
        if sub.state_dir(cap).is_dir():
            out.append((cap, sub.service(cap)))
    return out


# ====================================================================== helpers
def _written(vol, tracks: np.ndarray) -> np.ndarray:
    return vol.written.test_many(tracks) if tracks.size else np.zeros(0, bool)


def _blank(vol) -> np.ndarray:
    return np.full(vol.ntracks, T.OUTSIDE, dtype=np.uint8)


def _placed(vol, where, states) -> np.ndarray:
    """A whole-volume state array: ``states`` at the tracks ``where``, outside elsewhere."""
    a = _blank(vol)
    a[where] = states
    return a


def _counters(d, extra: Iterable[str]) -> dict:
    """The contract's standard counters of descriptor ``d``, then the service's own."""
    out = {k: d[k] for k in ("tracks_total", "tracks_copied", "cow_count") if k in d}
    out.update({k: d[k] for k in extra if d.get(k) is not None})
    return out


def _in(idx: Iterable[int], n: int) -> np.ndarray:
    m = np.zeros(n, bool)
    lst = [i for i in idx if 0 <= i < n]
    m[lst] = True
    return m


# ====================================================================== adapters
@dataclass(frozen=True)
class Adapter:
    """How one capability's service is asked for track state."""

    maps: Callable  # (sub, svc, history) -> list[RelationshipMap]
    classify: Callable  # (sub, svc, volser, tracks) -> [(key, role, rels, unprotected)]


# ---------------------------------------------------------------- FlashCopy
def _fc_key(sub, rel) -> tuple:
    return (sub.name, "flashcopy", rel.id, rel.established_at)


def _fc_classify(sub, svc, volser, tracks):
    out = []
    for rel in svc.relationships():
        if rel.to_copy is None:
            continue
        active = rel.active
        if rel.source == volser:
            rels = rel.tmap.rel_of_src(tracks)[0]
            up = rel.to_copy.test_many(rels) if active else np.zeros(rels.size, bool)
            out.append((_fc_key(sub, rel), "source", rels, up))
        if rel.target == volser:
            rels = rel.tmap.rel_of_dst(tracks)[0]
            out.append((_fc_key(sub, rel), "target", rels, np.zeros(rels.size, bool)))
    return out


def _fc_maps(sub, svc, history):
    out = []
    for q in svc.query():  # the contract's descriptors, then the relationship's own bitmaps
        rel = svc.get(q["id"])
        src, tgt = sub.open_volume(rel.source), sub.open_volume(rel.target)
        n = rel.tmap.n
        r = np.arange(n, dtype=np.int64)
        sa, da = rel.tmap.src(r), rel.tmap.dst(r)
        pending = rel.to_copy.test_many(r) if (rel.to_copy is not None and rel.state.name not in (
            "COMPLETED", "WITHDRAWN")) else np.zeros(n, bool)
        wr = _written(src, sa)
        seen = history.of(_fc_key(sub, rel)) if history is not None else None
        src_chg = _in(seen.src_changed, n) if seen else np.zeros(n, bool)
        tgt_chg = _in(seen.tgt_changed, n) if seen else np.zeros(n, bool)
        if rel.src_changed is not None:
            src_chg |= rel.src_changed.test_many(r)
        if rel.tgt_changed is not None:
            tgt_chg |= rel.tgt_changed.test_many(r)
        if seen is not None:
            saved = _in(seen.src_saved, n) & ~pending
        elif rel.mode == "NOCOPY":
            saved = ~pending  # no background copy: only copy-on-write or a target write
        else:
            saved = np.zeros(n, bool)
        src_chg |= saved  # a copy-on-write means the source was written after the point in time
        failed = rel.state.name == "FAILED"
        t_states = np.where(pending, T.SHARED, np.where(saved, T.SAVED, T.COPIED)).astype(np.uint8)
        t_states[pending & ~wr] = T.NEVER_WRITTEN
        t_states[tgt_chg & ~pending] = T.CHANGED
        if failed:
            t_states[pending] = T.LOST
        s_states = np.where(pending, T.SHARED, T.COPIED).astype(np.uint8)
        s_states[~wr] = T.NEVER_WRITTEN
        s_states[src_chg] = T.CHANGED
        ss, ts = _placed(src, sa, s_states), _placed(tgt, da, t_states)
        counters = _counters(q, ("background_tracks", "target_reads_redirected", "target_write_tracks"))
        note = f"{q['mode']}{' incremental' if q['incremental'] else ''}, {q['level']} level"
        if q["message"]:
            note += f"; {q['message']}"
        out.append(RelationshipMap(sub.name, "flashcopy", rel.id, rel.state.value,
                                   Side(rel.source, "source", ss, src.heads),
                                   Side(rel.target, "target", ts, tgt.heads), counters, note, failed))
    return out


# ---------------------------------------------------------------- Concurrent Copy
def _cc_key(sub, s) -> tuple:
    return (sub.name, "concurrent_copy", s.id, s.times.get("started"))


def _cc_classify(sub, svc, volser, tracks):
    out = []
    for s in list(svc.sessions.values()):
        if s.volser != volser or s.state.name != "ACTIVE":
            continue
        rels = s.tmap.rel_of_src(tracks)[0]
        if s.work is None:
            up = s.unread.test_many(rels) & ~s.saved.test_many(rels)
        else:  # virtual: the work area's own flash or snap keeps the image
            up = np.zeros(rels.size, bool)
        out.append((_cc_key(sub, s), "source", rels, up))
    return out


_CC_COUNTERS = ("intercepted_writes", "cache_sidefile_tracks", "host_sidefile_tracks", "cache_hwm_tracks",
                "host_hwm_tracks", "tracks_read_sidefile", "tracks_read_live")


def _cc_maps(sub, svc, history):
    out = []
    for q in svc.query():
        if q["volser"] not in sub.site.volsers():
            continue
        vol = sub.open_volume(q["volser"])
        s = svc.sessions.get(q["id"])
        ok = q["state"] in ("ACTIVE", "COMPLETE")
        if s is None:
            # recorded by another process: the per-track bitmaps lived there; only the
            # outcome is known -- a complete dump read everything, anything else lost
            runs = [tuple(x) for x in q["runs"]]
            dom = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in runs])
            wr = _written(vol, dom)
            d_states = np.full(dom.size, T.COPIED if q["state"] == "COMPLETE" else T.LOST, np.uint8)
            if q["state"] == "ACTIVE":
                d_states[:] = T.SHARED
            s_states = np.full(dom.size, T.COPIED if q["state"] == "COMPLETE" else T.SHARED, np.uint8)
            note = (f"{q['method']}; recorded by process {q['owner_pid']}: the sidefile of each track "
                    "lived in that process, so only the outcome is drawn")
        else:
            n = s.tmap.n
            r = np.arange(n, dtype=np.int64)
            dom = s.tmap.src(r)
            wr = _written(vol, dom)
            unread, saved = s.unread.test_many(r), s.saved.test_many(r)
            seen = history.of(_cc_key(sub, s)) if history is not None else None
            chg = _in(seen.src_changed, n) if seen else np.zeros(n, bool)
            chg |= saved
            d_states = np.where(unread, np.where(saved, T.SAVED, T.SHARED), T.COPIED).astype(np.uint8)
            if seen is not None:  # read from the sidefile: the dump's image was the saved one
                d_states[_in(seen.src_saved, n) & ~unread] = T.SAVED
            d_states[unread & ~saved & ~wr] = T.NEVER_WRITTEN
            if s.state.name != "ACTIVE":
                d_states[unread] = T.LOST  # a cancelled or ended dump never got these
            s_states = np.where(unread, T.SHARED, T.COPIED).astype(np.uint8)
            s_states[chg] = T.CHANGED
            note = q["method"] + (f" (point in time kept by the work area on {s.work.volser})"
                                  if s.work is not None else "")
        s_states[~wr & (s_states != T.CHANGED)] = T.NEVER_WRITTEN
        ss, ds = _placed(vol, dom, s_states), _placed(vol, dom, d_states)
        if q["message"]:
            note += f"; {q['message']}"
        counters = _counters(q, _CC_COUNTERS)
        out.append(RelationshipMap(sub.name, "concurrent_copy", q["id"], q["state"],
                                   Side(q["volser"], "source", ss, vol.heads),
                                   Side(f"dump {q['id']}", "dump", ds, vol.heads), counters, note, not ok))
    return out


# ---------------------------------------------------------------- SnapShot
def _snap_classify(sub, svc, volser, tracks):
    out = []
    for snap in svc.snaps.values():
        key = (sub.name, "snapshot", snap.id, snap.created)
        if snap.source == volser:
            rels = snap.tmap.rel_of_src(tracks)[0]
            out.append((key, "source", rels, np.zeros(rels.size, bool)))
        if snap.target == volser:
            rels = snap.tmap.rel_of_dst(tracks)[0]
            out.append((key, "target", rels, np.zeros(rels.size, bool)))
    return out


def _snap_maps(sub, svc, history):
    out = []
    for q in svc.query():
        snap = svc.get(q["id"])
        src, tgt = sub.open_volume(snap.source), sub.open_volume(snap.target)
        n = snap.tmap.n
        r = np.arange(n, dtype=np.int64)
        sa, da = snap.tmap.src(r), snap.tmap.dst(r)
        a, b = np.asarray(src.ftd)[sa], np.asarray(tgt.ftd)[da]
        st = np.where(a == b, np.where(a == 0, T.NEVER_WRITTEN, T.SHARED), T.REDIRECTED).astype(np.uint8)
        failed = q["state"] != "COMPLETE"
        t_st = st.copy()
        if failed:
            t_st[:] = T.LOST
        ss, ts = _placed(src, sa, st), _placed(tgt, da, t_st)
        counters = _counters(q, ("tracks_shared", "tracks_unshared", "tracks_empty", "space_consumed_bytes"))
        out.append(RelationshipMap(sub.name, "snapshot", snap.id, q["state"],
                                   Side(snap.source, "source", ss, src.heads),
                                   Side(snap.target, "target", ts, tgt.heads), counters,
                                   q["message"] or f"{q['kind']} snap", failed))
    return out


# ---------------------------------------------------------------- TimeFinder/Clone
def _tf_key(sub, s) -> tuple:
    return (sub.name, "timefinder", s.id, s.times.get("activated"))


def _tf_classify(sub, svc, volser, tracks):
    out = []
    for s in list(svc.sessions.values()):
        if s.pending is None or s.state.name in ("CREATED", "PRECOPY", "TERMINATED"):
            continue  # no point in time yet: a write before activation changes nothing
        if s.source == volser:
            rels = s.tmap.rel_of_src(tracks)[0]
            fwd = s.direction == "forward" and s.state.name in ("COPY_ON_ACCESS", "COPY_IN_PROG")
            up = s.pending.test_many(rels) if fwd else np.zeros(rels.size, bool)
            out.append((_tf_key(sub, s), "source", rels, up))
        if s.target == volser:
            rels = s.tmap.rel_of_dst(tracks)[0]
            out.append((_tf_key(sub, s), "target", rels, np.zeros(rels.size, bool)))
    return out


def _tf_maps(sub, svc, history):
    out = []
    for q in svc.query():
        s = svc.session(q["id"])
        src, tgt = sub.open_volume(s.source), sub.open_volume(s.target)
        n = s.tmap.n
        r = np.arange(n, dtype=np.int64)
        sa, da = s.tmap.src(r), s.tmap.dst(r)
        wr = _written(src, sa)
        pending = s.pending.test_many(r) if s.pending is not None else np.ones(n, bool)
        name = s.state.name
        seen = history.of(_tf_key(sub, s)) if history is not None else None
        src_chg = _in(seen.src_changed, n) if seen else np.zeros(n, bool)
        tgt_chg = _in(seen.tgt_changed, n) if seen else np.zeros(n, bool)
        if s.changed_src is not None and name not in ("CREATED", "PRECOPY"):
            src_chg |= s.changed_src.test_many(r)
        if s.changed_tgt is not None and name not in ("CREATED", "PRECOPY"):
            tgt_chg |= s.changed_tgt.test_many(r)
        if seen is not None:
            saved = _in(seen.src_saved, n) & ~pending
        elif s.mode == "NOCOPY":
            saved = ~pending
        else:
            saved = np.zeros(n, bool)
        src_chg |= saved & (s.direction == "forward")
        s_st = np.where(pending, T.SHARED, T.COPIED).astype(np.uint8)
        t_st = np.where(pending, T.SHARED, np.where(saved, T.SAVED, T.COPIED)).astype(np.uint8)
        t_st[pending & ~wr] = T.NEVER_WRITTEN
        s_st[~wr] = T.NEVER_WRITTEN
        failed = name == "INVALID"
        if name in ("CREATED", "PRECOPY"):
            t_st[pending] = T.UNCOMMITTED
        elif failed:
            t_st[pending] = T.LOST
        else:
            s_st[src_chg] = T.CHANGED
            t_st[tgt_chg & ~pending] = T.CHANGED
        if s.direction != "forward":  # a restore: the source receives, the target gives
            s_st, t_st = t_st, s_st
        ss, ts = _placed(src, sa, s_st), _placed(tgt, da, t_st)
        counters = _counters(q, ("copied_background",))
        out.append(RelationshipMap(sub.name, "timefinder", s.id, q["state"],
                                   Side(s.source, "source", ss, src.heads),
                                   Side(s.target, "target", ts, tgt.heads), counters,
                                   f"{q['mode']}{' differential' if q['differential'] else ''}, "
                                   f"{q['direction']}" + (f"; {q['message']}" if q["message"] else ""),
                                   failed))
    return out


# ---------------------------------------------------------------- any service: the contract
def _generic_classify(sub, svc, volser, tracks):
    return []  # the contract says nothing of why a track moved: no write history


def _track_pairs(d, src, tgt) -> tuple[np.ndarray, np.ndarray]:
    """(source track, copy track) of every track of descriptor ``d``, in order."""
    def expand(runs):
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in runs]) if runs else np.zeros(0, np.int64)

    sa = expand(d["source_runs"]) if d["source_runs"] else np.arange(src.ntracks, dtype=np.int64)
    da = expand(d["target_runs"]) if d["target_runs"] else sa.copy()
    if tgt is not None and da.size != sa.size:
        raise TrackMapError("DLB880E", f"{d['service']} {d['id']}: its source and target runs are "
                                       f"{sa.size} and {da.size} tracks long; the contract wants them alike.")
    return sa, da


def _generic_maps(sub, svc, history):
    """The map of any service from the contract alone: per track, whether the copy
    holds the point-in-time image (``read_point_in_time`` against the target's own
    storage, no read redirection) -- copied -- or not yet -- shared --, and whether
    the source still holds it (else changed after the point in time); a source track
    never written is never written on both sides.  Before a point in time exists
    (``read_point_in_time`` refuses) the copy side is uncommitted."""
    from dasdlab.emulator.trackfmt import relocate_track

    out = []
    for d in svc.query():
        src = sub.open_volume(d["source"])
        tgt = sub.open_volume(d["target"]) if d.get("target") else None
        sa, da = _track_pairs(d, src, tgt)
        n = sa.size
        s_st = np.full(n, T.SHARED, np.uint8)
        t_st = np.full(n, T.SHARED, np.uint8)
        note = f"{d['service']}: drawn from the copy-service contract (point-in-time image against each side)"
        wr = _written(src, sa)
        for i in np.flatnonzero(wr):
            s, t = int(sa[i]), int(da[i])
            try:
                pit = svc.read_point_in_time(d["id"], s)
            except DasdlabError as e:  # no point in time yet (or not readable): nothing is fixed
                t_st[wr] = T.UNCOMMITTED
                note = f"{d['service']}: no point in time to compare with yet ({e})"
                break
            if not np.array_equal(src.own_track(s), pit):
                s_st[i] = T.CHANGED
            if tgt is not None and tgt.written.test(t):
                img = np.array(tgt.own_track(t))
                if t != s:  # the copy's count fields carry its own address
                    relocate_track(img, *divmod(s, src.heads))
                if np.array_equal(img, pit):
                    t_st[i] = T.COPIED
                    if s_st[i] != T.CHANGED:
                        s_st[i] = T.COPIED
        s_st[~wr] = T.NEVER_WRITTEN
        t_st[~wr] = T.NEVER_WRITTEN
        ss = _placed(src, sa, s_st)
        if tgt is not None:
            tside = Side(d["target"], "target", _placed(tgt, da, t_st), tgt.heads)
        else:  # read through the service: the copy has no volume of its own to look at
            tside = Side(f"{d['service']} {d['id']}", "session", _placed(src, sa, t_st), src.heads)
        out.append(RelationshipMap(sub.name, d["service"], d["id"], d["state"],
                                   Side(d["source"], "source", ss, src.heads), tside,
                                   _counters(d, ()), note, False))
    return out


#: capability -> adapter of the built-in services, which know why a track moved (copy-
#: on-write or background copy) from their own bitmaps; any other service is drawn by
#: :data:`GENERIC`, from the contract alone.
ADAPTERS: dict[str, Adapter] = {
    "flashcopy": Adapter(_fc_maps, _fc_classify),
    "concurrent_copy": Adapter(_cc_maps, _cc_classify),
    "snapshot": Adapter(_snap_maps, _snap_classify),
    "timefinder": Adapter(_tf_maps, _tf_classify),
}
GENERIC = Adapter(_generic_maps, _generic_classify)


def adapter(capability: str) -> Adapter:
    """The adapter that draws ``capability``'s relationships."""
    return ADAPTERS.get(capability, GENERIC)


def relationship_maps(site, capability: str | None = None, volsers: Iterable[str] | None = None,
                      history: WriteHistory | None = None) -> list[RelationshipMap]:
    """The maps of every relationship of ``site`` (of one capability, or touching one
    of ``volsers``), in subsystem and id order; source tracks holding uncommitted data
    of an IMS unit of work are drawn so (:func:`mark_uncommitted`)."""
    want = {v.upper() for v in volsers} if volsers is not None else None
    out: list[RelationshipMap] = []
    for sub in site.subsystems():
        for cap, svc in _used_services(sub):
            if capability is not None and cap != capability:
                continue
            for m in adapter(cap).maps(sub, svc, history):
                if want is None or m.source.volser in want or m.target.volser in want:
                    out.append(m)
    if out:
        mark_uncommitted(out, uncommitted_tracks(site))
    return out


# ====================================================================== units of work
def uncommitted_tracks(site) -> dict[str, np.ndarray]:
    """volser -> the tracks of IMS database data sets that hold, on DASD now, bytes
    changed by a unit of work still in flight (the engine's log: the change records
    after the database's last COMMIT; and its truth: the committed blocks; see
    :func:`dasdlab.engine.uow.uncommitted_blocks`).  Empty for a site without IMS
    databases or whose databases never used units of work."""
    if not (Path(site.path) / "ims" / "recon.db").is_file():
        return {}
    from dasdlab.engine.bufferpool import read_dasd
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.recon import Recon
    from dasdlab.engine.uow import uncommitted_blocks, uow_mode

    out: dict[str, set] = {}
    recon = Recon.of_site(site.path, create=False)
    try:
        for d in recon.databases():
            if not d["loaded"] or not uow_mode(recon, d["dbd"]):
                continue
            db = ImsDatabase.open(site, d["dbd"], recon)
            sets = {dd.ddn: dd.dataset(writable=False) for dd in db.dbds}
            hit = uncommitted_blocks(site, recon, d["dbd"], lambda ddn, b: read_dasd(sets[ddn], b))
            for ddn, blocks in hit.items():
                if blocks.size:
                    ds = sets[ddn]
                    out.setdefault(db.ddn(ddn).volser.upper(), set()).update(ds.locate_many(blocks)[0].tolist())
    finally:
        recon.close()
    return {v: np.array(sorted(t), np.int64) for v, t in out.items()}


def mark_uncommitted(maps: list[RelationshipMap], tracks: dict[str, np.ndarray]) -> None:
    """Draw the ``tracks`` (volser -> tracks, :func:`uncommitted_tracks`) of each map's
    source side that are in the relationship as uncommitted data on DASD: that is what
    the source holds there now, whatever the copy has."""
    for m in maps:
        t = tracks.get(m.source.volser.upper())
        if t is None or not t.size:
            continue
        t = t[t < m.source.states.size]
        t = t[m.source.states[t] != T.OUTSIDE]
        m.source.states[t] = T.IN_FLIGHT


def image_copy_map(site, report) -> RelationshipMap:
    """The map of an IMS image copy the engine made (a
    :class:`dasdlab.engine.hpic.CopyReport`), drawn on the data set's own tracks: the
    data set side is copied, or uncommitted where DASD holds data of the unit of work
    in flight now; the copy side is copied, or uncommitted where the copy holds data of
    that unit of work -- a concurrent (fuzzy) copy taken after a steal or a checkpoint
    wrote it.  The copy's first output is read (:func:`dasdlab.engine.icverify.read_copy`)."""
    from dasdlab.engine.bufferpool import read_dasd
    from dasdlab.engine.database import ImsDatabase
    from dasdlab.engine.icverify import read_copy
    from dasdlab.engine.recon import Recon
    from dasdlab.engine.uow import uncommitted_blocks

    if not report.outputs:
        raise TrackMapError("DLB853E", f"image copy of {report.dbd} {report.ddn} has no output to draw.")
    out0 = report.outputs[0]
    recon = Recon.of_site(site.path, create=False)
    try:
        dd = ImsDatabase.open(site, report.dbd, recon).ddn(report.ddn)
        ds = dd.dataset(writable=False)
        copy = read_copy(site, out0["dsn"], out0["format"], report.blocks)
        only = (report.ddn,)
        on_dasd = uncommitted_blocks(site, recon, report.dbd, lambda ddn, b: read_dasd(ds, b), only)
        in_copy = uncommitted_blocks(site, recon, report.dbd, lambda ddn, b: copy[b], only)
    finally:
        recon.close()
    vol = ds.vol
    all_trk = np.unique(ds.locate_many(np.arange(dd.nblocks, dtype=np.int64))[0])
    src, cp = _blank(vol), _blank(vol)
    src[all_trk] = T.COPIED
    cp[all_trk] = T.COPIED
    for states, hit in ((src, on_dasd), (cp, in_copy)):
        b = hit.get(report.ddn, np.zeros(0, np.int64))
        if b.size:
            states[np.unique(ds.locate_many(b)[0])] = T.IN_FLIGHT
    n_u = int((cp == T.IN_FLIGHT).sum())
    note = (f"{report.kind} of {report.dbd} {report.ddn} into {out0['dsn']}: "
            + (f"{n_u} tracks of the copy hold data of the unit of work in flight" if n_u else
               "no data of a unit of work in flight in the copy"))
    return RelationshipMap("ims", "image_copy", out0["dsn"], report.status.upper(),
                           Side(dd.volser.upper(), "data set", src, vol.heads),
                           Side(out0["dsn"], "image copy", cp, vol.heads),
                           {"blocks": report.blocks, "uncommitted_tracks_in_copy": n_u}, note)


# ====================================================================== terminal
def _rows(states: np.ndarray, heads: int) -> list[np.ndarray]:
    n = states.size
    return [states[c * heads:min(n, (c + 1) * heads)] for c in range((n + heads - 1) // heads)]


def _row_groups(a: Side, b: Side) -> list[tuple[int, int]]:
    """[first, last] cylinder groups: runs of 3 or more cylinders identical on both
    sides are folded into one line, so a big volume stays readable."""
    ra, rb = _rows(a.states, a.heads), _rows(b.states, b.heads)
    ncyl = max(len(ra), len(rb))
    key = []
    for c in range(ncyl):
        x = ra[c] if c < len(ra) else np.zeros(0, np.uint8)
        y = rb[c] if c < len(rb) else np.zeros(0, np.uint8)
        key.append((x.tobytes(), y.tobytes()))
    groups, c = [], 0
    while c < ncyl:
        e = c
        while e + 1 < ncyl and key[e + 1] == key[c]:
            e += 1
        if e - c >= 2:
            groups.append((c, e))
        else:
            groups.extend((k, k) for k in range(c, e + 1))
        c = e + 1
    return groups


def _cells(states: np.ndarray, width: int):
    from rich.text import Text

    t = Text()
    for s in states.tolist():
        label, glyph, colour = LEGEND[TrackState(s)]
        fg = "white" if s in (T.COPIED, T.LOST, T.CHANGED, T.REDIRECTED) else "black"
        t.append(glyph, style=f"{fg} on {colour}")
    t.append(" " * (width - len(states)))
    return t


def render_map(m: RelationshipMap):
    """A rich renderable: title, the two sides cylinder by cylinder, counts, counters."""
    from rich.console import Group
    from rich.text import Text

    w = max(m.source.heads, m.target.heads)
    names = [f"{s.volser} ({s.role})" for s in (m.source, m.target)]
    gap = max(2, len(names[0]) - w)
    lines = [Text(m.title, style="bold red" if m.failed else "bold")]
    if m.failed:
        lines.append(Text("  ** FAILED: not a valid copy -- its missing tracks are drawn lost **", style="bold red"))
    head = Text(f"{'cyl':>9} ")
    head.append(names[0].ljust(w + 2 + gap))
    head.append(names[1])
    lines.append(head)
    ra, rb = _rows(m.source.states, m.source.heads), _rows(m.target.states, m.target.heads)
    empty = np.zeros(0, np.uint8)
    for c0, c1 in _row_groups(m.source, m.target):
        label = f"{c0}" if c0 == c1 else f"{c0}-{c1}"
        row = Text(f"{label:>9} ")
        row.append("|")
        row.append_text(_cells(ra[c0] if c0 < len(ra) else empty, w))
        row.append("|" + " " * gap + "|")
        row.append_text(_cells(rb[c0] if c0 < len(rb) else empty, w))
        row.append("|")
        if c0 != c1:
            row.append(f"  x{c1 - c0 + 1} cylinders alike")
        lines.append(row)
    for side in (m.source, m.target):
        lines.append(Text(f"  {side.volser}: " + ", ".join(f"{v} {k}" for k, v in side.counts().items())))
    if m.counters:
        lines.append(Text("  " + "  ".join(f"{k}={v}" for k, v in m.counters.items()), style="dim"))
    if m.note:
        lines.append(Text(f"  {m.note}", style="italic"))
    return Group(*lines)


def legend_text(states: Iterable[TrackState] | None = None):
    from rich.text import Text

    t = Text("legend: ")
    for s in (states if states is not None else T):
        label, glyph, colour = LEGEND[s]
        fg = "white" if s in (T.COPIED, T.LOST, T.CHANGED, T.REDIRECTED) else "black"
        t.append(f"[{glyph}]", style=f"{fg} on {colour}")
        t.append(f" {label}  ")
    return t


def print_maps(maps: list[RelationshipMap], console=None) -> None:
    """Print maps and one legend of the states they use to ``console`` (rich)."""
    from rich.console import Console

    console = console or Console(highlight=False)
    used: set[int] = set()
    for m in maps:
        console.print(render_map(m))
        used |= set(np.unique(m.source.states).tolist()) | set(np.unique(m.target.states).tolist())
    if maps:
        console.print(legend_text([s for s in T if s in used and s is not T.OUTSIDE]))


def maps_text(maps: list[RelationshipMap], width: int = 120) -> str:
    """The maps as plain text (no colour), as a terminal without colour shows them."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    print_maps(maps, Console(file=buf, width=width, color_system=None, highlight=False))
    return buf.getvalue()


# ====================================================================== pictures
def save_picture(maps: list[RelationshipMap], path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw ``maps`` (one row each, source and copy side by side) to ``path``; PNG or
    SVG by its suffix.  Written to a temporary name and renamed, so a killed process
    never leaves a partial picture under the final name."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise TrackMapError("DLB851E", f"{path}: a track map picture is .png or .svg, not {path.suffix or 'no suffix'}.")
    if not path.parent.is_dir():
        raise TrackMapError("DLB852E", f"{path.parent} is not a folder; cannot write {path.name}.")
    if not maps:
        raise TrackMapError("DLB853E", "there is no relationship to draw (establish, start, snap or create one).")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    cmap = ListedColormap([LEGEND[s][2] for s in T])
    rows = len(maps)
    ncyl = max(-(-max(m.source.states.size, m.target.states.size) // m.source.heads) for m in maps)
    lines = textwrap.wrap(title, 110) if title else []
    fig_h = min(40.0, 1.4 + 0.25 * len(lines) + rows * (1.0 + 0.18 * min(ncyl, 120)))
    fig, axes = plt.subplots(rows, 2, figsize=(9, fig_h), squeeze=False, layout="constrained")
    used: set[int] = set()
    for i, m in enumerate(maps):
        for j, side in enumerate((m.source, m.target)):
            ax = axes[i][j]
            h = side.heads
            nc = -(-side.states.size // h)
            grid = np.full(nc * h, T.OUTSIDE, np.uint8)
            grid[:side.states.size] = side.states
            used |= set(np.unique(side.states).tolist())
            ax.imshow(grid.reshape(nc, h), cmap=cmap, vmin=0, vmax=len(T) - 1, aspect="auto",
                      interpolation="nearest")
            if nc <= 60:
                ax.set_xticks(np.arange(-0.5, h, 1), minor=True)
                ax.set_yticks(np.arange(-0.5, nc, 1), minor=True)
                ax.grid(which="minor", color="#999999", linewidth=0.3)
            ax.tick_params(which="minor", length=0)
            if nc <= 30:
                ax.set_yticks(range(nc))
            ax.set_xticks(range(0, h, max(1, h // 8)))
            ax.set_xlabel("head")
            ax.set_ylabel("cylinder")
            t = f"{side.volser} ({side.role})"
            if j == 0:
                t = f"{m.id} {m.capability.replace('_', ' ')}: {m.state}\n" + t
            if j == 1 and m.failed:
                t = "FAILED - not a valid copy\n" + t
            ax.set_title(t, fontsize=9, color="#b00000" if (m.failed and j == 1) else "black")
    handles = [Patch(facecolor=LEGEND[s][2], edgecolor="#555555", label=LEGEND[s][0])
               for s in T if s in used and s is not T.OUTSIDE]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    if lines:
        fig.suptitle("\n".join(lines), fontsize=9)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path
