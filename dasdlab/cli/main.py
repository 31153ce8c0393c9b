"""Entry point of the ``dasdlab`` command: the typer app and error handling.

Errors with a message id (:class:`dasdlab.errors.DasdlabError`) are printed as
``DLBnnnE text`` on stderr and end the command with return code 8; usage errors end it
with 2 (typer's convention).
"""

from __future__ import annotations

import sys

import typer

from dasdlab.cli import bench as bench_cli
from dasdlab.cli import cc as cc_cli
from dasdlab.cli import clone as clone_cli
from dasdlab.cli import dataset as dataset_cli
from dasdlab.cli import db as db_cli
from dasdlab.cli import dss as dss_cli
from dasdlab.cli import flashcopy as flashcopy_cli
from dasdlab.cli import hpic as hpic_cli
from dasdlab.cli import ims as ims_cli
from dasdlab.cli import pds as pds_cli
from dasdlab.cli import recon as recon_cli
from dasdlab.cli import site as site_cli
from dasdlab.cli import snap as snap_cli
from dasdlab.cli import volume as volume_cli
from dasdlab.cli import workload as workload_cli

app = typer.Typer(
    name="dasdlab",
    help="IBM 3390 DASD, storage copy services and IMS image copy, emulated.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(volume_cli.app, name="volume")
app.add_typer(dataset_cli.app, name="dataset")
app.add_typer(pds_cli.app, name="pds")
app.add_typer(site_cli.app, name="site")
app.add_typer(flashcopy_cli.app, name="flashcopy")
app.add_typer(snap_cli.app, name="snap")
app.add_typer(clone_cli.app, name="clone")
app.add_typer(cc_cli.app, name="cc")
app.command("dss")(dss_cli.dss)
app.add_typer(db_cli.app, name="db")
app.add_typer(workload_cli.app, name="workload")
app.add_typer(recon_cli.app, name="recon")
app.add_typer(ims_cli.app, name="ims")
app.add_typer(bench_cli.app, name="bench")
app.command("hpic")(hpic_cli.hpic)
app.command("recover")(hpic_cli.recover)


from dasdlab.cli.demo import demo as _demo  # noqa: E402
from dasdlab.cli.warmup import warmup as _warmup  # noqa: E402

app.command("demo")(_demo)
app.command("warmup")(_warmup)


@app.command()
def version() -> None:
    """Print the dasdlab version."""
    from dasdlab import __version__

    typer.echo(__version__)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (also used by the tests in-process)."""
    from dasdlab.errors import DasdlabError

    # typer >= 0.23 ships its own copy of click, whose exceptions are not the click
    # package's: take the classes from typer itself.
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        # With standalone_mode=False, typer.Exit(n) comes back as the return value.
        rv = app(args=argv, standalone_mode=False, prog_name="dasdlab")
        code = rv if isinstance(rv, int) else 0
    except DasdlabError as e:
        typer.echo(str(e), err=True)
        code = e.exit_code
    except typer.Exit as e:
        code = e.exit_code
    except usage_error as e:
        e.show()
        code = e.exit_code
    except typer.Abort:
        typer.echo("DLB001E interrupted.", err=True)
        code = 130
    except BrokenPipeError:
        code = 0
    from dasdlab.cli.common import close_opened

    try:
        close_opened()  # a compressed image stores its free space and header on close
    except DasdlabError as e:
        typer.echo(str(e), err=True)
        code = code or e.exit_code
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    run()
