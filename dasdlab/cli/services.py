"""``dasdlab services``: the registered copy services, built-in and plug-in."""

from __future__ import annotations

from typing import Annotated

import typer

from dasdlab.cli import names
from dasdlab.cli.common import print_json

app = typer.Typer(help="Copy services: what is registered, where it comes from, what it can do.",
                  no_args_is_help=True)


@app.command("list")
def list_(json_: Annotated[bool, typer.Option("--json", help="JSON for programs.")] = False) -> None:
    """List every copy service with its origin, capabilities and subsystem kinds."""
    from dasdlab.emulator.services import registry

    rows = [info.as_dict() for info in registry.services().values()]
    problems = registry.problems()
    if json_:
        print_json({"services": rows, "problems": problems})
        return
    for r in rows:
        c = r["capabilities"]
        flags = [k for k in ("background_copy", "nocopy", "fast_replication", "cross_subsystem") if c[k]]
        if c["virtual_cc"]:
            flags.append(f"virtual_cc={c['virtual_cc']}")
        typer.echo(f"{r['name']:<16} {r['origin']:<24} kinds {','.join(r['subsystem_kinds']):<14} "
                   f"levels {','.join(c['levels']):<15} reader {c['point_in_time_reader']:<8} {' '.join(flags)}")
    for p in problems:
        typer.echo(p, err=True)


@app.command("test")
def test(
    name: Annotated[str, names.argument(kind="service", help="A registered copy service (see 'dasdlab services "
                                                             "list'), or module:Class.")],
    json_: Annotated[bool, typer.Option("--json", help="JSON for programs.")] = False,
    check: Annotated[list[str] | None, typer.Option("--check", help="Run only this check (repeatable).")] = None,
) -> None:
    """Run the conformance kit (dasdlab.testing) on a service; exit 0 only when every
    check passes.  One line per check: PASS or FAIL, its name, the time, what failed."""
    from dasdlab.testing import kit
    from dasdlab.testing.subject import resolve

    subject = resolve(name)
    known = [c.name for c in kit.checks(subject)]
    for c in check or ():
        if c not in known:
            raise typer.BadParameter(f"{name} has no check {c}; its checks are {', '.join(known)}")
    progress = None if json_ else (lambda r: typer.echo(r.line()))
    results = kit.run(subject, only=check or None, progress=progress)
    failed = [r for r in results if not r.passed]
    if json_:
        print_json({"service": subject.name, "origin": subject.origin, "passed": not failed,
                    "checks": [r.to_json() for r in results]})
    else:
        typer.echo(f"DLB823I {subject.spec}: {len(results) - len(failed)} of {len(results)} checks passed.")
    if failed:
        raise typer.Exit(1)
