"""The DFSMSdss runner: carries out parsed COPY, DUMP and RESTORE statements on a site.

Facts from z/OS DFSMSdss Storage Administration (``docs/domain.md`` §2.1-§2.4 and §4.1
item 7: virtual concurrent copy, S44, S45; FASTREPLICATION, S46, S47; the
initialisation-complete event, S39; FlashCopy keywords, S52, S56, S57; FCINCREMENTAL,
S78, in ``docs/sources.md``).  The syntax is :mod:`.statements`, the method order
:mod:`.planner`, the output data set of a DUMP :mod:`.dumpformat`.

**Logical and physical completion** are reported per data set through ``on_logical``
and ``on_physical`` (a :class:`DssEvent`), always in that order.  All data sets of a
statement are first brought to logical completion (serialised, then released), then
copied physically: standard I/O releases a data set only when its copy is complete
(``logical`` then at once ``physical``); CC releases it when the session is initialised;
fast replication when the relationship is established.  SnapShot is physically complete
at once.  A FlashCopy COPY or a TimeFinder COPY is physically complete when its
background copy ends: DSS returns before that, and ``on_physical`` comes from the
service when the copy ends (``wait_physical=True`` copies to the end before returning);
a NOCOPY copy reports physical completion only with ``wait_physical``.

**Choices where the reference is silent** (documented, tested): the target of a COPY
is ``RENAMEU`` of the name (``RENAMEU(newhlq)`` replaces the first qualifier;
``RENAMEU((old,new))`` pairs take exact names or ``PFX.**`` -> ``NEWPFX.**``), on the
first ``OUTDYNAM`` volume (default: the source's volume); a catalogued target needs
``REPLACE``/``REPLACEUNCONDITIONAL`` (it is reused when large enough) and a target
named like its source needs ``DELETE`` (a move to another volume).  ``FCWITHDRAW``
withdraws, after a DUMP or COPY, the FlashCopy relationships whose *target* holds the
dumped source (the FDUMP shadow pattern).  ``FCINCREMENTAL`` and ``FCINCREMENTALLAST``
are full-volume keywords (S78): on ``COPY DATASET`` they are refused (DLB432E); the
refresh-or-establish code below serves a full-volume copy.

**Crash safety**: a DUMP's output, a COPY's new target and a RESTORE's output are written
under a partial name and appear complete or not at all (:func:`_fresh_partial` says why
partial names rather than an intent record).  A COPY into an existing catalogued target
(``REPLACE``) still writes in place.

Message ids DLB401-DLB449 (DLB400E: a bad filter, from :mod:`dsnfilter`).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dasdlab.emulator import dsalloc, trackfmt
from dasdlab.emulator.dsnfilter import compile_filter
from dasdlab.emulator.vtoc import Format1, check_dsn
from dasdlab.emulator.newfile import clean_partial_datasets, partial_dsn
from dasdlab.errors import DasdlabError, DatasetError
from dasdlab.host.dss.dumpformat import (DSET_MAGIC, DUMP_BLK, END_MAGIC, DumpedDataset, _compact,
                                         _DSET_HDR, _DumpWriter, _header, _pad, _TRK, read_dump)
from dasdlab.host import replication
from dasdlab.host.dss.planner import SERVICE_OF, Method, methods_for
from dasdlab.host.dss.report import DsResult, DssError, DssEvent, DssReport
from dasdlab.host.dss.statements import Statement, parse
from dasdlab.host.dss import volumes


@dataclass
class _Job:
    dsn: str
    src_vol: object
    src_runs: list[tuple[int, int]]
    f1: Format1
    result: DsResult
    order: list[Method]
    standard_ok: bool
    tgt_vol: object = None
    tgt_dsn: str | None = None
    tgt_runs: list[tuple[int, int]] | None = None
    new_target: bool = False
    tgt_partial: str | None = None  # the name a new target is written under until complete
    method: Method | None = None
    reader: object = None  # (vol, runs) the physical copy reads from
    cleanup: list = field(default_factory=list)
    replica: object = None  # a fast-replication copy (replication.Replica)
    cc_sess: object = None
    logical_done: bool = False
    physical_done: bool = False

    @property
    def ntracks(self) -> int:
        return sum(b - a for a, b in self.src_runs)


class Dss:
    """Runs DFSMSdss-like statements against a site.

    ``on_logical(event)`` and ``on_physical(event)`` get a :class:`DssEvent` per data
    set; ``cost(phase, tracks)`` (optional) returns modeled seconds to advance the site
    clock by for ``"read"``/``"write"`` of standard I/O, ``"establish"`` of fast
    replication and ``"session"`` of CC initialisation (the engine passes its device
    profile); ``progress(done, total)`` counts tracks of standard I/O.
    """

    def __init__(self, site, on_logical: Callable[[DssEvent], None] | None = None,
                 on_physical: Callable[[DssEvent], None] | None = None,
                 cost: Callable[[str, int], float] | None = None,
                 progress: Callable[[int, int], None] | None = None, sysname: str = "DLAB",
                 wait_physical: bool = False) -> None:
        self.site = site
        self.on_logical = on_logical
        self.on_physical = on_physical
        self.cost = cost
        self.progress = progress
        self.sysname = sysname
        self.wait_physical = wait_physical
        self._done = 0
        self._total = 0

    # ------------------------------------------------------------------ entry
    def run(self, text: str) -> DssReport:
        statements = parse(text)  # every statement parses before any runs
        report = DssReport()
        for i, st in enumerate(statements, 1):
            report.say(f"DLB410I ({i:03d}) STATEMENT {st.command} AT LINE {st.line}: {st.text}")
            if st.command == "CGCREATED":
                volumes.cgcreated(self, st, report)
            elif st.volume_level:
                {"COPY": volumes.copy_volume, "DUMP": volumes.dump_volume,
                 "RESTORE": volumes.restore_volume}[st.command](self, st, report)
            elif st.command == "RESTORE":
                self._restore(st, report)
            else:
                self._copy_or_dump(st, report)
        report.say(f"DLB426I TASK COMPLETED WITH RETURN CODE {report.rc:04d}")
        return report

    # ------------------------------------------------------------------ helpers
    def _advance(self, phase: str, n: int) -> None:
        if self.cost is not None and n:
            dt = float(self.cost(phase, n))
            if dt > 0:
                self.site.clock.advance(dt)

    def _event(self, job: _Job, phase: str, command: str, detail: dict | None = None) -> None:
        if phase == "logical":
            if job.logical_done:
                return
            job.logical_done = True
            job.result.logical_time = self.site.clock.now()
        else:
            if job.physical_done:
                return
            if not job.logical_done:
                self._event(job, "logical", command)
            job.physical_done = True
            job.result.physical_time = self.site.clock.now()
        ev = DssEvent(phase, command, job.dsn, job.tgt_dsn, job.method.value if job.method else "",
                      self.site.clock.now(), time.monotonic(), job.ntracks, detail or {})
        cb = self.on_logical if phase == "logical" else self.on_physical
        if cb is not None:
            cb(ev)

    def select(self, st: Statement) -> list[tuple[str, str]]:
        """Catalogued (dsn, volser) matching INCLUDE and not EXCLUDE, in name order."""
        out = {}
        for pat in st.include:
            for dsn, vol in self.site.catalog.entries(pat):
                out[dsn] = vol
        for pat in st.exclude:
            rx = compile_filter(pat)
            out = {d: v for d, v in out.items() if not rx.match(d)}
        return sorted(out.items())

    def rename(self, st: Statement, dsn: str) -> str:
        for old, new in st.renames:
            if old.endswith(".**") and new.endswith(".**"):
                p = old[:-3]
                if dsn.startswith(p + "."):
                    return new[:-3] + dsn[len(p):]
            elif compile_filter(old).match(dsn) and "*" not in new and "%" not in new:
                return new
        if st.rename_hlq:
            return st.rename_hlq + dsn[dsn.index("."):] if "." in dsn else st.rename_hlq
        return dsn

    # ------------------------------------------------------------------ COPY and DUMP
    def _copy_or_dump(self, st: Statement, report: DssReport) -> None:
        sel = self.select(st)
        if not sel:
            report.say(f"DLB412W NO DATA SETS SELECTED BY {', '.join(st.include)}", 4)
            return
        report.say(f"DLB411I {len(sel)} DATA SET(S) SELECTED: {' '.join(d for d, _ in sel)}")
        jobs: list[_Job] = []
        dump = None
        if st.command == "DUMP":
            dump = self._open_dump(st, sel, report)
            if dump is None:
                return
        try:
            self._copy_or_dump_jobs(st, sel, jobs, dump, report)
        except BaseException:
            if dump is not None and not dump.complete:
                self._abandon_dump(dump)
            raise

    def _copy_or_dump_jobs(self, st: Statement, sel, jobs: list[_Job], dump, report: DssReport) -> None:
        for dsn, volser in sel:
            job = self._prepare(st, dsn, volser, report)
            if job is not None:
                jobs.append(job)
        # phase 1: serialise, bring every data set to logical completion
        for job in jobs:
            self._start(st, job, report)
        # phase 2: the physical copies
        for job in jobs:
            if job.method is None:
                continue
            try:
                self._finish(st, job, dump, report)
            except DasdlabError as e:
                self._fail(job, report, f"{job.dsn} failed during the copy: {e}")
        if dump is not None:
            self._close_dump(dump, jobs, report)
        for job in jobs:
            self._settle(st, job, report)
            report.results.append(job.result)

    def _prepare(self, st: Statement, dsn: str, volser: str, report: DssReport) -> _Job | None:
        res = DsResult(dsn, volser)
        try:
            src_vol = self.site.volume(volser)
            entry = src_vol.vtoc.get(dsn)
        except DasdlabError as e:
            res.rc, res.message = 8, f"DLB425E {dsn}: {e}"
            report.say(res.message, 8)
            report.results.append(res)
            return None
        src_sub = self.site.subsystem_of(volser)
        job = _Job(dsn, src_vol, entry.track_list(src_vol.heads), entry.f1, res, [], True)
        res.tracks = job.ntracks
        if st.command == "DUMP":
            job.order, job.standard_ok = methods_for("DUMP", "NONE", st.cc, src_sub.capabilities, False)
            job.tgt_dsn = st.outdsn
            job.reader = (src_vol, job.src_runs)
            return job
        new = self.rename(st, dsn)
        tvol = (st.outvols[0] if st.outvols else volser).upper()
        try:
            check_dsn(new)
            tgt_sub = self.site.subsystem_of(tvol)
            existing = self.site.catalog.find(new)
            if new == dsn and not st.delete:
                if not st.replace:
                    raise DssError("DLB418E", f"{dsn}: the target has the source's name; give RENAMEU, or "
                                              "DELETE to move it, or REPLACE.")
                raise DssError("DLB418E", f"{dsn}: a data set cannot replace itself.")
            if new == dsn and tvol == volser:
                raise DssError("DLB419E", f"{dsn}: a move (DELETE) needs an OUTDYNAM volume other than {volser}.")
            if existing is not None and new != dsn:
                if not st.replace:
                    raise DssError("DLB418E", f"{dsn}: target {new} exists on {existing}; give REPLACE or "
                                              "REPLACEUNCONDITIONAL to overwrite it.")
                tgt_vol = self.site.volume(existing, writable=True)
                tentry = tgt_vol.vtoc.get(new)
                if tentry.tracks(tgt_vol.heads) < job.ntracks:
                    raise DssError("DLB418E", f"{dsn}: target {new} has {tentry.tracks(tgt_vol.heads)} tracks, "
                                              f"fewer than the source's {job.ntracks}.")
                tvol = existing
            else:
                tgt_vol = self.site.volume(tvol, writable=True)
                if new in tgt_vol.vtoc:
                    raise DatasetError("DLB211E", f"data set {new} already exists on volume {tvol}.")
                part = _fresh_partial(tgt_vol, new)
                tentry = dsalloc.allocate_like(tgt_vol, part, entry.f1, job.ntracks, src_vol.heads)
                job.new_target, job.tgt_partial = True, part
        except DasdlabError as e:
            res.rc, res.message = 8, f"{e.msgid} {e.text}"
            report.say(res.message, 8)
            report.results.append(res)
            return None
        job.tgt_vol, job.tgt_dsn = tgt_vol, new
        job.tgt_runs = _take_runs(tentry.track_list(tgt_vol.heads), job.ntracks)
        res.target, res.target_volser = new, tvol
        job.order, job.standard_ok = methods_for("COPY", st.fr, st.cc, src_sub.capabilities,
                                                 tgt_sub.name == src_sub.name)
        job.reader = (src_vol, job.src_runs)
        return job

    def _fail(self, job: _Job, report: DssReport, text: str) -> None:
        job.result.rc = 8
        job.result.message = text if text.startswith("DLB") else "DLB425E " + text
        report.say(job.result.message, 8)
        job.method = None

    # -- phase 1 ---------------------------------------------------------------------
    def _start(self, st: Statement, job: _Job, report: DssReport) -> None:
        if not job.order:
            need = "fast replication" if st.fr == "REQUIRED" else f"CONCURRENT({st.cc})"
            self._fail(job, report, f"DLB413E {job.dsn} NOT PROCESSED: {need} IS REQUIRED BUT NOT AVAILABLE "
                                    f"ON SUBSYSTEM {self.site.subsystem_of(job.result.volser).name}"
                       if st.fr == "REQUIRED" else
                       f"DLB414E {job.dsn} NOT PROCESSED: {need} IS REQUIRED BUT NOT AVAILABLE ON SUBSYSTEM "
                       f"{self.site.subsystem_of(job.result.volser).name}")
            return
        for m in job.order:
            job.method = m
            try:
                self._try(st, job, m)
            except DasdlabError as e:
                job.method = None
                job.result.cause = e
                why = f"{m.value} not used for {job.dsn}: {e}"
                job.result.fallbacks.append(why)
                report.say(f"DLB423I {why}")
                self._undo(job)
                continue
            job.method = m
            job.result.method = m.value
            report.say(f"DLB417I {job.dsn} {'COPIED' if st.command == 'COPY' else 'DUMPED'} USING {m.value}"
                       + (f" TO {job.tgt_dsn} ON {job.result.target_volser}" if st.command == "COPY" else ""))
            if job.logical_done:
                report.say(f"DLB415I {job.dsn} LOGICALLY COMPLETE, SERIALIZATION RELEASED")
            return
        tried = ", ".join(m.value for m in job.order)
        msg = ("DLB413E" if st.fr == "REQUIRED" else "DLB414E" if not job.standard_ok else "DLB425E")
        self._fail(job, report, f"{msg} {job.dsn} NOT PROCESSED: NO METHOD WORKED ({tried})")

    def _undo(self, job: _Job) -> None:
        for fn in reversed(job.cleanup):
            try:
                fn()
            except DasdlabError:
                pass
        job.cleanup.clear()
        job.reader = (job.src_vol, job.src_runs)
        job.replica = job.cc_sess = None
        job.logical_done = False

    def _try(self, st: Statement, job: _Job, m: Method) -> None:
        src_sub = self.site.subsystem_of(job.result.volser)
        sv = job.result.volser
        if m is Method.STANDARD:
            return  # serialisation stays held until the physical copy ends
        if m in SERVICE_OF:
            self._fast(st, job, src_sub, sv, job.tgt_vol.volser_hint or job.result.target_volser,
                       job.tgt_runs, SERVICE_OF[m])
            return
        if m in (Method.VIRTUAL_CC, Method.CACHE_CC):
            self._cc(st, job, src_sub, virtual=m is Method.VIRTUAL_CC)
            return
        raise AssertionError(m)  # pragma: no cover

    def _fast(self, st: Statement, job: _Job, sub, sv: str, tv: str, truns, service: str) -> None:
        """Fast replication through the replication facade: logically complete when the
        copy is established; physically complete at once (a snap), when its background
        copy ends (reported by the service's completion event), or never (NOCOPY)."""
        label = replication.mover(service).id_label
        svc = sub.service(service)
        rep = None
        if st.fcincr or st.fcincrlast:  # full-volume keywords (refused on COPY DATASET)
            rep = _find_incremental(svc, sv, tv, job.src_runs, truns)
            if rep is not None:
                svc.refresh(rep.id)
        if rep is None:
            inc = st.fcincr or st.fcincrlast
            rep = replication.establish(
                sub, service, sv, tv, job.src_runs, truns, background_copy=not st.fcnocopy, dsn=job.dsn,
                on_physical=lambda r, job=job: self._event(job, "physical", st.command, {label: r.id}),
                **({"incremental": True} if inc else {}))
            if not inc:
                job.cleanup.append(rep.withdraw)
        job.replica = rep
        job.result.relationship = rep.id
        self._advance("establish", 1)
        self._event(job, "logical", st.command, {label: rep.id})

    def _cc(self, st: Statement, job: _Job, sub, virtual: bool) -> None:
        """A Concurrent Copy session: virtual (flash or snap to working space, S44) or
        cache-based; logically complete when the service reports initialisation."""
        if not replication.has_concurrent_copy(sub.capabilities):
            raise DssError("DLB428E", f"subsystem {sub.name} has no Concurrent Copy.")
        cc = sub.service(replication.CONCURRENT_COPY)

        def init_complete(ev) -> None:
            if ev.rc == 0:
                self._advance("session", 1)
                self._event(job, "logical", st.command, {"session": ev.session_id, "mechanism": ev.method})

        sess = cc.start(job.result.volser, job.src_runs, on_init_complete=init_complete,
                        virtual="require" if virtual else False)
        job.cc_sess = sess
        job.cleanup.append(sess.end)

    # -- phase 2 ---------------------------------------------------------------------
    def _finish(self, st: Statement, job: _Job, dump, report: DssReport) -> None:
        m = job.method
        if job.replica is not None:
            rep = job.replica
            if self.wait_physical or st.fcincrlast:
                rep.drain()
            if not job.physical_done and rep.physically_complete():
                self._event(job, "physical", st.command, {rep.mover.id_label: rep.id})
            if st.fcincrlast:
                rep.withdraw()
            job.cleanup.clear()  # the copy stays: the target depends on it
        else:  # standard I/O, virtual CC, cache CC: DSS moves the tracks
            n = self._move(st, job, dump)
            self._advance("read", n)
            if st.command == "COPY":
                self._advance("write", n)
            self._event(job, "physical", st.command, {"tracks_read": n})
            for fn in reversed(job.cleanup):  # CC: end the session (and its working space)
                fn()
            job.cleanup.clear()
        if job.physical_done:
            report.say(f"DLB416I {job.dsn} PHYSICALLY COMPLETE ({job.ntracks} TRACKS)")
        else:
            report.say(f"DLB416I {job.dsn} LOGICALLY COMPLETE; THE PHYSICAL COPY CONTINUES IN THE SUBSYSTEM")

    def _move(self, st: Statement, job: _Job, dump) -> int:
        """Standard I/O from the reader (source, working space or CC session)."""
        rvol, rruns = job.reader
        srcs = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in rruns])
        origin = srcs
        if job.cc_sess is not None:
            sess = job.cc_sess

            def fetch(t: int):
                img = sess.read_track(t)
                return img if trackfmt.is_formatted(img) else None
        else:
            def fetch(t: int):
                return rvol.read_track(t) if rvol.is_written(t) else None
        self._total += int(srcs.size)
        if st.command == "DUMP":
            parts = []
            for rel, t in enumerate(origin.tolist()):
                got = fetch(t)
                if got is not None:
                    img = _compact(np.asarray(got))
                    parts.append(_TRK.pack(rel, len(img)) + img)
                else:
                    parts.append(_TRK.pack(rel, 0))
                self._tick()
            hdr = _DSET_HDR.pack(job.dsn.encode().ljust(44), job.result.volser.encode().ljust(6),
                                 job.src_vol.heads, job.src_vol.slot, len(parts), job.f1.pack()[:140])
            body = hdr + b"".join(parts)
            dump.append(job, DSET_MAGIC + struct.pack(">I", len(body)) + body)
            return int(srcs.size)
        dsts = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in job.tgt_runs])
        tv = job.tgt_vol
        for t, d in zip(origin.tolist(), dsts.tolist()):
            got = fetch(t)
            if got is not None:
                img = np.array(got)
                if t != d or tv is not job.src_vol:
                    trackfmt.relocate_track(img, *divmod(d, tv.heads))
                tv.write_track(d, img)
            elif tv.written.test(d):
                tv.discard_track(d)
            self._tick()
        return int(srcs.size)

    def _tick(self) -> None:
        self._done += 1
        if self.progress is not None and (self._done % 64 == 0):
            self.progress(self._done, self._total)

    # -- after ---------------------------------------------------------------------------
    def _settle(self, st: Statement, job: _Job, report: DssReport) -> None:
        if job.method is None:
            self._undo(job)
            if st.command == "COPY" and job.new_target and job.tgt_vol is not None:
                dsalloc.scratch(job.tgt_vol, job.tgt_partial)
            return
        if st.command == "COPY":
            if job.tgt_partial is not None:
                dsalloc.finish_like(job.tgt_vol, job.tgt_partial, job.f1)
                try:
                    job.tgt_vol.vtoc.rename(job.tgt_partial, job.tgt_dsn)
                except DasdlabError as e:  # the name was taken while the copy was written
                    dsalloc.scratch(job.tgt_vol, job.tgt_partial)
                    self._fail(job, report, f"{job.dsn} NOT COPIED: {e}")
                    return
            else:
                dsalloc.finish_like(job.tgt_vol, job.tgt_dsn, job.f1)
            if job.new_target and job.tgt_dsn != job.dsn:
                self.site.catalog.add(job.tgt_dsn, job.result.target_volser)
        if st.fcwithdraw:
            self._fcwithdraw(job, report)
        if st.delete:
            vol = self.site.volume(job.result.volser, writable=True)
            vol.vtoc.delete(job.dsn)
            self.site.catalog.remove(job.dsn)
            if st.command == "COPY" and job.tgt_dsn == job.dsn:
                self.site.catalog.add(job.tgt_dsn, job.result.target_volser)
            report.say(f"DLB424I {job.dsn} DELETED FROM {job.result.volser}")
        if self.progress is not None:
            self.progress(self._done, self._total)

    def _fcwithdraw(self, job: _Job, report: DssReport) -> None:
        sub = self.site.subsystem_of(job.result.volser)
        if not sub.has(replication.FLASHCOPY):
            return
        fc = sub.service(replication.FLASHCOPY)
        for rel in list(fc.relationships()):
            if rel.target != job.result.volser or rel.state.name in ("WITHDRAWN",):
                continue
            if any(a < d and c < b for a, b in rel.tmap.dst_runs() for c, d in job.src_runs):
                fc.withdraw(rel.id)
                report.say(f"DLB429I FLASHCOPY RELATIONSHIP {rel.id} ON {job.dsn} WITHDRAWN (FCWITHDRAW)")

    # ------------------------------------------------------------------ the dump data set
    def _open_dump(self, st: Statement, sel, report: DssReport, tracks: int = 0, volume: str | None = None):
        name = st.outdsn
        if self.site.catalog.find(name) is not None:
            report.say(f"DLB420E DUMP DATA SET {name} EXISTS; GIVE A NEW NAME", 8)
            return None
        vol_name = volume or (st.outvols[0] if st.outvols else sel[0][1]).upper()
        total = tracks
        for dsn, v in sel:
            try:
                vol = self.site.volume(v)
                total += vol.vtoc.get(dsn).tracks(vol.heads)
            except DasdlabError:
                pass
        # an upper bound: a compacted track plus its 8-byte prefix never needs more
        # than 1.02 dump tracks of two 27,998-byte blocks
        primary = int(total * 1.05) + 3
        # written uncatalogued under a partial name and renamed when its trailer is
        # written, so a killed DUMP never leaves a partial dump under the asked name
        try:
            vol = self.site.volume(vol_name, writable=True)
            if name in vol.vtoc:
                raise DatasetError("DLB211E", f"data set {name} already exists on volume {vol.volser}.")
            tmp = _fresh_partial(vol, name)
            vol.vtoc.allocate(tmp, dsorg="PS", recfm="FB", lrecl=DUMP_BLK, blksize=DUMP_BLK, unit="TRK",
                              primary=min(primary, 0xFFFF), secondary=max(15, primary // 8))
        except DasdlabError as e:
            report.say(f"DLB420E DUMP DATA SET {name} CANNOT BE ALLOCATED ON {vol_name}: {e}", 8)
            return None
        from dasdlab.emulator.dataset import Dataset

        dump = _DumpWriter(Dataset(vol, tmp), self.site.subsystem_of(vol_name).name, self)
        dump.vol, dump.name = vol, name
        dump.write(_pad(_header(self.site.clock.now(), dump.subsystem, self.sysname)))
        return dump

    def _close_dump(self, dump, jobs: list[_Job], report: DssReport, what: str = "DATA SET(S)") -> None:
        n = sum(1 for j in jobs if j.method is not None)
        dump.write(_pad(END_MAGIC + struct.pack(">II", n, dump.crc)))
        try:
            dump.vol.vtoc.rename(dump.ds.dsn, dump.name)
        except DasdlabError as e:  # the name was taken while the dump was written
            self._abandon_dump(dump)
            report.say(f"DLB420E DUMP DATA SET {dump.name} CANNOT BE ALLOCATED ON {dump.vol.volser}: {e}", 8)
            return
        dump.complete = True
        self.site.catalog.add(dump.name, dump.vol.volser)
        report.say(f"DLB430I DUMP DATA SET {dump.name}: {n} {what}, {dump.bytes:,} BYTES")

    def _abandon_dump(self, dump) -> None:
        try:
            dump.vol.vtoc.delete(dump.ds.dsn)
        except DasdlabError:
            pass

    # ------------------------------------------------------------------ RESTORE
    def _restore(self, st: Statement, report: DssReport) -> None:
        from dasdlab.emulator.dataset import Dataset

        try:
            vol = self.site.dataset_volume(st.indsn)
            raw = Dataset(vol, st.indsn).read()
            dumped = read_dump(raw, st.indsn)
        except DasdlabError as e:
            report.say(f"{e.msgid} {e.text}", 8)
            return
        inc = [compile_filter(p) for p in st.include]
        exc = [compile_filter(p) for p in st.exclude]
        chosen = [d for d in dumped if isinstance(d, DumpedDataset) and any(r.match(d.dsn) for r in inc)
                  and not any(r.match(d.dsn) for r in exc)]
        if not chosen:
            report.say(f"DLB412W NO DATA SETS IN {st.indsn} MATCH {', '.join(st.include)}", 4)
            return
        for d in chosen:
            res = DsResult(d.dsn, d.volser, method=Method.STANDARD.value, tracks=d.ntracks)
            job = _Job(d.dsn, None, [(0, d.ntracks)], d.f1, res, [Method.STANDARD], True)
            job.method = Method.STANDARD
            try:
                self._restore_one(st, d, job)
            except DasdlabError as e:
                res.rc, res.message = 8, f"{e.msgid} {d.dsn} NOT RESTORED: {e.text}"
                report.say(res.message, 8)
                report.results.append(res)
                continue
            report.say(f"DLB422I {d.dsn} RESTORED TO {job.tgt_dsn} ON {res.target_volser}")
            report.results.append(res)

    def _restore_one(self, st: Statement, d: DumpedDataset, job: _Job) -> None:
        new = self.rename(st, d.dsn)
        check_dsn(new)
        existing = self.site.catalog.find(new)
        if existing is not None:
            if not st.replace:
                raise DssError("DLB418E", f"{new} exists on {existing}; give REPLACE or REPLACEUNCONDITIONAL.")
            tvol = self.site.volume(existing, writable=True)
            entry = tvol.vtoc.get(new)
            if entry.tracks(tvol.heads) < d.ntracks:
                raise DssError("DLB418E", f"{new} has {entry.tracks(tvol.heads)} tracks; the dump holds {d.ntracks}.")
            new_target = False
        else:
            vname = (st.outvols[0] if st.outvols else d.volser).upper()
            tvol = self.site.volume(vname, writable=True)
            if (tvol.slot, tvol.heads) != (d.slot, d.heads):
                raise DssError("DLB431E", f"{vname} ({tvol.geometry.name}) is not like the dumped volume "
                                          f"({d.heads} heads, {d.slot}-byte tracks).")
            if new in tvol.vtoc:
                raise DatasetError("DLB211E", f"data set {new} already exists on volume {vname}.")
            new_target = True
        # written whole under a partial name first, then swapped in (see _fresh_partial)
        part = _fresh_partial(tvol, new)
        entry = dsalloc.allocate_like(tvol, part, d.f1, d.ntracks, tvol.heads)
        job.tgt_vol, job.tgt_dsn = tvol, new
        job.result.target, job.result.target_volser = new, tvol.volser_hint or tvol.volser
        dsts = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in
                               _take_runs(entry.track_list(tvol.heads), d.ntracks)])
        try:
            self._total += len(d.tracks)
            for rel, img in d.tracks:
                t = int(dsts[rel])
                if img:
                    slot = np.zeros(tvol.slot, dtype=np.uint8)
                    slot[: len(img)] = np.frombuffer(img, dtype=np.uint8)
                    trackfmt.relocate_track(slot, *divmod(t, tvol.heads))
                    tvol.write_track(t, slot)
                elif tvol.written.test(t):
                    tvol.discard_track(t)
                self._tick()
            self._advance("write", len(d.tracks))
        except BaseException:
            dsalloc.scratch(tvol, part)
            raise
        dsalloc.finish_like(tvol, part, d.f1)
        try:
            if new_target:
                tvol.vtoc.rename(part, new)
            else:
                tvol.vtoc.replace_with(new, part)
        except BaseException:
            dsalloc.scratch(tvol, part)
            raise
        if new_target:
            self.site.catalog.add(new, job.result.target_volser)
        self._event(job, "physical", "RESTORE")


def _fresh_partial(vol, dsn: str) -> str:
    """The partial name (:func:`partial_dsn`) a new copy of ``dsn`` is written under on
    ``vol``, after scratching the partial copies that killed processes left there.

    Why partial names and not an intent record: a copy, dump or restore under a name
    nobody else uses is invisible until it is whole, so a kill at any instant leaves
    either the old state or the new one, and the only thing to recover is space, which
    the next writer of the same name reclaims here.  An intent record would instead
    need every reader of the target to consult it first.  A new target then appears by
    one VTOC rename; a replaced one by :meth:`Vtoc.replace_with` (one DSCB write)."""
    clean_partial_datasets(vol.vtoc, dsn)
    part = partial_dsn(dsn)
    if part in vol.vtoc:  # this process's own leftover (an earlier statement that failed)
        vol.vtoc.delete(part)
    return part


def _take_runs(runs: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The first ``n`` tracks of ``runs``."""
    out = []
    for a, b in runs:
        if n <= 0:
            break
        take = min(b - a, n)
        out.append((a, a + take))
        n -= take
    return out


def _find_incremental(svc, sv: str, tv: str, sruns, truns):
    """The persistent incremental relationship of ``svc`` from these source runs to
    these target runs, to refresh instead of establishing a new one."""
    for rel in svc.query():
        if (rel.source, rel.target) == (sv, tv) and rel.get("incremental") and \
                [tuple(r) for r in rel.source_runs] == [tuple(r) for r in sruns] and \
                str(rel.state) not in replication.ended_states(svc):
            return replication.Replica(svc, rel.id)
    return None


def run(site, text: str, **kw) -> DssReport:
    """Parse and run DFSMSdss-like statements against ``site`` (see :class:`Dss`)."""
    return Dss(site, **kw).run(text)
