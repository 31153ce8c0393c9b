"""Top-level commands: version, warmup, and the fast --help."""

import subprocess
import sys

from dasdlab.cli.main import run


def test_version(capsys):
    from dasdlab import __version__

    assert run(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


def test_warmup_compiles_and_reports(capsys):
    code = run(["warmup"])
    out, err = capsys.readouterr()
    # every method of the tiny run must complete: a warm-up that skipped one has not
    # compiled its kernels
    assert "DLB903W" not in err, err
    assert code == 0, err
    assert "DLB902I" in out


def test_help_does_not_import_numba():
    code = "import sys; from dasdlab.cli.main import app; import typer.main as m; " \
           "m.get_command(app); print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
