"""What ``--help`` and the shell offer: an example in every command's help that parses
against the command itself, and shell completion (typer's own) that completes commands,
options and the names of profiles and methods from a real bash."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from dasdlab.cli.main import app, run

ROOT = Path(__file__).resolve().parents[2]


def _commands():
    """(path, click command) for every leaf command of ``dasdlab``."""
    root = typer.main.get_command(app)

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, path + [name])
        else:
            yield path, cmd

    return list(walk(root, []))


def test_there_are_many_commands():
    assert len(_commands()) >= 60


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in _commands()])
def test_every_command_help_has_an_example_that_parses(path, capsys):
    assert run([*path.split(), "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Example: dasdlab " + path in out, f"'dasdlab {path} --help' shows no example of itself"
    cmd = dict((" ".join(p), c) for p, c in _commands())[path]
    example = re.search(r"Example: (dasdlab [^\n]*)", f"{cmd.help}\n{cmd.epilog}").group(1)
    argv = shlex.split(example)
    assert argv[: 1 + len(path.split())] == ["dasdlab", *path.split()]
    # the example's options and arguments are the command's own (parsed, not run)
    ctx = cmd.make_context(f"dasdlab {path}", argv[1 + len(path.split()):])
    ctx.close()


def _complete(words: str, tmp_path: Path) -> list[str]:
    """What bash completes for ``words`` with the script ``dasdlab --show-completion bash``
    prints, sourced in a real bash that finds ``dasdlab`` on its PATH."""
    script = subprocess.run([sys.executable, "-m", "dasdlab", "--show-completion", "bash"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert "complete" in script and "_DASDLAB_COMPLETE" in script
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "dasdlab"
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m dasdlab \"$@\"\n")
    exe.chmod(0o755)
    (tmp_path / "completion.bash").write_text(script)
    parts = words.split(" ")
    prog = (f"source {tmp_path / 'completion.bash'}\n"
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in parts)})\nCOMP_CWORD={len(parts) - 1}\n"
            "_dasdlab_completion dasdlab\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{bindir}:{os.environ['PATH']}"}
    p = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return [line.split(":")[0] for line in p.stdout.splitlines() if line]


def test_bash_completion_completes_commands_options_and_names(tmp_path):
    assert _complete("dasdlab vol", tmp_path) == ["volume"]
    assert "--cckd" in _complete("dasdlab volume convert --", tmp_path)
    from dasdlab.cli.names import profile_names

    assert set(_complete("dasdlab bench outage --profile ", tmp_path)) == set(profile_names())
    assert "dump-cc" in _complete("dasdlab bench outage --methods dump", tmp_path)


def test_readme_documents_completion():
    text = (ROOT / "README.md").read_text()
    assert "dasdlab --show-completion bash" in text and "--install-completion" in text


def test_names_in_help_come_from_the_registries(capsys, monkeypatch):
    """A plug-in service with fast replication appears in the help of --methods and of
    'site add-service' without any change to dasdlab."""
    from dasdlab.emulator.services import registry
    from tests.conformance.broken import ForgetsWithdraw

    class Listed(ForgetsWithdraw):
        name = "listedcopy"

    registry.register(Listed, origin="plug-in:listedcopy")
    try:
        assert run(["bench", "outage", "--help"]) == 0
        out = " ".join(capsys.readouterr().out.replace("│", " ").split())
        assert "Known: 3390-3990, ds8000-ficon16, rva-escon, symmetrix-ficon8." in out
        assert "dump-cc" in out and "copy-timefinder" in out
        assert ("copy-listedcopy" in out) == bool(Listed.capabilities.fast_replication)
        assert run(["site", "add-service", "--help"]) == 0
        assert "listedcopy" in capsys.readouterr().out
    finally:
        registry.unregister("listedcopy")


def test_one_default_skew_for_every_workload():
    import inspect

    from dasdlab.bench.scenario import ScenarioSpec
    from dasdlab.cli import bench, workload
    from dasdlab.cli.common import DEFAULT_SKEW

    defaults = {inspect.signature(f).parameters["skew"].default for f in (bench.outage, workload.run)}
    assert defaults == {DEFAULT_SKEW} == {ScenarioSpec.__dataclass_fields__["skew"].default}
