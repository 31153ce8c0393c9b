"""Every copy service with fast replication is an image copy method: the example plug-in
as outage method ``copy-splitmirror`` and as ``DATA_MOVER=SPLITMIRROR`` in ICEIN, priced
by the costs it declares, verified in a real outage run next to a built-in."""

from __future__ import annotations

import json

import pytest

from dasdlab.bench import methods
from dasdlab.bench.scenario import ScenarioSpec, estimate_copy_s, parse_methods
from dasdlab.cli.main import run
from dasdlab.engine import hpicplan
from dasdlab.engine.icein import parse
from dasdlab.engine.timemodel import get_profile, service_cost
from dasdlab.errors import DasdlabError

pytestmark = pytest.mark.usefixtures("installed")


def _statement(options: str, data_mover: str | None = None):
    # DATA_MOVER is a GLOBAL-only keyword (S79)
    glob = f"  GLOBAL DATA_MOVER={data_mover}\n" if data_mover else ""
    return parse(f"{glob}  IC DBD=OUTAGEDB,ICOUT=*,{options}\n").statements[0]


def test_the_plugin_is_an_outage_method():
    m = methods.available()["copy-splitmirror"]
    assert m.service == "splitmirror" and m.subsystem == "DS8K1" and m.fast_recovery
    assert "DATA_MOVER=SPLITMIRROR" in m.icein("OUTAGEDB", "OUTAGDD1")
    assert parse_methods("copy-splitmirror,standard") == ("standard", "copy-splitmirror")
    assert "copy-splitmirror" in parse_methods("all")
    # a service without fast replication is not a method
    assert "copy-concurrent_copy" not in methods.available()


def test_data_mover_names_a_copy_service_in_icein():
    st = _statement("FASTIC=(REQ,COPY)", "SPLITMIRROR")
    assert st.options.data_mover == "SPLITMIRROR"
    p = hpicplan.plan(st, {"flashcopy", "concurrent_copy", "splitmirror"}, "DS8K1")
    assert (p.process, p.service, p.release_at) == ("copy-splitmirror", "splitmirror", "logical")
    assert hpicplan.method_of(p.process) == "copy-splitmirror"
    with pytest.raises(DasdlabError) as e:
        hpicplan.plan(st, {"flashcopy", "concurrent_copy"}, "DS8K1")
    assert e.value.msgid == "DLB825E" and "splitmirror" in e.value.text
    with pytest.raises(DasdlabError) as e:
        _statement("FASTIC=(REQ,FDUMP)", "SPLITMIRROR")  # it makes clones, not FDUMP shadows
    assert e.value.msgid == "DLB611E"
    assert _statement("FASTIC=N", "SPLITMIRROR").options.fastic is None  # ignored there, as any DATA_MOVER
    with pytest.raises(DasdlabError) as e:
        _statement("FASTIC=(REQ,COPY)", "NOSUCH")
    assert e.value.msgid == "DLB608E" and "SPLITMIRROR" in e.value.text


def test_the_plugin_declares_its_costs_per_profile():
    fast, slow = get_profile("ds8000-ficon16"), get_profile("3390-3990")
    assert service_cost(fast, "splitmirror").establish_s == 0.05
    assert service_cost(slow, "splitmirror").establish_s == 0.5  # its per-profile override
    assert service_cost(fast.scaled(4), "splitmirror").establish_s == 0.05  # a command does not scale
    assert service_cost(fast, "splitmirror").background_mb_s == 0
    # the built-ins keep the profile's own fields
    assert service_cost(fast, "flashcopy").establish_s == fast.flashcopy_establish_s
    spec = ScenarioSpec(db_size="1MiB", methods="copy-splitmirror,copy-flashcopy")
    est = {m: estimate_copy_s(spec, methods.available()[m]) for m in spec.methods}
    assert est["copy-splitmirror"] == pytest.approx(fast.db_stop_s + 0.05 + fast.db_start_s)
    assert est["copy-splitmirror"] < est["copy-flashcopy"]  # no background copy after the split


@pytest.mark.slow
def test_an_outage_run_verifies_the_plugin_next_to_a_builtin(tmp_path, capsys):
    code = run(["bench", "outage", "--db-size", "1MiB", "--methods", "standard,copy-splitmirror",
                "--out", str(tmp_path / "out"), "--no-plots", "--json"])
    assert code == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["methods"]}
    sm = rows["copy-splitmirror"]
    assert sm["status"] == "ok" and sm["copy_verified"] and sm["recovery_verified"]
    assert sm["recon_type"] == "SMSOFFLC" and sm["cow_count"] == 0
    p = get_profile("ds8000-ficon16")
    # held from the quiesce to the restart after the split: its declared split cost only
    assert sm["outage_modeled_s"] == pytest.approx(p.db_stop_s + 0.05 + p.db_start_s)
    assert rows["standard"]["copy_verified"]
