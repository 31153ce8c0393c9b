"""The kill -9 campaign (``make crash``): kill every long operation of the command line
at random instants, check what a user sees against the truth, run it again.

    python tools/crash_campaign.py --kills 1000 [--jobs 2] [--seed 1] [--only hpic,recover]

Prints a line per kill on stderr and the figures (runs, kills, kills that landed
mid-operation, refused or reported views, silent corruptions, failed reruns, leftovers)
as JSON at the end; exits 1 when there is any silent corruption or failed rerun.
What the campaign checks: :mod:`dasdlab.testing.killcampaign`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dasdlab.testing.killcampaign import OPERATIONS, Tally, campaign  # noqa: E402


def _one(args: tuple[int, Path, int, list[str] | None]) -> dict:
    kills, work, seed, only = args
    return campaign(kills, work, seed=seed, operations=only,
                    log=lambda s: print(s, file=sys.stderr, flush=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=1, choices=(1, 2))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=None, help=f"comma-separated operations of: {', '.join(OPERATIONS)}")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    a = ap.parse_args(argv)
    only = a.only.split(",") if a.only else None
    for n in only or []:
        if n not in OPERATIONS:
            ap.error(f"unknown operation {n!r}; known: {', '.join(OPERATIONS)}")
    with tempfile.TemporaryDirectory(prefix="dasdlab-crash-", dir=a.work) as tmp:
        work = Path(tmp)
        parts = [(a.kills // a.jobs + (i < a.kills % a.jobs), work / f"job{i}", a.seed + 1000 * i, only)
                 for i in range(a.jobs)]
        if a.jobs == 1:
            results = [_one(parts[0])]
        else:
            with ProcessPoolExecutor(a.jobs) as ex:
                results = list(ex.map(_one, parts))
    figures: dict = {"jobs": a.jobs, "seed": a.seed, "operations": {}}
    total = Tally()
    for res in results:
        for name, t in res["operations"].items():
            agg = figures["operations"].setdefault(name, {"runs": 0, "kills": 0, "landed_mid_operation": 0,
                                                          "refused_or_reported": 0, "leftovers_cleaned_by_next_run": 0,
                                                          "silent_corruptions": 0,
                                                          "rerun_failures": 0, "leftovers": 0})
            for k in agg:
                agg[k] += t[k]
        total.corruptions += res["total"]["corruption_details"]
        total.rerun_failures += res["total"]["rerun_failure_details"]
        total.leftovers += res["total"]["leftover_details"]
    figures["total"] = {k: sum(r["total"][k] for r in results) for k in
                        ("runs", "kills", "landed_mid_operation", "refused_or_reported", "leftovers_cleaned_by_next_run",
                         "silent_corruptions",
                         "rerun_failures", "leftovers")}
    figures["details"] = {"corruptions": total.corruptions, "rerun_failures": total.rerun_failures,
                          "leftovers": total.leftovers}
    figures["wall_s"] = max(r["wall_s"] for r in results)
    text = json.dumps(figures, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    t = figures["total"]
    print(f"DLB741I crash campaign: {t['runs']} runs, {t['kills']} kills, {t['landed_mid_operation']} landed "
          f"mid-operation, {t['refused_or_reported']} refused or reported, "
          f"{t['leftovers_cleaned_by_next_run']} cleaned or reported by the next run, {t['silent_corruptions']} silent "
          f"corruptions, {t['rerun_failures']} failed reruns, {t['leftovers']} leftovers", file=sys.stderr)
    return 1 if t["silent_corruptions"] or t["rerun_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
