"""The README's "Teaching with dasdlab" commands run as written (in a fresh folder, with
the repository's fixtures), each with exit status 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def teaching_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Teaching with dasdlab", 1)[1].split("\n## ", 1)[0]
    cmds = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and line != "dasdlab lab":  # the interactive one waits for a class
                cmds.append(line)
    return cmds


@pytest.mark.slow
def test_readme_teaching_commands_run_as_written(tmp_path):
    cmds = teaching_commands()
    assert len(cmds) >= 10 and any("--script fixtures/lessons/cc-sidefile.lab" in c for c in cmds)
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASDLAB_LAB_HISTORY": str(tmp_path / "hist")}
    prelude = f'dasdlab() {{ "{sys.executable}" -m dasdlab.cli.main "$@"; }}\n'
    for cmd in cmds:
        r = subprocess.run(["bash", "-c", prelude + cmd], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert len(list((tmp_path / "maps").glob("step-*.png"))) >= 8
    assert list((tmp_path / "maps").glob("step-*.svg"))
    assert (tmp_path / "fc-map.png").stat().st_size > 1000
    assert (ROOT / "docs" / "lab-cc-sidefile.png").is_file()
