"""kill -9 of every long command-line operation, at random instants, through the
campaign of :mod:`dasdlab.testing.killcampaign` (a few kills each; ``make crash`` runs a
thousand): after each kill what a user sees is the state before or after the step, a
point-in-time view equal to the copy at its instant, or a refusal with a message id;
every rerun works; nothing is left under a final name half made.

Also, without kills: what the next command does with what a killed image copy or
recovery left (:mod:`dasdlab.engine.leftovers`), from intent files of a process that is
gone, and that the campaign's views see a corruption when there is one.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from dasdlab.testing import killcampaign as kc

pytestmark = pytest.mark.crash

ROOT = Path(__file__).resolve().parents[1]
DEAD_PID = 2**22 + 4321  # above the kernel's pid_max: never a live process

# Left out here, run by the campaign (make crash), which counts what they do:
# * demo: a minute or more per run.
KILLED = [n for n in kc.OPERATIONS if n != "demo"]


@pytest.mark.slow
@pytest.mark.parametrize("name", KILLED)
def test_killed_operation_is_whole_or_refused_and_reruns(tmp_path, name):
    t = kc.run_operation(kc.OPERATIONS[name], tmp_path / name, kills=3, rng=random.Random(13))
    assert t.kills == 3
    assert not t.corruptions, t.corruptions
    assert not t.rerun_failures, t.rerun_failures
    assert not t.leftovers, t.leftovers


# ---------------------------------------------------------------------- leftovers, no kill needed
def _ims_site(tmp_path: Path):
    run = kc.Run(tmp_path, random.Random(3))
    kc._build_ims_site(run)
    return run


def _cli(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dasdlab", *map(str, argv)], capture_output=True, text=True,
                          env=kc.Run(Path("."), random.Random()).env())


def _dead_intent(site_dir: Path, data: dict) -> Path:
    from dasdlab.engine.leftovers import inflight_dir

    d = inflight_dir(site_dir)
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{DEAD_PID}-1.json"
    p.write_text(json.dumps({"pid": DEAD_PID, "datasets": [], "relationships": [], "holds": {}, **data}))
    return p


def test_next_command_scratches_an_unregistered_copy_and_reports_a_stopped_database(tmp_path):
    from dasdlab.engine.recon import Recon

    run = _ims_site(tmp_path)
    site = run.site()
    # what a killed hpic leaves: its output allocated and catalogued, never registered,
    # and the database stopped for the copy
    site.allocate("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001", "BKP001", lrecl=4104, blksize=24624, primary=10)
    site.allocate("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000002", "BKP001", lrecl=4104, blksize=24624, primary=10)
    site.close()
    recon = Recon.of_site(run.site_dir)
    recon.set_state("HDAMDB01", "STOPPED", 1.0)
    recon.close()
    intent = _dead_intent(run.site_dir, {"command": "hpic", "holds": {"HDAMDB01": "ONLINE"},
                                         "datasets": [["BKP001", "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001"]]})
    before = (run.site_dir / "site.json").read_bytes()
    p = _cli("recon", "list", "--site", run.site_dir, "--json")
    assert p.returncode == 0, p.stderr
    json.loads(p.stdout)  # the listing stays clean JSON: the messages go to stderr
    msgs = p.stderr.splitlines()
    assert any(m.startswith("DLB060W") and "IC1.C0000001" in m and "scratched from BKP001" in m for m in msgs), msgs
    assert any(m.startswith("DLB061W") and "/STA DB HDAMDB01" in m for m in msgs), msgs
    site = run.site()
    assert "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001" not in site.volume("BKP001").vtoc
    assert site.catalog.find("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001") is None
    # a data set the killed run did not name is not touched
    assert site.catalog.find("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000002") == "BKP001"
    site.close()
    assert (run.site_dir / "site.json").read_bytes() == before
    # the stopped database is reported again by the next command, until it is started
    p = _cli("db", "verify", "--site", run.site_dir, "HDAMDB01")
    assert any(m.startswith("DLB061W") for m in p.stderr.splitlines()), p.stderr
    assert not any(m.startswith("DLB060W") for m in p.stderr.splitlines())
    p = _cli("ims", "--site", run.site_dir, "/STA DB HDAMDB01")
    assert p.returncode == 0, p.stdout + p.stderr
    p = _cli("recon", "list", "--site", run.site_dir)
    assert "DLB06" not in p.stderr
    assert not intent.exists()


def test_a_registered_copy_is_kept_and_the_relationship_of_an_orphan_withdrawn(tmp_path):
    from dasdlab.engine.leftovers import settle
    from dasdlab.engine.recon import Recon

    run = _ims_site(tmp_path)
    site = run.site()
    site.allocate("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001", "BKP001", lrecl=4104, blksize=24624, primary=10)
    site.allocate("IMSIC.HDAMDB01.HDAMDD01.FR.C0000002", "BKP001", lrecl=4104, blksize=24624, primary=10)
    fc = site.subsystem("DS8K1").service("flashcopy")
    rel = fc.establish("IMS001", "BKP001", src_runs=[(15, 25)], dst_runs=site.volume("BKP001").vtoc.get(
        "IMSIC.HDAMDB01.HDAMDD01.FR.C0000002").track_list(site.volume("BKP001").heads), mode="COPY")
    recon = Recon.of_site(run.site_dir)
    recon.register_image("HDAMDB01", "HDAMDD01", "BATCH", run_time=1.0, stop_time=1.0,
                         ic1=("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001", "BKP001"), run_seq=0)
    _dead_intent(run.site_dir, {"command": "hpic", "datasets": [
        ["BKP001", "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001"], ["BKP001", "IMSIC.HDAMDB01.HDAMDD01.FR.C0000002"]],
        "relationships": [["IMSIC.HDAMDB01.HDAMDD01.FR.C0000002", "DS8K1", "flashcopy", rel.id]]})
    msgs = settle(site, recon)
    recon.close()
    assert [m[:7] for m in msgs] == ["DLB063W", "DLB060W"], msgs
    assert "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000001" in site.volume("BKP001").vtoc  # registered: kept
    assert "IMSIC.HDAMDB01.HDAMDD01.FR.C0000002" not in site.volume("BKP001").vtoc
    assert rel.id not in {r.id for r in fc.relationships()}  # withdrawn
    assert settle(site) == []  # settled once: the intent is gone
    site.close()


def test_rerun_of_a_killed_recover_starts_the_database_again(tmp_path):
    from dasdlab.engine.recon import Recon

    run = _ims_site(tmp_path)
    assert _cli("hpic", "--site", run.site_dir, ROOT / "fixtures" / "icein" / "standard.icein").returncode == 0
    recon = Recon.of_site(run.site_dir)
    recon.set_state("HDAMDB01", "STOPPED", 2.0)  # what a recover killed after its /DBR leaves
    recon.close()
    _dead_intent(run.site_dir, {"command": "recover", "holds": {"HDAMDB01": "ONLINE"}})
    p = _cli("db", "verify", "--site", run.site_dir, "HDAMDB01")
    assert any(m.startswith("DLB062W") and "dasdlab recover" in m for m in p.stderr.splitlines()), p.stderr
    p = _cli("recover", "--site", run.site_dir, "HDAMDB01", "--ddn", "HDAMDD01")
    assert p.returncode == 0, p.stdout + p.stderr
    recon = Recon.of_site(run.site_dir)
    assert recon.db("HDAMDB01")["state"] == "ONLINE"
    recon.close()
    assert "DLB06" not in _cli("recon", "list", "--site", run.site_dir).stderr


def test_image_copy_and_recovery_leave_no_intent_when_they_end(tmp_path):
    run = _ims_site(tmp_path)
    for kind in ("standard", "dump-cc", "copy-flashcopy", "fdump"):
        p = _cli("hpic", "--site", run.site_dir, ROOT / "fixtures" / "icein" / f"{kind}.icein")
        assert p.returncode == 0, p.stdout + p.stderr
    assert _cli("recover", "--site", run.site_dir, "HDAMDB01", "--ddn", "HDAMDD01").returncode == 0
    assert not list((run.site_dir / "ims" / "inflight").glob("*"))
    assert kc._orphan_copies(run) == []


# ---------------------------------------------------------------------- the views have teeth
def test_campaign_views_see_a_wrong_copy(tmp_path):
    """A catalogued copy that differs from its source, a torn result file and a target
    whose content is not the point in time are each seen as such."""
    from dasdlab.emulator.dataset import Dataset

    run = kc.Run(tmp_path / "a", random.Random(5))
    kc._build_dataset_site(run)
    site = run.site()
    site.allocate("MY.C00000", "BKP001", recfm="FB", lrecl=4096, blksize=4096, unit="TRK", primary=20)
    Dataset(site.volume("BKP001", writable=True), "MY.C00000").write(b"\x01" * 4096 * 10)
    site.close()
    run.cycle = 0
    assert kc._dss_copy_steps(run)[0].view(run)[0] == "WRONG"

    out = tmp_path / "b"
    out.mkdir()
    (out / "methods.parquet").write_bytes(b"PAR1 torn")
    v = kc._result_files_view(out)
    assert v[0] == "TORN FILES" and kc._is_bad(v)

    run = kc.Run(tmp_path / "c", random.Random(6))
    kc._build_fc_site(run)
    step = kc._fc_refresh_steps(run)[0]
    good = step.view(run)
    site = run.site()
    rel = site.subsystem("DS8K1").service("flashcopy").get(run.state["rid"])
    target = site.volume(rel.target)
    path = Path(target.path)
    t = kc.DATA_TRACKS[0] + 3
    site.close()
    # damage the target's own track behind the subsystem's back (a plain CKD image:
    # the 512-byte device header, then one slot per track)
    slot = target.slot
    raw = bytearray(path.read_bytes())
    off = 512 + t * slot + 200
    assert len(raw) >= 512 + (t + 1) * slot
    raw[off] ^= 0xFF
    path.write_bytes(bytes(raw))
    bad = step.view(run)
    # neither the point in time before the step nor the one after it: a corruption
    assert bad not in (good, step.expect(run)), bad


def test_an_interrupted_command_settles_its_own_intent(tmp_path):
    """A live process's intent is left alone, unless that process asks (Ctrl-C)."""
    from dasdlab.engine.leftovers import Intent, settle

    run = _ims_site(tmp_path)
    site = run.site()
    intent = Intent(site, "hpic")
    intent.dataset("BKP001", "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000009")
    site.allocate("IMSIC.HDAMDB01.HDAMDD01.IC1.C0000009", "BKP001", lrecl=4104, blksize=24624, primary=10)
    assert settle(site) == []  # this process is alive: its copy may be in progress
    assert "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000009" in site.volume("BKP001").vtoc
    msgs = settle(site, own=True)
    assert [m[:7] for m in msgs] == ["DLB060W"], msgs
    assert "IMSIC.HDAMDB01.HDAMDD01.IC1.C0000009" not in site.volume("BKP001").vtoc
    assert not intent.path.exists()
    site.close()
