"""DFSMSdss full-volume and track operations: COPY and DUMP FULL|TRACKS, RESTORE FULL,
and CGCREATED, the end of a FlashCopy consistency group.

Facts from z/OS DFSMSdss Storage Administration (``docs/sources.md``): the COPY FULL and
COPY TRACKS syntax, INDYNAM/INDDNAME and OUTDYNAM (S108); DUMPCONDITIONING (S109, S110):
the target keeps its own volume serial and stays online, its VVDS and VTOC index keep
the source's names, and a full dump of it looks like a dump of the source; FCCGFREEZE
and CGCREATED (S111, S112, S60-S62): each source is frozen (writes held) as its
relationship is established, CGCREATED thaws every frozen volume of the logical
subsystem of each ACCESSVOLUME, FCCGVERIFY first checks that a volume is still frozen
and thaws regardless (S113); FCSETGTOK (S58): a track-space-efficient target is allowed
for a full-volume FlashCopy only, and if FlashCopy cannot be used the copy fails.

The copy services are reached only through :mod:`dasdlab.host.replication` and the
services' declared capabilities (``consistency_groups``, ``space_efficient_targets``).

**Choices where dasdlab differs or IBM is silent** (tested):

* dasdlab volumes have no VVDS and no VTOC index, whose names carry the source's volume
  serial on a conditioned volume.  Their stand-in is six bytes of the VOL1 label that
  z/OS leaves reserved (offset 16, blanks otherwise): :func:`index_volser` reads it.  A
  DUMP of a conditioned volume writes the VOL1 with the source's serial and the stand-in
  cleared, so RESTORE FULL gives back the source volume byte for byte.  COPY FULL with
  DUMPCONDITIONING from a conditioned volume back to its original source does not
  condition (the manual: it recovers the original).
* Without DUMPCONDITIONING a full copy's target carries the source's volume serial (on
  z/OS it is varied offline as a duplicate); the site still knows it by its own name.
* A logical subsystem is the whole subsystem (dasdlab has no LSS below it).
* dasdlab marks no volume as track space efficient: the target of a relationship is
  space efficient when the relationship is, so FCSETGTOK(FAILRELATION) is what asks for
  one; it is established NOCOPY (a background copy would fill the repository, S59).
* The data set name in the results of a volume operation is the source volume serial.
* CONCURRENT with FULL or TRACKS is refused (not modeled).

Message ids DLB445E-DLB449W (with the DFSMSdss front end's DLB4xx).
"""

from __future__ import annotations

import numpy as np

from dasdlab.emulator.vtoc import ebcdic, ascii_of
from dasdlab.errors import DasdlabError
from dasdlab.host import replication
from dasdlab.host.dss.dumpformat import DumpedVolume, _compact, read_dump, volume_segment
from dasdlab.host.dss.planner import SERVICE_OF, Method, methods_for
from dasdlab.host.dss.report import DsResult, DssError, DssReport
from dasdlab.host.dss.statements import Statement, track_runs

#: where, in the 80 data bytes of VOL1, dasdlab keeps the VVDS/VTOC index volume serial
INDEX_VOLSER_AT = 16
_BLANK6 = b"\x40" * 6


def _vol1(vol):
    rec = vol.find_record(0, 0, 3)
    if rec is None:
        raise DssError("DLB446E", f"volume {vol.volser_hint} has no VOL1 label.")
    img = np.asarray(vol.read_track(0))
    return rec, bytes(img[rec.data_offset:rec.end])


def index_volser(vol) -> str:
    """The volume serial of the volume's VVDS and VTOC index: the source's on a
    conditioned volume, its own otherwise."""
    _, data = _vol1(vol)
    mark = data[INDEX_VOLSER_AT:INDEX_VOLSER_AT + 6]
    return ascii_of(mark).strip() if mark != _BLANK6 else ascii_of(data[4:10]).strip()


def label_volser(vol) -> str:
    return ascii_of(_vol1(vol)[1][4:10]).strip()


def _relabel(data: bytes, volser: str, index: str | None) -> bytes:
    d = bytearray(data)
    d[4:10] = ebcdic(volser, 6)
    d[INDEX_VOLSER_AT:INDEX_VOLSER_AT + 6] = _BLANK6 if index is None else ebcdic(index, 6)
    return bytes(d)


def _fail(report: DssReport, res: DsResult, e: DasdlabError) -> None:
    res.rc, res.message = 8, f"{e.msgid} {e.text}"
    report.say(res.message, 8)
    report.results.append(res)


def _runs(st: Statement, vol) -> list[tuple[int, int]]:
    runs = [(0, vol.ntracks)] if st.full else track_runs(st.tracks, vol.heads)
    for a, b in runs:
        if b > vol.ntracks:
            raise DssError("DLB446E", f"TRACKS range ending at track {b - 1} is outside volume "
                                      f"{vol.volser_hint} ({vol.ntracks} tracks).")
    return runs


# ====================================================================== COPY
def copy_volume(dss, st: Statement, report: DssReport) -> None:
    from dasdlab.host.dss.runner import _Job

    site = dss.site
    sv, tv = st.invol, st.outvols[0].upper()
    res = DsResult(sv, sv)
    what = "FULL" if st.full else "TRACKS"
    try:
        src, tgt = site.volume(sv), site.volume(tv, writable=True)
        src_sub, tgt_sub = site.subsystem_of(sv), site.subsystem_of(tv)
        if (src.heads, src.slot) != (tgt.heads, tgt.slot):
            raise DssError("DLB446E", f"{tv} ({tgt.geometry.name}) is not a like device of {sv} "
                                      f"({src.geometry.name}).")
        runs = _runs(st, src)
        if runs[-1][1] > tgt.ntracks or max(b for _, b in runs) > tgt.ntracks:
            raise DssError("DLB446E", f"target {tv} has {tgt.ntracks} tracks, fewer than the copy needs.")
        if st.fcsetgtok and runs != [(0, src.ntracks)]:
            raise DssError("DLB446E", "FCSETGTOK needs a full-volume copy (COPY FULL, or TRACKS of the whole "
                                      f"volume {sv}).")
        needs_fast = bool(st.fccgfreeze or st.fcsetgtok)
        order, standard_ok = methods_for("COPY", "REQUIRED" if needs_fast else st.fr, None, src_sub.capabilities,
                                         tgt_sub.name == src_sub.name)
        order = [m for m in order if m not in SERVICE_OF or _can(src_sub, SERVICE_OF[m], st)]
        if not order:
            need = " and ".join(k for k, on in (("FCCGFREEZE", st.fccgfreeze), ("FCSETGTOK", st.fcsetgtok),
                                                 ("FASTREPLICATION(REQUIRED)", st.fr == "REQUIRED")) if on)
            raise DssError("DLB413E", f"VOLUME {sv} NOT COPIED: {need} NEEDS FLASHCOPY"
                           f"{' WITH CONSISTENCY GROUPS' if st.fccgfreeze else ''}"
                           f"{' WITH SPACE-EFFICIENT TARGETS' if st.fcsetgtok else ''} IN ONE SUBSYSTEM; "
                           f"{sv} ({src_sub.name}) TO {tv} ({tgt_sub.name}) HAS NONE")
        src_index = index_volser(src) if st.dumpcond else None
    except DasdlabError as e:
        _fail(report, res, e)
        return
    res.target, res.target_volser, res.tracks = tv, tv, sum(b - a for a, b in runs)
    job = _Job(sv, src, runs, None, res, order, standard_ok, tgt_vol=tgt, tgt_dsn=tv, tgt_runs=runs)
    for m in order:
        job.method = m
        try:
            if m in SERVICE_OF:
                _fast(dss, st, job, src_sub, SERVICE_OF[m])
            else:
                _standard(dss, job)
        except DasdlabError as e:
            why = f"{m.value} not used for volume {sv}: {e}"
            res.fallbacks.append(why)
            res.cause = e
            report.say(f"DLB423I {why}")
            job.method, job.replica, job.logical_done = None, None, False
            continue
        break
    if job.method is None:
        tried = ", ".join(m.value for m in order)
        res.rc, res.message = 8, f"{'DLB413E' if needs_fast else 'DLB425E'} VOLUME {sv} NOT COPIED: NO METHOD " \
                                  f"WORKED ({tried})"
        report.say(res.message, 8)
        report.results.append(res)
        return
    res.method = job.method.value
    report.say(f"DLB417I VOLUME {sv} COPIED ({what}, {res.tracks} TRACKS) USING {job.method.value} TO {tv}")
    if st.fccgfreeze:
        report.say(f"DLB447I VOLUME {sv} FROZEN FOR A CONSISTENCY GROUP: ITS WRITES ARE HELD UNTIL CGCREATED "
                   "OR THE CONSISTENCY-GROUP TIMER")
    if st.fcsetgtok:
        report.say(f"DLB447I TARGET {tv} IS SPACE EFFICIENT: THE RELATIONSHIP FAILS IF THE REPOSITORY FILLS "
                   "(FCSETGTOK(FAILRELATION))")
    if any(a == 0 for a, _ in runs):
        if st.dumpcond:
            conditioned = src_index if src_index != tv else None  # a copy back recovers the original
            rec, data = _vol1(tgt)
            tgt.update_record(0, 0, 3, _relabel(data, tv, conditioned))
            report.say(f"DLB447I {tv} KEEPS ITS VOLUME SERIAL (DUMPCONDITIONING)"
                       + (f"; ITS VTOC INDEX AND VVDS NAMES STAY {conditioned}" if conditioned else
                          "; IT IS THE ORIGINAL OF THE CONDITIONED SOURCE"))
        else:
            report.say(f"DLB447I {tv} NOW CARRIES VOLUME SERIAL {label_volser(tgt)} (Z/OS VARIES A DUPLICATE "
                       "VOLUME SERIAL OFFLINE; GIVE DUMPCONDITIONING TO KEEP ITS OWN)")
    tgt.invalidate_vtoc()
    rep = job.replica
    if rep is not None:
        if dss.wait_physical or st.fcincrlast:
            rep.drain()
        if rep.physically_complete():
            dss._event(job, "physical", "COPY", {rep.mover.id_label: rep.id})
        if st.fcincrlast:
            rep.withdraw()
    report.say(f"DLB416I VOLUME {sv} " + ("PHYSICALLY COMPLETE" if job.physical_done else
                                           "LOGICALLY COMPLETE; THE PHYSICAL COPY CONTINUES IN THE SUBSYSTEM"))
    report.results.append(res)


def _can(sub, service: str, st: Statement) -> bool:
    caps = sub.service(service).capabilities
    return (not st.fccgfreeze or caps.consistency_groups) and (not st.fcsetgtok or caps.space_efficient_targets)


def _fast(dss, st: Statement, job, sub, service: str) -> None:
    sv, tv = job.result.volser, job.result.target_volser
    caps = sub.service(service).capabilities
    label = replication.mover(service).id_label
    runs = None if st.full and "volume" in caps.levels else job.src_runs
    inc = st.fcincr or st.fcincrlast
    rep = _incremental(sub.service(service), sv, tv) if inc else None
    if rep is not None:
        rep.svc.refresh(rep.id)
    else:
        rep = replication.establish(
            sub, service, sv, tv, runs, runs, background_copy=not (st.fcnocopy or st.fcsetgtok),
            freeze=st.fccgfreeze, space_efficient=bool(st.fcsetgtok),
            on_physical=lambda r, job=job: dss._event(job, "physical", "COPY", {label: r.id}),
            **({"incremental": True} if inc else {}))
    job.replica = rep
    job.result.relationship = rep.id
    dss._advance("establish", 1)
    dss._event(job, "logical", "COPY", {label: rep.id})


def _incremental(svc, sv: str, tv: str):
    for rel in svc.query():
        if (rel.source, rel.target) == (sv, tv) and rel.get("incremental") and \
                str(rel.state) not in replication.ended_states(svc):
            return replication.Replica(svc, rel.id)
    return None


def _standard(dss, job) -> None:
    """Standard I/O: every track to the same address of the target; the source stays
    serialised until the copy ends."""
    src, tgt = job.src_vol, job.tgt_vol
    n = 0
    dss._total += job.ntracks
    for a, b in job.src_runs:
        for t in range(a, b):
            if src.is_written(t):
                tgt.write_track(t, np.array(src.read_track(t)))
            elif tgt.is_written(t):
                tgt.discard_track(t)
            n += 1
            dss._tick()
    dss._advance("read", n)
    dss._advance("write", n)
    dss._event(job, "physical", "COPY", {"tracks_read": n})


# ====================================================================== DUMP
def dump_volume(dss, st: Statement, report: DssReport) -> None:
    from dasdlab.host.dss.runner import _Job

    sv = st.invol
    res = DsResult(sv, sv, method=Method.STANDARD.value)
    try:
        src = dss.site.volume(sv)
        runs = _runs(st, src)
        dumped_as = index_volser(src) if 0 in {a for a, _ in runs} else label_volser(src)
    except DasdlabError as e:
        _fail(report, res, e)
        return
    res.tracks = sum(b - a for a, b in runs)
    job = _Job(sv, src, runs, None, res, [Method.STANDARD], True, tgt_dsn=st.outdsn)
    job.method = Method.STANDARD
    # the dump's size: its written tracks (an unwritten one is an 8-byte prefix)
    written = sum(1 for a, b in runs for t in range(a, b) if src.is_written(t))
    dump = dss._open_dump(st, [], report, tracks=written + res.tracks // 3000 + 1, volume=st.outvols[0].upper())
    if dump is None:
        return
    dss._total += res.tracks
    try:
        tracks = []
        for a, b in runs:
            for t in range(a, b):
                if not src.is_written(t):
                    tracks.append((t, b""))
                    dss._tick()
                    continue
                img = np.array(src.read_track(t))
                if t == 0 and dumped_as != label_volser(src):  # a conditioned volume: dump it as its source
                    rec, data = _vol1(src)
                    img[rec.data_offset:rec.end] = np.frombuffer(_relabel(data, dumped_as, None), dtype=np.uint8)
                tracks.append((t, _compact(img)))
                dss._tick()
        dump.append(job, volume_segment(dumped_as, sv, src.heads, src.slot, src.ntracks, runs, tracks))
        dss._advance("read", res.tracks)
        dss._event(job, "physical", "DUMP", {"tracks_read": res.tracks})
        dss._close_dump(dump, [job], report, what="VOLUME")
    except BaseException:
        if not dump.complete:
            dss._abandon_dump(dump)
        raise
    if not dump.complete:
        res.rc = 8
        report.results.append(res)
        return
    report.say(f"DLB417I VOLUME {sv} DUMPED ({'FULL' if st.full else 'TRACKS'}, {res.tracks} TRACKS) AS "
               f"VOLUME {dumped_as} TO {st.outdsn}")
    if st.fcwithdraw:
        dss._fcwithdraw(job, report)
    report.results.append(res)


# ====================================================================== RESTORE FULL
def restore_volume(dss, st: Statement, report: DssReport) -> None:
    from dasdlab.emulator.dataset import Dataset

    tv = st.outvols[0].upper()
    res = DsResult(tv, tv, method=Method.STANDARD.value)
    try:
        vol = dss.site.dataset_volume(st.indsn)
        dumped = [d for d in read_dump(Dataset(vol, st.indsn).read(), st.indsn) if isinstance(d, DumpedVolume)]
        if not dumped:
            raise DssError("DLB446E", f"{st.indsn} is a data set dump; RESTORE FULL needs a DUMP FULL or "
                                      "DUMP TRACKS.")
        d = dumped[0]
        tgt = dss.site.volume(tv, writable=True)
        if (tgt.heads, tgt.slot) != (d.heads, d.slot):
            raise DssError("DLB431E", f"{tv} ({tgt.geometry.name}) is not like the dumped volume "
                                      f"({d.heads} heads, {d.slot}-byte tracks).")
        if max(b for _, b in d.runs) > tgt.ntracks:
            raise DssError("DLB446E", f"{tv} has {tgt.ntracks} tracks; the dump needs "
                                      f"{max(b for _, b in d.runs)}.")
    except DasdlabError as e:
        _fail(report, res, e)
        return
    res.tracks, res.target, res.target_volser = len(d.tracks), tv, tv
    dss._total += len(d.tracks)
    for t, img in d.tracks:
        if img:
            slot = np.zeros(tgt.slot, dtype=np.uint8)
            slot[:len(img)] = np.frombuffer(img, dtype=np.uint8)
            tgt.write_track(t, slot)
        elif tgt.is_written(t):
            tgt.discard_track(t)
        dss._tick()
    tgt.invalidate_vtoc()
    dss._advance("write", len(d.tracks))
    report.say(f"DLB422I VOLUME {d.volser} ({len(d.tracks)} TRACKS) RESTORED TO {tv}")
    report.results.append(res)


# ====================================================================== CGCREATED
def cgcreated(dss, st: Statement, report: DssReport) -> None:
    """Thaw every frozen volume in the subsystem of each ACCESSVOLUME, after checking
    FCCGVERIFY's volume is still frozen (thawed regardless, S113)."""
    site = dss.site
    subs = {}
    try:
        for v in [*st.accvols, *([st.fccgverify] if st.fccgverify else [])]:
            sub = site.subsystem_of(v)
            if v in st.accvols:
                subs[sub.name] = sub
    except DasdlabError as e:
        report.say(f"{e.msgid} CGCREATED NOT PROCESSED: {e.text}", 8)
        return
    if st.fccgverify:
        if st.fccgverify not in replication.frozen(site.subsystem_of(st.fccgverify)):
            report.say(f"DLB449W FCCGVERIFY: VOLUME {st.fccgverify} IS NOT FROZEN (THE CONSISTENCY-GROUP TIMER "
                       "MAY HAVE EXPIRED); THE GROUP'S COPIES MAY NOT BE CONSISTENT", 4)
    for name, sub in subs.items():
        thawed = replication.thaw(sub)
        report.say(f"DLB448I CONSISTENCY GROUP CREATED ON {name}: "
                   + (f"{', '.join(sorted(thawed))} THAWED" if thawed else "NO VOLUME WAS FROZEN"))
