"""``--to -`` is standard output wherever ``--to`` names an output file (``dataset read``,
``pds read``, ``bench plot-sweep``), as ``--from -`` is standard input: the bytes are
those ``--to FILE`` writes, and no file named ``-`` appears."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _dasdlab(*argv, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dasdlab", *map(str, argv)], cwd=cwd, capture_output=True,
                          input=stdin, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_dataset_and_member_read_to_dash_is_stdout(tmp_path):
    records = bytes(range(80)) * 50
    for argv in (("volume", "init", "v.ckd", "--model", "3390-1", "--volser", "OUT001", "--cylinders", "3"),
                 ("dataset", "alloc", "v.ckd", "MY.CARDS", "--recfm", "FB", "--lrecl", "80", "--blksize", "3120",
                  "--tracks", "5"),
                 ("dataset", "alloc", "v.ckd", "MY.LIB", "--dsorg", "PO", "--dir-blocks", "2", "--lrecl", "80",
                  "--blksize", "3120", "--tracks", "5")):
        assert _dasdlab(*argv, cwd=tmp_path).returncode == 0
    assert _dasdlab("dataset", "write", "v.ckd", "MY.CARDS", "--from", "-", cwd=tmp_path, stdin=records).returncode == 0
    assert _dasdlab("pds", "write", "v.ckd", "MY.LIB", "M1", "--from", "-", cwd=tmp_path,
                    stdin=records[:800]).returncode == 0
    for read, want in ((("dataset", "read", "v.ckd", "MY.CARDS"), records),
                       (("pds", "read", "v.ckd", "MY.LIB", "M1"), records[:800])):
        to_file = _dasdlab(*read, "--to", "f.bin", cwd=tmp_path)
        assert to_file.returncode == 0 and to_file.stdout == b""
        dash = _dasdlab(*read, "--to", "-", cwd=tmp_path)
        assert dash.returncode == 0, dash.stderr
        assert dash.stdout == (tmp_path / "f.bin").read_bytes() == want
        assert not (tmp_path / "-").exists()
