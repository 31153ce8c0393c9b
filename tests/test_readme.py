"""The README is a test: every ```sh block of README.md runs, in order, in one fresh
folder, and its output is checked where the README shows output.

How blocks are read (the conventions are the README's own, so that a new section needs
nothing here):

* every ```sh block runs, indented ones (inside list items) too, unless the line
  before it is ``<!-- not-run -->`` (an illustration: a make target, a cluster);
* a command continues over lines ending in ``\\``; ``# ...`` is a comment, except a
  comment ``# fails (DLBnnnE)``, which says the command must fail with that id;
  ``[...]`` parts are optional and left out (``[--json]``, ``[--ddsw]``, ``A|B``
  choices are not written as commands);
* ``dasdlab ...`` runs in-process (the same entry point as the installed command),
  or in ``bash`` as ``python -m dasdlab`` when it redirects or pipes its output;
  anything else runs in ``bash`` in the folder;
* a ```text block right after a ```sh block is output: each of its non-blank lines must
  appear in what the block printed (spaces compared loosely).

The folder starts empty: the README's own ``dasdlab fixtures copy .`` brings the
``fixtures/`` its commands name, as it does for a user of an installed wheel.
"""

from __future__ import annotations

import os
import re
import shlex
import io
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dasdlab.cli.main import run

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = "<!-- not-run -->"


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    commands: list[tuple[int, str]]  # (line, command text)
    expect: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    out: list[Block] = []
    i = 0
    skip = False
    while i < len(lines):
        s = lines[i].strip()
        if s == NOT_RUN:
            skip = True
            i += 1
            continue
        m = re.fullmatch(r"```(\w*)", s)
        if not m:
            if s:
                skip = False
            i += 1
            continue
        lang, start = m.group(1), i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        i += 1
        if lang == "sh" and not skip:
            out.append(Block(start + 1, _commands(body)))
        elif lang == "text" and out and out[-1].line > 0 and _follows(lines, out[-1], start):
            out[-1].expect = [b.strip() for _, b in body if b.strip()]
        skip = False
    return out


def _follows(lines: list[str], b: Block, start: int) -> bool:
    """The text block comes right after the sh block (blank lines between allowed)."""
    last = b.commands[-1][0] if b.commands else b.line
    return all(not ln.strip() or ln.strip() == "```" for ln in lines[last:start])


def _commands(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    cmds, cur, first = [], "", 0
    for n, raw in body:
        line = raw.rstrip()
        if not cur:
            first = n
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            cmds.append((first, cur.strip()))
        cur = ""
    return cmds


def split_comment(cmd: str) -> tuple[str, str]:
    """(command, comment): the comment starts at a `#` outside quotes."""
    quote = None
    for i, ch in enumerate(cmd):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or cmd[i - 1] == " "):
            return cmd[:i].strip(), cmd[i + 1:].strip()
    return cmd.strip(), ""


def without_optional(cmd: str) -> str:
    return re.sub(r"\s*\[[^\]'\"]*\]", "", cmd)


SHELL_OPERATORS = {">", ">>", "<", "|", "&&", "||", ";"}


def run_line(cmd: str, cwd: Path, capsys) -> tuple[int, str]:
    if cmd.startswith("dasdlab ") and SHELL_OPERATORS & set(shlex.split(cmd)):
        # a redirection or a pipe: the shell runs it, with this checkout's dasdlab
        cmd = f"{shlex.quote(sys.executable)} -m dasdlab {cmd[len('dasdlab '):]}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        p = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL, env=env)
        return p.returncode, p.stdout + p.stderr
    if cmd.startswith("dasdlab "):
        capsys.readouterr()
        stdin = sys.stdin
        sys.stdin = io.StringIO("")  # as from a terminal that has typed nothing: an interactive command ends
        try:
            code = run(shlex.split(cmd)[1:])
        finally:
            sys.stdin = stdin
        out, err = capsys.readouterr()
        return code, out + err
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def loose(s: str) -> str:
    return " ".join(s.split())


def test_the_readme_blocks_parse():
    bs = blocks((ROOT / "README.md").read_text())
    assert len(bs) >= 8 and sum(len(b.commands) for b in bs) >= 40
    assert any(b.expect for b in bs), "no block of the README shows output"


def test_every_readme_command_works_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ran = 0
    for b in blocks((ROOT / "README.md").read_text()):
        printed = ""
        for n, text in b.commands:
            cmd, comment = split_comment(text)
            if not cmd:
                continue
            cmd = without_optional(cmd)
            code, out = run_line(cmd, tmp_path, capsys)
            printed += out
            ran += 1
            m = re.match(r"fails \((DLB\d{3}[EWS])\)", comment)
            if m:
                assert code != 0 and m.group(1) in out, f"README line {n}: {cmd!r} should fail with {m.group(1)}:\n{out}"
            else:
                assert code == 0, f"README line {n}: {cmd!r} exited {code}:\n{out[-2000:]}"
        for want in b.expect:
            assert loose(want) in loose(printed), f"README block at line {b.line}: {want!r} not in its output"
    assert ran >= 40
