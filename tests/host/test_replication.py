"""The replication facade: data movers drive their services in order of preference, a
copy made through it is a point-in-time copy on every built-in and completes, ends and
copies back through the contract's verbs alone, and the host programs ask it instead
of naming services."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from dasdlab.emulator import trackfmt
from dasdlab.emulator.rva import configure_pool
from dasdlab.emulator.services import registry
from dasdlab.emulator.services.flashcopy import FlashCopyService
from dasdlab.emulator.site import Site
from dasdlab.emulator.subsystem import KINDS
from dasdlab.host import replication

ROOT = Path(__file__).resolve().parents[2]
KIND_OF = {"flashcopy": ("ds8000", "DS8K1", "DS"), "snapshot": ("rva", "RVA1", "RV"),
           "timefinder": ("symmetrix", "VMAX1", "VM")}
RUNS = [(15, 30)]


def _track(vol, t: int, seed: int):
    cyl, head = vol.cchh(t)
    data = np.random.default_rng([t, seed]).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    return trackfmt.build_track(cyl, head, [(1, b"", data)], vol.slot)


def _records(img) -> bytes:
    img = np.asarray(img)
    if not trackfmt.is_formatted(img):
        return b""
    b = bytes(img)
    return b"".join(b[r.data_offset:r.end] for r in trackfmt.parse_track(b))


@pytest.fixture
def site(tmp_path):
    s = Site.init(tmp_path / "site")
    configure_pool(s, "RVA1", pool_slots=600)
    for _, (kind, sub, pfx) in KIND_OF.items():
        for v in ("0001", "0002"):
            s.add_volume(sub, pfx + v, "3390-1", cylinders=4)
        src = s.volume(pfx + "0001", writable=True)
        for t in range(*RUNS[0]):
            src.write_track(t, _track(src, t, 1))
    yield s
    s.close()


def test_data_movers_drive_their_services_in_order_of_preference():
    assert replication.choose("ADRDSSU", {"flashcopy", "snapshot", "concurrent_copy"}) == "flashcopy"
    assert replication.choose("adrdssu", {"snapshot", "concurrent_copy"}) == "snapshot"
    assert replication.choose("ADRDSSU", {"timefinder"}) is None
    assert replication.choose("EMCSNAP", {"timefinder"}) == "timefinder"
    assert replication.choose("EMCSNAP", {"flashcopy"}) is None
    assert replication.services_of("NOSUCH") is None
    assert replication.services_of("CONCURRENT_COPY") is None  # not a fast-replication service
    # DFSMSdss COPY FASTREPLICATION on each kind (TimeFinder as EMC's FlashCopy emulation)
    got = {k: replication.dss_fast_replication(cls.capabilities) for k, cls in KINDS.items()}
    assert got == {"ds8000": "flashcopy", "rva": "snapshot", "symmetrix": "timefinder"}
    assert [replication.data_mover_of(s) for s in ("flashcopy", "snapshot", "timefinder")] == \
        ["ADRDSSU", "ADRDSSU", "EMCSNAP"]
    assert replication.mover("flashcopy").uses_dss and not replication.mover("timefinder").uses_dss


class _MyFlash(FlashCopyService):
    """A FlashCopy under another name: a plug-in as far as the host can tell."""

    name = "myflash"


def test_a_registered_service_is_its_own_data_mover_and_declares_its_costs():
    from dasdlab.engine.timemodel import PROFILES, ProfileError, service_cost

    registry.register(_MyFlash)
    try:
        assert replication.services_of("MYFLASH") == ("myflash",)
        mv = replication.mover("myflash")
        assert (mv.title, mv.data_mover, mv.uses_dss, mv.id_label) == ("myflash", "MYFLASH", False, "relationship")
        prof = next(iter(PROFILES.values()))
        with pytest.raises(ProfileError) as e:
            service_cost(prof, "myflash")
        assert e.value.msgid == "DLB824E"
        _MyFlash.profile = {"establish_s": 0.25, "background_copy_mb_s": 50.0}
        c = service_cost(prof, "myflash")
        assert (c.establish_s, c.background_mb_s) == (0.25, 50.0)
        # the built-ins are priced by the profile's own fields, named by the facade
        assert service_cost(prof, "snapshot").establish_s == prof.snapshot_s
        assert service_cost(prof, "snapshot").background_mb_s == 0.0
        assert service_cost(prof, "timefinder").establish_s == prof.clone_activate_s
    finally:
        registry.unregister("myflash")
        _MyFlash.__dict__.get("profile") and delattr(_MyFlash, "profile")


@pytest.mark.parametrize("service", list(KIND_OF))
def test_a_clone_is_the_point_in_time_and_completes(site, service):
    kind, subname, pfx = KIND_OF[service]
    sub = site.subsystem(subname)
    src = site.volume(pfx + "0001", writable=True)
    before = [_records(src.read_track(t)) for t in range(*RUNS[0])]
    physical = []
    rep = replication.establish(sub, service, pfx + "0001", pfx + "0002", RUNS, RUNS, background_copy=True,
                                on_physical=physical.append)
    for t in range(RUNS[0][0], RUNS[0][0] + 5):  # host writes after the point in time
        src.write_track(t, _track(src, t, 2))
    pointer = replication.mover(service).pointer_copy
    assert rep.physically_complete() == pointer and rep.settled() == pointer
    assert rep.active() != pointer and physical == ([rep] if pointer else [])
    # (TimeFinder copies a track on access: reading the whole target completes it)
    tgt = site.volume(pfx + "0002")
    assert [_records(tgt.read_track(t)) for t in range(*RUNS[0])] == before
    rep.drain() if rep.svc.capabilities.background_copy else None
    assert rep.physically_complete() and rep.settled() and not rep.active()
    assert [r.id for r in physical] == [rep.id]  # once, through the completion events
    assert [_records(site.volume(pfx + "0002").read_track(t)) for t in range(*RUNS[0])] == before
    busy, finished = replication.holders(sub, service, [(pfx + "0002", RUNS, "target")])
    assert busy == []
    assert finished == ([rep.id] if replication.mover(service).holds_when_complete else [])


@pytest.mark.parametrize("service", ["flashcopy", "timefinder"])
def test_a_nocopy_shadow_is_busy_until_withdrawn(site, service):
    kind, subname, pfx = KIND_OF[service]
    sub = site.subsystem(subname)
    rep = replication.establish(sub, service, pfx + "0001", pfx + "0002", RUNS, RUNS, background_copy=False,
                                on_physical=lambda r: pytest.fail("a NOCOPY shadow never completes"))
    assert rep.active() and not rep.settled()
    busy, finished = replication.holders(sub, service, [(pfx + "0001", [(20, 21)], "source")])
    assert len(busy) == 1 and busy[0].startswith(f"{replication.mover(service).title} {rep.id} (") and not finished
    assert replication.holders(sub, service, [(pfx + "0001", [(40, 50)], "source")]) == ([], [])
    rep.withdraw()
    assert rep.settled() and not rep.active()
    assert replication.holders(sub, service, [(pfx + "0001", RUNS, "source")]) == ([], [])


@pytest.mark.parametrize("service", list(KIND_OF))
def test_copy_back_restores_the_source_and_ends_the_copy(site, service):
    kind, subname, pfx = KIND_OF[service]
    sub = site.subsystem(subname)
    src = site.volume(pfx + "0001", writable=True)
    want = [_records(src.read_track(t)) for t in range(*RUNS[0])]
    # the "clone" on 0002, then the source is overwritten and copied back from it
    clone = replication.establish(sub, service, pfx + "0001", pfx + "0002", RUNS, RUNS, background_copy=True)
    clone.drain() if clone.svc.capabilities.background_copy else None
    clone.withdraw()
    for t in range(*RUNS[0]):
        src.write_track(t, _track(src, t, 3))
    rep = replication.copy_back(sub, service, pfx + "0002", pfx + "0001", RUNS, RUNS)
    assert rep.settled()
    assert [_records(site.volume(pfx + "0001").read_track(t)) for t in range(*RUNS[0])] == want
    assert replication.holders(sub, service, [(pfx + "0001", RUNS, "target")])[0] == []


# the modules that used to branch on a service's name; they ask the facade now
DISPATCH = ["dasdlab/engine/hpic.py", "dasdlab/engine/recovery.py", "dasdlab/engine/timemodel.py",
            "dasdlab/bench/scenario.py", "dasdlab/host/dss/runner.py"]


@pytest.mark.parametrize("path", DISPATCH)
def test_host_programs_do_not_name_services(path):
    names = set(registry.BUILT_INS) | {f"{p}-{s}" for p in ("copy", "fdump") for s in registry.BUILT_INS}
    tree = ast.parse((ROOT / path).read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    found = [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
             and isinstance(n.value, str) and id(n) not in docs and n.value in names]
    assert found == [], f"{path} names copy services; ask dasdlab.host.replication instead"
