"""The verdict of a run: its exit status and its last line.

Every command that runs copy methods, copies or recoveries (``bench outage``,
``bench sweep``, ``demo``, ``warmup``, ``hpic``, ``recover``) ends with one status a
CI job can gate on.  The codes, the same for every command:

====  ====================================================================
0     everything ran, every copy and every recovery matches the truth
2     usage error: the command line itself is wrong (DLB002E)
4     it ran, but some method, copy or recovery failed or does not verify
      (the last line names them; ``--allow-failures`` makes this 0 with a
      warning, for runs expected to fail)
8     error: nothing (more) was done; the message id says why
130   interrupted (Ctrl-C)
====  ====================================================================
"""

from __future__ import annotations

import math

import typer

#: the exit status of a run in which something failed or does not verify
EXIT_FAILED = 4

EXIT_CODES_HELP = ("Exit status: 0 all ran and verified; 4 some method, copy or recovery failed or does not "
                   "verify (named on the last line; 0 with --allow-failures); 8 error; 2 usage error.")

AllowFailures = typer.Option("--allow-failures", help="Exit 0 even when a method fails or does not verify "
                                                      "(the last line still names it).")


def method_problems(methods) -> list[str]:
    """'NAME: what' for every method of an outage comparison that failed or whose copy
    or recovery does not match the truth (a recovery counts only where one ran)."""
    out = []
    for m in methods:
        if m.status != "ok":
            out.append(f"{m.name}: failed ({m.message})" if m.message else f"{m.name}: failed")
            continue
        if not m.copy_verified:
            out.append(f"{m.name}: copy not verified ({m.copy_differing_blocks} blocks differ from the truth)")
        if m.recovery_method and math.isfinite(m.recovery_modeled_s) and not m.recovery_verified:
            out.append(f"{m.name}: recovery not verified")
    return out


def row_problems(rows: list[dict]) -> list[str]:
    """The same for the result rows of a sweep (flat ``copy_verified`` columns, or
    ``METHOD.copy_verified`` for scenarios of several methods)."""
    out = []
    for r in rows:
        sid = r.get("scenario", "?")
        if r.get("status") != "ok":
            out.append(f"{sid}: failed ({r.get('error') or 'no message'})")
            continue
        for key, v in r.items():
            if key.endswith("copy_verified") and v is False:
                out.append(f"{sid}: {key[:-len('copy_verified')]}copy not verified".replace(".copy", " copy"))
            if key.endswith("recovery_verified") and v is False:
                prefix = key[:-len("recovery_verified")]
                if r.get(prefix + "recovery_method"):
                    out.append(f"{sid}: {prefix}recovery not verified".replace(".recovery", " recovery"))
    return out


def finish(problems: list[str], what: str, allow_failures: bool = False, total: int | None = None) -> None:
    """End the command: nothing to say when ``problems`` is empty; otherwise the last
    line names them (DLB775E, exit 4; DLB776W and exit 0 with ``--allow-failures``)."""
    if not problems:
        return
    n = len(dict.fromkeys(p.split(":")[0] for p in problems))
    count = f"{n} of {total} {what}" if total is not None else f"{n} {what}"
    if allow_failures:
        typer.echo(f"DLB776W {count} failed or not verified (allowed): {'; '.join(problems)}", err=True)
        return
    typer.echo(f"DLB775E {count} failed or not verified: {'; '.join(problems)}", err=True)
    raise typer.Exit(EXIT_FAILED)
