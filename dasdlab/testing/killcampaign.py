"""The kill -9 campaign: every long operation of the command line, killed at random
instants, then checked against the truth and run again.

Each *operation* is a cycle of *steps*.  A step is one ``dasdlab`` command (run as a
real subprocess, as a user runs it), an optional preparation this process makes first
(writing a source volume, damaging a database), a *view* -- what a user can see of the
step's result, read by a fresh :class:`~dasdlab.emulator.site.Site` -- and the view
expected once the step has run.  The view before the step is taken just before it.

A killed step is checked at once:

* the view is the one before or the one after -- a point-in-time view equals the
  copy at its instant -- or it is *refused*: reading it raises an error with a
  message id, or the next command reports the leftover with one (never a third,
  silent, state: that is a **corruption**);
* nothing appears under a final name unless complete (a catalogued copy equals its
  source; every result file reads);

then the step is run again, unkilled: it must succeed (or refuse with a message id
because the killed run had finished its work) and the view must be the one after.
Leftovers that survive the rerun (``.partial`` files, image copy data sets RECON does
not register, uncatalogued copies) are counted too.

The instant: half of the kills at a random fraction of the step's length (measured on
its unkilled runs), half a random time after the step first changed a file of the site
or its output folder, so that most land inside the work rather than in the
interpreter's start-up.  A kill *landed mid-operation* when the killed process had
already changed a file of the site (or its output folder); the others were killed
while starting up.

``python tools/crash_campaign.py --kills 1000`` (``make crash``) runs it; the tests in
``tests/test_crash_cli.py`` run a few kills of every operation.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dasdlab.errors import DasdlabError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
REFUSED = "refused"
#: the longest a step may take unkilled before the campaign calls it hung
STEP_TIMEOUT_S = 600.0


class Refused(Exception):
    """The view cannot be read, and says why with a message id (not a corruption)."""


# ====================================================================== steps
@dataclass
class Step:
    argv: Callable[["Run"], list[str]]
    view: Callable[["Run"], Any]
    expect: Callable[["Run"], Any]                      # the view once the step ran
    prepare: Callable[["Run"], None] | None = None
    #: exit codes that mean success for an unkilled run
    ok_codes: tuple[int, ...] = (0,)
    #: after a kill, the rerun of this step may refuse (message id) when the killed
    #: run had done the work; the view decides
    rerun_may_refuse: bool = False
    #: what to do after a kill, before the rerun (e.g. /STA a database left stopped)
    recover: Callable[["Run", str], None] | None = None
    #: a step of the harness (a clean-up between cycles), not one to kill
    killable: bool = True
    #: running it twice is running it once (a reverse restore is not: the second one
    #: turns the relationship back); a step that is not runs again only when the killed
    #: run had not done its work
    idempotent: bool = True
    #: for a step that is not idempotent: what finishes the killed run's work instead
    finish: Callable[["Run"], list[str]] | None = None


@dataclass
class Operation:
    name: str
    build: Callable[["Run"], None]
    steps: Callable[["Run"], list[Step]]
    cycles_per_site: int = 8
    #: share of the campaign's kills
    weight: float = 1.0
    #: what a finished cycle must not leave behind (data sets, descriptions)
    leftovers: Callable[["Run"], list[str]] | None = None


@dataclass
class Tally:
    runs: int = 0
    kills: int = 0
    landed: int = 0
    refused: int = 0
    cleaned: int = 0
    corruptions: list[str] = field(default_factory=list)
    rerun_failures: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        self.runs += other.runs
        self.kills += other.kills
        self.landed += other.landed
        self.refused += other.refused
        self.cleaned += other.cleaned
        self.corruptions += other.corruptions
        self.rerun_failures += other.rerun_failures
        self.leftovers += other.leftovers

    def as_dict(self) -> dict:
        return {"runs": self.runs, "kills": self.kills, "landed_mid_operation": self.landed,
                "refused_or_reported": self.refused, "leftovers_cleaned_by_next_run": self.cleaned,
                "silent_corruptions": len(self.corruptions),
                "rerun_failures": len(self.rerun_failures), "leftovers": len(self.leftovers),
                "corruption_details": self.corruptions[:20], "rerun_failure_details": self.rerun_failures[:20],
                "leftover_details": self.leftovers[:20]}


class Run:
    """One operation's working folder: ``site/`` and ``out/``, and state between steps."""

    def __init__(self, work: Path, rng: random.Random) -> None:
        self.work = work
        self.site_dir = work / "site"
        self.out = work / "out"
        self.rng = rng
        self.cycle = 0
        self.state: dict[str, Any] = {}

    def site(self):
        from dasdlab.emulator.site import Site

        return Site.open(self.site_dir)

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env.setdefault("COLUMNS", "120")
        return env


def dasdlab(*argv) -> list[str]:
    return [sys.executable, "-m", "dasdlab", *map(str, argv)]


# ====================================================================== helpers
def _fingerprint(*folders: Path) -> dict[str, tuple[int, int]]:
    fp = {}
    for folder in folders:
        if not folder.exists():
            continue
        for p in folder.rglob("*"):
            if p.is_file():
                st = p.stat()
                fp[str(p)] = (st.st_size, st.st_mtime_ns)
    return fp


def _digest(arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _pattern_tracks(vol, tracks, rng: random.Random) -> None:
    from dasdlab.emulator import trackfmt

    nprng = np.random.default_rng(rng.getrandbits(32))
    for t in tracks:
        cyl, head = vol.cchh(t)
        vol.write_track(t, trackfmt.fixed_track(cyl, head, 0, 4096, 12, nprng.integers(0, 256, 12 * 4096, np.uint8),
                                                vol.slot, eof=True))


def _dataset_bytes(site, dsn: str) -> bytes | None:
    """The content of catalogued ``dsn``, or None when it is not catalogued."""
    from dasdlab.emulator.dataset import Dataset

    vs = site.catalog.find(dsn)
    if vs is None:
        return None
    return Dataset(site.volume(vs), dsn).read()


def _leftover_files(*folders: Path) -> list[str]:
    out = []
    for folder in folders:
        if folder.exists():
            out += [str(p) for p in folder.rglob(".*.partial")]
    return out


# ====================================================================== data set operations
def _build_dataset_site(run: Run, tracks: int = 150) -> None:
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.emulator.site import Site

    site = Site.init(run.site_dir)
    site.add_volume("DS8K1", "IMS001", "3390-1", cylinders=40)
    site.add_volume("DS8K1", "BKP001", "3390-1", cylinders=40)
    site.allocate("MY.DATA", "IMS001", recfm="FB", lrecl=4096, blksize=4096, unit="TRK", primary=tracks)
    data = random.Random(run.rng.getrandbits(32)).randbytes(4096 * 12 * (tracks - 2))
    Dataset(site.volume("IMS001", writable=True), "MY.DATA").write(data)
    site.close()
    run.state["data"] = hashlib.sha1(data).hexdigest()


def _sha(b: bytes | None) -> str | None:
    return None if b is None else hashlib.sha1(b).hexdigest()


def _catalogued(run: Run, prefix: str) -> dict[str, str | None]:
    site = run.site()
    try:
        return {d: _sha(_dataset_bytes(site, d)) for d, _v in site.catalog.entries() if d.startswith(prefix)}
    finally:
        site.close()


def _uncatalogued(run: Run, prefix: str) -> list[str]:
    site = run.site()
    try:
        out = []
        for v in site.volsers():
            for dsn in site.volume(v).vtoc.datasets:
                if dsn.startswith(prefix) and site.catalog.find(dsn) is None:
                    out.append(f"{dsn} on {v}")
        return out
    finally:
        site.close()


def _dss_copy_steps(run: Run) -> list[Step]:
    name = f"MY.C{run.cycle:05d}"

    def view(r: Run):
        cat = _catalogued(r, "MY.C")
        bad = {d: h for d, h in cat.items() if h != r.state["data"]}
        if bad:
            return ("WRONG", sorted(bad))
        return name in cat

    def cleanup(r: Run) -> None:
        site = r.site()
        try:
            if site.catalog.find(name):
                site.delete_dataset(name)
        finally:
            site.close()
    return [Step(argv=lambda r: dasdlab("dss", "--site", r.site_dir,
                                        f"COPY DATASET(INCLUDE(MY.DATA)) RENAMEU((MY.DATA,{name})) "
                                        "FASTREPLICATION(NONE)"),
                 view=view, expect=lambda r: True, rerun_may_refuse=True),
            Step(argv=lambda r: [sys.executable, "-c", "pass"], view=lambda r: cleanup(r) or True,
                 expect=lambda r: True, killable=False)]


def _restored(run: Run, dump: str) -> str | None:
    """Restore catalogued dump ``dump`` under another name and return the content's
    digest (the dump's truth), or None when it is not catalogued."""
    from dasdlab.host.dss import run as dss_run

    site = run.site()
    try:
        if site.catalog.find(dump) is None:
            return None
        dss_run(site, f"RESTORE DATASET(INCLUDE(MY.DATA)) INDSN({dump}) RENAMEU((MY.DATA,MY.RCHK))")
        h = _sha(_dataset_bytes(site, "MY.RCHK"))
        site.delete_dataset("MY.RCHK")
        return h
    except DasdlabError as e:
        return f"does not restore: {e}"
    finally:
        site.close()


def _dss_dump_steps(concurrent: bool) -> Callable[[Run], list[Step]]:
    def steps(run: Run) -> list[Step]:
        name = f"MY.D{run.cycle:05d}"

        def view(r: Run):
            dumps = [d for d in _catalogued(r, "MY.D") if d != "MY.DATA"]
            bad = [d for d in dumps if _restored(r, d) != r.state["data"]]
            if bad:
                return ("WRONG", bad)
            if concurrent:  # the session's record: readable by a fresh process
                q = subprocess.run(dasdlab("cc", "query", "--site", r.site_dir, "--json"), env=r.env(),
                                   capture_output=True, text=True)
                if q.returncode != 0 or "Traceback" in q.stderr:
                    return ("CC QUERY FAILS", q.stderr[-300:])
            return name in dumps

        def cleanup(r: Run) -> bool:
            site = r.site()
            try:
                if site.catalog.find(name):
                    site.delete_dataset(name)
            finally:
                site.close()
            return True
        cc = " CONCURRENT(STANDARD)" if concurrent else ""
        return [Step(argv=lambda r: dasdlab("dss", "--site", r.site_dir,
                                            f"DUMP DATASET(INCLUDE(MY.DATA)) OUTDSN({name}){cc}"),
                     view=view, expect=lambda r: True, rerun_may_refuse=True),
                Step(argv=lambda r: [sys.executable, "-c", "pass"], view=cleanup, expect=lambda r: True,
                     killable=False)]
    return steps


def _build_restore_site(run: Run) -> None:
    from dasdlab.host.dss import run as dss_run

    _build_dataset_site(run)
    site = run.site()
    dss_run(site, "DUMP DATASET(INCLUDE(MY.DATA)) OUTDSN(MY.DUMP)")
    site.close()
    run.state["dumped"] = run.state["data"]


def _dss_restore_steps(run: Run) -> list[Step]:
    def prepare(r: Run) -> None:  # something else in the data set: the restore must bring the dump back
        from dasdlab.emulator.dataset import Dataset

        site = r.site()
        data = random.Random(r.rng.getrandbits(32)).randbytes(4096 * 12 * 100)
        Dataset(site.volume("IMS001", writable=True), "MY.DATA").write(data)
        site.close()
        r.state["other"] = hashlib.sha1(data).hexdigest()

    def view(r: Run):
        site = r.site()
        try:
            h = _sha(_dataset_bytes(site, "MY.DATA"))
        finally:
            site.close()
        return "dump" if h == r.state["dumped"] else "other" if h == r.state.get("other") else ("TORN", h)
    return [Step(argv=lambda r: dasdlab("dss", "--site", r.site_dir,
                                        "RESTORE DATASET(INCLUDE(MY.DATA)) INDSN(MY.DUMP) REPLACE"),
                 view=view, expect=lambda r: "dump", prepare=prepare)]


# ====================================================================== FlashCopy incremental
DATA_TRACKS = (15, 75)


def _build_fc_site(run: Run) -> None:
    from dasdlab.emulator.site import Site

    site = Site.init(run.site_dir)
    site.add_volume("DS8K1", "SRC001", "3390-1", cylinders=6)
    site.add_volume("DS8K1", "TGT001", "3390-1", cylinders=6)
    _pattern_tracks(site.volume("SRC001", writable=True), range(*DATA_TRACKS), run.rng)
    fc = site.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("SRC001", "TGT001", mode="COPY", incremental=True)
    fc.drain(rel.id)
    run.state["rid"] = rel.id
    site.close()


def _fc_views(r: Run) -> dict:
    """(source, target, point-in-time image, target host view, state) of the relationship."""
    site = r.site()
    try:
        fc = site.subsystem("DS8K1").service("flashcopy")
        rel = fc.get(r.state["rid"])
        if rel.state.name == "FAILED":
            raise Refused(f"{rel.id} FAILED")
        tr = range(*DATA_TRACKS)
        pit = _digest(fc.read_point_in_time(rel.id, t) for t in tr)
        src = site.volume(rel.source)
        tgt = site.volume(rel.target)
        return {"source": rel.source, "pit": pit, "src_host": _digest(src.read_track(t) for t in tr),
                "tgt_host": _digest(tgt.read_track(t) for t in tr), "state": rel.state.name}
    except DasdlabError as e:
        raise Refused(str(e)) from None
    finally:
        site.close()


def _write_source(r: Run) -> None:
    site = r.site()
    try:
        rel = site.subsystem("DS8K1").service("flashcopy").get(r.state["rid"])
        vol = site.volume(rel.source, writable=True)
        tr = list(range(*DATA_TRACKS))
        _pattern_tracks(vol, r.rng.sample(tr, 20), r.rng)
    finally:
        site.close()


def _fc_refresh_steps(run: Run) -> list[Step]:
    def view(r: Run):
        v = _fc_views(r)
        # the target seen by a host is the point-in-time image, whatever is copied yet
        return v["pit"] if v["tgt_host"] == v["pit"] else ("TARGET VIEW != POINT IN TIME", v)

    def expect(r: Run):
        return _fc_views(r)["src_host"]  # the source as it is now: the new point in time
    return [Step(argv=lambda r: dasdlab("flashcopy", "refresh", r.state["rid"], "--site", r.site_dir, "--drain"),
                 view=view, expect=expect, prepare=_write_source, rerun_may_refuse=True)]


def _fc_reverse_steps(run: Run) -> list[Step]:
    def view(r: Run):
        v = _fc_views(r)
        if v["tgt_host"] != v["pit"]:
            return ("TARGET VIEW != POINT IN TIME", v)
        if v["state"] == "COPYING":  # a reverse in progress; its source must read as the image already
            pass
        return (v["source"], v["pit"], v["src_host"] if v["source"] != r.state.get("rev_from") else None)

    def prepare(r: Run) -> None:
        _write_source(r)
        v = _fc_views(r)
        r.state["rev_from"] = v["source"]
        r.state["rev_expect"] = (v["source"], v["pit"])

    def expect(r: Run):
        src, pit = r.state["rev_expect"]
        site = r.site()
        try:
            other = site.subsystem("DS8K1").service("flashcopy").get(r.state["rid"]).target
        finally:
            site.close()
        # reversed: the old target is the source; the old source now holds the image
        return (other, pit, pit)
    return [Step(argv=lambda r: dasdlab("flashcopy", "reverse", r.state["rid"], "--site", r.site_dir, "--drain"),
                 view=view, expect=expect, prepare=prepare, rerun_may_refuse=True, idempotent=False,
                 finish=lambda r: dasdlab("flashcopy", "drain", r.state["rid"], "--site", r.site_dir))]


# ====================================================================== TimeFinder/Clone
def _build_clone_site(run: Run) -> None:
    from dasdlab.emulator.site import Site

    site = Site.init(run.site_dir)
    site.add_volume("VMAX1", "SRC001", "3390-1", cylinders=6)
    site.add_volume("VMAX1", "TGT001", "3390-1", cylinders=6)
    # a slow background copy: a drain is the long part, the kill lands inside it
    _pattern_tracks(site.volume("SRC001", writable=True), range(*DATA_TRACKS), run.rng)
    tf = site.subsystem("VMAX1").service("timefinder")
    s = tf.create("SRC001", "TGT001", mode="COPY", differential=True)
    tf.activate(s.id)
    tf.drain(s.id)
    run.state["sid"] = s.id
    site.close()


def _clone_view(r: Run, which: str):
    site = r.site()
    try:
        tf = site.subsystem("VMAX1").service("timefinder")
        s = tf.session(r.state["sid"])
        if s.state.name == "INVALID":
            raise Refused(f"{s.id} INVALID")
        vol = site.volume("TGT001" if which == "target" else "SRC001")
        return _digest(vol.read_track(t) for t in range(*DATA_TRACKS))
    except DasdlabError as e:
        raise Refused(str(e)) from None
    finally:
        site.close()


def _clone_source(r: Run) -> str:
    site = r.site()
    try:
        return _digest(site.volume("SRC001").read_track(t) for t in range(*DATA_TRACKS))
    finally:
        site.close()


def _clone_steps(run: Run) -> list[Step]:
    sid = run.state["sid"]

    def write_source(r: Run) -> None:
        site = r.site()
        try:
            _pattern_tracks(site.volume("SRC001", writable=True), r.rng.sample(range(*DATA_TRACKS), 20), r.rng)
        finally:
            site.close()

    def prep_recreate(r: Run) -> None:
        write_source(r)
        r.state["new_pit"] = _clone_source(r)

    def prep_restore(r: Run) -> None:
        r.state["restore_to"] = _clone_view(r, "target")
        write_source(r)

    tgt = lambda r: _clone_view(r, "target")  # noqa: E731
    src = lambda r: _clone_view(r, "source")  # noqa: E731
    return [
        Step(argv=lambda r: dasdlab("clone", "recreate", sid, "--site", r.site_dir), view=lambda r: "ok",
             expect=lambda r: "ok", prepare=prep_recreate, rerun_may_refuse=True),
        Step(argv=lambda r: dasdlab("clone", "activate", sid, "--site", r.site_dir), view=tgt,
             expect=lambda r: r.state["new_pit"], rerun_may_refuse=True),
        Step(argv=lambda r: dasdlab("clone", "drain", sid, "--site", r.site_dir), view=tgt,
             expect=lambda r: r.state["new_pit"]),
        Step(argv=lambda r: dasdlab("clone", "restore", sid, "--site", r.site_dir), view=src,
             expect=lambda r: r.state["restore_to"], prepare=prep_restore, rerun_may_refuse=True),
        Step(argv=lambda r: dasdlab("clone", "drain", sid, "--site", r.site_dir), view=src,
             expect=lambda r: r.state["restore_to"]),
    ]


# ====================================================================== IMS: hpic and recover
def _build_ims_site(run: Run) -> None:
    from dasdlab.emulator.site import Site
    from dasdlab.engine.database import define, load

    site = Site.init(run.site_dir)
    site.add_volume("DS8K1", "IMS001", "3390-1", cylinders=60)
    site.add_volume("DS8K1", "BKP001", "3390-1", cylinders=200)
    define(site, FIXTURES / "dbd" / "hdamdb01.dbd")
    load(site, "HDAMDB01", 2**20, seed=run.rng.getrandbits(16), volser="IMS001")
    site.close()


HPIC_KINDS = ("standard", "dump-cc", "cic", "copy-flashcopy", "fdump", "standard-quiesce", "compressed")


def _images_view(r: Run):
    """(registered images, every one equal to the database at its point in time, state)."""
    from dasdlab.engine.icverify import check_copy, read_copy
    from dasdlab.engine.recon import FUZZY_TYPES, Recon
    from dasdlab.engine.truth import Truth

    site = r.site()
    recon = Recon.of_site(r.site_dir)
    try:
        images = [im for im in recon.images("HDAMDB01") if im.get("status") != "INVALID"]
        state = recon.db("HDAMDB01")["state"]
        truth = Truth(r.site_dir, "HDAMDB01")
        for im in images:
            fmt = im["extra"]["format"]
            for dsn in filter(None, (im["ic1_dsn"], im["ic2_dsn"])):
                if fmt == "FR":
                    continue  # a clone: recovery checks it (the recover operation)
                nb = truth.meta["groups"][truth.group_index(im["ddn"])]["nblocks"]
                blocks = read_copy(site, dsn, fmt, nb)
                if im["type"] not in FUZZY_TYPES:
                    chk = check_copy(site, truth, im["ddn"], blocks, im["extra"]["pit_seq"], clean=True)
                    if chk.differing:
                        return ("WRONG COPY", dsn, chk.differing)
        return (len(images), state)
    finally:
        recon.close()
        site.close()


def _settle_messages(r: Run) -> list[str]:
    """What the next command says first (it also cleans the leftovers up)."""
    p = subprocess.run(dasdlab("recon", "list", "--site", r.site_dir, "--json"), env=r.env(),
                       capture_output=True, text=True)
    return [ln for ln in p.stderr.splitlines() if ln.startswith("DLB")]


def _start_if_left_stopped(r: Run, _step: str) -> None:
    msgs = _settle_messages(r)
    r.state["reported"] = msgs
    if any(m.startswith(("DLB061W", "DLB062W")) for m in msgs):
        subprocess.run(dasdlab("ims", "--site", r.site_dir, "/STA DB HDAMDB01"), env=r.env(),
                       capture_output=True, text=True)


def _hpic_steps(run: Run) -> list[Step]:
    kind = HPIC_KINDS[run.cycle % len(HPIC_KINDS)]

    def view(r: Run):
        n, state = _images_view(r)
        if state != "ONLINE":  # left stopped: fine only if the next command says so
            msgs = _settle_messages(r)
            if not any(m.startswith("DLB061W") for m in msgs):
                return ("LEFT STOPPED, NOT REPORTED", state, msgs)
            raise Refused(msgs[0])
        # the killed run may have registered its copy before it died: the rerun makes one more
        return min(n - r.state.setdefault("images0", n), 1)

    def prepare(r: Run) -> None:
        n, _state = _images_view(r)
        r.state["images0"] = n
    return [Step(argv=lambda r: dasdlab("hpic", "--site", r.site_dir, FIXTURES / "icein" / f"{kind}.icein"),
                 view=view, expect=lambda r: 1, prepare=prepare, recover=_start_if_left_stopped)]


def _recover_steps(run: Run) -> list[Step]:
    def prepare(r: Run) -> None:
        from dasdlab.engine.damage import damage

        if r.cycle % 3 == 0 or "copied" not in r.state:  # a fresh image copy now and then
            p = subprocess.run(dasdlab("hpic", "--site", r.site_dir, FIXTURES / "icein" / "standard.icein"),
                               env=r.env(), capture_output=True, text=True)
            if p.returncode != 0:
                raise AssertionError(f"the image copy before the damage failed: {p.stdout[-300:]} {p.stderr[-300:]}")
            r.state["copied"] = True
        site = r.site()
        damage(site, "HDAMDB01", "HDAMDD01", blocks=5, seed=r.rng.getrandbits(16))
        site.close()

    def view(r: Run):
        from dasdlab.engine.recon import Recon
        from dasdlab.engine.verify import verify

        site = r.site()
        try:
            ok = verify(site, "HDAMDB01").ok
        finally:
            site.close()
        recon = Recon.of_site(r.site_dir)
        try:
            state = recon.db("HDAMDB01")["state"]
            flagged = any(d["recov"] for d in recon.dbds("HDAMDB01"))
        finally:
            recon.close()
        if ok and state == "ONLINE":
            return "recovered"
        if state == "ONLINE" and not flagged:
            return "damaged"  # as before the recovery ran: the damage is the input
        msgs = _settle_messages(r)
        if state != "ONLINE" and not any(m.startswith("DLB062W") for m in msgs):
            return ("LEFT STOPPED, NOT REPORTED", state, flagged, msgs)
        raise Refused(f"{state}, recovery needed={flagged}: {msgs[:1]}")
    return [Step(argv=lambda r: dasdlab("recover", "--site", r.site_dir, "HDAMDB01", "--ddn", "HDAMDD01"),
                 view=view, expect=lambda r: "recovered", prepare=prepare)]


# ====================================================================== results: sweep and demo
def _result_files_view(folder: Path) -> Any:
    """Every result file under ``folder`` reads whole (Parquet, JSON, PNG, NPZ)."""
    import pyarrow.parquet as pq

    bad = []
    for p in sorted(folder.rglob("*")) if folder.exists() else []:
        if not p.is_file() or p.name.endswith(".partial") or "sites" in p.parts or "work" in p.relative_to(folder).parts:
            continue
        try:
            if p.suffix == ".parquet":
                pq.read_table(p)
            elif p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".png":
                b = p.read_bytes()
                if not (b.startswith(b"\x89PNG") and b"IEND" in b[-16:]):
                    raise ValueError("not a whole PNG")
            elif p.suffix == ".npz":
                with np.load(p) as z:
                    [z[k] for k in z.files]
        except Exception as e:  # noqa: BLE001 - any unreadable file is the finding
            bad.append(f"{p.relative_to(folder)}: {type(e).__name__}")
    return ("TORN FILES", bad) if bad else "readable"


def _sweep_steps(run: Run) -> list[Step]:
    out = run.out / f"sweep{run.cycle}"

    def view(r: Run):
        v = _result_files_view(out)
        if v != "readable":
            return v
        report = out / "sweep.json"
        return json.loads(report.read_text()).get("failed", None) == [] if report.exists() else "readable"
    return [Step(argv=lambda r: dasdlab("bench", "sweep", "--grid", FIXTURES / "grids" / "ci.toml", "--workers", "0",
                                        "--out", out),
                 view=view, expect=lambda r: True)]


def _demo_steps(run: Run) -> list[Step]:
    out = run.out / f"demo{run.cycle}"

    def view(r: Run):
        v = _result_files_view(out)
        if v != "readable":
            return v
        return (out / "results" / "methods.parquet").exists() or any(out.rglob("methods.parquet"))
    return [Step(argv=lambda r: dasdlab("demo", "--out", out, "--no-teach"), view=view, expect=lambda r: True)]


def _no_build(run: Run) -> None:
    run.site_dir.mkdir(parents=True, exist_ok=True)


OPERATIONS: dict[str, Operation] = {op.name: op for op in [
    Operation("dss-copy", _build_dataset_site, _dss_copy_steps, leftovers=lambda r: _uncatalogued(r, "MY.C")),
    Operation("dss-dump", _build_dataset_site, _dss_dump_steps(False), leftovers=lambda r: _uncatalogued(r, "MY.D")),
    Operation("dss-dump-cc", _build_dataset_site, _dss_dump_steps(True),
              leftovers=lambda r: _uncatalogued(r, "MY.D")),
    Operation("dss-restore", _build_restore_site, _dss_restore_steps),
    Operation("fc-refresh", _build_fc_site, _fc_refresh_steps),
    Operation("fc-reverse", _build_fc_site, _fc_reverse_steps),
    Operation("clone-recreate-restore", _build_clone_site, _clone_steps),
    Operation("hpic", _build_ims_site, _hpic_steps, cycles_per_site=10, leftovers=lambda r: _orphan_copies(r)),
    Operation("recover", _build_ims_site, _recover_steps, cycles_per_site=10),
    Operation("sweep", _no_build, _sweep_steps, cycles_per_site=4, weight=0.3),
    Operation("demo", _no_build, _demo_steps, cycles_per_site=2, weight=0.15),
]}


# ====================================================================== the driver
def _is_bad(view: Any) -> bool:
    return isinstance(view, tuple) and bool(view) and isinstance(view[0], str) and view[0].isupper() and " " in view[0] \
        or (isinstance(view, tuple) and view[:1] in (("WRONG",), ("TORN",)))


def _view(step: Step, run: Run) -> Any:
    try:
        return step.view(run)
    except Refused as e:
        return (REFUSED, str(e)[:200])


def _run_cli(argv: list[str], run: Run, kill_at: float | None,
             after_change: bool = False) -> tuple[int | None, str, float]:
    """Run ``argv``; kill -9 it ``kill_at`` seconds after the start (None: let it end),
    or with ``after_change`` ``kill_at`` seconds after it first changed a file of the
    site or its output folder.  Returns (exit code or None when killed, stderr tail,
    seconds)."""
    errf = run.work / "stderr.txt"
    t0 = time.monotonic()
    with open(errf, "w") as err:
        p = subprocess.Popen(argv, env=run.env(), stdout=subprocess.DEVNULL, stderr=err, cwd=run.work)
        try:
            if kill_at is not None and after_change:
                fp = _fingerprint(run.site_dir, run.out)
                while p.poll() is None and _fingerprint(run.site_dir, run.out) == fp \
                        and time.monotonic() - t0 < STEP_TIMEOUT_S:
                    time.sleep(0.01)
            p.wait(timeout=kill_at if kill_at is not None else STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
    took = time.monotonic() - t0
    text = errf.read_text(errors="replace")[-600:]
    return (None if p.returncode == -signal.SIGKILL else p.returncode), text, took


def run_operation(op: Operation, work: Path, kills: int, rng: random.Random,
                  log: Callable[[str], None] = lambda s: None) -> Tally:
    """Kill ``kills`` steps of ``op`` at random instants (with the reruns between)."""
    tally = Tally()
    run = None
    durations: dict[int, float] = {}
    cycles = 0
    rebuild = True
    while tally.kills < kills:
        if rebuild or cycles % op.cycles_per_site == 0:
            rebuild = False
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            run = Run(work, rng)
            op.build(run)
        run.cycle = cycles
        steps = op.steps(run)
        victim = rng.choice([i for i, st in enumerate(steps) if st.killable])
        for i, step in enumerate(steps):
            if step.prepare is not None:
                try:
                    step.prepare(run)
                except (AssertionError, DasdlabError) as e:
                    tally.rerun_failures.append(f"{op.name} cycle {cycles} step {i}: preparing: {str(e)[:600]}")
                    rebuild = True  # a fresh site
                    break
            before = _view(step, run)
            expected = step.expect(run)
            argv = step.argv(run)
            kill_at = None
            after_change = False
            if i == victim:
                est = durations.get(i)
                # half of the kills at a random instant of the whole run, start-up
                # included (the first time the run's length is not known yet: a guess),
                # half of those in its second half (the first is mostly imports) ...
                after_change = rng.random() < 0.5
                if after_change:  # ... or once it has begun to change the site, within its work
                    kill_at = rng.uniform(0.0, 0.6) * (est if est is not None else 3.0)
                else:
                    kill_at = (rng.uniform(0.1, 1.05) if rng.random() < 0.5 else rng.uniform(0.5, 1.0)) * \
                        (est if est is not None else 3.0)
            fp = _fingerprint(run.site_dir, run.out)
            code, err, took = _run_cli(argv, run, kill_at, after_change=after_change)
            tally.runs += 1
            killed = code is None
            landed = False
            if killed:
                tally.kills += 1
                landed = _fingerprint(run.site_dir, run.out) != fp
                tally.landed += landed
                after = _view(step, run)
                if isinstance(after, tuple) and after[:1] == (REFUSED,):
                    tally.refused += 1
                elif _is_bad(after) or (after != before and after != expected):
                    tally.corruptions.append(f"{op.name} cycle {cycles} step {i} ({' '.join(map(str, argv[3:]))[:120]}) "
                                             f"killed at {kill_at:.2f}s: view {str(after)[:300]}; before "
                                             f"{str(before)[:80]}, expected {str(expected)[:80]}")
                if step.recover is not None:
                    step.recover(run, err)
                if step.idempotent or after != expected:
                    code, err, took2 = _run_cli(argv, run, None)  # the rerun
                    tally.runs += 1
                elif step.finish is not None:
                    code, err, took2 = _run_cli(step.finish(run), run, None)
                    tally.runs += 1
                else:
                    code = step.ok_codes[0]
                tally.cleaned += any(ln.startswith(("DLB060W", "DLB061W", "DLB062W", "DLB063W"))
                                     for ln in err.splitlines() + run.state.pop("reported", []))
                if code not in step.ok_codes and not (step.rerun_may_refuse and "DLB" in err and "Traceback" not in err):
                    tally.rerun_failures.append(f"{op.name} cycle {cycles} step {i}: rerun exit {code}: {err[-300:]}")
            elif code not in step.ok_codes:
                tally.rerun_failures.append(f"{op.name} cycle {cycles} step {i}: exit {code}: {err[-300:]}")
            else:
                durations[i] = took if i not in durations else 0.5 * (durations[i] + took)
            if "Traceback" in err:
                tally.rerun_failures.append(f"{op.name} cycle {cycles} step {i}: traceback: {err[-300:]}")
            final = _view(step, run)
            if final != expected:
                tally.rerun_failures.append(f"{op.name} cycle {cycles} step {i}: after the "
                                            f"{'rerun' if killed else 'run'} the view is {str(final)[:300]}, "
                                            f"expected {str(expected)[:120]}")
                rebuild = True  # the rest of this cycle, and later ones, build on this step
                break
            left = _leftover_files(run.site_dir, run.out)
            if left:
                tally.leftovers.append(f"{op.name} cycle {cycles} step {i}: {left[:3]}")
            if killed:
                log(f"{op.name}: kill {tally.kills} at {kill_at:.2f}s{' after its first change' if after_change else ''} "
                    f"of step {i} "
                    f"({'mid-operation' if landed else 'start-up'}): {str(after)[:60]}")
        if op.leftovers is not None:
            left = op.leftovers(run)
            if left:
                tally.leftovers.append(f"{op.name} cycle {cycles}: {left[:3]}")
        cycles += 1
    return tally


def _orphan_copies(run: Run) -> list[str]:
    """Image copy data sets on a volume that RECON does not register (after a rerun)."""
    from dasdlab.engine.recon import Recon

    recon = Recon.of_site(run.site_dir)
    try:
        reg = {x for im in recon.images() for x in (im["ic1_dsn"], im["ic2_dsn"]) if x}
    finally:
        recon.close()
    site = run.site()
    try:
        return [f"{dsn} on {v}" for v in site.volsers() for dsn in site.volume(v).vtoc.datasets
                if dsn.startswith("IMSIC.") and dsn not in reg]
    finally:
        site.close()


def campaign(kills: int, work: Path, seed: int = 1, operations: list[str] | None = None,
             log: Callable[[str], None] = lambda s: None) -> dict:
    """Spread ``kills`` over the operations (by weight) and run them one after another;
    returns the figures per operation and in total."""
    names = operations or list(OPERATIONS)
    ops = [OPERATIONS[n] for n in names]
    total_w = sum(o.weight for o in ops)
    share = {o.name: max(1, round(kills * o.weight / total_w)) for o in ops}
    rng = random.Random(seed)
    out: dict[str, Any] = {"seed": seed, "operations": {}}
    total = Tally()
    t0 = time.monotonic()
    for o in ops:
        t = run_operation(o, work / o.name, share[o.name], random.Random(rng.getrandbits(32)), log)
        out["operations"][o.name] = t.as_dict()
        total.add(t)
        shutil.rmtree(work / o.name, ignore_errors=True)
    out["total"] = total.as_dict()
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out
