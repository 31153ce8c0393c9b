"""``dasdlab demo``: the main job, run by ``make demo`` -- the outage comparison of every
image copy method on one small online database (:mod:`dasdlab.bench.scenario`).

The demo's choices (printed under the table):

* **32 MiB emulated, modeled as 16 GiB** (scale 512).  The emulated database is small
  so the whole job -- eight sites, eight copies under load, eight recoveries, the
  plots -- fits in two minutes on two cores from a cold start; 16 GiB (about six
  3390-3 volumes) is an ordinary production database, and large enough that reading
  it (the standard process, about 75 modeled seconds on the default FICON profile)
  dwarfs the fixed costs of Advanced Image Copy Services (seconds): the documented
  ordering of ``docs/domain.md`` §4.2 shows plainly.
* **2,000 updates per modeled second** on a Zipf-skewed database: a busy online
  system.  The emulated database receives 2,000 / 512 updates per second, so each of
  its tracks is updated as often as a track of the modeled one.
* **ds8000-ficon16**, the default profile, prices every method (the RVA and Symmetrix
  methods run on their own boxes with the same channel generation, marked what-if in
  the profile table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dasdlab.cli.verdict import AllowFailures, finish, method_problems

DB_SIZE = "32MiB"
MODELED_SIZE = "16GiB"
RATE = 2000.0


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's results and pictures.")] = Path("demo-out"),
    seed: Annotated[int, typer.Option(help="Seed of the database content and the workload.")] = 1,
    teach: Annotated[bool, typer.Option(help="Draw the teaching view of every method's track states.")] = True,
    allow_failures: Annotated[bool, AllowFailures] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the figures as JSON instead of the table.")] = False,
) -> None:
    """Compare the outage of every image copy method on one online database.

    Example: dasdlab demo --out demo-out
    """
    import time

    from dasdlab.bench.plots import write_plots
    from dasdlab.bench.scenario import ScenarioSpec, run_scenario
    from dasdlab.cli.bench import default_caption, print_result
    from dasdlab.cli.progress import FRACTION, bar

    w0 = time.perf_counter()
    if out.is_dir() and sorted(p.name for p in out.iterdir()) == ["demo01.ckd"]:
        (out / "demo01.ckd").unlink()  # what the interim demo job left: ours to replace
    spec = ScenarioSpec(db_size=DB_SIZE, modeled_size=MODELED_SIZE, rate=RATE, skew="zipf", seed=seed)
    if not json_:
        typer.echo(f"DLB900I demo: the outage comparison of {len(spec.methods)} image copy methods on a "
                   f"{DB_SIZE} database modeled as {MODELED_SIZE}, under {RATE:,.0f} updates/s.")
    with bar("outage comparison", FRACTION) as cb:
        result = run_scenario(spec, out, progress=cb, on_phase=cb.phase)
    caption = (default_caption(result) + " Why these figures: the emulated database is small so the job "
               "runs in under two minutes; 16 GiB is an ordinary production database, big enough that "
               "reading it (standard process) dwarfs the seconds Advanced Image Copy Services hold it; "
               "2,000 updates/s is a busy online system.")
    files = write_plots(result, out, default_caption(result))
    if teach:
        from dasdlab.bench.trace_plot import teach as draw

        for m in result.methods:
            files += draw(out, m.name)
    if json_:
        from dasdlab.cli.common import print_json

        print_json(result.as_json())
        finish(method_problems(result.methods), "methods", allow_failures, len(result.methods))
        return
    print_result(result, caption)
    typer.echo(f"DLB901I results in {out}/: methods.parquet and timeline.parquet (for programs), "
               f"{', '.join(f.name for f in files[:2])} (outage per method, timeline per method)"
               + (f", teach-METHOD.png (track states, {len(files) - 2} pictures)" if teach else "")
               + f"; {time.perf_counter() - w0:.0f} s wall.")
    finish(method_problems(result.methods), "methods", allow_failures, len(result.methods))
