"""``dasdlab clone`` and ``dasdlab cc``: the CLI parses, calls the services, prints;
errors carry message ids, exit 8 and change nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dasdlab.cli.main import run
from tests.copy.conftest import pattern_track, view

CLONE_KEYS = {"id", "source", "target", "mode", "state", "tracks_total", "tracks_copied", "cow_count"}


@pytest.fixture
def sitedir(tmp_path):
    from dasdlab.emulator.site import Site

    site = Site.init(tmp_path / "site")
    for sub, v in (("VMAX1", "SRC001"), ("VMAX1", "TGT001"), ("DS8K1", "DSK001")):
        site.add_volume(sub, v, "3390-1", cylinders=4)
    src = site.volume("SRC001", writable=True)
    site.allocate("APP.DATA", "SRC001", lrecl=4000, blksize=4000, primary=10)
    site.allocate("PAD.DATA", "TGT001", lrecl=80, blksize=800, primary=3)
    site.allocate("APP.COPY", "TGT001", lrecl=4000, blksize=4000, primary=10)
    for t in range(15, 40):
        src.write_track(t, pattern_track(src, t, 1))
    site.close()
    return tmp_path / "site"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = run([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_clone_life_cycle_through_the_cli(sitedir, capsys):
    from dasdlab.emulator.site import Site

    code, out, _ = cli(capsys, "clone", "create", "SRC001", "TGT001", "--site", sitedir,
                       "--mode", "COPY", "--differential")
    assert code == 0 and out.startswith("DLB381I clone session TF0001 created")
    code, out, _ = cli(capsys, "clone", "query", "--site", sitedir, "--json")
    (q,) = json.loads(out)
    assert CLONE_KEYS <= set(q) and q["state"] == "CREATED" and q["tracks_total"] == 60
    assert (q["tracks_copied"], q["cow_count"]) == (0, 0)
    assert cli(capsys, "clone", "activate", "TF0001", "--site", sitedir)[1].startswith("DLB382I")

    site = Site.open(sitedir)  # a host write in another process copies on access
    pit = view(site.volume("SRC001"))
    src = site.volume("SRC001", writable=True)
    src.write_track(20, pattern_track(src, 20, 2))
    site.close()
    (q,) = json.loads(cli(capsys, "clone", "query", "--site", sitedir, "--json")[1])
    assert q["state"] == "COPY-IN-PROG" and q["cow_count"] == 1 and q["tracks_copied"] == 1

    code, out, _ = cli(capsys, "clone", "drain", "TF0001", "--site", sitedir)
    assert code == 0 and "60/60" in out and "COPIED" in out
    site = Site.open(sitedir)
    assert np.array_equal(view(site.volume("TGT001")), pit)
    site.close()
    code, out, _ = cli(capsys, "clone", "query", "TF0001", "--site", sitedir)
    assert code == 0 and "COPIED" in out and "DIFFERENTIAL" in out
    assert cli(capsys, "clone", "restore", "TF0001", "--site", sitedir)[1].startswith("DLB384I")
    assert cli(capsys, "clone", "drain", "TF0001", "--site", sitedir)[0] == 0
    code, out, _ = cli(capsys, "clone", "recreate", "TF0001", "--site", sitedir)
    assert code == 0 and "DLB383I" in out and "0 tracks" in out
    assert cli(capsys, "clone", "terminate", "TF0001", "--site", sitedir)[1].startswith("DLB385I")
    assert json.loads(cli(capsys, "clone", "query", "--site", sitedir, "--json")[1]) == []
    assert cli(capsys, "clone", "query", "--site", sitedir)[1].startswith("DLB387I")


def test_dataset_level_create(sitedir, capsys):
    code, out, _ = cli(capsys, "clone", "create", "SRC001", "TGT001", "--site", sitedir, "--mode", "NOCOPY",
                       "--dataset", "APP.DATA", "--target-dataset", "APP.COPY", "--json")
    q = json.loads(out)
    assert code == 0 and q["tracks_total"] == 10 and q["mode"] == "NOCOPY"
    assert q["src_runs"] != q["dst_runs"]
    code, out, _ = cli(capsys, "clone", "create", "SRC001", "TGT001", "--site", sitedir,
                       "--runs", "40:45", "--target-runs", "50:55", "--json")
    assert code == 0 and json.loads(out)["dst_runs"] == [[50, 55]]


@pytest.mark.parametrize("argv, msgid", [
    (["clone", "create", "SRC001", "TGT001", "--mode", "FAST"], "DLB380E"),
    (["clone", "create", "SRC001", "TGT001", "--runs", "15-30"], "DLB389E"),
    (["clone", "create", "SRC001", "TGT001", "--runs", "15:70"], "DLB372E"),
    (["clone", "create", "SRC001", "DSK001"], "DLB379E"),
    (["clone", "activate", "TF0009"], "DLB376E"),
    (["clone", "restore", "TF0009"], "DLB376E"),
    (["cc", "query", "--subsystem", "VMAX1"], "DLB311E"),
])
def test_cli_errors_have_ids_and_change_nothing(sitedir, capsys, argv, msgid):
    before = {p: p.read_bytes() for p in sitedir.rglob("*") if p.is_file() and p.suffix != ".lock"}
    code, _, err = cli(capsys, *argv, "--site", sitedir)
    assert code == 8 and err.startswith(msgid), err
    after = {p: p.read_bytes() for p in sitedir.rglob("*") if p.is_file() and p.suffix != ".lock"}
    assert after == before


def test_terminate_with_tracks_left_needs_force(sitedir, capsys):
    cli(capsys, "clone", "create", "SRC001", "TGT001", "--site", sitedir, "--mode", "NOCOPY")
    cli(capsys, "clone", "activate", "TF0001", "--site", sitedir)
    code, _, err = cli(capsys, "clone", "terminate", "TF0001", "--site", sitedir)
    assert code == 8 and err.startswith("DLB377E")
    assert cli(capsys, "clone", "terminate", "TF0001", "--site", sitedir, "--force")[0] == 0


def test_cc_query_shows_sessions_and_counters(sitedir, capsys):
    from dasdlab.emulator.site import Site

    site = Site.open(sitedir)
    site.add_volume("DS8K1", "DSK002", "3390-1", cylinders=4)
    vol = site.volume("DSK002", writable=True)
    for t in range(15, 25):
        vol.write_track(t, pattern_track(vol, t, 1))
    cc = site.subsystem("DS8K1").service("concurrent_copy")
    s = cc.start("DSK002", [(15, 25)])
    vol.write_track(16, pattern_track(vol, 16, 2))
    cc.drain()
    list(s.read_tracks())
    cc.start("DSK002", [(15, 20)])  # still active when the site closes
    site.close()
    code, out, _ = cli(capsys, "cc", "query", "--site", sitedir, "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"CC0001", "CC0002"}
    r = rows["CC0001"]
    assert (r["state"], r["tracks_read"], r["intercepted_writes"]) == ("COMPLETE", 10, 1)
    assert (r["cache_hwm_tracks"], r["host_hwm_tracks"], r["tracks_read_sidefile"]) == (1, 1, 1)
    assert rows["CC0002"]["state"] == "FAILED" and rows["CC0002"]["message"].startswith("DLB368E")
    code, out, _ = cli(capsys, "cc", "query", "--site", sitedir)
    assert "CC0001" in out and "DLB368E" in out
    code, out, _ = cli(capsys, "cc", "purge", "--site", sitedir)
    assert out.startswith("DLB387I 2 ended")
    assert json.loads(cli(capsys, "cc", "query", "--site", sitedir, "--json")[1]) == []


def test_queries_do_not_import_numba(sitedir):
    code = ("import sys; from dasdlab.cli.main import run; "
            f"a = run(['clone', 'query', '--site', {str(sitedir)!r}]); "
            f"b = run(['cc', 'query', '--site', {str(sitedir)!r}]); "
            "print(a, b, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 0 False"
