"""Entry point of the ``dasdlab`` command: the typer app and error handling.

Errors with a message id (:class:`dasdlab.errors.DasdlabError`) are printed as
``DLBnnnE text`` on stderr and end the command with return code 8; usage errors end it
with 2 (typer's convention) and carry the message id DLB002E.  No traceback reaches a
user: a file the system cannot open is DLB003E, a binary file where text belongs
DLB004E, and anything else unexpected DLB008S (a bug; ``DASDLAB_TRACEBACK=1`` shows
where).
"""

from __future__ import annotations

import os
import sys

import typer

from dasdlab.cli import bench as bench_cli
from dasdlab.cli import cc as cc_cli
from dasdlab.cli import clone as clone_cli
from dasdlab.cli import dataset as dataset_cli
from dasdlab.cli import db as db_cli
from dasdlab.cli import dss as dss_cli
from dasdlab.cli import fixtures as fixtures_cli
from dasdlab.cli import flashcopy as flashcopy_cli
from dasdlab.cli import hpic as hpic_cli
from dasdlab.cli import ims as ims_cli
from dasdlab.cli import pds as pds_cli
from dasdlab.cli import recon as recon_cli
from dasdlab.cli import services as services_cli
from dasdlab.cli import site as site_cli
from dasdlab.cli import snap as snap_cli
from dasdlab.cli import volume as volume_cli
from dasdlab.cli import workload as workload_cli

def _no_flag_metavars() -> None:
    """typer 0.2x prints a type after every option, ``<bool>`` after flags too, which
    reads as if a flag took a value: flags show none."""
    import typer.core as core

    show = core.TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else show(self, ctx)

    core.TyperOption.display_type_rich = display_type_rich


_no_flag_metavars()


def _version(value: bool) -> None:
    if value:
        from dasdlab import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


app = typer.Typer(
    name="dasdlab",
    help="IBM 3390 DASD, storage copy services and IMS image copy, emulated.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the dasdlab version and exit.")) -> None:
    """IBM 3390 DASD, storage copy services and IMS image copy, emulated.

    Exit status: 0 all ran and verified; 4 something failed or does not verify (named on
    the last line); 8 error; 2 usage error.  Example: dasdlab site init mysite
    """


app.add_typer(volume_cli.app, name="volume")
app.add_typer(dataset_cli.app, name="dataset")
app.add_typer(pds_cli.app, name="pds")
app.add_typer(site_cli.app, name="site")
app.add_typer(flashcopy_cli.app, name="flashcopy")
app.add_typer(snap_cli.app, name="snap")
app.add_typer(clone_cli.app, name="clone")
app.add_typer(cc_cli.app, name="cc")
app.add_typer(services_cli.app, name="services")
app.command("dss")(dss_cli.dss)
app.add_typer(db_cli.app, name="db")
app.add_typer(workload_cli.app, name="workload")
app.add_typer(recon_cli.app, name="recon")
app.add_typer(ims_cli.app, name="ims")
app.add_typer(bench_cli.app, name="bench")
app.add_typer(fixtures_cli.app, name="fixtures")
app.command("hpic")(hpic_cli.hpic)
app.command("recover")(hpic_cli.recover)


from dasdlab.cli.demo import demo as _demo  # noqa: E402
from dasdlab.cli.lab import lab as _lab  # noqa: E402
from dasdlab.cli.warmup import warmup as _warmup  # noqa: E402

app.command("demo")(_demo)
app.command("warmup")(_warmup)
app.command("lab")(_lab)


@app.command()
def version() -> None:
    """Print the dasdlab version."""
    from dasdlab import __version__

    typer.echo(__version__)


from dasdlab.cli.examples import attach as _attach_examples  # noqa: E402

_attach_examples(app)  # last: every command is registered by now


def _usage(e) -> None:
    """A usage error as every other error: its message id first, then the usage line
    and where to find help."""
    typer.echo(f"DLB002E {e.format_message()}", err=True)
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        typer.echo(ctx.get_usage(), err=True)
        typer.echo(f"Try '{ctx.command_path} --help' for help.", err=True)


def _interrupted() -> int:
    """Ctrl-C: by the time it is reported, the run's own clean-up has removed what it
    had half made (partial files, temporary sites); say so, and return 130."""
    typer.echo("DLB001E interrupted (Ctrl-C); the run stopped and removed what it had half made "
               "(partial files, temporary sites). Run the command again to redo it.", err=True)
    return 130


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (also used by the tests in-process)."""
    from dasdlab.errors import DasdlabError

    # typer >= 0.23 ships its own copy of click, whose exceptions are not the click
    # package's: take the classes from typer itself.
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    site_mod = sys.modules.get("dasdlab.emulator.site")
    before = site_mod.Site.open_sites() if site_mod else []
    from dasdlab.cli import names

    # profile, method and service names (plug-ins included) only when help is shown
    names.fill_help(names.wants_help(sys.argv[1:] if argv is None else list(argv)))
    try:
        # With standalone_mode=False, typer.Exit(n) comes back as the return value.
        rv = app(args=argv, standalone_mode=False, prog_name="dasdlab")
        code = rv if isinstance(rv, int) else 0
        if code == 130:  # typer turns Ctrl-C into the exit status 130, silently
            code = _interrupted()
    except DasdlabError as e:
        typer.echo(str(e), err=True)
        code = e.exit_code
    except typer.Exit as e:
        code = e.exit_code
    except SystemExit as e:  # typer's completion options end with sys.exit
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 8
    except usage_error as e:
        _usage(e)
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = _interrupted()
    except BrokenPipeError:
        code = 0
    except OSError as e:  # a file that is missing, a folder where a file should be, a full disk
        where = f" {e.filename}" if e.filename else ""
        typer.echo(f"DLB003E{where}: {e.strerror or e}.", err=True)
        code = 8
    except UnicodeDecodeError as e:
        typer.echo(f"DLB004E an input file is not text ({e.reason} at byte {e.start}); give a text file "
                   "(ASCII or UTF-8).", err=True)
        code = 8
    except Exception as e:  # a bug: say so in one line, the traceback only on request
        if os.environ.get("DASDLAB_TRACEBACK"):
            raise
        typer.echo(f"DLB008S internal error: {type(e).__name__}: {e}. This is a bug in dasdlab; please report "
                   "it with the command line (DASDLAB_TRACEBACK=1 shows the traceback).", err=True)
        code = 12
    finally:
        from dasdlab.cli.common import close_opened

        try:
            close_opened()  # a compressed image stores its free space and header on close
        except DasdlabError as e:
            typer.echo(str(e), err=True)
            code = code or e.exit_code
        if "dasdlab.emulator.site" in sys.modules:  # the sites this command opened, not the caller's
            sys.modules["dasdlab.emulator.site"].Site.close_all(keep=before)
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    run()
