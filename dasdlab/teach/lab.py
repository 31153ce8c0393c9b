"""The teaching lab: a small site driven one short command at a time, each step answered
with what happened and why, the counters that changed and the track maps of the
volumes involved (:mod:`dasdlab.teach.trackmap`).

One concept: *a lab step*.  :class:`Lab` owns a site of small volumes (a few
cylinders, so every track is one cell on a projector), a :class:`WriteHistory` on every
volume, and a log of every host update it made; :meth:`Lab.step` parses one command
line, runs it against the real copy services and returns a :class:`Step`.  The
interactive console (:mod:`dasdlab.teach.console`) and ``dasdlab lab --script`` only
print steps.

The image copy and recovery commands model what an IMS image copy needs of the log,
at track level (facts from IBM IMS 15 "Purge time for database recovery and
DFSUCUM0", https://www.ibm.com/docs/en/ims/15.5.0?topic=idcau-purge-time-database-recovery-database-change-accumulation-utility
and "Concurrent image copy recovery",
https://www.ibm.com/docs/en/ims/15.2.0?topic=databases-concurrent-image-copy-recovery):

* ``change`` is a committed update that is logged at once but stays in the buffer
  pool (*uncommitted* to DASD) until ``flush`` writes it;
* ``imagecopy DSN fuzzy`` reads the data set's tracks from DASD while updates go on
  (``icread N`` reads the next N): the copy may miss a change still in a buffer when
  its track was read, even one logged *before* the copy started;
* the *purge time* of a fuzzy copy is the last ``checkpoint`` before its start (for a
  clean copy, its run time); ``recover DSN log purge`` restores the copy and applies
  the log from there, ``log start`` / ``log end`` from the copy's start or end --
  the lab then compares every track with what was committed and names the wrong ones.

Units of work, as the engine models them (:mod:`dasdlab.engine.uow`; IMS "Commit
process", S106 in ``docs/sources.md``): after ``uow begin`` each ``change`` belongs to
the unit of work and is *not committed*; ``flush`` (every buffer, as a checkpoint
writes them) or ``flush DSN TRACK`` (one buffer, a steal) puts it on DASD before the
commit, where a fuzzy copy can read it; ``uow commit`` logs the commit point, ``uow
backout`` puts the before images back in the buffer pool and logs them (compensation,
so recovery passes through the backout).  A track whose DASD image, or whose image in
a copy, is a change no unit of work has committed (in flight, or backed out since) is
drawn *uncommitted* ``U``.  A unit in flight when a fuzzy copy starts moves its purge
point back to the unit's first change; ``recover`` first brings a unit in flight to
its sync point, as stopping the database does.

Errors: DLB855E-DLB869E; DLB870I-DLB889I are the lab's informational lines.
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dasdlab.emulator import trackfmt
from dasdlab.errors import DasdlabError
from dasdlab.teach.trackmap import (
    RelationshipMap, Side, TrackState as T, WriteHistory, relationship_maps, save_picture,
)

RECORD_BYTES = 80  # one fixed-length record a track: what a class reads and updates
DEFAULT_CYLINDERS = 3


class LabError(DasdlabError):
    """A lab command that cannot run: unknown, bad arguments, or refused by the lab."""


@dataclass
class Step:
    """What one command did: ``what`` (one line: what happened and why), the volumes
    involved, their maps, the counters that changed (name -> (before, after))."""

    command: str
    what: str
    volumes: list[str] = field(default_factory=list)
    maps: list[RelationshipMap] = field(default_factory=list)
    changed: dict[str, tuple] = field(default_factory=dict)
    error: str | None = None
    lines: list[str] = field(default_factory=list)  # extra output (reads, listings)


@dataclass
class LogRecord:
    seq: int
    time: float
    volser: str
    track: int
    image: bytes
    kind: str  # "write", "update", "change", "backout", "commit"
    uow: int = 0  # the unit of work of a change; 0: committed at once
    before: bytes | None = None  # a change's before image (what a backout puts back)


@dataclass
class ImageCopy:
    id: str
    dsn: str
    volser: str
    tracks: list[int]
    fuzzy: bool
    start_seq: int
    start_time: float
    purge_seq: int
    images: dict[int, bytes] = field(default_factory=dict)
    read_seq: dict[int, int] = field(default_factory=dict)
    end_seq: int | None = None

    @property
    def done(self) -> bool:
        return len(self.images) == len(self.tracks)


#: command -> (usage, one-line help).  The console's help and completion use it.
COMMANDS: dict[str, tuple[str, str]] = {
    "site": ("site", "list the subsystems (and their copy services) and the volumes"),
    "volume": ("volume VOLSER SUBSYSTEM [CYLINDERS]", "create a small 3390 volume on a subsystem"),
    "dataset": ("dataset DSN VOLSER TRACKS", "allocate and catalog a data set of TRACKS tracks"),
    "write": ("write VOL|DSN TRACK [TEXT]", "host write of a whole track (a data set's tracks count from 0)"),
    "update": ("update VOL|DSN TRACK [TEXT]", "host update of the record on a track, in place"),
    "fill": ("fill VOL|DSN [FIRST-LAST]", "write every track of a data set (or the range of a volume)"),
    "read": ("read VOL|DSN TRACK", "what a host read of the track returns now"),
    "flashcopy": ("flashcopy SRC TGT [copy|nocopy] [incremental]", "establish FlashCopy (volume level)"),
    "withdraw": ("withdraw ID", "withdraw a FlashCopy relationship"),
    "refresh": ("refresh ID", "incremental FlashCopy: a new point in time, copying changed tracks only"),
    "drain": ("drain [ID]", "finish FlashCopy / clone background copies now"),
    "cc": ("cc start VOL|DSN | cc read ID [N|all] | cc track ID TRACK | cc sdm | cc end ID",
           "Concurrent Copy: start a session, read through it, move sidefiles, end it"),
    "snap": ("snap SRC TGT", "SnapShot a whole volume (pointers only)"),
    "clone": ("clone create SRC TGT [copy|nocopy|precopy] | clone activate ID | clone terminate ID",
              "TimeFinder/Clone sessions"),
    "workload": ("workload VOL|DSN N [SEED]", "N host updates of random tracks"),
    "time": ("time SECONDS", "advance modeled time: background copies and the SDM do their work"),
    "checkpoint": ("checkpoint", "take a system checkpoint (where a fuzzy copy's purge time falls)"),
    "change": ("change DSN TRACK [TEXT]", "a committed change: logged now, left in the buffer pool"),
    "flush": ("flush [DSN TRACK]", "the buffer pool writes its changed tracks (or one: a steal) to DASD"),
    "uow": ("uow begin | uow commit | uow backout",
            "a unit of work: later changes are uncommitted until its commit; a backout undoes them"),
    "imagecopy": ("imagecopy DSN [clean|fuzzy]", "image copy: clean reads all now, fuzzy starts reading"),
    "icread": ("icread [N|all]", "the fuzzy image copy reads its next N tracks"),
    "damage": ("damage DSN", "a media failure: every track of the data set is destroyed"),
    "recover": ("recover DSN [log purge|start|end|none]",
                "restore the last image copy, apply the log from there, check every track"),
    "map": ("map [VOL|ID ...]", "show the track maps again (all, or of these volumes/relationships)"),
}
ALIASES = {"vol": "volume", "ds": "dataset", "fc": "flashcopy", "ic": "imagecopy", "wl": "workload"}


def _parse_range(text: str, what: str) -> tuple[int, int]:
    try:
        a, _, b = text.partition("-")
        first = int(a)
        last = int(b) if b else first
    except ValueError:
        raise LabError("DLB856E", f"{what} {text!r} is not a track or a FIRST-LAST range.") from None
    if last < first:
        raise LabError("DLB856E", f"{what} {text!r}: the last track comes before the first.")
    return first, last


def _vs(vol) -> str:
    """The volume's serial as the site knows it: reading VOL1 would be a host read of
    track 0 (redirected, and counted, on a FlashCopy target)."""
    return getattr(vol, "volser_hint", None) or vol.volser


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LabError("DLB856E", f"{what} must be a whole number, not {text!r}.") from None


class Lab:
    """A lab over a site folder (a new empty one, or a temporary one)."""

    def __init__(self, site_dir: str | Path | None = None) -> None:
        from dasdlab.emulator.site import Site

        self._tmp = None
        if site_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dasdlab-lab-")
            site_dir = Path(self._tmp.name) / "site"
        self.site = Site.init(site_dir)
        self.history = WriteHistory()
        self.log: list[LogRecord] = []
        self.seq = 0
        self.checkpoints: list[tuple[int, float]] = [(0, 0.0)]
        self.buffer: dict[tuple[str, int], bytes] = {}
        self.copies: dict[str, ImageCopy] = {}
        self.fuzzy: ImageCopy | None = None
        self.recovery: RelationshipMap | None = None
        self.steps = 0
        self.uow: int | None = None  # the unit of work in flight
        self.uow_state: dict[int, str] = {}  # unit -> "in flight", "committed", "backed out"

    def close(self) -> None:
        self.history.unwatch_all()
        self.site.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # ------------------------------------------------------------------ steps
    def step(self, line: str) -> Step:
        """Run one command line; a DasdlabError becomes the step's ``error``."""
        line = line.strip()
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            return Step(line, "", error=f"DLB856E cannot split {line!r} into words: {e}.")
        if not words:
            return Step(line, "")
        name = ALIASES.get(words[0].lower(), words[0].lower())
        fn = getattr(self, f"do_{name}", None)
        if fn is None or name not in COMMANDS:
            return Step(line, "", error=f"DLB855E unknown lab command {words[0]!r}; 'help' lists them.")
        before = self._counters()
        try:
            st = fn(words[1:])
        except DasdlabError as e:
            return Step(line, "", error=str(e))
        st.command = line
        self.steps += 1
        if name != "map":
            after = self._counters()
            # a new relationship shows as its state only, not as every counter from nothing
            st.changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v
                          and (k in before or k.endswith(".state") or "." not in k)}
        if not st.maps and st.volumes:
            st.maps = self.maps(st.volumes)
        return st

    def maps(self, volumes=None, ids=None) -> list[RelationshipMap]:
        """The maps of relationships touching ``volumes`` (or all), the lab's image copies."""
        ms = relationship_maps(self.site, volsers=volumes, history=self.history)
        ms += [self._copy_map(c) for c in self.copies.values()
               if volumes is None or c.volser in {v.upper() for v in volumes}]
        if self.recovery is not None and (volumes is None or self.recovery.source.volser in
                                          {v.upper() for v in volumes}):
            ms.append(self.recovery)
        if ids is not None:
            want = {i.upper() for i in ids}
            ms = [m for m in ms if m.id in want]
        return ms

    def _counters(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for m in relationship_maps(self.site, history=self.history):
            out[f"{m.id}.state"] = m.state
            for k, v in m.counters.items():
                out[f"{m.id}.{k}"] = v
        for c in self.copies.values():
            out[f"{c.id}.tracks_read"] = len(c.images)
        out["buffered_changes"] = len(self.buffer)
        out["unit_of_work_in_flight"] = self.uow
        out["log_records"] = len(self.log)
        out["modeled_time_s"] = round(self.site.clock.now(), 6)
        return out

    def save_maps(self, st: Step, folder: Path, fmt: str = "png") -> Path | None:
        """Save the step's maps as ``folder/step-NNN-COMMAND.png`` (or .svg)."""
        if not st.maps:
            return None
        word = (st.command.split() or ["step"])[0].lower()
        return save_picture(st.maps, Path(folder) / f"step-{self.steps:03d}-{word}.{fmt}",
                            title=f"lab> {st.command}  --  {st.what}")

    # ------------------------------------------------------------------ addressing
    def _target(self, name: str, writable: bool = False):
        """(volume, absolute tracks) of a volser or a catalogued data set."""
        if "." in name:
            volser = self.site.catalog.lookup(name.upper())
            vol = self.site.volume(volser, writable=writable)
            runs = vol.vtoc.get(name.upper()).track_list(vol.heads)
            return vol, [t for a, b in runs for t in range(a, b)]
        vol = self.site.volume(name, writable=writable)
        return vol, list(range(vol.ntracks))

    def _track(self, name: str, text: str, writable: bool = False) -> tuple[object, int]:
        vol, tracks = self._target(name, writable)
        i = _int(text, "TRACK")
        if "." in name:
            if not 0 <= i < len(tracks):
                raise LabError("DLB857E", f"{name.upper()} has tracks 0..{len(tracks) - 1}, not {i}.")
            return vol, tracks[i]
        if not 0 <= i < vol.ntracks:
            raise LabError("DLB857E", f"{_vs(vol)} has tracks 0..{vol.ntracks - 1}, not {i}.")
        if i < vol.heads:
            raise LabError("DLB857E", f"track {i} of {_vs(vol)} is in cylinder 0 (label and VTOC); "
                                      f"write tracks {vol.heads}..{vol.ntracks - 1}.")
        return vol, i

    def _image(self, vol, t: int, text: str) -> np.ndarray:
        cyl, head = vol.cchh(t)
        data = text.encode("cp037", errors="replace")[:RECORD_BYTES].ljust(RECORD_BYTES, b"\x40")
        return trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot)

    def _log(self, vol, t: int, kind: str, uow: int = 0, before: bytes | None = None) -> None:
        self.seq += 1
        self.log.append(LogRecord(self.seq, self.site.clock.now(), _vs(vol), t,
                                  bytes(vol.own_track(t)) if kind not in ("change", "backout")
                                  else self.buffer[(_vs(vol), t)], kind, uow, before))

    def _committed(self, r: LogRecord) -> bool:
        return r.kind != "commit" and (r.uow == 0 or self.uow_state.get(r.uow) == "committed")

    def uncommitted_images(self, volser: str) -> tuple[dict[int, set], dict[int, bytes]]:
        """(track -> images written by changes no unit of work committed, track -> its
        last committed image) of ``volser``, from the lab's log."""
        un: dict[int, set] = {}
        last: dict[int, bytes] = {}
        for r in self.log:
            if r.volser != volser:
                continue
            if self._committed(r):
                last[r.track] = r.image
            elif r.kind == "change":
                un.setdefault(r.track, set()).add(r.image)
        return un, last

    def _is_uncommitted(self, un, last, t: int, img: bytes) -> bool:
        return img in un.get(t, ()) and img != last.get(t)

    def _host_write(self, vol, t: int, text: str, kind: str = "write") -> None:
        vol.write_track(t, self._image(vol, t, text))
        self._log(vol, t, kind)

    @staticmethod
    def _text_of(img) -> str:
        if not trackfmt.is_formatted(np.asarray(img)):
            return "(never written)"
        recs = trackfmt.parse_track(np.asarray(img), where="lab", expect=None)
        if not recs:
            return "(no records)"
        r = recs[0]
        return bytes(np.asarray(img)[r.data_offset:r.end]).decode("cp037", errors="replace").rstrip()

    # ------------------------------------------------------------------ site
    def do_site(self, a) -> Step:
        lines = []
        for sub in self.site.subsystems():
            caps = ", ".join(sorted(sub.capabilities))
            vols = ", ".join(self.site.volsers(sub.name)) or "no volumes yet"
            lines.append(f"{sub.name:<6} {sub.kind:<10} {caps:<28} {vols}")
        return Step("", "DLB870I the site: three subsystems, each with its own copy services.", lines=lines)

    def do_volume(self, a) -> Step:
        if len(a) not in (2, 3):
            raise LabError("DLB856E", f"usage: {COMMANDS['volume'][0]}")
        cyl = _int(a[2], "CYLINDERS") if len(a) == 3 else DEFAULT_CYLINDERS
        if not 2 <= cyl <= 50:
            raise LabError("DLB856E", "a lab volume has 2 to 50 cylinders (cylinder 0 holds the label and VTOC).")
        sub = self.site.subsystem(a[1])
        self.history.watch(sub, a[0])  # before any copy service: the history sees each write first
        vol = self.site.add_volume(sub.name, a[0], "3390-1", cylinders=cyl)
        return Step("", f"DLB871I volume {_vs(vol)} created on {sub.name} ({sub.kind}): {cyl} cylinders of "
                        f"{vol.heads} tracks; cylinder 0 holds its label and VTOC.", [_vs(vol)])

    def do_dataset(self, a) -> Step:
        if len(a) != 3:
            raise LabError("DLB856E", f"usage: {COMMANDS['dataset'][0]}")
        n = _int(a[2], "TRACKS")
        e = self.site.allocate(a[0].upper(), a[1], dsorg="PS", recfm="F", lrecl=RECORD_BYTES,
                               blksize=RECORD_BYTES, primary=n, unit="TRK")
        vol = self.site.volume(a[1])
        runs = e.track_list(vol.heads)
        return Step("", f"DLB872I {a[0].upper()} allocated on {_vs(vol)}: tracks "
                        f"{', '.join(f'{x}-{y - 1}' for x, y in runs)} (data set track 0 is volume track "
                        f"{runs[0][0]}).", [_vs(vol)])

    def do_write(self, a) -> Step:
        if len(a) < 2:
            raise LabError("DLB856E", f"usage: {COMMANDS['write'][0]}")
        vol, t = self._track(a[0], a[1], writable=True)
        text = " ".join(a[2:]) or f"track {t} written at {self.site.clock.now():.3f}s"
        why = self._why_write(_vs(vol), t)  # asked before the write, as the services see it
        self._host_write(vol, t, text)
        return Step("", f"DLB873I host write of track {t} of {_vs(vol)}. {why}", [_vs(vol)])

    def do_update(self, a) -> Step:
        if len(a) < 2:
            raise LabError("DLB856E", f"usage: {COMMANDS['update'][0]}")
        vol, t = self._track(a[0], a[1], writable=True)
        if not vol.is_written(t):
            raise LabError("DLB858E", f"track {t} of {_vs(vol)} has no record to update; write it first.")
        text = " ".join(a[2:]) or f"track {t} updated at {self.site.clock.now():.3f}s"
        why = self._why_write(_vs(vol), t)
        vol.update_record(*vol.cchh(t), 1, text.encode("cp037", errors="replace")[:RECORD_BYTES]
                          .ljust(RECORD_BYTES, b"\x40"))
        self._log(vol, t, "update")
        return Step("", f"DLB873I host update of the record on track {t} of {_vs(vol)}. {why}", [_vs(vol)])

    def do_fill(self, a) -> Step:
        if not a:
            raise LabError("DLB856E", f"usage: {COMMANDS['fill'][0]}")
        vol, tracks = self._target(a[0], writable=True)
        if len(a) > 1:
            first, last = _parse_range(a[1], "range")
            tracks = [tracks[i] for i in range(first, last + 1) if i < len(tracks)] if "." in a[0] \
                else [t for t in range(first, last + 1) if vol.heads <= t < vol.ntracks]
        elif "." not in a[0]:
            tracks = tracks[vol.heads:]
        for t in tracks:
            self._host_write(vol, t, f"track {t} filled at {self.site.clock.now():.3f}s")
        return Step("", f"DLB874I {len(tracks)} tracks of {_vs(vol)} written ({tracks[0]}-{tracks[-1]})."
                    if tracks else f"DLB874I no tracks to write on {_vs(vol)}.", [_vs(vol)])

    def do_read(self, a) -> Step:
        if len(a) != 2:
            raise LabError("DLB856E", f"usage: {COMMANDS['read'][0]}")
        vol, tracks = self._target(a[0])
        i = _int(a[1], "TRACK")
        t = tracks[i] if "." in a[0] and 0 <= i < len(tracks) else i
        if not 0 <= t < vol.ntracks:
            raise LabError("DLB857E", f"{_vs(vol)} has tracks 0..{vol.ntracks - 1}, not {t}.")
        text = self._text_of(vol.read_track(t))
        own = self._text_of(vol.own_track(t))
        extra = "" if own == text else f" (its own slot holds {own!r}: the read was redirected to the source)"
        return Step("", f"DLB875I track {t} of {_vs(vol)} reads {text!r}{extra}.", [_vs(vol)])

    def _why_write(self, volser: str, t: int) -> str:
        """Which copy services saw this write coming, and what they will do (asked before it)."""
        why = []
        for m in relationship_maps(self.site, volsers=[volser], history=self.history):
            side = m.source if m.source.volser == volser else (m.target if m.target.volser == volser else None)
            if side is None or side.states[t] == T.OUTSIDE:
                continue
            other = m.target.states[t] if side is m.source else None
            if side is m.source and m.capability == "snapshot":
                why.append(f"{m.id}: the new image goes to a new place (redirect-on-write), the snap keeps the old")
            elif side is m.source and m.capability == "concurrent_copy" and other == T.SHARED:
                why.append(f"{m.id}: the dump has not read it yet, so its before-image goes to the sidefile first")
            elif side is m.source and other in (T.SHARED, T.NEVER_WRITTEN) and m.state not in (
                    "CREATED", "PRECOPY"):
                why.append(f"{m.id}: not copied yet, so the point-in-time image is copied to the target first "
                           "(copy-on-write)")
            elif side is m.source and m.state in ("CREATED", "PRECOPY"):
                why.append(f"{m.id}: no point in time yet, the clone will take the new image when activated")
            elif side is m.source:
                why.append(f"{m.id}: its point-in-time image is already safe, nothing to save")
            else:
                why.append(f"{m.id}: a write to the copy takes the track out of the relationship")
        ic = self.fuzzy
        if ic is not None and ic.volser == volser and t in set(ic.tracks):
            why.append(f"{ic.id} read this track already: the copy keeps the old image, only the log has the "
                       "update" if t in ic.images else
                       f"{ic.id} has not read this track yet: it will read the new image (the copy is fuzzy)")
        return ("Before it: " + "; ".join(why) + ".") if why else "No copy relationship covers it."

    # ------------------------------------------------------------------ FlashCopy
    def _fc(self, volser: str):
        return self.site.subsystem_of(volser).service("flashcopy")

    def _fc_owner(self, rid: str):
        for sub in self.site.subsystems():
            if sub.has("flashcopy") and sub.state_dir("flashcopy").is_dir():
                fc = sub.service("flashcopy")
                if rid.upper() in {r.id for r in fc.relationships()}:
                    return fc
        raise LabError("DLB859E", f"there is no FlashCopy relationship {rid.upper()}.")

    def do_flashcopy(self, a) -> Step:
        if len(a) < 2:
            raise LabError("DLB856E", f"usage: {COMMANDS['flashcopy'][0]}")
        opts = {w.lower() for w in a[2:]}
        bad = opts - {"copy", "nocopy", "incremental"}
        if bad or {"copy", "nocopy"} <= opts:
            raise LabError("DLB856E", f"flashcopy options are copy or nocopy, and incremental; not {' '.join(a[2:])}.")
        mode = "NOCOPY" if "nocopy" in opts else "COPY"
        rel = self._fc(a[0]).establish(a[0], a[1], mode=mode, incremental="incremental" in opts)
        why = ("no background copy: a track reaches the target only when the source is about to be "
               "written (copy-on-write)" if mode == "NOCOPY" else
               "the background copy fills the target as modeled time passes ('time S' or 'drain')")
        return Step("", f"DLB876I FlashCopy {rel.id} established {rel.source} -> {rel.target} ({mode}): logically "
                        f"complete at once -- the target reads as the source did now; {why}.",
                    [rel.source, rel.target])

    def do_withdraw(self, a) -> Step:
        if len(a) != 1:
            raise LabError("DLB856E", f"usage: {COMMANDS['withdraw'][0]}")
        fc = self._fc_owner(a[0])
        rel = fc.get(a[0])
        left = rel.remaining
        fc.withdraw(a[0])
        tail = (f"{left} tracks had not been copied: the target keeps what it held before for them "
                "(a NOCOPY target is not a full copy once withdrawn)" if left else
                "every track had been copied: the target is a full copy")
        return Step("", f"DLB877I FlashCopy {rel.id} withdrawn; {tail}.", [rel.source, rel.target])

    def do_refresh(self, a) -> Step:
        if len(a) != 1:
            raise LabError("DLB856E", f"usage: {COMMANDS['refresh'][0]}")
        fc = self._fc_owner(a[0])
        rel = fc.refresh(a[0])
        return Step("", f"DLB878I FlashCopy {rel.id} refreshed: a new point in time; only the {rel.remaining} "
                        "tracks changed on either side since the last one are to copy (change recording).",
                    [rel.source, rel.target])

    def do_drain(self, a) -> Step:
        done, vols = 0, []
        for sub in self.site.subsystems():
            if sub.has("flashcopy") and sub.state_dir("flashcopy").is_dir():
                fc = sub.service("flashcopy")
                rels = [r for r in fc.relationships() if not a or r.id == a[0].upper()]
                for r in rels:
                    if r.state.name in ("COPYING", "WITHDRAWING"):
                        done += fc.drain(r.id)
                    vols += [r.source, r.target]
            if sub.has("timefinder") and sub.state_dir("timefinder").is_dir():
                tf = sub.service("timefinder")
                for sid, s in list(tf.sessions.items()):
                    if (not a or sid == a[0].upper()) and s.state.name in ("COPY_IN_PROG", "PRECOPY",
                                                                          "RESTORE_IN_PROG"):
                        n0 = s.pending.count()
                        tf.drain(sid)
                        done += n0
                        vols += [s.source, s.target]
        return Step("", f"DLB879I background copy finished at once: {done} tracks copied.", sorted(set(vols)))

    # ------------------------------------------------------------------ Concurrent Copy
    def _cc_session(self, sid: str):
        for sub in self.site.subsystems():
            if sub.has("concurrent_copy") and sub.state_dir("concurrent_copy").is_dir():
                cc = sub.service("concurrent_copy")
                if sid.upper() in cc.sessions:
                    return cc, cc.sessions[sid.upper()]
        raise LabError("DLB860E", f"this lab has no Concurrent Copy session {sid.upper()}.")

    def do_cc(self, a) -> Step:
        if not a or a[0].lower() not in ("start", "read", "track", "sdm", "end"):
            raise LabError("DLB856E", f"usage: {COMMANDS['cc'][0]}")
        verb = a[0].lower()
        if verb == "start":
            if len(a) != 2:
                raise LabError("DLB856E", "usage: cc start VOL|DSN")
            vol, tracks = self._target(a[1])
            runs = None
            if "." in a[1]:
                runs = self.site.volume(_vs(vol)).vtoc.get(a[1].upper()).track_list(vol.heads)
            cc = self.site.subsystem_of(_vs(vol)).service("concurrent_copy")
            s = cc.start(_vs(vol), runs=runs)
            return Step("", f"DLB880I Concurrent Copy session {s.id} started on {_vs(vol)} ({s.tmap.n} tracks, "
                            f"{s.method}): logically complete now; from here the first write to a track the "
                            "dump has not read saves its before-image in the sidefile.", [_vs(vol)])
        if verb == "sdm":
            moved = 0
            for sub in self.site.subsystems():
                if sub.has("concurrent_copy") and sub.state_dir("concurrent_copy").is_dir():
                    moved += sub.service("concurrent_copy").drain()
            return Step("", f"DLB881I the System Data Mover moved {moved} before-images from the cache "
                            "sidefile to the host sidefile (the cache fills no more with them).",
                        self.site.volsers())
        if len(a) < 2:
            raise LabError("DLB856E", f"usage: {COMMANDS['cc'][0]}")
        cc, s = self._cc_session(a[1])
        if verb == "end":
            s.end()
            return Step("", f"DLB882I session {s.id} ended ({s.state.value}); "
                            + ("every track was read: the dump is complete." if s.left == 0 else
                               f"{s.left} tracks were never read: the dump is incomplete."), [s.volser])
        if verb == "track":
            if len(a) != 3:
                raise LabError("DLB856E", "usage: cc track ID TRACK")
            t = _int(a[2], "TRACK")
            r = s.tmap.rel_of_src1(t)
            side = "the sidefile" if r >= 0 and s.saved.test(r) else "the volume"
            img = s.read_track(t)
            return Step("", f"DLB883I the dump read track {t} from {side}: {self._text_of(img)!r}.", [s.volser])
        n = s.left if len(a) < 3 or a[2].lower() == "all" else _int(a[2], "N")
        todo = s.tmap.src(s.unread.indices())[:n]
        from_side = 0
        for t in todo.tolist():
            r = s.tmap.rel_of_src1(t)
            from_side += bool(s.saved.test(r))
            s.read_track(t)
        return Step("", f"DLB883I the dump read {len(todo)} tracks ({from_side} from the sidefile, the rest from "
                        f"the volume); {s.left} left" + (": the session is complete (physical completion)."
                                                         if s.left == 0 else "."), [s.volser])

    # ------------------------------------------------------------------ SnapShot, TimeFinder
    def do_snap(self, a) -> Step:
        if len(a) != 2:
            raise LabError("DLB856E", f"usage: {COMMANDS['snap'][0]}")
        rec = self.site.subsystem_of(a[0]).service("snapshot").snap(a[0], a[1])
        return Step("", f"DLB884I snap {rec['id']} {rec['source']} -> {rec['target']}: only pointers were copied, "
                        "so it is logically and physically complete at once; both volumes share every track "
                        "until one of them is written.", [rec["source"], rec["target"]])

    def do_clone(self, a) -> Step:
        if not a or a[0].lower() not in ("create", "activate", "terminate"):
            raise LabError("DLB856E", f"usage: {COMMANDS['clone'][0]}")
        verb = a[0].lower()
        if verb == "create":
            if len(a) not in (3, 4):
                raise LabError("DLB856E", "usage: clone create SRC TGT [copy|nocopy|precopy]")
            mode = a[3].upper() if len(a) == 4 else "NOCOPY"
            tf = self.site.subsystem_of(a[1]).service("timefinder")
            s = tf.create(a[1], a[2], mode=mode)
            return Step("", f"DLB885I clone session {s.id} created {s.source} -> {s.target} ({mode}): the target "
                            "is Not Ready and there is no point in time until 'clone activate'.",
                        [s.source, s.target])
        if len(a) != 2:
            raise LabError("DLB856E", f"usage: clone {verb} ID")
        tf = next((sub.service("timefinder") for sub in self.site.subsystems()
                   if sub.has("timefinder") and sub.state_dir("timefinder").is_dir()
                   and a[1].upper() in sub.service("timefinder").sessions), None)
        if tf is None:
            raise LabError("DLB861E", f"this lab has no clone session {a[1].upper()}.")
        s = tf.session(a[1])
        if verb == "activate":
            tf.activate(s.id)
            return Step("", f"DLB885I clone {s.id} activated: this is the point in time; the target is Ready "
                            + ("and copied in the background." if s.mode != "NOCOPY" else
                               "and a track is copied only when it is accessed (copy on access)."),
                        [s.source, s.target])
        vols = [s.source, s.target]
        tf.terminate(s.id, force=True)
        return Step("", f"DLB885I clone {s.id} terminated.", vols)

    # ------------------------------------------------------------------ workload and time
    def do_workload(self, a) -> Step:
        if len(a) not in (2, 3):
            raise LabError("DLB856E", f"usage: {COMMANDS['workload'][0]}")
        vol, tracks = self._target(a[0], writable=True)
        if "." not in a[0]:
            tracks = tracks[vol.heads:]
        n = _int(a[1], "N")
        rng = np.random.default_rng(_int(a[2], "SEED") if len(a) == 3 else self.steps)
        picks = rng.choice(np.asarray(tracks), size=n).tolist()
        for k, t in enumerate(picks):
            self._host_write(vol, int(t), f"workload update {k + 1} of track {t}")
        return Step("", f"DLB886I {n} host updates of random tracks of {_vs(vol)} "
                        f"({len(set(picks))} different tracks); each first update of a protected track "
                        "saved its point-in-time image first.", [_vs(vol)])

    def do_time(self, a) -> Step:
        if len(a) != 1:
            raise LabError("DLB856E", f"usage: {COMMANDS['time'][0]}")
        try:
            dt = float(a[0])
        except ValueError:
            raise LabError("DLB856E", f"SECONDS must be a number, not {a[0]!r}.") from None
        if dt <= 0:
            raise LabError("DLB856E", "time moves forward only: give a positive number of seconds.")
        self.site.tick(self.site.clock.now() + dt)
        return Step("", f"DLB887I modeled time is now {self.site.clock.now():.3f} s; background copies and the "
                        "System Data Mover did what that time allows.", self.site.volsers())

    # ------------------------------------------------------------------ image copy and recovery
    def do_checkpoint(self, a) -> Step:
        self.checkpoints.append((self.seq, self.site.clock.now()))
        return Step("", f"DLB888I checkpoint {len(self.checkpoints) - 1} at log record {self.seq}; "
                        f"{len(self.buffer)} changed tracks are still in the buffer pool (a checkpoint does "
                        "not wait for them).")

    def do_change(self, a) -> Step:
        if len(a) < 2 or "." not in a[0]:
            raise LabError("DLB856E", f"usage: {COMMANDS['change'][0]}")
        vol, t = self._track(a[0], a[1])
        text = " ".join(a[2:]) or f"change of track {t} at {self.site.clock.now():.3f}s"
        key = (_vs(vol), t)
        before = self.buffer.get(key) or bytes(vol.own_track(t))
        self.buffer[key] = bytes(self._image(vol, t, text))
        if self.uow is not None:
            self._log(vol, t, "change", self.uow, before)
            return Step("", f"DLB888I a change of track {t} by unit of work {self.uow} is on the log (record "
                            f"{self.seq}, with its before image) and in the buffer pool; it is not committed "
                            "until 'uow commit', yet a steal or checkpoint ('flush') can write it to DASD "
                            "first.", [_vs(vol)])
        self._log(vol, t, "change", 0, before)
        return Step("", f"DLB888I a committed change of track {t} is on the log (record {self.seq}) but still in "
                        "the buffer pool: DASD has the old track until 'flush'.", [_vs(vol)])

    def do_uow(self, a) -> Step:
        if len(a) != 1 or a[0].lower() not in ("begin", "commit", "backout"):
            raise LabError("DLB856E", f"usage: {COMMANDS['uow'][0]}")
        verb = a[0].lower()
        if verb == "begin":
            if self.uow is not None:
                raise LabError("DLB856E", f"unit of work {self.uow} is in flight: 'uow commit' or 'uow backout' "
                                          "first (the lab runs one at a time, as one serial stream).")
            self.uow = len(self.uow_state) + 1
            self.uow_state[self.uow] = "in flight"
            return Step("", f"DLB888I unit of work {self.uow} begins: the changes that follow are not committed "
                            "until 'uow commit'.")
        if self.uow is None:
            raise LabError("DLB856E", f"no unit of work is in flight to {verb}; start one with 'uow begin'.")
        u, self.uow = self.uow, None
        mine = [r for r in self.log if r.uow == u and r.kind == "change"]
        vols = sorted({r.volser for r in mine})
        if verb == "commit":
            self.uow_state[u] = "committed"
            self.seq += 1
            self.log.append(LogRecord(self.seq, self.site.clock.now(), "", -1, b"", "commit", u))
            return Step("", f"DLB888I unit of work {u} committed at log record {self.seq} (its sync point): its "
                            f"{len(mine)} changes are committed now, wherever they are -- buffer pool, DASD or "
                            "an image copy.", vols)
        self.uow_state[u] = "backed out"
        for r in reversed(mine):  # newest first: each before image in turn
            self.buffer[(r.volser, r.track)] = r.before
            self._log(self.site.volume(r.volser), r.track, "backout")
        return Step("", f"DLB888I unit of work {u} backed out: the before images of its {len(mine)} changes are "
                        "back in the buffer pool and on the log (compensation records); DASD keeps the "
                        "uncommitted images until the buffers are written.", vols)

    def do_flush(self, a) -> Step:
        if a:
            if len(a) != 2 or "." not in a[0]:
                raise LabError("DLB856E", f"usage: {COMMANDS['flush'][0]}")
            vol, t = self._track(a[0], a[1])
            img = self.buffer.pop((_vs(vol), t), None)
            if img is None:
                raise LabError("DLB856E", f"track {a[1]} of {a[0].upper()} has no changed buffer to write.")
            self.site.volume(_vs(vol), writable=True).write_track(t, np.frombuffer(img, np.uint8))
            un, last = self.uncommitted_images(_vs(vol))
            why = (" It holds an uncommitted change: DASD now has data no commit has made."
                   if self._is_uncommitted(un, last, t, img) else "")
            return Step("", f"DLB888I the buffer pool stole the buffer of track {t} (data set track {a[1]}) and "
                            f"wrote it to DASD first.{why}", [_vs(vol)])
        n = len(self.buffer)
        for (volser, t), img in list(self.buffer.items()):
            self.site.volume(volser, writable=True).write_track(t, np.frombuffer(img, np.uint8))
        vols = sorted({v for v, _ in self.buffer})
        self.buffer.clear()
        inflight = f" (unit of work {self.uow} is in flight: its changes are on DASD uncommitted)" \
            if self.uow is not None else ""
        return Step("", f"DLB888I the buffer pool wrote {n} changed tracks to DASD{inflight}.", vols)

    def do_imagecopy(self, a) -> Step:
        if len(a) not in (1, 2) or "." not in a[0]:
            raise LabError("DLB856E", f"usage: {COMMANDS['imagecopy'][0]}")
        kind = a[1].lower() if len(a) == 2 else "clean"
        if kind not in ("clean", "fuzzy"):
            raise LabError("DLB856E", f"an image copy is clean or fuzzy, not {a[1]!r}.")
        if self.fuzzy is not None:
            raise LabError("DLB862E", f"image copy {self.fuzzy.id} is still reading; 'icread all' first.")
        vol, tracks = self._target(a[0])
        cid = f"IC{len(self.copies) + 1:04d}"
        purge = max(s for s, _ in self.checkpoints if s <= self.seq) if kind == "fuzzy" else self.seq
        moved = ""
        if kind == "fuzzy" and self.uow is not None:  # its changes may be in the copy: back to its first
            first = [r.seq for r in self.log if r.uow == self.uow and r.kind == "change"]
            if first and first[0] - 1 < purge:
                purge = first[0] - 1
                moved = f" (moved back before the first change of unit of work {self.uow}, in flight)"
        ic = ImageCopy(cid, a[0].upper(), _vs(vol), tracks, kind == "fuzzy", self.seq,
                       self.site.clock.now(), purge)
        self.copies[cid] = ic
        self.recovery = None
        if kind == "clean":
            mine = [k for k in self.buffer if k[0] == _vs(vol) and k[1] in set(tracks)]
            for k in mine:  # the data set is taken offline: its buffers are written first
                self.site.volume(k[0], writable=True).write_track(k[1], np.frombuffer(self.buffer.pop(k), np.uint8))
            ic.start_seq = ic.purge_seq = self.seq
            self._ic_read(ic, len(tracks))
            return Step("", f"DLB889I clean image copy {cid} of {ic.dsn}: the data set was taken offline "
                            f"({len(mine)} buffered changes written first) and its {len(tracks)} tracks read; "
                            "its purge time is its run time.", [_vs(vol)])
        self.fuzzy = ic
        return Step("", f"DLB889I fuzzy image copy {cid} of {ic.dsn} started at log record {self.seq} while "
                        f"updates go on; its purge time is the last checkpoint before it (log record {purge}){moved}: "
                        "a change still in a buffer when its track is read is not in the copy.", [_vs(vol)])

    def _buffer_warning(self, ic: ImageCopy) -> str:
        n = sum(1 for (v, t) in self.buffer if v == ic.volser and t in set(ic.tracks))
        return f" {n} changes were still in the buffer pool: not in the copy." if n else ""

    def _ic_read(self, ic: ImageCopy, n: int) -> int:
        vol = self.site.volume(ic.volser)
        todo = [t for t in ic.tracks if t not in ic.images][:n]
        for t in todo:
            ic.images[t] = bytes(vol.read_track(t))
            ic.read_seq[t] = self.seq
        if ic.done:
            ic.end_seq = self.seq
        return len(todo)

    def do_icread(self, a) -> Step:
        ic = self.fuzzy
        if ic is None:
            raise LabError("DLB862E", "no fuzzy image copy is reading; start one with 'imagecopy DSN fuzzy'.")
        n = len(ic.tracks) if not a or a[0].lower() == "all" else _int(a[0], "N")
        got = self._ic_read(ic, n)
        if ic.done:
            self.fuzzy = None
        return Step("", f"DLB889I image copy {ic.id} read {got} tracks from DASD; "
                        + ("it is complete (log record " + str(ic.end_seq) + ")." if ic.done else
                           f"{len(ic.tracks) - len(ic.images)} left.") + self._buffer_warning(ic), [ic.volser])

    def _copy_map(self, ic: ImageCopy) -> RelationshipMap:
        vol = self.site.volume(ic.volser)
        src = np.full(vol.ntracks, T.OUTSIDE, np.uint8)
        cp = src.copy()
        later = {r.track for r in self.log if r.volser == ic.volser and r.seq > ic.read_seq.get(r.track, 1 << 62)}
        un, last = self.uncommitted_images(ic.volser)
        for t in ic.tracks:
            read = t in ic.images
            cp[t] = T.COPIED if read else (T.SHARED if vol.is_written(t) else T.NEVER_WRITTEN)
            src[t] = T.CHANGED if t in later else (T.COPIED if read else cp[t])
            if (ic.volser, t) in self.buffer:
                src[t] = T.UNCOMMITTED
            if self._is_uncommitted(un, last, t, bytes(vol.own_track(t))):
                src[t] = T.IN_FLIGHT  # what DASD holds, whatever the buffer pool will write later
            if read and not trackfmt.is_formatted(np.frombuffer(ic.images[t], np.uint8)):
                cp[t] = T.NEVER_WRITTEN
            elif read and self._is_uncommitted(un, last, t, ic.images[t]):
                cp[t] = T.IN_FLIGHT
        state = "COMPLETE" if ic.done else "READING"
        counters = {"tracks_total": len(ic.tracks), "tracks_read": len(ic.images),
                    "start_log_record": ic.start_seq, "purge_log_record": ic.purge_seq,
                    "end_log_record": ic.end_seq}
        return RelationshipMap("lab", "image_copy", ic.id, state, Side(ic.volser, "data set", src, vol.heads),
                               Side(ic.id, "image copy", cp, vol.heads), counters,
                               f"{'fuzzy' if ic.fuzzy else 'clean'} image copy of {ic.dsn}")

    def do_damage(self, a) -> Step:
        if len(a) != 1 or "." not in a[0]:
            raise LabError("DLB856E", f"usage: {COMMANDS['damage'][0]}")
        vol, tracks = self._target(a[0], writable=True)
        for t in tracks:
            vol.write_track(t, self._image(vol, t, "#### DAMAGED ####"))  # a failure, not an update: not logged
        return Step("", f"DLB889I {a[0].upper()} damaged: its {len(tracks)} tracks are unreadable garbage; "
                        "only an image copy and the log can bring it back.", [_vs(vol)])

    def do_recover(self, a) -> Step:
        if len(a) not in (1, 3) or "." not in a[0] or (len(a) == 3 and (a[1].lower() != "log" or a[2].lower()
                                                                         not in ("purge", "start", "end", "none"))):
            raise LabError("DLB856E", f"usage: {COMMANDS['recover'][0]}")
        frm = a[2].lower() if len(a) == 3 else "purge"
        dsn = a[0].upper()
        done = [c for c in self.copies.values() if c.dsn == dsn and c.done]
        if not done:
            raise LabError("DLB863E", f"{dsn} has no complete image copy to restore; take one with 'imagecopy'.")
        ic = done[-1]
        if self.buffer:
            raise LabError("DLB864E", "the buffer pool still holds changes: 'flush' (or they would be lost).")
        synced = ""
        if self.uow is not None:  # stopping the database lets the unit in flight reach its sync point
            synced = f" Unit of work {self.uow} reached its sync point first (committed)."
            self.do_uow(["commit"])
        vol, tracks = self._target(dsn, writable=True)
        start = {"purge": ic.purge_seq, "start": ic.start_seq, "end": ic.end_seq, "none": self.seq}[frm]
        for t in tracks:
            vol.write_track(t, np.frombuffer(ic.images[t], np.uint8))
        applied = 0
        for r in self.log:
            if r.seq > start and r.volser == _vs(vol) and r.track in ic.images:
                vol.write_track(r.track, np.frombuffer(r.image, np.uint8))
                applied += 1
        truth = {}
        for r in self.log:  # the last committed image of each track
            if r.volser == _vs(vol) and r.track in ic.images and self._committed(r):
                truth[r.track] = r.image
        wrong = [t for t in tracks if t in truth and bytes(vol.own_track(t)) != truth[t]]
        st = np.full(vol.ntracks, T.OUTSIDE, np.uint8)
        for t in tracks:
            st[t] = T.LOST if t in wrong else (T.COPIED if t in truth else T.NEVER_WRITTEN)
        rel_wrong = [tracks.index(t) for t in wrong]
        self.recovery = RelationshipMap(
            "lab", "recovery", f"RC{ic.id[2:]}", "WRONG" if wrong else "CORRECT",
            Side(_vs(vol), "recovered", st, vol.heads),
            Side(ic.id, "image copy", self._copy_map(ic).target.states, vol.heads),
            {"log_records_applied": applied, "log_from_record": start, "tracks_wrong": len(wrong)},
            f"restored {ic.id}, applied the log after record {start} ({frm})", failed=bool(wrong))
        un, _ = self.uncommitted_images(_vs(vol))
        dirty = [tracks.index(t) for t in wrong if bytes(vol.own_track(t)) in un.get(t, ())]
        if dirty:
            what = (f"DLB865W {dsn} recovered WRONG: data set tracks {dirty} hold data no unit of work committed "
                    f"(in {ic.id}, a fuzzy copy); the log after record {start} ({frm}) lacks the records that "
                    f"back it out or commit it: start at its purge time (record {ic.purge_seq}).")
            others = [i for i in rel_wrong if i not in dirty]
            if others:
                what += f" Data set tracks {others} lack committed changes."
        elif wrong:
            what = (f"DLB865W {dsn} recovered WRONG: data set tracks {rel_wrong} lack committed changes. The "
                    f"log was applied only after record {start} ({frm}), but {ic.id} is fuzzy and missed changes "
                    f"logged earlier (still in a buffer when it read the track): start at its purge time "
                    f"(record {ic.purge_seq}).")
        else:
            what = (f"DLB889I {dsn} recovered correctly from {ic.id} and {applied} log records after record "
                    f"{start} ({frm}): every track equals its last committed change.")
        what += synced
        return Step("", what, [_vs(vol)], maps=[self.recovery])

    def do_map(self, a) -> Step:
        known = {m.id for m in self.maps()}
        ids = [w for w in a if w.upper() in known]
        vols = [w for w in a if w.upper() not in known]
        maps = self.maps(vols or None, ids or None)
        return Step("", f"DLB870I {len(maps)} track map(s).", maps=maps)
