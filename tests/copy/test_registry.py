"""The registry: built-ins, plug-ins found through a real entry point, ``services list``
and ``site add-service``.

The plug-in is a real distribution: a package and its ``.dist-info`` directory (with
``entry_points.txt``) in a temporary folder put on the path, which is what ``pip
install`` leaves in site-packages; importlib.metadata finds it as it finds any other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dasdlab.cli.main import run
from dasdlab.emulator.services import registry

PLUGIN = textwrap.dedent('''
    """A whole-volume copy made at once: the smallest service the contract allows."""
    import numpy as np

    from dasdlab.emulator.services.contract import Capabilities, CopyService, Relationship


    class WholeCopy(CopyService):
        name = "wholecopy"
        capabilities = Capabilities(
            levels={"volume"}, background_copy=False, nocopy=False, fast_replication=True,
            virtual_cc=None, point_in_time_reader="target", cross_subsystem=False,
            subsystem_kinds={"*"})

        def establish(self, source, target=None, *, source_runs=None, target_runs=None,
                      background_copy=None, **options):
            src = self.sub.open_volume(source)
            tgt = self.sub.open_volume(target, writable=True)
            for t in range(src.ntracks):
                if src.written.test(t):
                    tgt.store_track(t, src.own_track(t))
            rid = self._new_id("WC")
            now = self.sub.clock.now()
            self.store.put(rid, {"source": source.upper(), "target": target.upper(),
                                 "n": src.ntracks, "at": now})
            self._announce("logical", rid)
            self._announce("physical", rid)
            return self.describe(rid)

        def query(self, rid=None):
            keys = [rid.upper()] if rid else self.store.keys()
            out = []
            for k in keys:
                r = self.store.get(k)
                out.append(Relationship.make(
                    id=k, service=self.name, state="COPIED", source=r["source"],
                    source_runs=[(0, r["n"])], target=r["target"], target_runs=[(0, r["n"])],
                    tracks_total=r["n"], tracks_copied=r["n"], cow_count=0, logical_at=r["at"],
                    physical_at=r["at"]))
            return out

        def read_point_in_time(self, rid, track):
            r = self.store.get(rid.upper())
            return np.array(self.sub.open_volume(r["target"]).own_track(track))


    class NotAService:
        name = "notaservice"
''')


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """A folder holding the installed distribution ``dasdlab-wholecopy`` (package and
    dist-info), on ``sys.path`` and in ``PYTHONPATH`` for subprocesses."""
    root = tmp_path / "site-packages"
    (root / "wholecopy_plugin").mkdir(parents=True)
    (root / "wholecopy_plugin" / "__init__.py").write_text(PLUGIN)
    info = root / "dasdlab_wholecopy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dasdlab-wholecopy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[dasdlab.copy_services]\n"
        "wholecopy = wholecopy_plugin:WholeCopy\n"
        "notaservice = wholecopy_plugin:NotAService\n"
        "missing = wholecopy_plugin:Nowhere\n"
        "flashcopy = wholecopy_plugin:WholeCopy\n"
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    registry.refresh()
    yield root
    sys.modules.pop("wholecopy_plugin", None)
    registry.refresh()


def _dasdlab(*args) -> subprocess.CompletedProcess:
    code = "import sys; from dasdlab.cli.main import run; sys.exit(run(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_built_ins_only_without_plugins():
    registry.refresh()
    names = set(registry.services())
    assert {"flashcopy", "concurrent_copy", "snapshot", "timefinder"} <= names
    assert all(registry.get(n).origin == "built-in" for n in registry.BUILT_INS)
    with pytest.raises(Exception) as e:
        registry.get("nosuch")
    assert e.value.msgid == "DLB800E"


def test_entry_point_plugin_is_found_and_broken_ones_reported(plugin_path):
    info = registry.get("wholecopy")
    assert info.origin == "plug-in:dasdlab-wholecopy"
    assert info.cls.__module__ == "wholecopy_plugin"
    assert info.capabilities.runs_on("symmetrix") and info.capabilities.fast_replication
    assert registry.get("flashcopy").origin == "built-in"  # a plug-in cannot take a built-in's name
    assert "notaservice" not in registry.services() and "missing" not in registry.services()
    probs = registry.problems()
    assert sorted(p[:7] for p in probs) == ["DLB801E", "DLB801E", "DLB809E"]
    assert any("notaservice" in p and "not a CopyService" in p for p in probs)
    assert any("missing" in p and "Nowhere" in p for p in probs)


def test_services_list_json_in_a_new_process(plugin_path):
    r = _dasdlab("services", "list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    rows = {s["name"]: s for s in data["services"]}
    assert set(rows) == {"flashcopy", "concurrent_copy", "snapshot", "timefinder", "wholecopy"}
    assert rows["wholecopy"]["origin"] == "plug-in:dasdlab-wholecopy"
    assert rows["wholecopy"]["subsystem_kinds"] == ["*"]
    assert rows["flashcopy"]["capabilities"]["virtual_cc"] == "flash"
    assert rows["concurrent_copy"]["subsystem_kinds"] == ["ds8000", "rva"]
    assert rows["timefinder"]["capabilities"] == registry.get("timefinder").capabilities.as_dict()
    assert len(data["problems"]) == 3
    plain = _dasdlab("services", "list")
    assert plain.returncode == 0 and "wholecopy" in plain.stdout and "DLB809E" in plain.stderr


def test_site_add_service_accepts_and_persists(plugin_path, tmp_path):
    site_dir = tmp_path / "s"
    assert run(["site", "init", str(site_dir)]) == 0
    for v in ("SRC001", "TGT001"):
        assert run(["site", "add-volume", str(site_dir), "VMAX1", v, "--model", "3390-1", "--cylinders", "2"]) == 0
    r = _dasdlab("site", "add-service", str(site_dir), "VMAX1", "wholecopy")
    assert r.returncode == 0, r.stderr
    assert "DLB804I" in r.stdout
    cfg = json.loads((site_dir / "site.json").read_text())
    assert cfg["subsystems"]["VMAX1"]["services"] == ["wholecopy"]
    # another process sees the service on the subsystem and uses it through the contract
    code = textwrap.dedent(f"""
        from dasdlab.emulator.site import Site
        s = Site.open({str(site_dir)!r})
        sub = s.subsystem("VMAX1")
        assert sub.capabilities == {{"timefinder", "wholecopy"}}, sub.capabilities
        src = s.volume("SRC001", writable=True)
        img = src.own_track(0).copy()
        rel = sub.service("wholecopy").establish("SRC001", "TGT001")
        assert (sub.service("wholecopy").read_point_in_time(rel.id, 0) == img).all()
        print(rel.id, rel.tracks_copied)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["WC0001", "30"]


def test_site_add_service_refuses_with_message_ids(plugin_path, tmp_path, capsys):
    site_dir = tmp_path / "s"
    assert run(["site", "init", str(site_dir)]) == 0
    before = (site_dir / "site.json").read_bytes()
    assert run(["site", "add-service", str(site_dir), "DS8K1", "timefinder"]) == 8
    assert "DLB802E" in capsys.readouterr().err
    assert run(["site", "add-service", str(site_dir), "DS8K1", "flashcopy"]) == 8
    assert "DLB803E" in capsys.readouterr().err
    assert run(["site", "add-service", str(site_dir), "DS8K1", "nosuch"]) == 8
    assert "DLB800E" in capsys.readouterr().err
    assert (site_dir / "site.json").read_bytes() == before
    # a subsystem without the service still says so with its own message
    from dasdlab.emulator.site import Site

    s = Site.open(site_dir)
    with pytest.raises(Exception) as e:
        s.subsystem("DS8K1").service("wholecopy")
    assert e.value.msgid == "DLB311E"
    s.close()


def test_a_built_in_of_another_kind_is_refused_but_a_plugin_for_any_kind_is_not(plugin_path, tmp_path):
    from dasdlab.emulator.site import Site

    s = Site.init(tmp_path / "s")
    try:
        for sub in ("DS8K1", "RVA1", "VMAX1"):
            assert s.add_service(sub, "wholecopy").name == "wholecopy"
            assert "wholecopy" in s.subsystem(sub).capabilities
        assert Path(tmp_path / "s" / "site.json").read_text().count('"wholecopy"') == 3
    finally:
        s.close()


def test_capability_questions_replace_service_names(plugin_path):
    """Virtual Concurrent Copy and cache sidefiles are decided by declared capabilities,
    so a plug-in that declares a virtual CC mechanism counts like the built-ins."""
    from dasdlab.host.dss import cache_cc_possible, virtual_cc_possible

    assert registry.virtual_cc_mechanisms({"flashcopy", "concurrent_copy"}) == ["flashcopy"]
    assert registry.virtual_cc_mechanisms({"snapshot", "flashcopy", "timefinder"}) == ["snapshot", "flashcopy"]
    assert registry.virtual_cc_mechanisms({"timefinder", "wholecopy", "unknown"}) == []
    assert virtual_cc_possible({"concurrent_copy", "snapshot"}) and not virtual_cc_possible({"timefinder"})
    assert cache_cc_possible({"concurrent_copy", "flashcopy"})
    assert not cache_cc_possible({"concurrent_copy", "snapshot"}) and not cache_cc_possible({"flashcopy"})
    assert registry.capable({"flashcopy", "snapshot", "timefinder", "concurrent_copy", "wholecopy"},
                            lambda c: c.fast_replication) == ["flashcopy", "snapshot", "timefinder", "wholecopy"]


def test_a_class_registered_in_process_can_be_added_and_used(tmp_path):
    """register() is the in-process form of an entry point (tests, notebooks)."""
    from dasdlab.emulator.services.contract import Capabilities, CopyService
    from dasdlab.emulator.site import Site
    from dasdlab.errors import CopyServiceError

    class Nothing(CopyService):
        name = "nothing"
        capabilities = Capabilities(levels={"volume"}, background_copy=False, nocopy=True,
                                    fast_replication=False, virtual_cc=None, point_in_time_reader="target",
                                    cross_subsystem=False, subsystem_kinds={"rva"})

    class Impostor(Nothing):
        name = "snapshot"

    with pytest.raises(CopyServiceError) as e:
        registry.register(Impostor)
    assert e.value.msgid == "DLB809E"
    info = registry.register(Nothing)
    try:
        assert info.origin == "registered" and registry.get("nothing").cls is Nothing
        s = Site.init(tmp_path / "s")
        with pytest.raises(CopyServiceError) as e:
            s.add_service("DS8K1", "nothing")
        assert e.value.msgid == "DLB802E"
        s.add_service("RVA1", "nothing")
        svc = s.subsystem("RVA1").service("nothing")
        assert svc.query() == [] and svc.drain() == 0
        for call, msgid in ((lambda: svc.describe("X1"), "DLB805E"),
                            (lambda: svc.establish("A", "B"), "DLB806E")):
            with pytest.raises(CopyServiceError) as e:
                call()
            assert e.value.msgid == msgid
        s.close()
    finally:
        registry.unregister("nothing")
    assert "nothing" not in registry.services()


def test_subsystem_kinds_by_name(tmp_path):
    from dasdlab.emulator.site import Site
    from dasdlab.emulator.subsystem import Subsystem
    from dasdlab.errors import CopyServiceError

    assert set(registry.kinds()) >= {"ds8000", "rva", "symmetrix"}
    assert registry.builtin_services_of("rva") == {"snapshot", "concurrent_copy"}
    with pytest.raises(CopyServiceError) as e:
        registry.kind("tape")
    assert e.value.msgid == "DLB808E"

    class Tiny(Subsystem):
        kind = "tiny"
        capabilities = frozenset({"timefinder"})
        DEFAULT_SETTINGS = {"clone_targets_per_source": 2, "clone_background_tracks_per_s": 10.0}

    registry.register_kind(Tiny)
    try:
        with pytest.raises(CopyServiceError):
            registry.register_kind(registry.kind("ds8000"))  # a built-in kind again
        s = Site.init(tmp_path / "s", subsystems=(("T1", "tiny"),))
        assert s.subsystem("T1").kind == "tiny" and s.subsystem("T1").capabilities == {"timefinder"}
        s.close()
    finally:
        registry._extra_kinds.pop("tiny", None)
