"""``dasdlab flashcopy``: the forms the acceptance script uses, in-process via ``run``."""

from __future__ import annotations

import json

import numpy as np

from dasdlab.cli.main import run
from dasdlab.emulator.site import Site
from tests.copy.conftest import make_site, pattern_track, view


def _site(tmp_path):
    site = make_site(tmp_path / "site", ("SRC001", "TGT001"))
    src = site.volume("SRC001", writable=True)
    for t in range(15, 30):
        src.write_track(t, pattern_track(src, t, 1))
    site.allocate("A.SRC", "SRC001", lrecl=4000, blksize=4000, primary=3)
    site.allocate("PAD.X", "TGT001", lrecl=80, blksize=800, primary=2)
    site.allocate("A.TGT", "TGT001", lrecl=4000, blksize=4000, primary=3)
    before = view(src)
    site.close()
    return tmp_path / "site", before


def _query(capsys, d):
    capsys.readouterr()
    assert run(["flashcopy", "query", "--site", str(d), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_establish_query_drain_withdraw(tmp_path, capsys):
    d, before = _site(tmp_path)
    assert run(["flashcopy", "establish", "--site", str(d), "SRC001", "TGT001", "--mode", "COPY"]) == 0
    assert "DLB348I" in capsys.readouterr().out
    rows = _query(capsys, d)
    assert len(rows) == 1
    q = rows[0]
    assert {"id", "source", "target", "mode", "state", "tracks_total", "tracks_copied", "cow_count"} <= set(q)
    assert (q["source"], q["target"], q["mode"], q["state"]) == ("SRC001", "TGT001", "COPY", "COPYING")
    assert q["tracks_copied"] == 0 and q["tracks_total"] == 60
    assert run(["flashcopy", "drain", "--site", str(d), q["id"]]) == 0
    assert "DLB352I" in capsys.readouterr().out
    q = _query(capsys, d)[0]
    assert q["state"] == "COMPLETED" and q["tracks_copied"] == q["tracks_total"]
    assert run(["flashcopy", "withdraw", "--site", str(d), q["id"]]) == 0
    assert "DLB350I" in capsys.readouterr().out
    assert _query(capsys, d) == []
    site = Site.open(d)
    assert np.array_equal(view(site.volume("TGT001")), before)
    site.close()


def test_nocopy_incremental_ddsw_and_drain_all(tmp_path, capsys):
    d, _ = _site(tmp_path)
    assert run(["flashcopy", "establish", "--site", str(d), "SRC001", "TGT001", "--mode", "NOCOPY",
                "--incremental"]) == 0
    q = _query(capsys, d)[0]
    assert q["mode"] == "NOCOPY" and q["incremental"] == "YES"
    site = Site.open(d)                      # another "process" writes the source
    site.volume("SRC001", writable=True).write_track(20, pattern_track(site.volume("SRC001"), 20, 5))
    site.close()
    assert _query(capsys, d)[0]["cow_count"] == 1
    assert run(["flashcopy", "withdraw", "--site", str(d), q["id"], "--ddsw"]) == 0
    assert "DLB351I" in capsys.readouterr().out
    assert _query(capsys, d)[0]["state"] == "WITHDRAWING"
    assert run(["flashcopy", "drain", "--site", str(d)]) == 0
    assert _query(capsys, d) == []


def test_dataset_level(tmp_path, capsys):
    d, _ = _site(tmp_path)
    assert run(["flashcopy", "establish", "--site", str(d), "SRC001", "TGT001", "--dataset", "A.SRC",
                "--target-dataset", "A.TGT", "--mode", "NOCOPY"]) == 0
    q = _query(capsys, d)[0]
    assert q["level"] == "dataset" and q["tracks_total"] == 3 and q["src_runs"] != q["dst_runs"]


def test_errors_have_message_ids_and_exit_8(tmp_path, capsys):
    d, _ = _site(tmp_path)
    capsys.readouterr()
    assert run(["flashcopy", "establish", "--site", str(d), "SRC001", "TGT001", "--mode", "SOME"]) == 8
    assert capsys.readouterr().err.startswith("DLB341E")
    assert run(["flashcopy", "withdraw", "--site", str(d), "FC0042"]) == 8
    assert capsys.readouterr().err.startswith("DLB333E")
    assert run(["flashcopy", "establish", "--site", str(d), "SRC001", "TGT001", "--dataset", "A.SRC"]) == 2
    assert _query(capsys, d) == []


def test_query_does_not_import_numba(tmp_path):
    """Commands that move no data stay fast: the kernels (numba) load only to copy."""
    import subprocess
    import sys
    from pathlib import Path

    d, _ = _site(tmp_path)
    assert run(["flashcopy", "establish", "--site", str(d), "SRC001", "TGT001", "--mode", "NOCOPY"]) == 0
    code = ("import sys; from dasdlab.cli.main import run; "
            f"assert run(['flashcopy', 'query', '--site', {str(d)!r}, '--json']) == 0; "
            "assert 'numba' not in sys.modules, 'numba imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr
