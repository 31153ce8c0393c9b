"""Fixtures for the interop tests: the Hercules 3.13 DASD utilities as the reference.

The tools are looked up on PATH.  When they are missing the tests are skipped with the
command that installs them, except in CI (env ``CI`` set), where a missing tool is a
failure: interop is what proves the image format, so CI must not pass without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = ("dasdinit", "dasdload", "dasdls", "dasdseq", "dasdcopy", "cckdcdsk", "cckddiag", "cckdswap", "cckdcomp",
         "dasdcat", "dasdpdsu")
INSTALL = "Hercules utilities not installed: sudo apt-get install hercules"


@dataclass(frozen=True)
class Hercules:
    """Runs the Hercules utilities; every call gets an explicit working directory
    because dasdseq writes its output to ./DSNAME."""

    paths: dict[str, str]

    def run(self, tool: str, *args: str | os.PathLike, cwd: Path,
            check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.paths[tool], *map(str, args)], cwd=cwd, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(map(str, args))} exited {proc.returncode}:\n"
                f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}"
            )
        return proc

    def dasdls_info(self, image: Path, cwd: Path, sf: str | None = None) -> str:
        """What ``dasdls -info`` prints on stdout (its banner goes to stderr)."""
        args = ["-info", image] + ([f"sf={sf}"] if sf else [])
        return self.run("dasdls", *args, cwd=cwd).stdout.decode()

    def dasdseq(self, image: Path, dsn: str, cwd: Path, sf: str | None = None) -> bytes:
        """The bytes ``dasdseq`` writes for ``dsn`` (it writes ./DSNAME in ``cwd``)."""
        out = cwd / dsn
        out.unlink(missing_ok=True)
        args = [image] + ([f"sf={sf}"] if sf else []) + [dsn]
        self.run("dasdseq", *args, cwd=cwd)
        data = out.read_bytes()
        out.unlink()
        return data


@pytest.fixture(scope="session")
def herc() -> Hercules:
    found = {t: shutil.which(t) for t in TOOLS}
    missing = [t for t, p in found.items() if p is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{INSTALL} (missing: {', '.join(missing)}); CI must run the interop tests.")
        pytest.skip(INSTALL)
    return Hercules(found)  # type: ignore[arg-type]


@pytest.fixture
def cli(capsys):
    """Run ``dasdlab`` in-process: returns (exit code, stdout, stderr)."""
    from dasdlab.cli.main import run

    def call(*argv: str | os.PathLike) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


class Inputs:
    """Deterministic input files for dasdload control statements and 'dataset write'."""

    @staticmethod
    def text(path: Path, nlines: int, width: int = 60, seed: int = 0) -> Path:
        return text_file(path, nlines, width, seed)

    @staticmethod
    def binary(path: Path, nbytes: int, seed: int = 0) -> Path:
        return binary_file(path, nbytes, seed)


@pytest.fixture
def inputs() -> type[Inputs]:
    return Inputs


def text_file(path: Path, nlines: int, width: int = 60, seed: int = 0) -> Path:
    """ASCII lines for dasdload's TEXT method (different lengths, all <= width)."""
    lines = []
    for i in range(nlines):
        body = f"{seed:03d} LINE {i:06d} " + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 3
        lines.append(body[: 18 + (i * 7 + seed) % (width - 18)])
    path.write_text("\n".join(lines) + "\n")
    return path


def binary_file(path: Path, nbytes: int, seed: int = 0) -> Path:
    """Deterministic binary records for the SEQ method and for 'dataset write'."""
    import numpy as np

    rng = np.random.default_rng(seed)
    path.write_bytes(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())
    return path


EMULATOR_CONFIG = """\
CPUSERIAL 000001
CPUMODEL  3090
MAINSIZE  16
NUMCPU    1
ARCHMODE  ESA/390
PANRATE   SLOW
"""


@dataclass(frozen=True)
class Emulator:
    """The Hercules emulator run headless: ``hercules -d`` (daemon mode, no panel) with a
    configuration naming the devices and a run-commands file (``HERCULES_RC``) holding the
    console commands, ending in ``quit``.  Daemon mode reads no commands from stdin, so
    the commands go in that file; console commands such as ``sf-`` run in a thread of
    their own, so each is followed by a ``pause`` before the next."""

    path: str

    def run(self, cwd: Path, devices: list[str], commands: list[str], pause: int = 1,
            timeout: int = 60) -> str:
        conf, rc = cwd / "hercules.cnf", cwd / "hercules.rc"
        conf.write_text(EMULATOR_CONFIG + "".join(d + "\n" for d in devices))
        rc.write_text("".join(f"{c}\npause {pause}\n" for c in commands) + "quit\n")
        try:
            proc = subprocess.run([self.path, "-f", conf.name, "-d"], cwd=cwd, capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=timeout,
                                  env={**os.environ, "HERCULES_RC": rc.name})
        finally:
            conf.unlink(missing_ok=True)
            rc.unlink(missing_ok=True)
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        assert proc.returncode == 0 and "HHCIN099I" in out, out[-3000:]
        return out


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    path = shutil.which("hercules")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{INSTALL} (missing: hercules); CI must run the emulator tests.")
        pytest.skip(INSTALL)
    return Emulator(path)
