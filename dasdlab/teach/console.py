"""The lab console: :class:`dasdlab.teach.lab.Lab` steps at a prompt (Python's ``cmd``
with readline: tab completion of commands, volumes, ids and data sets; history), or
from a script of lab commands run unattended.

One concept: *showing lab steps*.  After each step it prints the step's line (what
happened and why), the counters that changed and the track maps of the volumes
involved, and with ``save_dir`` saves each step's maps as a picture.  A script's
``#`` lines are narration and are printed as they come (a lesson reads like a talk).
"""

from __future__ import annotations

import cmd
import os
import sys
from pathlib import Path

from rich.console import Console

from dasdlab.teach.lab import ALIASES, COMMANDS, Lab, Step
from dasdlab.teach.trackmap import print_maps

KEYWORDS = ("copy", "nocopy", "incremental", "precopy", "start", "read", "track", "sdm", "end", "create",
            "activate", "terminate", "clean", "fuzzy", "log", "purge", "all", "none", "begin", "commit",
            "backout")
def history_file() -> Path | None:
    """Where the prompt's history is kept between labs (DASDLAB_LAB_HISTORY, else
    ~/.dasdlab_lab_history); None when there is no home folder."""
    if os.environ.get("DASDLAB_LAB_HISTORY"):
        return Path(os.environ["DASDLAB_LAB_HISTORY"])
    try:
        return Path.home() / ".dasdlab_lab_history"
    except RuntimeError:
        return None


class StepPrinter:
    """Prints steps to a rich console and saves their maps."""

    def __init__(self, lab: Lab, console: Console | None = None, save_dir: Path | None = None,
                 fmt: str = "png") -> None:
        self.lab = lab
        if console is None:
            import sys

            # a log or a pipe gets lines wide enough for two 15-track columns and the counters
            console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
        self.console = console
        self.save_dir = save_dir
        self.fmt = fmt
        self.saved: list[Path] = []

    def show(self, st: Step) -> None:
        c = self.console
        if st.error:
            c.print(st.error, style="bold red", markup=False)
            return
        if st.what:
            c.print(st.what, style="bold", markup=False)
        for ln in st.lines:
            c.print("  " + ln, markup=False)
        if st.changed:
            c.print("  changed: " + ", ".join(f"{k} {_v(a)} -> {_v(b)}" for k, (a, b) in st.changed.items()),
                    style="cyan", markup=False)
        if st.maps:
            print_maps(st.maps, c)
        if self.save_dir is not None and st.maps:
            p = self.lab.save_maps(st, self.save_dir, self.fmt)
            if p is not None:
                self.saved.append(p)


def _v(x) -> str:
    return "-" if x is None else str(x)


class LabShell(cmd.Cmd):
    """The interactive prompt."""

    intro = ("dasdlab lab: a small site with subsystems DS8K1 (FlashCopy, Concurrent Copy), RVA1 (SnapShot) "
             "and VMAX1 (TimeFinder/Clone).\nType 'help' for the commands, 'help COMMAND' for one, "
             "'quit' to leave. Start with: volume SRC001 DS8K1")

    def __init__(self, printer: StepPrinter, **kw) -> None:
        super().__init__(**kw)
        self.printer = printer
        self.lab = printer.lab

    @property
    def prompt(self) -> str:  # type: ignore[override]
        return f"lab[{self.lab.steps}]> "

    def precmd(self, line: str) -> str:
        # commands piped in are not echoed by a terminal: echo them, so the output reads like a lesson
        isatty = getattr(self.stdin, "isatty", lambda: True)
        if line.strip() and line.strip() != "EOF" and not isatty():
            self.stdout.write(line + "\n")
        return line

    def default(self, line: str) -> bool:
        if line.strip() == "EOF":
            return True
        self.printer.show(self.lab.step(line))
        return False

    def emptyline(self) -> bool:
        return False

    def do_quit(self, arg: str) -> bool:
        """quit: leave the lab (its temporary site is removed)."""
        return True

    do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:
        print()
        return True

    def do_help(self, arg: str) -> None:
        name = ALIASES.get(arg.strip().lower(), arg.strip().lower())
        if name in COMMANDS:
            usage, text = COMMANDS[name]
            self.stdout.write(f"{usage}\n    {text}\n")
            return
        if arg.strip():
            self.stdout.write(f"DLB855E unknown lab command {arg.strip()!r}.\n")
            return
        self.stdout.write("Lab commands (short names: "
                          + ", ".join(f"{k}={v}" for k, v in ALIASES.items()) + "):\n")
        for usage, text in COMMANDS.values():
            self.stdout.write(f"  {usage}\n      {text}\n")
        self.stdout.write("  help [COMMAND], quit\nAfter each step: what happened and why, the counters "
                          "that changed, and the track map of the volumes involved.\n")

    def completenames(self, text: str, *ignored) -> list[str]:
        return sorted(n for n in [*COMMANDS, *ALIASES, "help", "quit"] if n.startswith(text.lower()))

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        return [w for w in self.words() if w.lower().startswith(text.lower())]

    def complete_help(self, text: str, *ignored) -> list[str]:
        return self.completenames(text)

    def words(self) -> list[str]:
        """What an argument may be: volumes, relationship ids, data sets, subsystems, keywords."""
        site = self.lab.site
        out = list(site.volsers()) + site.subsystem_names()
        out += [m.id for m in self.lab.maps()]
        try:
            out += [d for d, _ in site.catalog.entries()]
        except Exception:  # noqa: BLE001 - completion must never break the prompt
            pass
        return sorted(set(out)) + list(KEYWORDS)

    def preloop(self) -> None:
        try:
            import readline

            readline.set_completer_delims(" \t\n")
            path = history_file()
            if path is not None and path.is_file():
                readline.read_history_file(path)
        except (ImportError, OSError):
            pass

    def postloop(self) -> None:
        try:
            import readline

            readline.set_history_length(1000)
            path = history_file()
            if path is not None:
                readline.write_history_file(path)
        except (ImportError, OSError):
            pass


def run_script(lab: Lab, path: Path, printer: StepPrinter) -> int:
    """Run every line of a lab script; stop at the first failing step.  Returns 0, or 8
    when a step failed (its message has been printed)."""
    c = printer.console
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            c.print(line.lstrip("# ").rstrip() or "", style="italic green", markup=False)
            continue
        c.print(f"lab[{lab.steps}]> {line}", style="bold blue", markup=False)
        st = lab.step(line)
        printer.show(st)
        if st.error:
            c.print(f"DLB866E {path.name} line {n} failed; the lesson stops here.", style="bold red", markup=False)
            # the transcript may go to a log or a pipe: the reason also reaches stderr, as every error does
            print(f"DLB866E {path.name} line {n} failed: {st.error}", file=sys.stderr)
            return 8
    return 0
