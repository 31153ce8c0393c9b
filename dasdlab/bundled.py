"""The fixtures that come with dasdlab: DBD sources, ICEIN control statements, scenario
grids and lab lessons (``fixtures/`` of the project).  A wheel carries them as
``dasdlab/data/fixtures/`` (``setup.py`` copies them in at build time); a checkout, or
an editable install of one, reads the project's own ``fixtures/`` folder.

The README's commands name ``fixtures/...`` relative to the current folder:
``dasdlab fixtures copy`` puts a copy there (:func:`copy_fixtures`).
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from dasdlab.errors import DasdlabError

_HERE = Path(__file__).resolve().parent
#: where a wheel has them, then where a checkout has them
CANDIDATES = (_HERE / "data" / "fixtures", _HERE.parent / "fixtures")
#: the kinds of fixture, one folder each
KINDS = ("dbd", "icein", "grids", "lessons")


def fixtures_dir() -> Path:
    """The folder of the fixtures this dasdlab came with."""
    for p in CANDIDATES:
        if all((p / k).is_dir() for k in KINDS):
            return p
    raise DasdlabError("DLB033E", "the fixtures (DBDs, ICEIN samples, grids, lessons) are not installed with "
                                  f"this dasdlab (looked in {', '.join(str(p) for p in CANDIDATES)}); "
                                  "reinstall it from a wheel or use a checkout.")


def fixture_files() -> list[Path]:
    """Every fixture file, relative to :func:`fixtures_dir`, sorted."""
    root = fixtures_dir()
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _same(a: Path, b: Path) -> bool:
    return b.is_file() and filecmp.cmp(a, b, shallow=False)


def copy_fixtures(folder: str | Path) -> tuple[Path, int]:
    """Copy the fixtures to ``folder/fixtures``; returns (that folder, files copied).
    A ``fixtures`` folder already there is left alone when it holds the same files
    (0 copied) and refused when any file differs or is missing, so that nothing a
    user changed is overwritten (DLB035E)."""
    src = fixtures_dir()
    dest = Path(folder) / "fixtures"
    files = fixture_files()
    if dest.exists() or dest.is_symlink():
        if dest.resolve() == src.resolve() or all(_same(src / f, dest / f) for f in files):
            return dest, 0
        odd = next(f for f in files if not _same(src / f, dest / f))
        raise DasdlabError("DLB035E", f"{dest} exists and differs from the fixtures of this dasdlab "
                                      f"({odd} is {'different' if (dest / odd).exists() else 'missing'}); "
                                      "copy them to another folder, or move it away first.")
    if not Path(folder).is_dir():
        raise DasdlabError("DLB035E", f"{folder} is not a folder; give an existing folder to copy fixtures/ into.")
    tmp = dest.with_name(".fixtures.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        tmp.rename(dest)  # whole or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest, len(files)
