"""The online workload: committed database updates generated in vectorised time slices.

Each update is a REPL-like change of ``update_size`` bytes of segment data (outside
the sequence field) in one block of one DBDS, committed as its own unit of work: a log
change record with before and after images, a buffer-pool update, and an entry in the
truth (:meth:`dasdlab.engine.system.ImsSystem.commit`).

**Parameters** (:class:`WorkloadSpec`): ``rate`` (arrivals per modeled second, Poisson
per slice), ``duration``, ``skew`` = ``uniform`` or ``zipf`` with exponent ``zipf_s``
(bounded Zipf over all blocks of the database: the block of popularity rank ``k`` is hit
with probability proportional to ``1/k**s``; ranks are mapped to blocks through a fixed
random permutation so hot blocks are scattered over the data sets), ``update_size``,
``seed``, ``slice`` (modeled seconds per time slice), ``service_time`` (modeled time
from arrival to commit when the database is available).

**Time.**  By default time is modeled: each :meth:`Workload.step` covers one slice,
then advances the site clock with ``site.tick`` so copy services make progress.  With
``realtime=True`` :meth:`Workload.run` paces slices to the wall clock (for use on a
thread, see :meth:`Workload.start_thread`).  A command from another process
(``dasdlab ims``) takes effect between two slices; against an unpaced modeled-time run
that is an unpredictable modeled instant (and a hold of a wall-clock second can hold a
great many modeled seconds of arrivals), so interactive commands want ``--realtime``.

**Database states** are honoured per slice: ``STOPPED`` (/DBR) and ``READONLY`` (/DBD)
refuse the slice's arrivals and any still held (counted in
:attr:`WorkloadStats.refused`); ``QUIESCED`` holds them -- they wait in a queue with their arrival times and commit when the
database is released, at the release time.  Every committed update's latency (commit
time - arrival time) is kept (:meth:`WorkloadStats.latencies`), so an outage scenario can
report delayed transactions and their p50/p99 extra latency.

**Driving it** (the outage scenario driver)::

    system = ImsSystem(site); system.start(); odb = system.open("HDAMDB01")
    wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=5000, duration=120, seed=1))
    wl.before_slice.append(lambda wl, t: ...)     # start a copy at some t, etc.
    while not wl.done:
        wl.step()
        if wl.now >= 30 and not held: system.hold("HDAMDB01"); held = True
        ...
    system.shutdown()

Generation uses numpy's vectorised RNG plus :func:`dasdlab.engine.kernels.zipf_sample`;
apply is :func:`dasdlab.engine.kernels.pool_apply` inside the buffer pool.
"""

from __future__ import annotations

import threading
import time as _time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dasdlab.engine.errors import ImsError

_TEXT = np.frombuffer(bytes([0xC1 + i for i in range(9)] + [0xD1 + i for i in range(9)]
                            + [0xE2 + i for i in range(8)] + [0xF0 + i for i in range(10)]
                            + [0x40] * 28), dtype=np.uint8)


@dataclass
class WorkloadSpec:
    rate: float = 2000.0
    duration: float = 30.0
    skew: str = "uniform"
    zipf_s: float = 1.0
    update_size: int = 16
    seed: int = 1
    slice: float = 0.1
    service_time: float = 0.0
    #: DL/I calls per unit of work (:mod:`dasdlab.engine.uow`); 1: each update commits alone
    uow_calls: int = 1

    def check(self) -> None:
        import math

        # written so that NaN fails every test: "not x >= 0" rather than "x < 0"
        if not (math.isfinite(self.rate) and self.rate >= 0 and math.isfinite(self.duration)
                and self.duration >= 0):
            raise ImsError("DLB592E", f"the workload rate and duration must be finite and not negative "
                                      f"(rate {self.rate}, duration {self.duration}).")
        if not (math.isfinite(self.slice) and self.slice > 0):
            raise ImsError("DLB592E", "the time slice must be positive.")
        if self.skew not in ("uniform", "zipf"):
            raise ImsError("DLB592E", f"skew {self.skew!r} is not uniform or zipf.")
        if self.skew == "zipf" and not (math.isfinite(self.zipf_s) and self.zipf_s > 0):
            raise ImsError("DLB592E", f"the Zipf parameter must be positive and finite, got {self.zipf_s}.")
        if self.update_size < 1:
            raise ImsError("DLB592E", "the update size must be at least one byte.")
        from dasdlab.engine.uow import check_calls

        check_calls(self.uow_calls)


@dataclass
class SliceResult:
    t0: float
    t1: float
    state: str
    arrived: int
    committed: int
    refused: int
    held: int  # waiting at the end of the slice


@dataclass
class WorkloadStats:
    arrived: int = 0
    committed: int = 0
    refused: int = 0
    held_max: int = 0
    slices: int = 0
    wall_seconds: float = 0.0
    _lat: list = field(default_factory=list)

    def latencies(self) -> np.ndarray:
        """Modeled latency (commit - arrival) of every committed update, in order."""
        return np.concatenate(self._lat) if self._lat else np.empty(0, np.float32)

    def delayed(self, threshold: float = 1e-9, service_time: float = 0.0) -> np.ndarray:
        """Extra latency of the updates that waited (held by a quiesce)."""
        lat = self.latencies() - service_time
        return lat[lat > threshold]

    def summary(self, service_time: float = 0.0) -> dict:
        d = self.delayed(service_time=service_time)
        return {
            "arrived": self.arrived, "committed": self.committed, "refused": self.refused,
            "held_max": self.held_max, "slices": self.slices, "wall_seconds": self.wall_seconds,
            "delayed": int(d.size),
            "extra_latency_p50": float(np.percentile(d, 50)) if d.size else 0.0,
            "extra_latency_p99": float(np.percentile(d, 99)) if d.size else 0.0,
            "updates_per_wall_second": self.committed / self.wall_seconds if self.wall_seconds else 0.0,
        }


def zipf_cdf(n: int, s: float) -> np.ndarray:
    """CDF of the bounded Zipf distribution over ranks 0..n-1 (weight 1/(k+1)**s)."""
    w = 1.0 / np.power(np.arange(1, n + 1, dtype=np.float64), s)
    c = np.cumsum(w)
    c /= c[-1]
    return c


class Workload:
    """Updates against one database of an :class:`~dasdlab.engine.system.ImsSystem`."""

    def __init__(self, system, name: str, spec: WorkloadSpec, use_kernels: bool = True) -> None:
        spec.check()
        self.system = system
        self.spec = spec
        self.odb = system.open(name)
        self.name = self.odb.name
        if use_kernels:
            from dasdlab.engine import kernels as k
        else:
            from dasdlab.engine import kernels_ref as k
        self._k = k
        dbds = self.odb.db.dbds
        self.group_blocks = np.array([d.nblocks for d in dbds], np.int64)
        self.group_first = np.concatenate(([0], np.cumsum(self.group_blocks)[:-1]))
        self.total_blocks = int(self.group_blocks.sum())
        w = spec.update_size
        starts, lens, base, count = [], [], [], []
        for d in dbds:
            s, ln = d.layout.regions_for(w)
            if s.size == 0:
                raise ImsError("DLB593E", f"an update of {w} bytes does not fit any segment data of {d.ddn} "
                               f"(longest: {int(d.layout.region_len.max())} bytes); use a smaller --update-size.")
            base.append(len(starts))
            count.append(s.size)
            starts += s.tolist()
            lens += ln.tolist()
        self.reg_start = np.array(starts, np.int64)
        self.reg_len = np.array(lens, np.int64)
        self.reg_base = np.array(base, np.int64)
        self.reg_count = np.array(count, np.int64)
        self.rng = np.random.Generator(np.random.PCG64(spec.seed))
        if spec.skew == "zipf":
            self.cdf = zipf_cdf(self.total_blocks, spec.zipf_s)
            self.perm = np.random.Generator(np.random.PCG64([spec.seed, 7])).permutation(self.total_blocks)
        self.t_start = system.now()
        self.t_end = self.t_start + spec.duration
        self.stats = WorkloadStats()
        self._held_arrivals: list[np.ndarray] = []
        self._held_n = 0  # their total: a long hold appends a slice's arrivals thousands of times
        self.before_slice: list[Callable[[Workload, float], None]] = []
        self.after_slice: list[Callable[[Workload, SliceResult], None]] = []
        self.stop_requested = False
        self._t_done = self.t_start
        self._uow_id = 0  # the unit of work being made, and how many of its calls are done
        self._uow_pos = 0

    # ------------------------------------------------------------------ generation
    @property
    def now(self) -> float:
        return self.system.now()

    @property
    def done(self) -> bool:
        return self.stop_requested or max(self.now, self._t_done) >= self.t_end - 1e-12

    def sample_blocks(self, n: int) -> np.ndarray:
        """Global block numbers (over all DBDS of the database) for ``n`` updates."""
        if self.spec.skew == "uniform":
            return self.rng.integers(0, self.total_blocks, n, dtype=np.int64)
        ranks = np.empty(n, np.int64)
        self._k.zipf_sample(self.rng.random(n), self.cdf, ranks)
        return self.perm[ranks]

    def generate(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(group, block in group, offset in block, after image) of ``n`` updates."""
        g = self.sample_blocks(n)
        group = (np.searchsorted(self.group_first, g, side="right") - 1).astype(np.int16)
        block = g - self.group_first[group]
        r = self.reg_base[group] + (self.rng.random(n) * self.reg_count[group]).astype(np.int64)
        w = self.spec.update_size
        span = self.reg_len[r] - w + 1
        offset = self.reg_start[r] + (self.rng.random(n) * span).astype(np.int64)
        raw = self.rng.integers(0, 64, (n, w), dtype=np.uint8)
        return group, block, offset, _TEXT[raw]

    # ------------------------------------------------------------------ slices
    def step(self, dt: float | None = None, advance: bool = True, t0: float | None = None) -> SliceResult:
        """Run one time slice [t0, t0+dt) (default: from now) and advance the clock to its
        end.  A driver running several workloads in one slice passes ``advance=False``
        and the same ``t0`` to each, then advances the system clock once."""
        sysm = self.system
        t0 = self.now if t0 is None else t0
        dt = self.spec.slice if dt is None else dt
        if self.t_end > t0:
            dt = min(dt, self.t_end - t0)
        for cb in list(self.before_slice):
            cb(self, t0)
        with sysm.lock:  # a command from another thread acts between slices, not inside one
            sysm.poll()
            state = self.odb.state
            n = int(self.rng.poisson(self.spec.rate * dt)) if self.spec.rate > 0 else 0
            arrivals = t0 + np.sort(self.rng.random(n)) * dt
            refused = committed = 0
            if state == "QUIESCED":
                if n:
                    self._held_arrivals.append(arrivals)
                    self._held_n += n
            elif state in ("STOPPED", "READONLY"):
                # held updaters get the stop too: IMS ends them rather than keep them waiting
                refused = n + self._held_n
                self._held_arrivals.clear()
                self._held_n = 0
            else:
                held = np.concatenate(self._held_arrivals) if self._held_arrivals else np.empty(0)
                self._held_arrivals.clear()
                self._held_n = 0
                allarr = np.concatenate((held, arrivals))
                commit_t = np.concatenate((np.full(held.size, t0), arrivals)) + self.spec.service_time
                m = allarr.size
                if m:
                    group, block, offset, after = self.generate(m)
                    # updates released together after a hold commit in bounded batches,
                    # so the buffer pool's steal area does not grow with the hold
                    cap = self._commit_cap()
                    uow, open_end = self._units(m)
                    for a in range(0, m, cap):
                        b = min(m, a + cap)
                        if uow is None:
                            sysm.commit(self.odb, group[a:b], block[a:b], offset[a:b], after[a:b], commit_t[a:b])
                        else:
                            last_open = open_end if b == m else bool(uow[b - 1] == uow[b])
                            sysm.commit(self.odb, group[a:b], block[a:b], offset[a:b], after[a:b], commit_t[a:b],
                                        uow=uow[a:b], last_open=last_open)
                    self.stats._lat.append((commit_t - allarr).astype(np.float32))
                    committed = m
        waiting = self._held_n
        st = self.stats
        st.arrived += n
        st.committed += committed
        st.refused += refused
        st.held_max = max(st.held_max, waiting)
        st.slices += 1
        if advance:
            sysm.advance(t0 + dt)
        self._t_done = t0 + dt
        res = SliceResult(t0, t0 + dt, state, n, committed, refused, waiting)
        for cb in list(self.after_slice):
            cb(self, res)
        return res

    def _units(self, m: int) -> tuple[np.ndarray | None, bool]:
        """Unit-of-work ids of the next ``m`` updates, and whether the last unit stays in
        flight past them (None with one call per unit)."""
        k = self.spec.uow_calls
        if k == 1:
            return None, False
        if self.odb.uow_closed:  # a stop brought the unit in flight to its sync point
            self.odb.uow_closed = False
            if self._uow_pos:
                self._uow_id, self._uow_pos = self._uow_id + 1, 0
        pos = self._uow_pos + np.arange(m, dtype=np.int64)
        uow = self._uow_id + pos // k
        done = self._uow_pos + m
        self._uow_id, self._uow_pos = self._uow_id + done // k, done % k
        return uow, self._uow_pos != 0

    def skip_quiet(self, dt: float, k: int) -> int:
        """Run up to ``k`` slices of ``dt`` from now at once while nothing happens in
        them -- no update arrives, or the database is quiesced and arrivals only queue
        up -- and return how many were run.  The generator is drawn exactly as ``k``
        calls of :meth:`step` would draw it (a Poisson draw per slice, then the arrival
        instants), so a driver that calls this before stepping gets the same updates at
        the same instants without the cost of stepping through modeled time in which
        nothing happens; the clock, the counters and the ``after_slice`` callbacks see
        every slice, the copy services' background work is ticked once, at the end.
        Commands from other processes are carried out once, before."""
        sysm = self.system
        if k <= 0 or self.before_slice or self.spec.rate <= 0:
            return 0
        t0 = self.now
        if self.t_end < t0 + k * dt + dt:
            return 0  # the end of the workload is near: step
        lam = self.spec.rate * dt
        st = self.stats
        cbs = list(self.after_slice)
        with sysm.lock:
            sysm.poll()
            state = self.odb.state
            if state == "QUIESCED":  # arrivals queue up, nothing else happens
                t = t0
                for _ in range(k):
                    n = int(self.rng.poisson(lam))
                    t1 = t + dt  # the same sums as stepping slice by slice
                    if n:
                        self._held_arrivals.append(t + np.sort(self.rng.random(n)) * dt)
                        self._held_n += n
                        st.arrived += n
                        st.held_max = max(st.held_max, self._held_n)
                    if cbs:
                        res = SliceResult(t, t1, state, n, 0, 0, self._held_n)
                        for cb in cbs:
                            cb(self, res)
                    t = t1
                st.slices += k
                sysm.advance(t)
                self._t_done = t
                return k
            if self._held_n:
                return 0  # held updates are released (or refused) in the next slice
            bg = self.rng.bit_generator
            saved = bg.state
            draws = self.rng.poisson(lam, size=k)
            nz = np.flatnonzero(draws)
            j = int(nz[0]) if nz.size else k
            bg.state = saved
            if j:
                self.rng.poisson(lam, size=j)  # the draws of the j empty slices, consumed as step would
        if not j:
            return 0
        st.slices += j
        t = t0
        for _ in range(j):
            t1 = t + dt
            if cbs:
                res = SliceResult(t, t1, state, 0, 0, 0, 0)
                for cb in cbs:
                    cb(self, res)
            t = t1
        sysm.advance(t)
        self._t_done = t
        return j

    def _commit_cap(self) -> int:
        cap = getattr(self, "_cap", None)
        if cap is None:
            from dasdlab.engine.bufferpool import max_batch

            cap = self._cap = min([1024] + [max_batch(d.block_size) for d in self.odb.db.dbds])
        return cap

    def run(self, realtime: bool = False, progress: Callable[[int, int], None] | None = None) -> WorkloadStats:
        """Run slices until the duration has passed (or :attr:`stop_requested`)."""
        w0 = _time.perf_counter()
        total = max(1, int(round(self.spec.duration / self.spec.slice)))
        k = 0
        while not self.done:
            self.step()
            k += 1
            if progress is not None and (k % 16 == 0 or self.done):
                progress(min(k, total), total)
            if realtime:
                lag = (self.now - self.t_start) - (_time.perf_counter() - w0)
                if lag > 0:
                    _time.sleep(lag)
        self.stats.wall_seconds += _time.perf_counter() - w0
        return self.stats

    def start_thread(self, realtime: bool = True) -> threading.Thread:
        """Run on a thread; commands from other threads go through the system's lock."""
        th = threading.Thread(target=self.run, kwargs={"realtime": realtime}, daemon=True)
        th.start()
        return th

    @property
    def held(self) -> int:
        return self._held_n


def preflight(site, name: str, spec: WorkloadSpec, buffers: int, policy: str, checkpoint: float | None) -> None:
    """Every check a workload run can make before it starts IMS (which opens a new log
    data set and writes RECON): the spec, the buffer pool, the checkpoint interval, the
    database (registered and loaded) and whether an update of ``spec.update_size``
    bytes fits its segments.  Nothing is written."""
    import math

    from dasdlab.engine.bufferpool import SyncPolicy
    from dasdlab.engine.database import ImsDatabase

    spec.check()
    if buffers < 1:
        raise ImsError("DLB025E", f"--buffers {buffers}: a buffer pool needs at least one buffer per subpool.")
    if policy not in {p.value for p in SyncPolicy}:
        raise ImsError("DLB025E", f"--policy {policy!r} is not one of {', '.join(p.value for p in SyncPolicy)}.")
    if checkpoint is not None and not (math.isfinite(checkpoint) and checkpoint > 0):
        raise ImsError("DLB025E", f"--checkpoint {checkpoint}: the checkpoint interval must be positive.")
    from dasdlab.engine.recon import Recon

    recon = Recon.of_site(site.path, create=False)
    try:
        db = ImsDatabase.open(site, name, recon)
    finally:
        recon.close()
    db.require_loaded()
    for d in db.dbds:
        if d.layout.regions_for(spec.update_size)[0].size == 0:
            raise ImsError("DLB593E", f"an update of {spec.update_size} bytes does not fit any segment data of "
                                      f"{d.ddn} (longest: {int(d.layout.region_len.max())} bytes); use a smaller "
                                      "--update-size.")
