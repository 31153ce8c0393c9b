"""The outage scenario: every copy method run against the same online database, with
what each one costs the database's users and what it gives back at recovery.

One concept: *running one outage comparison* (``docs/architecture.md``; ``docs/domain.md`` §1.3 and
§4.2).  For each method of :mod:`dasdlab.bench.methods`, on a fresh site loaded from
the same seed:

1. the database is placed on the subsystem the method needs and loaded; an IMS
   subsystem starts and an online workload updates the database slice by slice
   (:mod:`dasdlab.engine.workload`);
2. after ``warmup`` modeled seconds the image copy starts
   (:class:`dasdlab.engine.hpic.ImageCopyEngine`); the copy's steps and the workload's
   slices are interleaved in modeled time -- a slice ends exactly where the copy's next
   step is due, so holds and releases take effect at their own instants;
3. the run ends ``duration`` modeled seconds after the copy start -- by default the
   same for every method: the profile's estimate of the slowest method's physical
   completion plus ``cooldown``, so that every recovery replays the same stretch of log
   (a method still copying then runs on until physical completion + ``cooldown``); the
   workload stops, IMS shuts down cleanly, and (``failure``) a media failure destroys
   the data set, which is recovered from the copy just made plus the log
   (:mod:`dasdlab.bench.recover`).

IMS takes system checkpoints by log volume (CPLOG, default 500,000 log records; each
emulated update stands for ``scale`` modeled log records, :mod:`dasdlab.engine.system`);
the first is taken at IMS start.  At the default 2,000 updates a second that is one
checkpoint every 250 modeled seconds, so a copy after the 30 s warm-up falls after the
start checkpoint: a fuzzy copy's recovery starts 30 s of log before the copy (the purge
time is the checkpoint before the copy, S25).

**What is reported per method** (:class:`MethodResult`): the unavailability window
(``docs/domain.md`` §4.2: hold start to release) in modeled and measured time; logical and
physical completion measured from the copy start; transactions delayed by the hold and
their extra latency (p50, p99); refused updates; the Concurrent Copy sidefile
high-water mark; copy-on-write counts; bytes copied; the recovery time (restore and log
apply); whether the copy and the recovery match the truth.  ``copy_verified``: a clean
copy equals :meth:`~dasdlab.engine.truth.Truth.content_at` its point in time; a fuzzy
copy plus the change records from its purge time up to its end equals the content at
its end (its recoverability, S25, S29, S31).  ``recovery_verified``: the recovered data
set equals the content after the last committed update.  Each method also records a
timeline (every update's arrival and latency, refused ones flagged, the copy's phases,
the IMS system checkpoints of the run) and a track-state trace (:mod:`dasdlab.bench.trace`).

**Size scale.**  A small emulated database stands for a realistic one: with
``modeled_size`` (or ``scale``) every emulated track stands for ``scale`` tracks, and
the device profile is :meth:`~dasdlab.engine.timemodel.DeviceProfile.scaled` -- the
reads and background copies of the emulated tracks take as long as those of the
modeled database, fixed costs do not change.  Two choices keep the rest consistent
with that reading (documented here because the time model does not make them):

* ``rate`` is the update rate of the *modeled* database; the emulated database
  receives ``rate / scale`` updates per modeled second, so each emulated track is
  updated as often as a track of the modeled database, and copy-on-write, sidefile and
  fuzziness figures keep their proportions.  Counts of updates and of tracks are
  reported both as modeled figures (emulated count x scale: the fields without a
  suffix) and as emulated ones (``*_emulated``); latencies need no scaling.
* each emulated change record stands for ``scale`` records at recovery (the log-apply
  rate is divided by ``scale``).

Every limit is compared in modeled units: the profile's controller cache (the
half-cache rule of Concurrent Copy) and host sidefile space are divided by the scale
like its rates (:meth:`~dasdlab.engine.timemodel.DeviceProfile.scaled`), so a sidefile
of ``n`` emulated tracks meets them exactly where ``n x scale`` modeled tracks meet the
real box's; the same modeled database gets the same verdict at scale 1, 8 or 64.  The
cache is the profile's (realistic per box, with its source) or ``cache_size``.  The
box's other size limits -- an RVA pool's back-end capacity, the space-efficient
FlashCopy repository -- are the profile's when it gives them, else the subsystem's own
settings, divided by the scale the same way
(:data:`~dasdlab.engine.timemodel.SCALED_LIMITS`, applied by
:func:`~dasdlab.engine.hpic.apply_profile`).

**Long runs.**  The driver skips slices in which nothing happens (no arrival, or a
quiesced database whose arrivals only queue) with the same draws as stepping them
(:meth:`~dasdlab.engine.workload.Workload.skip_quiet`); a run longer than
:data:`MAX_SLICES` slices steps in longer ones (and looks at background copies as
often), and keeps at most :data:`MAX_SAMPLES` track-state samples, so that its cost
follows its updates and tracks, not its modeled length.  :func:`estimate_run` prices a
run before it starts, and :func:`run_scenario` refuses one that would not fit the disk
or ``max_wall`` (DLB785E, DLB786E) before touching anything.

**Determinism.**  Modeled figures depend only on the spec: the workload, the copy's
steps and the services' background work are driven by the modeled clock and seeded
generators, never by the wall clock (``docs/conventions.md`` item 10).  Measured figures are
this machine's wall clock.  Methods see the same database and the same update
*process*, not the same updates: each method's slices are cut at its own copy steps,
so the seeded generator is drawn in different portions (compare rates and
distributions between methods, not single updates).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import InitVar, asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from dasdlab.bench.methods import ORDER, Method, available, order
from dasdlab.engine.timemodel import DEFAULT_PROFILE, TRACK_BYTES, DeviceProfile, get_profile, load_profiles
from dasdlab.errors import DasdlabError

MiB = 2**20
GiB = 2**30
#: the default database: one data set group, so the database is the data set copied
DEFAULT_DBD = Path(__file__).resolve().parents[1] / "data" / "outagedb.dbd"
#: emulated databases up to this size (they live on one emulated 3390-9 volume)
MAX_DB_SIZE = 2 * GiB
MIN_DB_SIZE = 64 * 1024
VOLUME_MODEL = "3390-9"
DB_VOLSER, WORK_VOLSER = "IMS001", "IMS002"
#: a run longer than this many slices steps in longer slices (at most 10 modeled s)
MAX_SLICES = 4_000
#: track-state samples kept per method (a long run's are spread evenly over it)
MAX_SAMPLES = 4000
#: an update whose latency exceeds the service time by more than this was delayed
DELAY_THRESHOLD_S = 1e-6


class ScenarioError(DasdlabError):
    """An outage scenario that cannot run as asked (its spec, its folders, its files)."""


def parse_size(v) -> int:
    """A size in bytes from an int or text such as ``16MiB``, ``2GiB``, ``500MB``."""
    if isinstance(v, bool):
        raise ScenarioError("DLB707E", f"size {v!r} is not a size; write e.g. 16MiB or 2GiB.")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    from dasdlab.engine.database import parse_size as _parse
    from dasdlab.engine.errors import ImsError

    try:
        return _parse(str(v))
    except ImsError:
        raise ScenarioError("DLB707E", f"size {v!r} is not understood; write e.g. 16MiB, 2GiB or 500MB.") from None


def parse_methods(v) -> tuple[str, ...]:
    """Method names from a comma-separated string or a sequence; ``all`` is every one."""
    items = [s.strip().lower() for s in v.split(",")] if isinstance(v, str) else [str(s).strip().lower() for s in v]
    items = [s for s in items if s]
    methods, known = available(), order()  # the built-ins and copy-NAME of every plug-in
    if items == ["all"]:
        return known
    if not items:
        raise ScenarioError("DLB706E", f"no copy method given; choose from {', '.join(known)} (or all).")
    bad = [s for s in items if s not in methods]
    if bad:
        raise ScenarioError("DLB706E", f"unknown copy method {', '.join(bad)}; choose from {', '.join(known)}.")
    if len(set(items)) != len(items):
        raise ScenarioError("DLB706E", f"copy method named twice in {','.join(items)}.")
    return tuple(sorted(items, key=known.index))


@dataclass
class ScenarioSpec:
    """What to run.  Sizes are bytes (or text such as ``16MiB``), times modeled seconds.

    ``modeled_size`` or ``scale`` (not both) makes the emulated database stand for a
    larger one (module docstring); neither means scale 1.  ``rate`` is the update rate
    of the modeled database.  ``method`` is a one-method shorthand for ``methods``
    (what a sweep grid sets).  Everything is checked on construction (DLB706E-DLB719E).
    """

    db_size: int | str = 16 * MiB
    modeled_size: int | str | None = None
    scale: float | None = None
    rate: float = 2000.0
    skew: str = "zipf"
    zipf_s: float = 1.0
    update_size: int = 16
    methods: tuple[str, ...] | str = ORDER
    profile: str = DEFAULT_PROFILE
    profile_file: str | None = None
    seed: int = 1
    slice: float = 0.1
    warmup: float = 30.0
    cooldown: float = 10.0
    duration: float | None = None
    failure: bool = True
    dbd: str | None = None
    ddn: str | None = None
    buffers: int = 256
    #: IMS CPLOG: modeled log records between system checkpoints (dasdlab.engine.system)
    checkpoint_log_records: int | None = 500_000
    #: optional time-based checkpoints as well (modeled seconds), None = by log volume only
    checkpoint_interval: float | None = None
    cache_size: int | str | None = None  # the modeled box's controller cache (default: the profile's)
    host_sidefile_size: int | str | None = None  # the SDM's host sidefile space (default: the profile's)
    method: InitVar[str | None] = None

    def __post_init__(self, method: str | None) -> None:
        if method is not None:
            self.methods = parse_methods([method])
        else:
            self.methods = parse_methods(self.methods)
        self.db_size = parse_size(self.db_size)
        if not MIN_DB_SIZE <= self.db_size <= MAX_DB_SIZE:
            raise ScenarioError("DLB707E", f"the database size must be between {MIN_DB_SIZE // 1024} KiB and "
                                           f"{MAX_DB_SIZE // GiB} GiB, got {self.db_size} bytes.")
        if self.modeled_size is not None and self.scale is not None:
            raise ScenarioError("DLB709E", "give the modeled size or the scale, not both.")
        if self.modeled_size is not None:
            self.modeled_size = parse_size(self.modeled_size)
            if self.modeled_size < self.db_size:
                raise ScenarioError("DLB708E", f"the modeled size ({self.modeled_size} bytes) is smaller than the "
                                               f"emulated database ({self.db_size} bytes); it must be at least as large.")
        elif self.scale is not None:
            if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale >= 1):
                raise ScenarioError("DLB710E", f"the scale must be a number of at least 1, got {self.scale!r}.")
            self.scale = float(self.scale)
        _number(self.rate, "DLB711E", "the update rate", lo=0.0)
        self.rate = float(self.rate)
        if self.skew not in ("uniform", "zipf"):
            raise ScenarioError("DLB712E", f"skew {self.skew!r} is not uniform or zipf.")
        _number(self.zipf_s, "DLB712E", "the Zipf exponent", lo=0.0, open_lo=True)
        if not isinstance(self.update_size, int) or not 1 <= self.update_size <= 64:
            raise ScenarioError("DLB713E", f"the update size must be 1 to 64 bytes, got {self.update_size!r}.")
        _number(self.slice, "DLB714E", "the time slice", lo=0.0, open_lo=True, hi=10.0)
        _number(self.warmup, "DLB714E", "the warm-up", lo=0.0)
        _number(self.cooldown, "DLB714E", "the cool-down", lo=0.0)
        if self.duration is not None:
            _number(self.duration, "DLB714E", "the duration", lo=0.0)
        if not isinstance(self.buffers, int) or self.buffers < 1:
            raise ScenarioError("DLB715E", f"the buffer pool needs at least one buffer, got {self.buffers!r}.")
        if self.checkpoint_interval is not None:
            _number(self.checkpoint_interval, "DLB715E", "the checkpoint interval", lo=0.0, open_lo=True)
        if self.checkpoint_log_records is not None:
            from dasdlab.engine.system import CPLOG_RANGE

            lo, hi = CPLOG_RANGE
            if isinstance(self.checkpoint_log_records, bool) or not isinstance(self.checkpoint_log_records, int) \
                    or not lo <= self.checkpoint_log_records <= hi:
                raise ScenarioError("DLB715E", f"the log records between checkpoints (CPLOG) must be a whole "
                                               f"number from {lo:,} to {hi:,}, got {self.checkpoint_log_records!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ScenarioError("DLB718E", f"the seed must be a whole number of at least 0, got {self.seed!r}.")
        for name in ("cache_size", "host_sidefile_size"):
            v = getattr(self, name)
            if v is not None:
                v = parse_size(v)
                if v < 1:
                    raise ScenarioError("DLB788E", f"the {name.replace('_', ' ')} must be positive, got {v} bytes.")
                setattr(self, name, v)
        self.device_profile()  # unknown profile or bad profile file: fail now (DLB700E-DLB705E)
        src = self.dbd_path
        if not src.is_file():
            raise ScenarioError("DLB716E", f"DBD source {src} does not exist.")
        from dasdlab.engine.dbd import parse_file

        dbd = parse_file(src)
        if self.ddn is not None and self.ddn.upper() not in [g.ddn for g in dbd.groups]:
            raise ScenarioError("DLB717E", f"DBD {dbd.name} has no data set group {self.ddn.upper()} (it has "
                                           f"{', '.join(g.ddn for g in dbd.groups)}).")

    # ------------------------------------------------------------------ derived
    @property
    def dbd_path(self) -> Path:
        return Path(self.dbd) if self.dbd else DEFAULT_DBD

    @property
    def size_scale(self) -> float:
        if self.modeled_size is not None:
            return self.modeled_size / self.db_size
        return self.scale if self.scale is not None else 1.0

    @property
    def modeled_bytes(self) -> int:
        return int(round(self.db_size * self.size_scale))

    def run_after_start(self) -> float:
        """Modeled seconds from the copy start to the end of the run (the failure): the
        ``duration`` given, or else one for every method -- the profile's estimate of
        the slowest chosen method's physical completion, rounded up to 10 s, plus the
        cool-down -- so that every method's recovery replays the same stretch of log.
        A method still copying then runs on to its physical completion + cool-down."""
        if self.duration is not None:
            return float(self.duration)
        est = max(estimate_copy_s(self, available()[m]) for m in self.methods)
        return 10.0 * math.ceil(est / 10.0) + self.cooldown

    def device_profile(self) -> DeviceProfile:
        """The named profile (from ``profile_file`` when given), unscaled."""
        extra = load_profiles(self.profile_file) if self.profile_file else None
        p = get_profile(self.profile, extra)
        if self.cache_size is not None:
            p = replace(p, cache_bytes=int(self.cache_size))
        if self.host_sidefile_size is not None:
            p = replace(p, host_sidefile_bytes=int(self.host_sidefile_size))
        return p

    def params(self) -> dict:
        """The scenario's parameters as flat columns of a result row."""
        return {"db_size_bytes": self.db_size, "modeled_size_bytes": self.modeled_bytes, "scale": self.size_scale,
                "rate": self.rate, "rate_emulated": self.rate / self.size_scale, "skew": self.skew,
                "zipf_s": self.zipf_s, "update_size": self.update_size, "profile": self.profile, "seed": self.seed,
                "slice_s": self.slice, "warmup_s": self.warmup, "cooldown_s": self.cooldown,
                "duration_s": self.run_after_start(), "cache_bytes": self.device_profile().cache_bytes,
                "dbd": self.dbd_path.name}

    def as_dict(self) -> dict:
        d = asdict(self)
        d["methods"] = list(self.methods)
        return d


def estimate_copy_s(spec: ScenarioSpec, method: Method) -> float:
    """The profile's estimate of a method's physical completion, from its copy start
    (the costs :mod:`dasdlab.engine.hpic` charges; no workload effects)."""
    from dasdlab.emulator.geometry import default_model
    from dasdlab.engine.dbd import parse_file

    p = spec.device_profile().scaled(spec.size_scale)
    dbd = parse_file(spec.dbd_path)
    g = dbd.groups[0] if spec.ddn is None else next(x for x in dbd.groups if x.ddn == spec.ddn.upper())
    bpt = default_model().records_per_track(0, g.block_size)
    ntr = math.ceil(spec.db_size / len(dbd.groups) / (bpt * g.block_size))
    chunk = max(p.tracks_per_request, 1)
    full, rest = divmod(ntr, chunk)
    read = full * max(p.read_tracks_s(chunk), p.write_tracks_s(chunk)) + max(p.read_tracks_s(rest),
                                                                              p.write_tracks_s(rest))
    stop = p.db_stop_s if method.clean else 0.0
    proc = method.process
    if proc.startswith(("copy-", "fdump-")):
        # fast replication: the data mover's call (DFSMSdss start-up when it is DFSMSdss,
        # replication facade), the service's establish, then the background copy, the
        # dump of the shadow, or (a copy complete at once) the database restart
        from dasdlab.engine.timemodel import service_cost
        from dasdlab.host import replication

        service = method.service or proc.split("-", 1)[1]
        c = service_cost(p, service, spec.size_scale)
        call = (p.dss_init_s if replication.mover(service).uses_dss else 0.0) + c.establish_s
        if proc.startswith("fdump-"):
            return stop + call + read
        bg = (ntr + 1) / c.background_tracks_per_s() if c.background_mb_s > 0 else 0.0
        return stop + call + (bg if bg > 0 else p.db_start_s)
    return stop + {
        "standard": read + p.db_start_s,
        "cic": read,
        "dump-cc": p.dss_init_s + p.cc_session_init_s + read,
        "dump-vcc": p.dss_init_s + p.vcc_flash_s + read,
    }[proc]


def _number(v, msgid: str, what: str, lo: float | None = None, hi: float | None = None,
            open_lo: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if open_lo else v >= lo
    if ok and hi is not None:
        ok = v <= hi
    if not ok:
        rng = ("positive" if open_lo else "at least 0") if hi is None else f"above 0 and at most {hi:g}"
        raise ScenarioError(msgid, f"{what} must be a number {rng}, got {v!r}.")


# ====================================================================== results
@dataclass
class MethodResult:
    """The figures of one method (module docstring).  Times in seconds; ``*_s`` are
    modeled unless named ``*_measured_s``; logical and physical from the copy start."""

    name: str
    label: str
    process: str
    subsystem: str
    status: str  # ok or failed
    message: str
    recon_type: str
    outage_modeled_s: float
    outage_measured_s: float
    logical_s: float
    physical_s: float
    logical_measured_s: float
    physical_measured_s: float
    hold_start_s: float  # from the copy start (NaN when never held)
    transactions: int  # arrived during the whole run (modeled = emulated x scale)
    transactions_emulated: int
    delayed: int
    delayed_emulated: int
    extra_latency_p50_s: float
    extra_latency_p99_s: float
    extra_latency_max_s: float
    refused: int
    refused_emulated: int
    sidefile_hwm_tracks: int  # cache sidefile, modeled tracks
    sidefile_hwm_bytes: int
    sidefile_hwm_tracks_emulated: int
    host_sidefile_hwm_tracks_emulated: int
    intercepted_writes_emulated: int
    cow_count: int  # copy-on-write (FlashCopy, TimeFinder copy on access), modeled tracks
    cow_count_emulated: int
    bytes_copied: int  # modeled
    bytes_copied_emulated: int
    copy_tracks_emulated: int
    copy_verified: bool
    copy_differing_blocks: int
    recovery_method: str
    recovery_restore_modeled_s: float
    recovery_apply_modeled_s: float
    recovery_modeled_s: float
    recovery_restore_measured_s: float
    recovery_apply_measured_s: float
    recovery_measured_s: float
    recovery_records: int  # change records applied (modeled)
    recovery_records_emulated: int
    recovery_verified: bool
    run_modeled_s: float  # length of the whole run, warm-up to the end of the cool-down
    wall_s: float  # wall clock of the whole method (setup, run, recovery)
    updates_per_wall_s: float  # emulated updates committed per wall second of the run
    phases: dict = field(default_factory=dict)  # event -> modeled s from the copy start
    #: the IMS system checkpoints taken during the run (modeled s from the copy start)
    checkpoints_s: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScenarioResult:
    spec: ScenarioSpec
    methods: list[MethodResult]
    timelines: dict[str, dict[str, np.ndarray]]  # method -> arrival, latency, refused
    traces: dict[str, dict]  # method -> times, codes, tracks, meta
    wall_s: float
    out: Path | None = None
    disk_peak_bytes: int = 0  # the largest disk use of the sites (measured at each method's end)
    estimate: RunEstimate | None = None

    def method(self, name: str) -> MethodResult:
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    def rows(self) -> list[dict]:
        """One flat row per method: its figures and the scenario's parameters."""
        out = []
        for m in self.methods:
            d = m.as_dict()
            phases = d.pop("phases")
            d.update({f"phase_{k}_s": v for k, v in phases.items()})
            d.update(self.spec.params())
            out.append(d)
        return out

    def as_json(self) -> dict:
        """The ``--json`` document: ``{"scenario": {...}, "methods": [{...}, ...]}``."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v
        return {"scenario": {**self.spec.params(), "methods": list(self.spec.methods), "wall_s": self.wall_s,
                             "disk_peak_bytes": self.disk_peak_bytes,
                             "out": str(self.out) if self.out else None},
                "methods": [{k: clean(v) for k, v in m.as_dict().items()} for m in self.methods]}

    def as_row(self) -> dict:
        """For a sweep: one method's figures flat, or ``METHOD.figure`` for several."""
        rows = self.rows()
        if len(rows) == 1:
            return rows[0]
        out = dict(self.spec.params())
        for r in rows:
            for k, v in r.items():
                if k not in out:
                    out[f"{r['name']}.{k}"] = v
        return out


# ====================================================================== estimate
#: wall-clock costs of the estimate, measured on 2 shared cores (a method's fixed cost:
#: site, IMS start, imports; per byte of database: load, copy, verification, damage
#: and reload; per slice stepped and per update committed)
_WALL_FIXED_S = 2.0
_WALL_PER_BYTE_S = 4e-8
_WALL_PER_SLICE_S = 1.5e-3
_WALL_PER_UPDATE_S = 2e-5
#: bytes on disk per byte of database in one method's site: the database's track images
#: (blocks plus count fields, about 1.1x), the copy (standard, or a clone of every
#: track), a shadow or work space, and slack
_DISK_PER_BYTE = 3.5
#: log and truth journal bytes per update (records of before and after images)
_DISK_PER_UPDATE = 160


@dataclass(frozen=True)
class RunEstimate:
    """What a comparison will cost, before it starts (:func:`estimate_run`)."""

    modeled_s: float  # modeled seconds of all methods together
    wall_s: float  # wall-clock seconds, roughly
    disk_bytes: int  # peak disk use (the largest method's site, or all of them kept)
    free_bytes: int  # free space where the sites go

    def line(self) -> str:
        return (f"DLB787I estimate: {self.modeled_s:,.0f} modeled s, about {self.wall_s:,.0f} wall s, "
                f"{_size(self.disk_bytes)} of disk at the peak ({_size(self.free_bytes)} free).")


def _size(n: float) -> str:
    for unit, k in (("GiB", GiB), ("MiB", MiB)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n / 1024:.0f} KiB"


def estimate_run(spec: ScenarioSpec, workdir: str | Path, keep_sites: bool = False) -> RunEstimate:
    """The modeled duration, wall time and peak disk use of running ``spec`` in
    ``workdir``, from the profile's copy estimates and this machine's costs per byte,
    slice and update (rough: within a factor of about two)."""
    end_after = spec.run_after_start()
    known = available()
    per = [spec.warmup + max(end_after, estimate_copy_s(spec, known[m]) + spec.cooldown) for m in spec.methods]
    modeled = float(sum(per))
    rate_emulated = spec.rate / spec.size_scale
    wall = 0.0
    for length in per:
        step = max(spec.slice, min(10.0, length / MAX_SLICES))
        updates = rate_emulated * length
        slices = min(length / step, updates + length / 60.0)  # quiet slices are skipped
        wall += (_WALL_FIXED_S + _WALL_PER_BYTE_S * spec.db_size + _WALL_PER_SLICE_S * slices
                 + _WALL_PER_UPDATE_S * updates)
    site = [_DISK_PER_BYTE * spec.db_size + _DISK_PER_UPDATE * rate_emulated * length for length in per]
    disk = int(sum(site) if keep_sites else max(site, default=0))
    return RunEstimate(modeled, wall, disk, _free_bytes(Path(workdir)))


def _free_bytes(p: Path) -> int:
    p = p.resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return int(shutil.disk_usage(p).free)


def check_fits(est: RunEstimate, max_wall: float | None = None) -> None:
    """Refuse a run that would not fit the free disk (DLB785E) or would run longer than
    ``max_wall`` seconds (DLB786E); nothing has been touched yet.  A ``max_wall`` that
    is not a positive, finite number of seconds is refused (DLB028E)."""
    if max_wall is not None and not (math.isfinite(max_wall) and max_wall > 0):
        raise ScenarioError("DLB028E", f"--max-wall is a positive number of wall seconds, not {max_wall:g}.")
    if est.disk_bytes > est.free_bytes:
        raise ScenarioError("DLB785E", f"the run needs about {_size(est.disk_bytes)} of disk at its peak and "
                                       f"{_size(est.free_bytes)} are free; give a smaller --db-size, fewer "
                                       "methods, or an --out on a larger file system.")
    if max_wall is not None and est.wall_s > max_wall:
        raise ScenarioError("DLB786E", f"the run would take about {est.wall_s:,.0f} wall s, more than --max-wall "
                                       f"{max_wall:g}; give a smaller --db-size, a larger scale or fewer methods.")


def _disk_use(folder: Path) -> int:
    """Bytes allocated on disk under ``folder`` (sparse volumes count what they hold)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


# ====================================================================== running
def run_scenario(spec: ScenarioSpec, workdir: str | Path, progress: Callable[[int, int], None] | None = None,
                 keep_sites: bool = False, write: bool = True, max_wall: float | None = None,
                 on_estimate: Callable[[RunEstimate], None] | None = None,
                 on_phase: Callable[[str], None] | None = None) -> ScenarioResult:
    """Run every method of ``spec``; sites live in ``workdir/sites/METHOD`` (removed
    after each method, once its figures and traces are in memory, unless
    ``keep_sites``).  With ``write`` the Parquet results and the traces go to
    ``workdir`` (:mod:`dasdlab.bench.results`).  ``progress(done, total)`` is called as
    the methods advance (units: thousandths of the scenario); ``on_phase(name)`` when a
    method enters a phase (:data:`METHOD_PHASES`), named ``METHOD (i of n): PHASE``.

    Before anything is touched the run is estimated (:func:`estimate_run`, handed to
    ``on_estimate``) and refused when it would not fit the free disk or ``max_wall``
    (:func:`check_fits`).  The largest method's disk use, measured when its run ended,
    is the result's :attr:`ScenarioResult.disk_peak_bytes`."""
    if not isinstance(spec, ScenarioSpec):
        spec = ScenarioSpec(**spec)
    wd = Path(workdir)
    est = estimate_run(spec, wd, keep_sites)
    if on_estimate is not None:
        on_estimate(est)
    check_fits(est, max_wall)
    created = not wd.exists()
    prepare_folder(wd)
    try:
        return _run_methods(spec, wd, progress, on_phase, keep_sites, write, est)
    except BaseException:
        # an interrupted or failed run removes what it had half made: its sites, and
        # the results folder when this run created it
        if not keep_sites:
            shutil.rmtree(wd / "sites", ignore_errors=True)
        if created and not (wd / "results").exists():
            shutil.rmtree(wd, ignore_errors=True)
        raise


#: the phases of one method, by the fraction of it done when each begins
METHOD_PHASES = ((0.0, "set-up and load"), (0.05, "copy under the online workload"), (0.82, "verify and recover"))


def _run_methods(spec: ScenarioSpec, wd: Path, progress, on_phase, keep_sites: bool, write: bool,
                 est: RunEstimate) -> ScenarioResult:
    w0 = time.perf_counter()
    results, timelines, traces = [], {}, {}
    n = len(spec.methods)
    end_after = spec.run_after_start()
    disk_peak = 0
    for i, name in enumerate(spec.methods):
        def sub_progress(frac: float, i=i, name=name) -> None:
            if on_phase is not None:
                phase = [p for at, p in METHOD_PHASES if frac >= at][-1]
                on_phase(f"{name} ({i + 1} of {n}): {phase}")
            if progress is not None:
                progress(min(1000, int(1000 * (i + min(max(frac, 0.0), 1.0)) / n)), 1000)

        sub_progress(0.0)

        res, tl, tr = run_method(spec, available()[name], wd / "sites" / name, sub_progress, end_after)
        results.append(res)
        timelines[name] = tl
        traces[name] = tr
        disk_peak = max(disk_peak, _disk_use(wd / "sites"))
        if not keep_sites:
            shutil.rmtree(wd / "sites" / name, ignore_errors=True)
    if not keep_sites:
        shutil.rmtree(wd / "sites", ignore_errors=True)
    result = ScenarioResult(spec, results, timelines, traces, time.perf_counter() - w0, wd)
    result.disk_peak_bytes = disk_peak
    result.estimate = est
    if write:
        from dasdlab.bench.results import write_results

        write_results(result, wd)
    if progress is not None:
        progress(1000, 1000)
    return result


MARKER = ".dasdlab-outage"


def prepare_folder(wd: Path) -> None:
    """Use ``wd`` for a scenario: it must be new, empty, or an earlier scenario's folder
    (known by its marker file); nothing else in it is touched (DLB720E)."""
    if wd.exists() and not wd.is_dir():
        raise ScenarioError("DLB720E", f"{wd} exists and is not a folder.")
    if wd.is_dir() and any(wd.iterdir()) and not (wd / MARKER).is_file():
        raise ScenarioError("DLB720E", f"{wd} is not empty and holds no earlier outage results; give a new or "
                                       "empty folder.")
    try:
        wd.mkdir(parents=True, exist_ok=True)
        (wd / MARKER).write_text("dasdlab outage scenario results\n")
    except OSError as e:
        raise ScenarioError("DLB721E", f"cannot write to {wd}: {e.strerror}.") from None
    if (wd / "sites").exists():
        shutil.rmtree(wd / "sites")


def run_method(spec: ScenarioSpec, method: Method, sdir: Path, progress: Callable[[float], None] | None = None,
               end_after: float | None = None) -> tuple[MethodResult, dict, dict]:
    """Run one method on a fresh site in ``sdir``; returns (figures, timeline, trace).
    The run ends ``end_after`` modeled seconds after the copy start (default: the
    spec's :meth:`~ScenarioSpec.run_after_start`), or at physical completion plus the
    cool-down when that is later."""
    return _MethodRun(spec, method, sdir, progress, end_after).run()


class _MethodRun:
    """One method from site creation to recovery (see the module docstring)."""

    def __init__(self, spec: ScenarioSpec, method: Method, sdir: Path, progress, end_after: float | None) -> None:
        self.spec = spec
        self.end_after = spec.run_after_start() if end_after is None else float(end_after)
        self.m = method
        self.sdir = sdir
        self.progress = progress or (lambda f: None)
        self.scale = spec.size_scale
        base = spec.device_profile()
        # the copy's profile: emulated tracks stand for `scale` tracks (timemodel);
        # recovery also reads each emulated change record as `scale` records
        self.prof = base.scaled(self.scale)
        self.rprof = replace(self.prof, log_apply_records_s=base.log_apply_records_s / self.scale)

    # ------------------------------------------------------------------ set-up
    def _site(self):
        from dasdlab.emulator.site import Site
        from dasdlab.engine import database

        if self.sdir.exists():
            shutil.rmtree(self.sdir)
        self.sdir.parent.mkdir(parents=True, exist_ok=True)
        site = Site.init(self.sdir)
        if self.m.service is not None and self.m.service not in site.subsystem(self.m.subsystem).capabilities:
            site.add_service(self.m.subsystem, self.m.service)
        site.add_volume(self.m.subsystem, DB_VOLSER, VOLUME_MODEL)
        site.add_volume(self.m.subsystem, WORK_VOLSER, VOLUME_MODEL)
        dbd = database.define(site, self.spec.dbd_path)
        self.dbd = dbd.name
        self.ddn = (self.spec.ddn or dbd.groups[0].ddn).upper()
        database.load(site, dbd.name, self.spec.db_size, seed=self.spec.seed, volser=DB_VOLSER)
        _drop_resident(site)
        return site

    # ------------------------------------------------------------------ the run
    def run(self) -> tuple[MethodResult, dict, dict]:
        spec = self.spec
        w_start = time.perf_counter()
        site = self._site()
        try:
            self.progress(0.05)
            d = self._drive(site)
            rep = d.report
            self.progress(0.82)
            _drop_resident(site)
            cv_ok, cv_diff = self._verify_copy(site, rep, d.stop_seq)
            _drop_resident(site)
            rec = None
            if spec.failure and rep.status == "ok":
                from dasdlab.bench.recover import fail_and_recover

                rec = fail_and_recover(site, self.dbd, self.ddn, self.rprof, seed=spec.seed)
                _drop_resident(site)
            timeline = self._timeline(site, d.latencies, d.refused_at,
                                      rep.started if rep.started is not None else d.copy_at)
        finally:
            site.close()
        self.progress(1.0)
        times, codes = d.tracer.array()
        phases = self._phases(rep, d.copy_at, d.t_stop)
        trace = {"times": times, "codes": codes, "tracks": d.tracer.columns,
                 "meta": {"method": self.m.name, "process": rep.process, "label": self.m.label, "phases": phases,
                          "scale": self.scale}}
        res = self._figures(d, cv_ok, cv_diff, rec, phases, time.perf_counter() - w_start)
        return res, timeline, trace

    def _drive(self, site):
        """The online run: workload slices and the copy's steps, interleaved in modeled
        time, from IMS start to the end of the run; IMS is shut down at the end."""
        from dasdlab.bench.trace import TrackTracer
        from dasdlab.engine.hpic import ImageCopyEngine
        from dasdlab.engine.icein import parse
        from dasdlab.engine.system import ImsSystem
        from dasdlab.engine.workload import Workload, WorkloadSpec

        spec, prof = self.spec, self.prof
        system = ImsSystem(site, buffers=spec.buffers, checkpoint_interval=spec.checkpoint_interval,
                           checkpoint_log_records=spec.checkpoint_log_records, log_record_weight=self.scale)
        system.start()
        try:
            odb = system.open(self.dbd)
            engine = ImageCopyEngine(site, system, prof)
            st = parse(self.m.icein(self.dbd, self.ddn), f"{self.m.name}.icein").statements[0]
            wl = Workload(system, self.dbd, WorkloadSpec(
                rate=spec.rate / self.scale, duration=1e12, skew=spec.skew, zipf_s=spec.zipf_s,
                update_size=spec.update_size, seed=spec.seed, slice=spec.slice, service_time=prof.update_service_s))
            dbds = odb.db.ddn(self.ddn)
            ds = dbds.dataset(writable=False)
            ntr = -(-dbds.nblocks // ds.blocks_per_track)
            domain = np.asarray(ds.tracks[:ntr], dtype=np.int64)
            tracer = TrackTracer(site, site.subsystem(self.m.subsystem), dbds.volser, domain, ds.vol.ntracks)
            tracer.attach()
            refused_at: list[tuple[float, int]] = []
            wl.after_slice.append(lambda w, r: refused_at.append((r.t0, r.refused)) if r.refused else None)

            t_begin = system.now()
            copy_at = t_begin + spec.warmup
            expect_end = copy_at + self.end_after
            # a copy that never completes is a bug, not a long copy: stop somewhere
            limit = copy_at + max(20 * self.end_after, 3600.0)
            run = None
            stop_seq = None
            t_stop = None
            w_run = time.perf_counter()
            # a very long run (a large modeled database on a slow box) steps in longer
            # slices, so that its cost follows its updates, not its modeled length
            step = max(spec.slice, min(10.0, (expect_end - t_begin) / MAX_SLICES))
            lam = wl.spec.rate * step  # expected updates per slice
            sample_dt = (expect_end - t_begin) / MAX_SAMPLES
            last_kept = -math.inf
            dropped_at = 0
            while True:
                now = system.now()
                if run is None and now >= copy_at - 1e-9:
                    run = self._start(engine, st, now)
                    run.on_read = _dropping_reads(site, tracer.on_read)
                    if step > spec.slice:
                        run.poll_s = step
                if run is not None:
                    run.advance(now)
                    tracer.bind(run)
                    if run.done and t_stop is None:
                        stop_seq = int(system.log.next_seq - 1)
                        t_stop = max(now + spec.cooldown, copy_at + self.end_after)
                        expect_end = t_stop
                # a long run keeps at most MAX_SAMPLES samples (spread evenly), not one a slice
                keep = now - last_kept >= sample_dt - 1e-9 or (t_stop is not None and now >= t_stop - 1e-9)
                tracer.sample(now - copy_at, keep=keep)
                if keep:
                    last_kept = now
                if t_stop is not None and now >= t_stop - 1e-9:
                    break
                if now > limit:
                    raise ScenarioError("DLB723E", f"method {self.m.name}: the copy had not completed "
                                                   f"{now - copy_at:.0f} modeled seconds after it started.")
                nxt = copy_at if run is None else (t_stop if run.done else run.next_time)
                dt = step if nxt <= now + 1e-9 else min(step, nxt - now)
                if dt == step and (lam < 1.0 or wl.odb.state == "QUIESCED") and nxt - now > 2 * step:
                    # whole slices before the next event: skip those in which nothing
                    # happens (the same draws, updates and instants as stepping them),
                    # looking ahead a few expected gaps between updates at a time
                    k = _whole_slices(now, nxt, step, cap=max(16, int(8 / max(lam, 1e-9))))
                    if k and wl.skip_quiet(step, k):
                        continue
                wl.step(dt)
                if wl.stats.committed - dropped_at >= DROP_UPDATES:
                    _drop_resident(site)
                    dropped_at = wl.stats.committed
                self.progress(0.05 + 0.75 * min(1.0, (system.now() - t_begin) / max(expect_end - t_begin, 1e-9)))
            wall_run = time.perf_counter() - w_run
            tracer.detach()
            # read before the shutdown, whose own checkpoint falls after the run
            checkpoints = [float(c["time"]) for c in system.recon.checkpoints()
                           if t_begin - 1e-9 <= float(c["time"]) <= t_stop + 1e-9]
        finally:
            system.shutdown()
        return _Drive(run.report, wl.stats, wl.stats.latencies(), refused_at, tracer, t_begin, copy_at, t_stop,
                      stop_seq, wall_run, checkpoints)

    def _start(self, engine, st, now: float):
        """The copy run, or a stand-in that failed at once: a refused plan, or a plan that
        is not the method's process, is a failed row, not a failed scenario."""
        try:
            run = engine.start(st, at=now)[0]
        except DasdlabError as e:
            return _FailedRun(st, self.dbd, self.ddn, self.m.process, str(e), now)
        if run.plan.process != self.m.process:
            err = ScenarioError("DLB722E", f"method {self.m.name} expected the {self.m.process} process but HP "
                                           f"Image Copy chose {run.plan.process} "
                                           f"({run.plan.fallback or 'no reason given'}).")
            return _FailedRun(st, self.dbd, self.ddn, run.plan.process, str(err), now)
        return run

    # ------------------------------------------------------------------ checks
    def _verify_copy(self, site, rep, stop_seq: int | None) -> tuple[bool, int]:
        """(verified, differing blocks) of the copy against the truth, range by range
        (neither the copy nor the truth's content is ever held whole)."""
        from dasdlab.engine.icverify import copy_ranges, differing_blocks
        from dasdlab.engine.truth import Truth

        if rep.status != "ok" or not rep.outputs:
            return False, -1
        truth = Truth(site.path, self.dbd)
        out = rep.outputs[0]
        ranges = dropping(site, copy_ranges(site, out["dsn"], out["format"], rep.blocks))
        if self.m.clean:
            _, differing = differing_blocks(truth, self.ddn, ranges, rep.run_seq)
            return differing == 0, differing
        # fuzzy: the copy plus the change records from its purge time to its end
        from dasdlab.engine.log import CHANGE, LogReader, changeset
        from dasdlab.engine.recon import Recon

        recon = Recon.of_site(site.path)
        try:
            img = [i for i in recon.images(self.dbd, self.ddn) if i["id"] == rep.image_id][0]
            cs = changeset(LogReader(site.path, recon).read(since_seq=int(img["purge_seq"] or 0) + 1,
                                                            until_seq=stop_seq, types=(CHANGE,), dbd=self.dbd,
                                                            ddn=self.ddn))
        finally:
            recon.close()
        _, differing = differing_blocks(truth, self.ddn, ranges, stop_seq, changes=cs)
        return differing == 0, differing

    # ------------------------------------------------------------------ outputs
    def _timeline(self, site, latencies: np.ndarray, refused_at, t0: float) -> dict[str, np.ndarray]:
        """Every committed update's arrival (commit time from the truth journal minus its
        latency, both in commit order) and latency; refused updates carry the start of
        the slice that refused them (the workload keeps no arrival time for them)."""
        from dasdlab.engine.truth import Truth

        j = Truth(site.path, self.dbd).journal()
        n = min(len(j), latencies.size)  # equal unless the truth was reconciled
        arrival = j.time[:n] - latencies[:n].astype(np.float64)
        r_t = np.concatenate([np.full(k, t, np.float64) for t, k in refused_at]) if refused_at else np.empty(0)
        return {
            "arrival_s": np.concatenate((arrival, r_t)) - t0,
            "latency_s": np.concatenate((latencies[:n].astype(np.float64), np.full(r_t.size, np.nan))),
            "refused": np.concatenate((np.zeros(n, bool), np.ones(r_t.size, bool))),
        }

    @staticmethod
    def _phases(rep, copy_at: float, t_stop: float | None) -> dict:
        t0 = rep.started if rep.started is not None else copy_at
        nan = float("nan")

        def rel(v):
            return nan if v is None else float(v) - t0

        return {"hold_start": rel(rep.hold_start), "hold_end": rel(rep.hold_end), "logical": rel(rep.logical),
                "physical": rel(rep.physical), "end": rel(t_stop)}

    def _figures(self, d: _Drive, cv_ok: bool, cv_diff: int, rec, phases: dict, wall: float) -> MethodResult:
        k = self.scale
        rep, stats, latencies, t_begin, t_stop = d.report, d.stats, d.latencies, d.t_begin, d.t_stop
        cow, tracer_cc, wall_run = d.tracer.cow, d.tracer.cc_counters, d.wall_run
        # extra latency over the service time; latencies are float32, so "delayed" needs a
        # margin above their rounding (a hold delays by whole slices of milliseconds)
        extra = latencies.astype(np.float64) - self.prof.update_service_s
        extra = extra[extra > DELAY_THRESHOLD_S]
        c = {**tracer_cc, **(rep.counters or {})}
        w = rep.wall or {}
        nan = float("nan")
        cow = int(cow)
        cache_hwm = int(c.get("cache_hwm_tracks", 0))
        t0w = w.get("started")

        def wrel(key):
            return w[key] - t0w if key in w and t0w is not None else nan

        return MethodResult(
            name=self.m.name, label=self.m.label, process=rep.process or self.m.process, subsystem=self.m.subsystem,
            status=rep.status, message=rep.message, recon_type=rep.recon_type,
            outage_modeled_s=float(rep.outage), outage_measured_s=float(rep.outage_measured),
            logical_s=phases["logical"], physical_s=phases["physical"],
            logical_measured_s=wrel("logical"), physical_measured_s=wrel("physical"),
            hold_start_s=phases["hold_start"],
            transactions=int(round(stats.arrived * k)), transactions_emulated=int(stats.arrived),
            delayed=int(round(extra.size * k)), delayed_emulated=int(extra.size),
            extra_latency_p50_s=float(np.percentile(extra, 50)) if extra.size else 0.0,
            extra_latency_p99_s=float(np.percentile(extra, 99)) if extra.size else 0.0,
            extra_latency_max_s=float(extra.max()) if extra.size else 0.0,
            refused=int(round(stats.refused * k)), refused_emulated=int(stats.refused),
            sidefile_hwm_tracks=int(round(cache_hwm * k)), sidefile_hwm_bytes=int(round(cache_hwm * k * TRACK_BYTES)),
            sidefile_hwm_tracks_emulated=cache_hwm, host_sidefile_hwm_tracks_emulated=int(c.get("host_hwm_tracks", 0)),
            intercepted_writes_emulated=int(c.get("intercepted_writes", 0)),
            cow_count=int(round(cow * k)), cow_count_emulated=cow,
            bytes_copied=int(round(rep.bytes_copied * k)), bytes_copied_emulated=int(rep.bytes_copied),
            copy_tracks_emulated=int(rep.tracks),
            copy_verified=bool(cv_ok), copy_differing_blocks=int(cv_diff),
            recovery_method=rec.method if rec else "",
            recovery_restore_modeled_s=rec.restore_modeled_s if rec else nan,
            recovery_apply_modeled_s=rec.apply_modeled_s if rec else nan,
            recovery_modeled_s=rec.modeled_s if rec else nan,
            recovery_restore_measured_s=rec.restore_measured_s if rec else nan,
            recovery_apply_measured_s=rec.apply_measured_s if rec else nan,
            recovery_measured_s=rec.measured_s if rec else nan,
            recovery_records=int(round(rec.records * k)) if rec else 0,
            recovery_records_emulated=rec.records if rec else 0,
            recovery_verified=bool(rec.verified) if rec else False,
            run_modeled_s=float((t_stop if t_stop is not None else t_begin) - t_begin),
            wall_s=float(wall),
            updates_per_wall_s=float(stats.committed / wall_run) if wall_run > 0 else 0.0,
            phases=phases,
            checkpoints_s=[t - (rep.started if rep.started is not None else d.copy_at) for t in d.checkpoints],
        )


def _drop_resident(site) -> None:
    """Give back the pages of every open volume's map after a pass over the database
    (resident memory must not grow with the volumes; they stay files)."""
    for sub in site.subsystems():
        for vol in list(getattr(sub, "_volumes", {}).values()):
            vol.drop_resident()
        pool = getattr(sub, "_pool", None)  # an RVA's track pool holds its volumes' tracks
        if pool is not None:
            pool.drop_resident()


#: tracks (or blocks' worth of ranges) a pass reads between two _drop_resident calls
DROP_TRACKS = 512
DROP_RANGES = 4
#: committed updates between two _drop_resident calls during the online run: on a
#: log-structured pool every flushed update maps a new slot (56 KiB of a 3390), so the
#: maps' resident pages would otherwise grow with the run's length
DROP_UPDATES = 512


def _dropping_reads(site, on_read):
    """``on_read`` that also gives back the volumes' pages every :data:`DROP_TRACKS`
    tracks the copy reads."""
    seen = [0]

    def read(tracks) -> None:
        on_read(tracks)
        seen[0] += len(tracks)
        if seen[0] >= DROP_TRACKS:
            _drop_resident(site)
            seen[0] = 0
    return read


def dropping(site, ranges):
    """The ``(first, blocks)`` ranges, giving back the volumes' pages every
    :data:`DROP_RANGES` ranges (a verification pass over the whole database)."""
    for i, r in enumerate(ranges, 1):
        yield r
        if i % DROP_RANGES == 0:
            _drop_resident(site)


def _whole_slices(now: float, nxt: float, dt: float, cap: int = 100_000) -> int:
    """How many slices of ``dt`` the driver would step in full from ``now`` before the
    slice that reaches ``nxt`` (the same float sums as stepping them one by one)."""
    k = 0
    t = now
    while nxt - t > dt and k < cap:
        t += dt
        k += 1
    return max(k - 1, 0)  # keep the last full slice for a regular step: it may end at nxt


@dataclass
class _Drive:
    """What the online run of one method left for the figures."""

    report: object  # the CopyReport
    stats: object  # the WorkloadStats
    latencies: np.ndarray
    refused_at: list  # (slice start, refused updates)
    tracer: object  # the TrackTracer
    t_begin: float  # IMS start (modeled)
    copy_at: float  # copy start (modeled)
    t_stop: float | None  # end of the run (modeled)
    stop_seq: int | None  # last change record committed at the copy's completion
    wall_run: float
    checkpoints: list  # modeled times of the IMS system checkpoints of the run


class _FailedRun:
    """Stands for a copy that could not start; looks done to the driver."""

    def __init__(self, st, dbd: str, ddn: str, process: str, message: str, now: float) -> None:
        from dasdlab.engine.hpic import CopyReport

        self.report = CopyReport(st.kind, st.line, dbd, ddn, process=process, status="failed", message=message)
        self.done = True
        self.next_time = now
        self.on_read = None

    def advance(self, until: float) -> None:
        return None

