"""What long runs print when stderr is not a terminal: one DLB030I line per phase (with
how far the run is and, once a second of work has been timed, its ETA) and one DLB031I
line at the end with the count and rate in the run's unit."""

from __future__ import annotations

from dasdlab.cli import progress as pg
from dasdlab.cli.progress import FRACTION, Reporter, bar, human_count, human_time


def test_counts_and_times_in_real_units():
    assert human_count(512, "bytes") == "512 bytes"
    assert human_count(3 * 2**20 // 2, "bytes") == "1.5 MiB"
    assert human_count(5 * 2**30, "bytes") == "5.0 GiB"
    assert human_count(3072, "tracks") == "3,072 tracks"
    assert human_count(450, FRACTION) == "45%"
    assert (human_time(4.24), human_time(185), human_time(3720)) == ("4.2 s", "3m05s", "1h02m")


def test_a_line_per_phase_and_one_at_the_end(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(pg.time, "monotonic", lambda: now[0])
    with bar("outage comparison", FRACTION) as cb:
        cb.phase("standard (1 of 2): set-up and load")
        cb(0, 1000)
        cb(250, 1000)  # the same phase: no line
        now[0] = 4.0
        cb(500, 1000)
        cb.phase("dump-cc (2 of 2): set-up and load")
        now[0] = 8.0
        cb(1000, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "DLB030I outage comparison: standard (1 of 2): set-up and load, 0% done",
        "DLB030I outage comparison: dump-cc (2 of 2): set-up and load, 50% done, ETA 4.0 s",
        "DLB031I outage comparison: done, in 8.0 s",
    ]


def test_a_run_without_phases_says_what_it_does_and_its_rate(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(pg.time, "monotonic", lambda: now[0])
    with bar("copying", "bytes") as cb:
        cb(0, 4 * 2**20)  # too early to say anything
        now[0] = 1.5
        cb(2**20, 4 * 2**20)
        now[0] = 2.0
        cb(4 * 2**20, 4 * 2**20)
    assert capsys.readouterr().err.splitlines() == [
        "DLB030I copying, 1.0 MiB of 4.0 MiB, ETA 4.5 s",
        "DLB031I copying: done, 4.0 MiB in 2.0 s, 2.0 MiB/s",
    ]


def test_a_short_run_without_phases_prints_nothing(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(pg.time, "monotonic", lambda: now[0])
    with bar("checking tracks", "tracks") as cb:
        for done in range(0, 151, 50):
            cb(done, 150)
            now[0] += pg.QUIET_S / 5
    assert capsys.readouterr().err == ""


def test_a_long_phase_gets_a_line_every_heartbeat(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(pg.time, "monotonic", lambda: now[0])
    rep = Reporter("converting", "tracks", None, stream_lines=True)
    rep(0, 100)
    now[0] = pg.QUIET_S
    rep(2, 100)
    now[0] = pg.HEARTBEAT_S / 2
    rep(10, 100)
    now[0] = pg.QUIET_S + pg.HEARTBEAT_S
    rep(50, 100)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "DLB030I converting, 2 of 100 tracks, ETA 49.0 s"
    assert len(lines) == 2 and lines[1].startswith("DLB030I converting, 50 of 100 tracks, ETA 31.0 s")


def test_on_a_terminal_a_bar_with_phase_rate_and_eta(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "160")
    with bar("converting", "tracks") as cb:
        assert cb._progress is not None  # the rich bar, not the lines
        cb.phase("pass 1")
        for done in range(0, 101, 10):
            cb(done, 100)
        cb._progress.refresh()
        shown = capsys.readouterr().err
    assert "converting: pass 1" in shown and "100/100" in shown and "tracks" in shown and "ETA" in shown
    assert "DLB030I" not in shown


def test_the_rate_column_speaks_the_unit():
    from types import SimpleNamespace

    from dasdlab.cli.progress import _rate_column

    col = _rate_column("tracks")
    assert col.render(SimpleNamespace(finished_speed=None, speed=1234.4)).plain == "1,234 tracks/s"
    assert col.render(SimpleNamespace(finished_speed=None, speed=None)).plain == ""
