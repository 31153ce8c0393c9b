"""Build hook: the project's ``fixtures/`` (DBDs, ICEIN samples, scenario grids, lab
lessons) go into the wheel as ``dasdlab/data/fixtures/``, so that an installed dasdlab
has them (``dasdlab fixtures path|copy``; see ``dasdlab/bundled.py``).  Everything else
is in ``pyproject.toml``; a checkout reads ``fixtures/`` where it is."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithFixtures(build_py):
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "dasdlab" / "data" / "fixtures"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(HERE / "fixtures", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithFixtures})
