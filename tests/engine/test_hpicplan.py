"""FASTIC availability rules: the process chosen for each statement on each subsystem."""

import pytest

from dasdlab.engine.hpicplan import PlanError, plan
from dasdlab.engine.icein import parse

DS8K = frozenset({"flashcopy", "concurrent_copy"})
RVA = frozenset({"snapshot", "concurrent_copy"})
VMAX = frozenset({"timefinder"})
NONE = frozenset()


def st(opts: str, kind: str = "IC"):
    return parse(f"  {kind} DBD=DB1,ICOUT=*{',' + opts if opts else ''}\n").statements[0]


@pytest.mark.parametrize("opts,caps,process,release", [
    ("", DS8K, "standard", "physical"),
    ("FASTIC=N", VMAX, "standard", "physical"),
    ("FASTIC=(PREF,DUMP)", DS8K, "dump-vcc", "logical"),           # DSS ANYPREFERRED: virtual first
    ("FASTIC=(PREF,DUMP),CC_TYPE=CACHE", DS8K, "dump-cc", "logical"),
    ("FASTIC=(REQ,DUMP),CC_TYPE=CACHE", RVA, "dump-vcc", "logical"),  # RVA CC is virtual only
    ("FASTIC=(PREF,DUMP)", VMAX, "dump-plain", "physical"),          # S18 fallback
    ("FASTIC=(PREF,DUMP)", NONE, "dump-plain", "physical"),
    ("FASTIC=(REQ,FDUMP)", DS8K, "fdump-flashcopy", "logical"),
    ("FASTIC=(FREQ,FDUMP)", RVA, "fdump-snapshot", "logical"),
    ("FASTIC=(PREF,FDUMP)", VMAX, "dump-plain", "physical"),
    ("FASTIC=(REQ,COPY)", DS8K, "copy-flashcopy", "logical"),
    ("FASTIC=(FREQ,COPY)", RVA, "copy-snapshot", "logical"),
    ("FASTIC=(PREF,COPY)", DS8K, "copy-flashcopy", "logical"),
    ("FASTIC=(REQ,COPY),DATA_MOVER=EMCSNAP", VMAX, "copy-timefinder", "logical"),
])
def test_process_and_release(opts, caps, process, release):
    p = plan(st(opts), caps)
    assert (p.process, p.release_at) == (process, release)


@pytest.mark.parametrize("opts,caps,msgid", [
    ("FASTIC=(REQ,DUMP)", VMAX, "DLB654E"),
    ("FASTIC=(PREF,COPY)", VMAX, "DLB651E"),   # PREF,COPY behaves as REQ,COPY
    ("FASTIC=(REQ,COPY)", NONE, "DLB651E"),
    ("FASTIC=(REQ,FDUMP)", VMAX, "DLB652E"),
    ("FASTIC=(FREQ,COPY)", VMAX, "DLB651E"),
    ("FASTIC=(PREF,COPY),DATA_MOVER=EMCSNAP", DS8K, "DLB650E"),
])
def test_required_services_missing(opts, caps, msgid):
    with pytest.raises(PlanError) as e:
        plan(st(opts), caps, "X")
    assert e.value.msgid == msgid and "line 1" in e.value.text


def test_cic_never_holds():
    for opts, caps in [("", DS8K), ("FASTIC=(REQ,COPY)", DS8K), ("FASTIC=(PREF,DUMP)", RVA)]:
        p = plan(st(opts, "CIC"), caps)
        assert p.release_at == "never-held" and not p.clean
