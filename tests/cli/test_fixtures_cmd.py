"""``dasdlab fixtures``: the path of the fixtures that came with dasdlab, their list, and
a copy of them that never overwrites a user's changed file."""

from __future__ import annotations

from pathlib import Path

from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[2]


def test_path_list_and_copy(tmp_path, capsys):
    assert run(["fixtures", "path"]) == 0
    assert Path(capsys.readouterr().out.strip()) == ROOT / "fixtures"  # a checkout reads its own
    assert run(["fixtures", "list"]) == 0
    listed = capsys.readouterr().out.split()
    assert "dbd/hdamdb01.dbd" in listed and "icein/standard.icein" in listed and "grids/ci.toml" in listed
    assert run(["fixtures", "copy", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"DLB034I {len(listed)} fixture files copied")
    for f in listed:
        assert (tmp_path / "fixtures" / f).read_bytes() == (ROOT / "fixtures" / f).read_bytes()
    assert run(["fixtures", "copy", str(tmp_path)]) == 0  # the same files: nothing to do
    assert capsys.readouterr().out.startswith("DLB036I")


def test_copy_never_overwrites_a_changed_fixture(tmp_path, capsys):
    assert run(["fixtures", "copy", str(tmp_path)]) == 0
    changed = tmp_path / "fixtures" / "icein" / "cic.icein"
    changed.write_text("my own\n")
    capsys.readouterr()
    assert run(["fixtures", "copy", str(tmp_path)]) == 8
    err = capsys.readouterr().err
    assert err.startswith("DLB035E") and "icein/cic.icein is different" in err
    assert changed.read_text() == "my own\n"
    assert run(["fixtures", "copy", str(tmp_path / "nope")]) == 8
    assert capsys.readouterr().err.startswith("DLB035E")
    assert not (tmp_path / "nope").exists()
