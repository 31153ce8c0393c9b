"""The README's "Test your own copy algorithm" works as written: its pyproject.toml and
eagercopy.py, taken from the README text, installed as a distribution on the path (what
``pip install -e .`` leaves), are found by the registry, pass the kit and are an outage
method with the costs they declare."""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

import pytest

from dasdlab.bench import methods
from dasdlab.cli.main import run
from dasdlab.emulator.services import registry

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Test your own copy algorithm"):text.index("## How it is built")]
    toml = re.search(r"`pyproject.toml`:\n\n```toml\n(.*?)```", section, re.S).group(1)
    code = re.search(r"`eagercopy.py`.*?```python\n(.*?)```", section, re.S).group(1)
    return {"pyproject.toml": toml, "eagercopy.py": code}


@pytest.fixture
def eagercopy(tmp_path, monkeypatch):
    src = tmp_path / "eagercopy"
    src.mkdir()
    for name, text in _blocks().items():
        (src / name).write_text(text)
    meta = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    dist = tmp_path / "site-packages" / f"{meta['name']}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    eps = meta["entry-points"]["dasdlab.copy_services"]
    (dist / "entry_points.txt").write_text("[dasdlab.copy_services]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    for p in (src, dist.parent):
        monkeypatch.syspath_prepend(str(p))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(src), str(dist.parent), *sys.path]))
    registry.refresh()
    yield
    registry.refresh()


def test_the_readme_service_is_listed_and_passes_the_kit(eagercopy, capsys):
    assert registry.get("eagercopy").origin == "plug-in:eagercopy"
    code = run(["services", "test", "eagercopy", "--check", "pit[dataset,instant]", "--check",
                "pit-discard[volume,instant]", "--check", "lifecycle", "--check", "second-process"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "DLB823I eagercopy: 4 of 4 checks passed." in out


def test_the_readme_service_is_an_outage_method(eagercopy):
    m = methods.available()["copy-eagercopy"]
    assert "DATA_MOVER=EAGERCOPY" in m.icein("OUTAGEDB", "OUTAGDD1")
