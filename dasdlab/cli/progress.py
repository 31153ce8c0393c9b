"""Progress of long commands: the library reports ``(done, total)`` through a callback
(and, where a run has phases, the phase's name through ``update.phase(name)``); this
module turns the calls into what a user sees on stderr.

* On a terminal: a rich progress bar with the phase, the count in the run's unit
  (bytes as KiB/MiB/GiB, tracks, blocks ...), the rate in that unit a second, and the
  time remaining (ETA).
* Anywhere else (a CI log, a pipe, a file): one line per phase (``DLB030I``, with how far
  the run is and its ETA; a run without named phases gets its line once it has taken
  :data:`QUIET_S`, and another every :data:`HEARTBEAT_S`) and one when the run ends
  (``DLB031I``, count, time, rate), so that a log shows what a long run did instead of
  nothing, and a short command's log only its own messages.

Ctrl-C is not handled here: the run's own ``finally`` clauses remove what it had half
made, and :func:`dasdlab.cli.main.run` prints ``DLB001E`` and returns 130.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

#: seconds between two lines of one long phase when stderr is not a terminal
HEARTBEAT_S = 30.0

#: a run without named phases that ends sooner than this prints no line at all (a log
#: of short commands stays theirs); named phases are always shown
QUIET_S = 1.0

#: a unit counted in thousandths of the run (a run of several methods): shown as percent
FRACTION = "fraction"


def human_count(n: float, unit: str) -> str:
    """``n`` in ``unit``, bytes in binary multiples (``1.5 MiB``), others with separators."""
    if unit == "bytes":
        for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if n >= scale:
                return f"{n / scale:,.1f} {name}"
        return f"{n:,.0f} bytes"
    if unit == FRACTION:
        return f"{n / 10:.0f}%"
    return f"{n:,.0f} {unit}".rstrip()


def human_time(s: float) -> str:
    """Seconds as ``4.2 s``, ``3m05s``, ``1h02m``."""
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class Reporter:
    """The callback handed to the library: ``reporter(done, total)``, and
    ``reporter.phase(name)`` when a new phase (a method, a step) begins."""

    def __init__(self, description: str, unit: str, progress, stream_lines: bool) -> None:
        self.description = description
        self.unit = unit
        self._progress = progress  # a rich Progress on a terminal, else None
        self._lines = stream_lines
        self._task = None
        self._t0 = time.monotonic()
        self._done = 0
        self._total = 0
        self._phase: str | None = None
        self._announced = False
        self._last_line = 0.0

    # ------------------------------------------------------------------ callbacks
    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        if self._progress is not None:
            if self._task is None:
                self._task = self._progress.add_task(self._label(), total=total)
            self._progress.update(self._task, completed=done, total=total)
        elif self._lines:
            now = time.monotonic()
            if (now - self._t0 >= QUIET_S) if not self._announced else (now - self._last_line >= HEARTBEAT_S):
                self._line()

    def phase(self, name: str) -> None:
        if name == self._phase:
            return
        self._phase = name
        if self._progress is not None:
            if self._task is None:
                self._task = self._progress.add_task(self._label(), total=self._total or None)
            self._progress.update(self._task, description=self._label())
        elif self._lines:
            self._line()

    # ------------------------------------------------------------------ text
    def _label(self) -> str:
        return f"{self.description}: {self._phase}" if self._phase else self.description

    def eta(self) -> float | None:
        """Seconds left, from the rate so far; None before anything is done."""
        if self._done <= 0 or self._total <= 0 or self._done >= self._total:
            return None
        spent = time.monotonic() - self._t0
        return spent * (self._total - self._done) / self._done

    def _line(self) -> None:
        import typer

        first = not self._announced
        self._announced = True
        self._last_line = time.monotonic()
        where = ""
        if self.unit == FRACTION:
            where = f", {human_count(self._done, self.unit)} done"
        elif self._total and first and not self._phase and self._done == 0:
            where = f": {human_count(self._total, self.unit)} to do"
        elif self._total:
            done = human_count(self._done, self.unit) if self.unit == "bytes" else f"{self._done:,}"
            where = f", {done} of {human_count(self._total, self.unit)}"
        eta = self.eta()
        # an ETA from less than a second of work says nothing
        left = f", ETA {human_time(eta)}" if eta is not None and self._last_line - self._t0 >= 1.0 else ""
        typer.echo(f"DLB030I {self._label()}{where}{left}", err=True)

    def finish(self) -> None:
        if self._progress is not None or not self._lines or not self._announced:
            return
        import typer

        spent = time.monotonic() - self._t0
        rate = ""
        if self.unit != FRACTION and spent > 0 and self._done:
            per_s = self._done / spent
            rate = (f", {human_count(per_s, self.unit)}/s" if self.unit == "bytes" or per_s >= 10
                    else f", {per_s:.2g} {self.unit}/s")
        count = "" if self.unit == FRACTION else f" {human_count(self._done, self.unit)}"
        typer.echo(f"DLB031I {self.description}: done,{count} in {human_time(spent)}{rate}", err=True)


def _rate_column(unit: str):
    """A rich column showing the rate in ``unit`` a second (blank until known)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="progress.data.speed")

    return Rate()


@contextmanager
def bar(description: str, unit: str = "") -> Iterator[Reporter]:
    """A :class:`Reporter` for one long run; ``unit`` names what ``done`` counts
    (``bytes``, ``tracks``, ... or :data:`FRACTION` for thousandths of a run)."""
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)

    console = Console(stderr=True)
    if not console.is_terminal:
        rep = Reporter(description, unit, None, stream_lines=True)
        yield rep
        rep.finish()
        return
    if unit == "bytes":
        count = [DownloadColumn(binary_units=True), TransferSpeedColumn()]
    elif unit == FRACTION:
        count = [TaskProgressColumn()]
    else:
        count = [MofNCompleteColumn(), TextColumn(unit), _rate_column(unit)]
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        *count,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    rep = Reporter(description, unit, progress, stream_lines=False)
    with progress:
        yield rep
