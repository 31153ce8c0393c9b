"""kill -9 of ``volume convert`` and ``volume copy`` at random instants: the output
appears under its final name only complete (byte for byte what an uninterrupted run
writes), a killed run leaves at most a hidden ``.NAME.PID.partial`` file, and the next
run removes it and succeeds."""

from __future__ import annotations

import filecmp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator.newfile import clean_leftovers, new_file, partial_name

pytestmark = pytest.mark.crash

ROOT = Path(__file__).resolve().parents[1]
KILLS = 8


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A volume with 600 written tracks of incompressible data (a few tenths of a second
    to convert)."""
    from dasdlab.emulator import trackfmt
    from dasdlab.emulator.volume import Volume

    p = tmp_path_factory.mktemp("crash") / "src.ckd"
    vol = Volume.create(p, "3390-1", "SRC001", cylinders=50)
    rng = np.random.default_rng(7)
    for t in range(15, 615):
        cyl, head = vol.cchh(t)
        vol.write_track(t, trackfmt.fixed_track(cyl, head, 0, 4096, 12, rng.integers(0, 256, 12 * 4096, np.uint8),
                                                vol.slot, eof=True))
    vol.close()
    return p


def _cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "dasdlab", *map(str, argv)]


@pytest.mark.parametrize("verb", ["convert-cckd", "convert-plain", "copy"])
def test_killed_output_never_appears_partial(source, tmp_path, verb):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = {"convert-cckd": ("volume", "convert", source, "{dst}", "--cckd"),
            "convert-plain": ("volume", "convert", source, "{dst}"),
            "copy": ("volume", "copy", source, "{dst}")}[verb]

    def argv(dst: Path) -> list[str]:
        return _cmd(*[str(dst) if a == "{dst}" else a for a in args])

    ref = tmp_path / "ref.img"
    t0 = time.monotonic()
    subprocess.run(argv(ref), check=True, env=env, capture_output=True)
    took = time.monotonic() - t0
    rng = random.Random(42)
    landed = 0
    for k in range(KILLS):
        dst = tmp_path / f"out{k}.img"
        p = subprocess.Popen(argv(dst), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if k % 2:
            # half the kills at a random instant of the whole run (start-up included) ...
            time.sleep(rng.uniform(0.3, 1.0) * took)
        else:
            # ... half while the output is being written, whatever the machine's load
            deadline = time.monotonic() + 4 * took + 5
            while (not list(tmp_path.glob(f".{dst.name}.*.partial")) and p.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.01))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if dst.exists():  # it had finished: then it is the whole image
            assert filecmp.cmp(dst, ref, shallow=False), f"kill {k}: {dst.name} is not the complete image"
            continue
        leftovers = list(tmp_path.glob(f".{dst.name}.*.partial"))
        landed += bool(leftovers)
        # the next run of the same command cleans up and writes the image
        subprocess.run(argv(dst), check=True, env=env, capture_output=True)
        assert filecmp.cmp(dst, ref, shallow=False)
        assert not list(tmp_path.glob(f".{dst.name}.*.partial")), "the next run left the killed run's file"
    assert landed >= 1, "no kill landed while the output was being written"


def test_new_file_refuses_an_existing_name_and_cleans_dead_leftovers(tmp_path):
    dst = tmp_path / "x.img"
    dead = partial_name(dst, pid=2**22 + 12345)  # above the kernel's pid_max: never a live process
    dead.write_bytes(b"half")
    mine = partial_name(dst, pid=os.getpid())
    with new_file(dst, FileExistsError("x")) as tmp:
        assert tmp == mine and not dead.exists()
        tmp.write_bytes(b"whole")
        assert not dst.exists()  # not under its name until complete
    assert dst.read_bytes() == b"whole" and not mine.exists()
    with pytest.raises(FileExistsError):
        with new_file(dst, FileExistsError("x")) as tmp:
            tmp.write_bytes(b"other")
    assert dst.read_bytes() == b"whole"
    with pytest.raises(RuntimeError):
        with new_file(tmp_path / "y.img", FileExistsError("y")) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert not (tmp_path / "y.img").exists() and not list(tmp_path.glob(".y.img.*"))
    assert clean_leftovers(dst) == []


def test_replaced_file_swaps_whole_files_and_keeps_the_old_one_on_error(tmp_path):
    from dasdlab.emulator.newfile import clean_folder, replaced_file

    dst = tmp_path / "methods.parquet"
    dst.write_bytes(b"old")
    dead = partial_name(dst, pid=2**22 + 777)
    dead.write_bytes(b"torn")
    with replaced_file(dst) as tmp:
        assert not dead.exists()  # a killed writer's file is gone before this one writes
        tmp.write_bytes(b"new, whole")
        assert dst.read_bytes() == b"old"  # readers see the old file until the rename
    assert dst.read_bytes() == b"new, whole" and not list(tmp_path.glob(".*.partial"))
    with pytest.raises(RuntimeError):
        with replaced_file(dst) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert dst.read_bytes() == b"new, whole" and not list(tmp_path.glob(".*.partial"))
    other = partial_name(tmp_path / "plot.png", pid=2**22 + 778)
    other.write_bytes(b"x")
    mine = partial_name(tmp_path / "plot.png")
    mine.write_bytes(b"y")
    assert clean_folder(tmp_path) == [other] and mine.exists()
