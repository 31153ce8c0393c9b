"""The conformance kit's own tests: the repository root on the path, so that the kit's
child processes (which get this process's path) can import ``tests.conformance``."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest

from dasdlab.emulator.services import registry

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "splitmirror"


def install_example(root: Path) -> Path:
    """A dist-info for the example, generated from its pyproject.toml, in ``root``."""
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    eps = meta["entry-points"]["dasdlab.copy_services"]
    dist = root / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    (dist / "entry_points.txt").write_text(
        "[dasdlab.copy_services]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    return root


@pytest.fixture
def installed(tmp_path, monkeypatch):
    root = install_example(tmp_path / "site-packages")
    for p in (str(EXAMPLE), str(root)):
        monkeypatch.syspath_prepend(p)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLE), str(root), *sys.path]))
    registry.refresh()
    yield
    registry.refresh()
