"""DFSMSdss front end at work: the method order for every keyword combination on every
subsystem kind, fallbacks when a method fails, logical/physical event order, point-in-
time contents, dump and restore, bad input."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from dasdlab.cli.main import run as cli
from dasdlab.host import dss as dss_mod
from dasdlab.emulator.dataset import Dataset
from dasdlab.host.dss import Method, methods_for, run
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.site import Site
from dasdlab.emulator.subsystem import KINDS
from dasdlab.errors import CopyServiceError, DasdlabError

F, S, T, V, C, STD = (Method.FLASHCOPY, Method.SNAPSHOT, Method.TIMEFINDER, Method.VIRTUAL_CC,
                      Method.CACHE_CC, Method.STANDARD)
CAPS = {k: cls.capabilities for k, cls in KINDS.items()}

# (command, FR, CONCURRENT) -> expected (order, standard allowed) per subsystem kind;
# the target is in the source's subsystem
EXPECTED = {
    ("COPY", "PREFERRED", None): {"ds8000": [F, STD], "rva": [S, STD], "symmetrix": [T, STD]},
    ("COPY", "REQUIRED", None): {"ds8000": [F], "rva": [S], "symmetrix": [T]},
    ("COPY", "NONE", None): {"ds8000": [STD], "rva": [STD], "symmetrix": [STD]},
    ("COPY", "PREFERRED", "ANYPREFERRED"): {"ds8000": [F, V, C, STD], "rva": [S, V, STD], "symmetrix": [T, STD]},
    ("COPY", "NONE", "ANYPREFERRED"): {"ds8000": [V, C, STD], "rva": [V, STD], "symmetrix": [STD]},
    ("COPY", "NONE", "ANYREQUIRED"): {"ds8000": [V, C], "rva": [V], "symmetrix": []},
    ("COPY", "PREFERRED", "ANYREQUIRED"): {"ds8000": [F, V, C], "rva": [S, V], "symmetrix": [T]},
    ("DUMP", "NONE", None): {"ds8000": [STD], "rva": [STD], "symmetrix": [STD]},
    ("DUMP", "NONE", "ANYPREFERRED"): {"ds8000": [V, C, STD], "rva": [V, STD], "symmetrix": [STD]},
    ("DUMP", "NONE", "ANYREQUIRED"): {"ds8000": [V, C], "rva": [V], "symmetrix": []},
    ("DUMP", "NONE", "CACHEPREFERRED"): {"ds8000": [C, V, STD], "rva": [V, STD], "symmetrix": [STD]},
    ("DUMP", "NONE", "CACHEREQUIRED"): {"ds8000": [C], "rva": [], "symmetrix": []},
    ("DUMP", "NONE", "VIRTUALPREFERRED"): {"ds8000": [V, C, STD], "rva": [V, STD], "symmetrix": [STD]},
    ("DUMP", "NONE", "VIRTUALREQUIRED"): {"ds8000": [V], "rva": [V], "symmetrix": []},
    ("DUMP", "NONE", "NONE"): {"ds8000": [STD], "rva": [STD], "symmetrix": [STD]},
}


@pytest.mark.parametrize("key", list(EXPECTED))
@pytest.mark.parametrize("kind", ["ds8000", "rva", "symmetrix"])
def test_method_order(key, kind):
    command, fr, cc = key
    order, std = methods_for(command, fr, cc, CAPS[kind], same_subsystem=True)
    assert order == EXPECTED[key][kind]
    assert std == (STD in order)


def test_fast_replication_needs_the_target_in_the_same_subsystem():
    assert methods_for("COPY", "PREFERRED", None, CAPS["ds8000"], same_subsystem=False) == ([STD], True)
    assert methods_for("COPY", "REQUIRED", None, CAPS["rva"], same_subsystem=False) == ([], False)


# ---------------------------------------------------------------------- a site to work on
BLOCKS = 60  # 5 tracks of 12 x 4096


@pytest.fixture
def site(tmp_path):
    s = Site.init(tmp_path / "site")
    configure_pool(s, "RVA1", pool_slots=3000)
    for sub, vols in (("RVA1", ("RV0001", "RV0002")), ("DS8K1", ("DS0001", "DS0002")),
                      ("VMAX1", ("VM0001", "VM0002"))):
        for v in vols:
            s.add_volume(sub, v, "3390-3", cylinders=8)
    for i, (dsn, vol) in enumerate((("PROD.RVA.DATA", "RV0001"), ("PROD.DSK.DATA", "DS0001"),
                                    ("PROD.VMX.DATA", "VM0001"))):
        s.allocate(dsn, vol, lrecl=4096, blksize=4096, primary=8)
        Dataset(s.volume(vol, writable=True), dsn).format_blocks(
            BLOCKS, fill=lambda f, n, i=i: np.repeat(np.arange(f, f + n, dtype=np.uint8) + 16 * i, 4096))
    yield s
    s.close()


def content(site, dsn) -> bytes:
    return Dataset(site.dataset_volume(dsn), dsn).read()


class Recorder:
    """Collects events; on logical completion it updates the source, as an IMS
    released at that moment would."""

    def __init__(self, site, touch=True):
        self.site = site
        self.events = []
        self.before = {}
        self.touch = touch

    def logical(self, ev):
        self.events.append(("logical", ev.dsn, ev.method))
        if self.touch:
            self.before[ev.dsn] = content(self.site, ev.dsn)
            d = Dataset(self.site.dataset_volume(ev.dsn, writable=True), ev.dsn)
            d.write_block(0, b"\xaa" * 4096)
            d.write_block(BLOCKS - 1, b"\xbb" * 4096)

    def physical(self, ev):
        self.events.append(("physical", ev.dsn, ev.method))


@pytest.mark.parametrize("dsn, extra, method", [
    ("PROD.RVA.DATA", "", "SNAPSHOT"),
    ("PROD.DSK.DATA", "", "FLASHCOPY"),
    ("PROD.VMX.DATA", "", "TIMEFINDER"),
    ("PROD.RVA.DATA", "FR(NONE) CC(ANYPREF)", "VIRTUAL-CC"),
    ("PROD.DSK.DATA", "FR(NONE) CC(CACHEREQ)", "CACHE-CC"),
    ("PROD.DSK.DATA", "FR(NONE) CC(VIRTUALREQ)", "VIRTUAL-CC"),
    ("PROD.VMX.DATA", "FR(NONE)", "STANDARD"),
])
def test_copy_is_the_data_set_as_of_logical_completion(site, dsn, extra, method):
    rec = Recorder(site)
    report = run(site, f"COPY DATASET(INCLUDE({dsn})) RENAMEU(COPY) {extra}",
                 on_logical=rec.logical, on_physical=rec.physical, wait_physical=True)
    assert report.rc == 0, report.lines
    (res,) = report.results
    assert res.method == method
    target = "COPY." + dsn.split(".", 1)[1]
    assert site.catalog.lookup(target) == res.target_volser
    phases = [e[0] for e in rec.events]
    assert phases == ["logical", "physical"]
    assert content(site, target) == rec.before[dsn]  # the point in time
    assert content(site, dsn) != rec.before[dsn]  # the source did change afterwards


def test_standard_io_releases_only_at_physical_completion(site):
    times = []
    run(site, "COPY DATASET(INCLUDE(PROD.VMX.DATA)) RENAMEU(C) FR(NONE)",
        on_logical=lambda e: times.append(("L", e.time)), on_physical=lambda e: times.append(("P", e.time)),
        cost=lambda phase, n: 0.01 * n)
    assert [t[0] for t in times] == ["L", "P"] and times[0][1] == times[1][1] > 0


def test_all_logical_completions_come_before_the_physical_copies(site):
    rec = Recorder(site, touch=False)
    times = {}

    def on_log(e):
        rec.logical(e)
        times.setdefault(e.dsn, {})["L"] = e.time

    def on_phy(e):
        rec.physical(e)
        times.setdefault(e.dsn, {})["P"] = e.time

    report = run(site, "DUMP DATASET(INCLUDE(PROD.RVA.*,PROD.DSK.*)) OUTDSN(BK.D1) OUTDYNAM(DS0002) CC",
                 on_logical=on_log, on_physical=on_phy, cost=lambda phase, n: 0.001 * n)
    assert report.rc == 0, report.lines
    assert [e[0] for e in rec.events] == ["logical", "logical", "physical", "physical"]
    for d in times.values():
        assert d["L"] < d["P"]


def test_fr_required_skips_only_the_data_sets_that_cannot_be_flashed(site):
    # PROD.DSK goes to a volume of another subsystem: no fast replication there
    report = run(site, "COPY DATASET(INCLUDE(PROD.**)) RENAMEU(FRQ) FR(REQ) OUTDYNAM(RV0002)")
    by = {r.dsn: r for r in report.results}
    assert report.rc == 8
    assert by["PROD.RVA.DATA"].rc == 0 and by["PROD.RVA.DATA"].method == "SNAPSHOT"
    for d in ("PROD.DSK.DATA", "PROD.VMX.DATA"):
        assert by[d].rc == 8 and "DLB413E" in by[d].message
        assert site.catalog.find("FRQ." + d.split(".", 1)[1]) is None
    assert "FRQ.DSK.DATA" not in site.volume("RV0002").vtoc  # its target was scratched
    assert content(site, "FRQ.RVA.DATA") == content(site, "PROD.RVA.DATA")


def test_fr_preferred_falls_back_to_standard_across_subsystems(site):
    report = run(site, "COPY DATASET(INCLUDE(PROD.DSK.DATA)) RENAMEU(X) OUTDYNAM(RV0002)")
    (res,) = report.results
    assert res.rc == 0 and res.method == "STANDARD" and res.target_volser == "RV0002"
    assert content(site, "X.DSK.DATA") == content(site, "PROD.DSK.DATA")


def test_a_method_that_fails_gives_way_to_the_next(site, monkeypatch):
    from dasdlab.emulator.services import snapshot

    def refuse(self, *a, **k):
        raise CopyServiceError("DLB390E", "track pool is full (test)")

    monkeypatch.setattr(snapshot.SnapShotService, "snap", refuse)
    report = run(site, "COPY DATASET(INCLUDE(PROD.RVA.DATA)) RENAMEU(Y) CC(ANYPREF)")
    (res,) = report.results
    # SnapShot refused; virtual CC snaps too and is refused; standard I/O does it
    assert res.method == "STANDARD" and len(res.fallbacks) == 2
    assert "SNAPSHOT" in res.fallbacks[0] and "VIRTUAL-CC" in res.fallbacks[1]
    assert any(line.startswith("DLB423I") for line in report.lines)
    assert content(site, "Y.RVA.DATA") == content(site, "PROD.RVA.DATA")


@pytest.mark.parametrize("stmt, dsn, msgid", [
    ("DUMP DATASET(INCLUDE(PROD.VMX.DATA)) OUTDSN(B.X) CC(ANYREQ)", "PROD.VMX.DATA", "DLB414E"),
    ("DUMP DATASET(INCLUDE(PROD.RVA.DATA)) OUTDSN(B.X) CC(CACHEREQ)", "PROD.RVA.DATA", "DLB414E"),
    ("COPY DATASET(INCLUDE(PROD.VMX.DATA)) RENAMEU(Z) FR(NONE) CC(VIRTUALREQ)", "PROD.VMX.DATA", "DLB414E"),
])
def test_required_concurrent_copy_fails_instead_of_falling_back(site, stmt, dsn, msgid):
    report = run(site, stmt)
    (res,) = report.results
    assert res.rc == 8 and report.rc == 8
    assert msgid in res.message
    assert site.catalog.find("Z.VMX.DATA") is None and "Z.VMX.DATA" not in site.volume("VM0001").vtoc


def test_fcwithdraw_after_dumping_a_flashcopy_shadow(site):
    fc = site.subsystem("DS8K1").service("flashcopy")
    # FDUMP pattern: flash NOCOPY to a shadow, dump the shadow with FCWITHDRAW
    run(site, "COPY DATASET(INCLUDE(PROD.DSK.DATA)) RENAMEU(SHDW) FCNOCOPY")
    shadow_rel = [r for r in fc.relationships() if r.mode == "NOCOPY" and r.state.name != "WITHDRAWN"]
    assert shadow_rel
    rep = run(site, "DUMP DATASET(INCLUDE(SHDW.**)) OUTDSN(BK.SHDW) FCWITHDRAW")
    assert any(line.startswith("DLB429I") for line in rep.lines)


def test_dump_and_restore_round_trip(site):
    want = {d: content(site, d) for d in ("PROD.RVA.DATA", "PROD.DSK.DATA", "PROD.VMX.DATA")}
    rep = run(site, "DUMP DATASET(INCLUDE(PROD.**)) OUTDSN(BK.ALL) OUTDYNAM(DS0002) CC")
    assert rep.rc == 0
    raw = content(site, "BK.ALL")
    dumped = dss_mod.read_dump(raw, "BK.ALL")
    assert [d.dsn for d in dumped] == sorted(want)
    assert raw[:8] == dss_mod.DUMP_MAGIC and len(raw) % dss_mod.DUMP_BLK == 0
    rep = run(site, "RESTORE DATASET(INCLUDE(**)) INDSN(BK.ALL) RENAMEU((PROD.**,REST.**)) OUTDYNAM(VM0002)")
    assert rep.rc == 0, rep.lines
    for d, data in want.items():
        new = "REST." + d.split(".", 1)[1]
        assert site.catalog.lookup(new) == "VM0002" and content(site, new) == data
    # restoring again needs REPLACE
    rep = run(site, "RESTORE DATASET(INCLUDE(PROD.RVA.*)) INDSN(BK.ALL) RENAMEU((PROD.**,REST.**))")
    assert rep.rc == 8 and "DLB418E" in rep.results[0].message
    Dataset(site.dataset_volume("REST.RVA.DATA", writable=True), "REST.RVA.DATA").write_block(0, b"\0" * 4096)
    rep = run(site, "RESTORE DATASET(INCLUDE(PROD.RVA.*)) INDSN(BK.ALL) RENAMEU((PROD.**,REST.**)) REPLACE")
    assert rep.rc == 0 and content(site, "REST.RVA.DATA") == want["PROD.RVA.DATA"]


def test_a_damaged_dump_is_refused(site):
    run(site, "DUMP DATASET(INCLUDE(PROD.VMX.*)) OUTDSN(BK.ONE)")
    vol = site.dataset_volume("BK.ONE", writable=True)
    ds = Dataset(vol, "BK.ONE")
    blk = bytearray(ds.read_block(1))
    blk[100] ^= 0xFF
    ds.write_block(1, bytes(blk))
    rep = run(site, "RESTORE DATASET(INCLUDE(**)) INDSN(BK.ONE) RENAMEU(R)")
    assert rep.rc == 8 and any("DLB421E" in line and "checksum" in line for line in rep.lines)
    assert site.catalog.find("R.VMX.DATA") is None
    with pytest.raises(DasdlabError) as e:
        dss_mod.read_dump(b"NOTADUMP" + bytes(100), "X")
    assert e.value.msgid == "DLB421E"


def test_delete_moves_a_data_set_to_another_volume(site):
    data = content(site, "PROD.VMX.DATA")
    rep = run(site, "COPY DATASET(INCLUDE(PROD.VMX.DATA)) DELETE OUTDYNAM(VM0002)")
    assert rep.rc == 0, rep.lines
    assert site.catalog.lookup("PROD.VMX.DATA") == "VM0002"
    assert "PROD.VMX.DATA" not in site.volume("VM0001").vtoc
    assert content(site, "PROD.VMX.DATA") == data


@pytest.mark.parametrize("stmt, msgid", [
    ("COPY DATASET(INCLUDE(PROD.VMX.DATA))", "DLB418E"),  # target = source name
    ("COPY DATASET(INCLUDE(PROD.VMX.DATA)) DELETE", "DLB419E"),  # a move onto the same volume
    ("COPY DATASET(INCLUDE(PROD.VMX.DATA)) RENAMEU((PROD.VMX.DATA,PROD.RVA.DATA))", "DLB418E"),
    ("COPY DATASET(INCLUDE(PROD.VMX.DATA)) RENAMEU(N) OUTDYNAM(NOSUCH)", "DLB304E"),
])
def test_bad_targets_change_nothing(site, stmt, msgid):
    before = sorted(site.catalog.entries())
    vtocs = {v: sorted(site.volume(v).vtoc.datasets) for v in site.volsers()}
    rep = run(site, stmt)
    assert rep.rc == 8 and msgid in rep.results[0].message
    assert sorted(site.catalog.entries()) == before
    assert {v: sorted(site.volume(v).vtoc.datasets) for v in site.volsers()} == vtocs


def test_nothing_selected_and_existing_dump_data_set(site):
    assert run(site, "COPY DATASET(INCLUDE(NOPE.**)) RENAMEU(X)").rc == 4
    run(site, "DUMP DATASET(INCLUDE(PROD.VMX.*)) OUTDSN(BK.TWICE)")
    raw = content(site, "BK.TWICE")
    rep = run(site, "DUMP DATASET(INCLUDE(PROD.VMX.*)) OUTDSN(BK.TWICE)")
    assert rep.rc == 8 and any(line.startswith("DLB420E") for line in rep.lines)
    assert content(site, "BK.TWICE") == raw


def test_cli(site, tmp_path):
    path = str(site.path)
    stmts = tmp_path / "copy.dss"
    stmts.write_text("COPY DATASET(INCLUDE(PROD.RVA.*)) - /* snap it */\n  RENAMEU(CLI)\n")
    site.close()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli(["dss", "--site", path, "--file", str(stmts), "--json"]) == 0
    out = json.loads(buf.getvalue())
    assert out["results"][0]["method"] == "SNAPSHOT"
    assert [e["phase"] for e in out["events"]] == ["logical", "physical"]
    assert cli(["dss", "--site", path, "COPY DATASET(INCLUDE(NONE.*)) RENAMEU(X)"]) == 4
    assert cli(["dss", "--site", path, "COPY DATASET(INCLUDE(PROD.*)) BOGUS"]) == 8


def test_flashcopy_physical_completion_comes_from_the_background_copy(site):
    events = []
    site.subsystem("DS8K1").settings["fc_background_tracks_per_s"] = 1.0
    rep = run(site, "COPY DATASET(INCLUDE(PROD.DSK.DATA)) RENAMEU(BG)",
              on_logical=lambda e: events.append(("L", e.time)), on_physical=lambda e: events.append(("P", e.time)))
    assert rep.rc == 0 and [e[0] for e in events] == ["L"]
    assert any("PHYSICAL COPY CONTINUES" in line for line in rep.lines)
    site.tick(2.0)
    assert [e[0] for e in events] == ["L"]  # 8 tracks at 1 track/s: not yet
    site.tick(100.0)
    assert [e[0] for e in events] == ["L", "P"] and events[1][1] > events[0][1]
    assert content(site, "BG.DSK.DATA") == content(site, "PROD.DSK.DATA")
