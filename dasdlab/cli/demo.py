"""``dasdlab demo``: the main job, run by ``make demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's files.")] = Path("demo-out"),
) -> None:
    """Run the demo job.

    For now this is the small end-to-end job of the foundation: it creates a 3390-3
    volume, allocates and writes data sets of several record formats, lists them like
    'dasdls -info' and checks the volume.  (The outage comparison of the copy methods
    replaces it once the image copy engine exists.)
    """
    import shutil

    import numpy as np

    from dasdlab.emulator.check import check_volume
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.emulator.listing import format_dasdls, list_volume
    from dasdlab.emulator.volume import Volume

    typer.echo("DLB900I demo: the small end-to-end job (volume, data sets, listing, check).")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    path = out / "demo01.ckd"
    vol = Volume.create(path, "3390-3", "DEMO01")
    rng = np.random.default_rng(1)
    specs = [("DEMO.CARDS", 80, 3120, 200_000), ("DEMO.REPORT", 133, 27930, 50_000), ("DEMO.OSAMLIKE", 4096, 4096, 2_000)]
    for dsn, lrecl, blk, nrec in specs:
        vol.vtoc.allocate(dsn, lrecl=lrecl, blksize=blk, recfm="FB" if blk > lrecl else "F", unit="CYL",
                          primary=5, secondary=5)
        data = rng.integers(0x40, 0xF9, nrec * lrecl, dtype=np.uint8)
        res = Dataset(vol, dsn).write(data)
        assert Dataset(vol, dsn).read() == data.tobytes()
        typer.echo(f"  wrote {res.records:>7} records of {lrecl:>4} bytes to {dsn} ({res.tracks_used} tracks)")
    typer.echo(f"\n{path}: VOLSER=DEMO01")
    for e in list_volume(vol):
        typer.echo(format_dasdls(e))
    report = check_volume(vol)
    typer.echo(f"\nvolume check: {'sound' if report.sound else report.problems} "
               f"({report.tracks_checked} written tracks of {vol.ntracks})")
    typer.echo(f"DLB901I demo files are in {out}/ (Hercules can read {path.name}: dasdls -info {path})")
