"""An installed wheel carries the fixtures (DBDs, ICEIN samples, grids, lessons), so the
README's commands work without a checkout: the project is built into a wheel from a
copy of its files, installed into a folder of its own, and run from a folder outside
any checkout, with nothing of the checkout on the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".hypothesis", ".benchmarks", "out", "demo-out", "outage-out", "sweeps",
                              "dask-worker-space", "*.nbi", "*.nbc")


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=SKIP, symlinks=True)
    dist = base / "dist"
    built = _pip("wheel", "--no-deps", "-q", "-w", str(dist), str(src), cwd=base)
    if built.returncode != 0:  # no index reachable: build with what this environment has
        built = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src), cwd=base)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("dasdlab-*.whl")
    target = base / "site"
    inst = _pip("install", "--no-deps", "-q", "--target", str(target), str(wheel), cwd=base)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return target


def _run(target: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_the_wheel_holds_every_fixture(installed):
    (wheel,) = installed.parent.glob("dist/dasdlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    fixtures = [p.relative_to(ROOT / "fixtures") for p in (ROOT / "fixtures").rglob("*") if p.is_file()
                and "__pycache__" not in p.parts]
    assert len(fixtures) >= 20
    missing = [str(f) for f in fixtures if f"dasdlab/data/fixtures/{f.as_posix()}" not in names]
    assert not missing


def test_readme_commands_from_the_installed_wheel(installed, tmp_path):
    where = _run(installed, tmp_path, "-c", "import dasdlab; print(dasdlab.__file__)")
    assert where.returncode == 0 and where.stdout.startswith(str(installed)), where.stdout + where.stderr
    path = _run(installed, tmp_path, "-m", "dasdlab", "fixtures", "path")
    assert path.returncode == 0 and Path(path.stdout.strip()) == installed / "dasdlab" / "data" / "fixtures"
    for argv in (("fixtures", "copy", "."),
                 ("site", "init", "mysite"),
                 ("site", "add-volume", "mysite", "DS8K1", "IMS001", "--model", "3390-3"),
                 ("db", "define", "--site", "mysite", "fixtures/dbd/hdamdb01.dbd"),
                 ("db", "load", "--site", "mysite", "HDAMDB01", "--size", "256KiB", "--seed", "1"),
                 ("hpic", "--site", "mysite", "fixtures/icein/standard.icein")):
        p = _run(installed, tmp_path, "-m", "dasdlab", *argv)
        assert p.returncode == 0, (argv, p.stdout[-2000:], p.stderr[-2000:])
    assert (tmp_path / "fixtures" / "dbd" / "hdamdb01.dbd").read_bytes() == \
        (ROOT / "fixtures" / "dbd" / "hdamdb01.dbd").read_bytes()
