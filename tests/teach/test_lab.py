"""The lab: the shipped lessons run step by step, and after every step each map is
checked against the copy services' own bitmaps and counters; the facts each lesson
teaches are checked against what the volumes read; the console and the CLI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from dasdlab.cli.main import run
from dasdlab.teach.console import LabShell, StepPrinter
from dasdlab.teach.lab import Lab
from dasdlab.teach.trackmap import TrackState as T

LESSONS = Path(__file__).resolve().parents[2] / "fixtures" / "lessons"


def lesson_lines(name: str) -> list[str]:
    return [ln.strip() for ln in (LESSONS / name).read_text().splitlines()
            if ln.strip() and not ln.strip().startswith("#")]


def check_against_services(lab: Lab) -> int:
    """Every cell of every service map equals what the service's own state says."""
    checked = 0
    for m in lab.maps():
        sub = lab.site.subsystem(m.subsystem) if m.subsystem != "lab" else None
        if m.capability == "flashcopy":
            rel = sub.service("flashcopy").get(m.id)
            r = np.arange(rel.tmap.n)
            pend = rel.to_copy.test_many(r) if rel.active else np.zeros(r.size, bool)
            tgt = m.target.states[rel.tmap.dst(r)]
            assert np.array_equal(np.isin(tgt, [T.SHARED, T.NEVER_WRITTEN]), pend)
            assert int((tgt == T.SAVED).sum()) == int(rel.query()["cow_count"])
        elif m.capability == "concurrent_copy":
            cc = sub.service("concurrent_copy")
            s = cc.sessions[m.id]
            r = np.arange(s.tmap.n)
            dump = m.target.states[s.tmap.src(r)]
            unread, saved = s.unread.test_many(r), s.saved.test_many(r)
            if s.state.name == "ACTIVE":
                assert np.array_equal(np.isin(dump, [T.SHARED, T.NEVER_WRITTEN]), unread & ~saved)
                assert np.array_equal((dump == T.SAVED) & unread, saved)
                q = s.query()
                assert q["cache_sidefile_tracks"] + q["host_sidefile_tracks"] == int(saved.sum())
                # read from the sidefile: drawn saved; read from the volume: copied
                assert int(((dump == T.SAVED) & ~unread).sum()) == q["tracks_read_sidefile"]
            else:
                assert not np.any(dump[unread] == T.COPIED)
        elif m.capability == "snapshot":
            q = sub.service("snapshot").query(m.id)[0]
            assert int((m.source.states == T.SHARED).sum()) == q["tracks_shared"]
            assert int((m.source.states == T.REDIRECTED).sum()) == q["tracks_unshared"]
        elif m.capability == "timefinder":
            s = sub.service("timefinder").session(m.id)
            r = np.arange(s.tmap.n)
            pend = s.pending.test_many(r)
            tgt = m.target.states[s.tmap.dst(r)]
            if s.state.name in ("CREATED", "PRECOPY"):
                assert np.array_equal(tgt == T.UNCOMMITTED, pend)
            elif s.direction == "forward":
                assert np.array_equal(np.isin(tgt, [T.SHARED, T.NEVER_WRITTEN]), pend)
                # saved = copied because the source was written first; a target read copies too
                assert int((tgt == T.SAVED).sum()) == s.counters["source_write"]
        else:
            continue
        checked += 1
    return checked


def run_lesson(name: str):
    lab = Lab()
    steps = []
    checked = 0
    for line in lesson_lines(name):
        st = lab.step(line)
        assert st.error is None, f"{line}: {st.error}"
        checked += check_against_services(lab)
        steps.append(st)
    return lab, steps, checked


def text_of(vol, t: int) -> str:
    return Lab._text_of(vol.read_track(t))


def test_lesson_flashcopy_nocopy():
    lab, steps, checked = run_lesson("flashcopy-nocopy.lab")
    try:
        assert checked >= 6
        by = {st.command: st for st in steps}
        w = by["write SRC001 20 new salary table"]
        (m,) = w.maps
        assert m.target.states[20] == T.SAVED and m.source.states[20] == T.CHANGED
        assert "copy-on-write" in w.what
        assert w.changed["FC0001.cow_count"] == (0, 1)
        assert "filled" in by["read TGT001 20"].what  # the old image, as at the establish
        u = by["update SRC001 20 second change"]
        assert "FC0001.cow_count" not in u.changed  # already safe: nothing copied
        wl = by["workload PAYROLL.DATA 10 7"]
        (m,) = wl.maps
        written = {i for i in range(15, 30) if m.source.states[i] == T.CHANGED}
        assert set(np.flatnonzero(m.target.states == T.SAVED)) == written
        assert wl.changed["FC0001.cow_count"][1] == len(written)
        # after the withdraw the target keeps the saved images and holds nothing else
        tgt = lab.site.volume("TGT001")
        assert text_of(tgt, 20) == "track 20 filled at 0.000s"
        never = [t for t in range(15, 30) if t not in written]
        assert all(not tgt.is_written(t) for t in never)
    finally:
        lab.close()


def test_lesson_cc_sidefile():
    lab, steps, checked = run_lesson("cc-sidefile.lab")
    try:
        assert checked >= 8
        by = {st.command: st for st in steps}
        w = by["write DB0001 20 balance 900"]
        (m,) = w.maps
        assert m.target.states[20] == T.SAVED and "sidefile" in w.what
        assert w.changed["CC0001.intercepted_writes"] == (0, 1)
        assert w.changed["CC0001.cache_sidefile_tracks"] == (0, 1)
        late = by["write DB0001 16 balance 100"]
        assert "CC0001.intercepted_writes" not in late.changed  # read already: not intercepted
        assert by["cc sdm"].changed["CC0001.host_sidefile_tracks"] == (0, 1)
        rd = by["cc track CC0001 20"]
        assert "from the sidefile" in rd.what and "filled" in rd.what  # the before-image, not "balance 900"
        assert text_of(lab.site.volume("DB0001"), 20) != "track 20 filled at 0.000s"
        final = steps[-1].maps[0]
        assert final.state == "COMPLETE" and not final.failed
        assert not np.any(final.target.states[15:30] == T.SHARED)
    finally:
        lab.close()


def test_lesson_fuzzy_purge():
    lab, steps, _ = run_lesson("fuzzy-purge.lab")
    try:
        start, end, purge = steps[-3], steps[-2], steps[-1]
        assert "DLB865W" in start.what and "[2]" in start.what
        assert "DLB865W" in end.what and "[1, 2]" in end.what
        assert "recovered correctly" in purge.what and not purge.maps[0].failed
        assert start.maps[0].failed and start.maps[0].source.states[17] == T.LOST
        vol = lab.site.volume("IMS001")
        assert text_of(vol, 17) == "balance 500"  # the change that was in a buffer
        assert text_of(vol, 16) == "balance 700"  # the update after the copy read the track
        assert text_of(vol, 23) == "balance 800"
        assert text_of(vol, 15).startswith("track 15 filled")
    finally:
        lab.close()


def test_lab_errors_continue_and_name_the_message(capsys):
    lab = Lab()
    try:
        for line, msgid in (("bogus", "DLB855E"), ("volume A1", "DLB856E"), ("write NOVOL 20", "DLB304E"),
                            ("volume SRC001 DS8K1", None), ("write SRC001 3", "DLB857E"),
                            ("snap SRC001 SRC001", "DLB311E"), ("flashcopy SRC001 TGT9 sideways", "DLB856E"),
                            ("cc read CC0042", "DLB860E"), ("recover X.Y", "DLB250E")):
            st = lab.step(line)
            if msgid is None:
                assert st.error is None
            elif msgid == "DLB250E":
                assert st.error and st.error[:3] == "DLB"  # the catalog's own message
            else:
                assert st.error and st.error.startswith(msgid), (line, st.error)
        assert lab.step("write SRC001 20").error is None  # the lab goes on after errors
    finally:
        lab.close()


def test_console_help_completion_and_errors():
    lab = Lab()
    out = io.StringIO()
    from rich.console import Console

    printer = StepPrinter(lab, Console(file=out, width=120, color_system=None))
    sh = LabShell(printer, stdin=io.StringIO(), stdout=out)
    try:
        assert sh.completenames("fl") == ["flashcopy", "flush"]
        sh.onecmd("help cc")
        sh.onecmd("bogus step")
        sh.onecmd("volume SRC001 DS8K1")
        sh.onecmd("write SRC001 17 hello")
        assert "SRC001" in sh.completedefault("SR", "write SR", 6, 8)
        assert "nocopy" in sh.completedefault("no", "flashcopy SRC001 TGT001 no", 24, 26)
        text = out.getvalue()
        assert "cc start VOL|DSN" in text and "DLB855E" in text and "DLB871I" in text and "DLB873I" in text
        assert sh.prompt == "lab[2]> "
        assert sh.onecmd("quit") is True
    finally:
        lab.close()


def test_cli_lab_script_saves_maps(tmp_path, capsys):
    code = run(["lab", "--script", str(LESSONS / "cc-sidefile.lab"), "--save-maps", str(tmp_path / "maps")])
    out = capsys.readouterr().out
    assert code == 0
    assert "watch the before-image go to the sidefile" in out
    pics = sorted((tmp_path / "maps").glob("step-*.png"))
    assert len(pics) >= 8 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pics)
    code = run(["lab", "--script", str(LESSONS / "flashcopy-nocopy.lab"), "--save-maps", str(tmp_path / "svg"),
                "--format", "svg"])
    assert code == 0 and list((tmp_path / "svg").glob("step-*.svg"))


def test_cli_lab_script_stops_at_a_failing_step(tmp_path, capsys):
    bad = tmp_path / "bad.lab"
    bad.write_text("volume SRC001 DS8K1\nflashcopy SRC001 NOSUCH nocopy\nwrite SRC001 20\n")
    code = run(["lab", "--script", str(bad)])
    out = capsys.readouterr().out
    assert code == 8
    assert "DLB304E" in out and "DLB866E bad.lab line 2" in out
    assert "write SRC001 20" not in out  # stopped there
    code = run(["lab", "--script", str(tmp_path / "missing.lab")])
    assert code == 8 and "DLB868E" in capsys.readouterr().err


def test_every_service_step_by_step():
    """FlashCopy COPY with modeled time, incremental refresh, snap, clone: each map
    checked against its service after every step."""
    lab = Lab()
    script = """
        volume SRC001 DS8K1 4
        volume TGT001 DS8K1 4
        volume INC001 DS8K1 4
        volume RSRC01 RVA1
        volume RTGT01 RVA1
        volume VSRC01 VMAX1
        volume VTGT01 VMAX1
        fill SRC001
        fc SRC001 TGT001 copy
        write SRC001 40 before the background copy got here
        time 0.01
        drain
        fill RSRC01 15-25
        snap RSRC01 RTGT01
        workload RSRC01 5 1
        fill VSRC01 15-20
        clone create VSRC01 VTGT01 nocopy
        write VSRC01 16 before activation
        clone activate TF0001
        write VSRC01 17 after activation
        read VTGT01 18
        clone terminate TF0001
        withdraw FC0001
        fc SRC001 INC001 copy incremental
        drain FC0002
        update SRC001 20 changed after the copy
        refresh FC0002
        map FC0002
        time 1
        site
    """
    try:
        checked = 0
        for line in [ln.strip() for ln in script.splitlines() if ln.strip()]:
            st = lab.step(line)
            assert st.error is None, f"{line}: {st.error}"
            checked += check_against_services(lab)
            if line == "time 0.01":  # 2000 tracks/s for 10 ms: 20 tracks in the background
                (m,) = [x for x in st.maps if x.id == "FC0001"]
                assert int((m.target.states == T.COPIED).sum()) == st.changed["FC0001.background_tracks"][1] == 20
                assert m.target.states[40] == T.SAVED
            if line == "refresh FC0002":
                (m,) = st.maps if st.maps[0].id == "FC0002" else [x for x in st.maps if x.id == "FC0002"]
                assert set(np.flatnonzero(m.target.states == T.SHARED)) == {20}  # only the changed track
            if line == "clone activate TF0001":
                (m,) = [x for x in st.maps if x.id == "TF0001"]
                assert not np.any(m.target.states == T.UNCOMMITTED)
            if line == "write VSRC01 17 after activation":
                (m,) = [x for x in st.maps if x.id == "TF0001"]
                assert m.target.states[17] == T.SAVED and m.target.states[16] == T.SHARED
        assert checked >= 20
        assert "DS8K1" in st.lines[0]
    finally:
        lab.close()


def test_console_loop_and_history(tmp_path, monkeypatch):
    import readline

    from rich.console import Console

    monkeypatch.setenv("DASDLAB_LAB_HISTORY", str(tmp_path / "hist"))
    lab = Lab()
    out = io.StringIO()
    printer = StepPrinter(lab, Console(file=out, width=120, color_system=None))
    sh = LabShell(printer, stdin=io.StringIO("volume SRC001 DS8K1\nbogus\nwrite SRC001 20\nquit\n"), stdout=out)
    sh.use_rawinput = False
    try:
        sh.cmdloop()
        text = out.getvalue()
        assert text.index("DLB871I") < text.index("DLB855E") < text.index("DLB873I")  # went on after the error
        readline.add_history("flashcopy SRC001 TGT001 nocopy")
        sh.postloop()
        assert "flashcopy SRC001 TGT001 nocopy" in (tmp_path / "hist").read_text()
    finally:
        lab.close()
