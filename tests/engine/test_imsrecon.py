"""RECON (DBRC) records, database commands and their wrong-state message ids, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dasdlab.cli.main import run
from dasdlab.emulator.site import Site
from dasdlab.engine import commands as cmds
from dasdlab.engine.database import define, load, parse_size
from dasdlab.engine.errors import ImsError
from dasdlab.engine.recon import Recon
from dasdlab.engine.system import ImsSystem
from dasdlab.engine.workload import Workload, WorkloadSpec

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "dbd"


@pytest.fixture
def ims(tmp_path):
    site = Site.init(tmp_path / "site")
    site.add_volume("DS8K1", "IMS001", "3390-1")
    define(site, FIX / "hdamdb01.dbd")
    load(site, "HDAMDB01", parse_size("1MiB"), 1)
    yield site
    site.close()


def recon_files(site):
    return {p.name: p.read_bytes() for p in (site.path / "ims").glob("recon.db*")}


@pytest.mark.parametrize("text, verb, names", [
    ("/DBR DB HDAMDB01", cmds.DBR, ("HDAMDB01",)),
    ("/dbr database hdamdb01 nofeov", cmds.DBR, ("HDAMDB01",)),
    ("/DBD DB A B", cmds.DBD, ("A", "B")),
    ("/STA DB X", cmds.STA, ("X",)),
    ("/START DATABASE X", cmds.STA, ("X",)),
    ("UPDATE DB NAME(X) START(QUIESCE) OPTION(HOLD)", cmds.QUIESCE_HOLD, ("X",)),
    ("UPD DB NAME(X) START(QUIESCE)", cmds.QUIESCE, ("X",)),
    ("UPDATE DB NAME(X,Y) STOP(QUIESCE)", cmds.RELEASE, ("X", "Y")),
    ("UPDATE DB NAME(X) STOP(ACCESS)", cmds.DBR, ("X",)),
    ("UPDATE DB NAME(X) STOP(UPDATES)", cmds.DBD, ("X",)),
    ("UPDATE DB NAME(X) START(ACCESS)", cmds.STA, ("X",)),
])
def test_parse(text, verb, names):
    c = cmds.parse(text)
    assert (c.verb, c.names) == (verb, names)


@pytest.mark.parametrize("text", ["/DBX DB A", "/DBR A", "/DBR DB", "UPDATE DB START(ACCESS)",
                                  "UPDATE DB NAME(A) START(ACCESS) STOP(ACCESS)", "UPDATE DB NAME(A) STOP(ACCESS) OPTION(HOLD)",
                                  "DELETE DB A"])
def test_parse_errors(text):
    with pytest.raises(ImsError) as ei:
        cmds.parse(text)
    assert ei.value.msgid == "DLB570E"


def test_wrong_state_message_ids_and_nothing_changes(ims):
    system = ImsSystem(ims)
    system.start()
    system.open("HDAMDB01")
    recon = Recon.of_site(ims.path)
    cases = [  # (state-setting verb or None, verb that must fail, message id)
        (None, cmds.STA, "DLB574E"),
        (None, cmds.RELEASE, "DLB577E"),
        (cmds.DBR, cmds.DBR, "DLB571E"),
        (None, cmds.DBD, "DLB573E"),  # still stopped
        (None, cmds.QUIESCE_HOLD, "DLB576E"),
        (cmds.STA, cmds.STA, "DLB574E"),
        (cmds.DBD, cmds.DBD, "DLB572E"),
        (None, cmds.QUIESCE, "DLB576E"),
    ]
    for setup, verb, msgid in cases:
        if setup:
            system.apply_verb(setup, "HDAMDB01")
        before = recon.db("HDAMDB01")
        with pytest.raises(ImsError) as ei:
            system.apply_verb(verb, "HDAMDB01")
        assert ei.value.msgid == msgid, (setup, verb, str(ei.value))
        assert recon.db("HDAMDB01") == before
    system.apply_verb(cmds.STA, "HDAMDB01")
    recon.set_recovery_needed("HDAMDB01", "HDAMDD02")
    system.apply_verb(cmds.DBR, "HDAMDB01")
    with pytest.raises(ImsError) as ei:
        system.apply_verb(cmds.STA, "HDAMDB01")
    assert ei.value.msgid == "DLB575E" and "HDAMDD02" in str(ei.value)
    recon.set_recovery_needed("HDAMDB01", None, False)
    assert "RC=0" in system.start_db("HDAMDB01")
    system.shutdown()
    recon.close()


def test_authorization(ims):
    recon = Recon.of_site(ims.path)
    system = ImsSystem(ims)
    system.start()
    system.open("HDAMDB01")
    assert [a["level"] for a in recon.authorizations("HDAMDB01")] == ["UPDATE"]
    # a batch image copy cannot read while the online system may update ...
    with pytest.raises(ImsError) as ei:
        recon.authorize("HDAMDB01", "ICBATCH", "READ", "BATCH", 0.0, pid=1)
    assert ei.value.msgid == "DLB553E"
    # ... but can after /DBD (online keeps read) or /DBR
    system.readonly("HDAMDB01")
    recon.authorize("HDAMDB01", "ICBATCH", "READ", "BATCH", 0.0, pid=1)
    recon.unauthorize("HDAMDB01", "ICBATCH")
    system.stop("HDAMDB01")
    assert recon.authorizations("HDAMDB01") == []
    with pytest.raises(ImsError) as ei:
        recon.authorize("HDAMDB01", "IMS2", "UPDATE", "ONLINE", 0.0)
    assert ei.value.msgid == "DLB550E"
    # a batch recovery holding update authorization blocks /STA
    recon.authorize("HDAMDB01", "RECOVER", "UPDATE", "BATCH", 0.0, pid=1)
    with pytest.raises(ImsError) as ei:
        system.start_db("HDAMDB01")
    assert ei.value.msgid == "DLB578E"
    recon.unauthorize("HDAMDB01", "RECOVER")
    system.start_db("HDAMDB01")
    system.shutdown()
    recon.close()


def test_image_registration_and_purge_time(ims):
    system = ImsSystem(ims, checkpoint_interval=2.0)
    system.start()
    wl = Workload(system, "HDAMDB01", WorkloadSpec(rate=200, duration=7, seed=1))
    wl.run()
    system.shutdown()
    recon = Recon.of_site(ims.path)
    cks = recon.checkpoints()
    assert len(cks) >= 4 and all(b["time"] > a["time"] for a, b in zip(cks, cks[1:]))
    clean = recon.register_image("HDAMDB01", "HDAMDD01", type="BATCH", run_time=5.5, stop_time=5.9,
                                 ic1=("IC.HDAMDB01.HDAMDD01.IC1", "IMS001"), run_seq=1234)
    assert clean["purge_time"] == 5.5 and clean["purge_seq"] == 1234
    fuzzy = recon.register_image("HDAMDB01", "HDAMDD02", type="SMSCIC", run_time=5.5, stop_time=6.0,
                                 ic1=("IC.A", "IMS001"), ic2=("IC.B", None), format="FR")
    ck = max((c for c in cks if c["time"] <= 5.5), key=lambda c: c["seq"])
    assert fuzzy["purge_time"] == ck["time"] < 5.5 and fuzzy["purge_seq"] == ck["seq"]
    assert recon.images("HDAMDB01", "HDAMDD02")[0]["extra"] == {"format": "FR"}
    for bad, msgid in ((dict(type="NOPE"), "DLB555E"), (dict(type="BATCH", ddn="XX"), "DLB556E"),
                       (dict(type="BATCH", stop_time=1.0), "DLB557E")):
        args = dict(dbd="HDAMDB01", ddn="HDAMDD01", run_time=5.0, ic1=("IC.X", None)) | bad
        with pytest.raises(ImsError) as ei:
            recon.register_image(**args)
        assert ei.value.msgid == msgid
    allocs = recon.allocs("HDAMDB01")
    assert {a["ddn"] for a in allocs} == {"HDAMDD01", "HDAMDD02"}
    assert all(a["dealloc_time"] is not None and a["log_dsn"] for a in allocs)
    recon.close()


def test_cli_define_load_workload_recon_ims(tmp_path, capsys):
    site = tmp_path / "s"
    assert run(["site", "init", str(site)]) == 0
    assert run(["site", "add-volume", str(site), "DS8K1", "IMS001", "--model", "3390-1"]) == 0
    assert run(["db", "define", "--site", str(site), str(FIX / "hidamdb1.dbd")]) == 0
    assert run(["db", "load", "--site", str(site), "HIDAMDB1", "--size", "1MiB", "--seed", "1"]) == 0
    assert run(["workload", "run", "--site", str(site), "HIDAMDB1", "--rate", "2000", "--duration", "2s",
                "--seed", "1"]) == 0
    assert run(["db", "verify", "--site", str(site), "HIDAMDB1", "--ddn", "HIDAMDD1"]) == 0
    capsys.readouterr()
    assert run(["recon", "list", "--site", str(site), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(data) == ["allocs", "cas", "databases", "groups", "images", "logs"]
    assert all(isinstance(v, list) for v in data.values())
    assert data["databases"][0]["dbd"] == "HIDAMDB1" and data["logs"][0]["status"] == "CLOSED"
    assert run(["ims", "--site", str(site), "/DBR DB HIDAMDB1"]) == 0
    assert "COMPLETED" in capsys.readouterr().out
    before = recon_files(Site.open(site))
    assert run(["ims", "--site", str(site), "/DBR DB HIDAMDB1"]) == 8
    assert "DLB571E" in capsys.readouterr().err
    assert run(["ims", "--site", str(site), "/DBR DB NOSUCH"]) == 8
    assert "DLB521E" in capsys.readouterr().err
    assert recon_files(Site.open(site)) == before
    # a workload against a stopped database refuses every update
    assert run(["workload", "run", "--site", str(site), "HIDAMDB1", "--duration", "1s"]) == 0
    assert " 0 updates committed" in capsys.readouterr().out
    assert run(["recon", "list", "--site", str(site)]) == 0
    out = capsys.readouterr().out
    assert "STOPPED" in out and "IMS.OLDS.L000001" in out


def test_cli_bad_inputs_unchanged(tmp_path, capsys):
    site = tmp_path / "s"
    run(["site", "init", str(site)])
    run(["site", "add-volume", str(site), "DS8K1", "IMS001", "--model", "3390-1"])
    bad = tmp_path / "bad.dbd"
    bad.write_text((FIX / "hdamdb01.dbd").read_text().replace("BLOCK=2048", "SIZE=2048"))
    raw = bad.read_bytes()
    assert run(["db", "define", "--site", str(site), str(bad)]) == 8
    err = capsys.readouterr().err
    assert "DLB509E" in err and "line 12 column 48" in err
    assert bad.read_bytes() == raw and not (site / "ims" / "dbdlib" / "HDAMDB01.dbd").exists()
    assert run(["db", "define", "--site", str(site), str(FIX / "hdamdb01.dbd")]) == 0
    assert run(["db", "define", "--site", str(site), str(FIX / "hdamdb01.dbd")]) == 8
    assert "DLB520E" in capsys.readouterr().err
    assert run(["db", "load", "--site", str(site), "HDAMDB01", "--size", "lots"]) == 8
    assert "DLB529E" in capsys.readouterr().err
    assert run(["db", "verify", "--site", str(site), "HDAMDB01"]) == 8
    assert "DLB528E" in capsys.readouterr().err
    assert run(["workload", "run", "--site", str(site), "HDAMDB01", "--skew", "pareto"]) == 8
    assert "DLB592E" in capsys.readouterr().err


def test_verify_detects_a_damaged_block(tmp_path, capsys):
    site = Site.init(tmp_path / "s")
    site.add_volume("DS8K1", "IMS001", "3390-1")
    define(site, FIX / "hdamdb01.dbd")
    load(site, "HDAMDB01", parse_size("1MiB"), 1)
    from dasdlab.engine.database import ImsDatabase

    d = ImsDatabase.open(site, "HDAMDB01").dbds[1]
    d.dataset().write_block(17, bytes(d.block_size))  # through the write path, behind IMS's back
    site.close()
    assert run(["db", "verify", "--site", str(tmp_path / "s"), "HDAMDB01"]) == 8
    err = capsys.readouterr().err
    assert "DLB591E" in err and "HDAMDD02" in err and "block 17 offset 0" in err


def test_site_without_ims(tmp_path, capsys):
    site = tmp_path / "s"
    run(["site", "init", str(site)])
    capsys.readouterr()
    assert run(["recon", "list", "--site", str(site), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"databases": [], "allocs": [], "logs": [], "images": [],
                                                  "groups": [], "cas": []}
    assert run(["ims", "--site", str(site), "/DBR DB HDAMDB01"]) == 8
    assert "DLB558E" in capsys.readouterr().err
    assert run(["workload", "run", "--site", str(site), "HDAMDB01"]) == 8
    assert "DLB558E" in capsys.readouterr().err
    assert not (site / "ims").exists()
