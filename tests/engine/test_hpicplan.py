"""FASTIC availability rules: the process chosen for each statement on each subsystem."""

import pytest

from dasdlab.engine.hpicplan import PlanError, plan
from dasdlab.engine.icein import parse

DS8K = frozenset({"flashcopy", "concurrent_copy"})
RVA = frozenset({"snapshot", "concurrent_copy"})
VMAX = frozenset({"timefinder"})
NONE = frozenset()


def st(opts: str, kind: str = "IC"):
    """A statement with ``opts``; the GLOBAL-only keywords go on a GLOBAL statement."""
    words = [o for o in opts.split(",") if o] if "(" not in opts else _split(opts)
    glob = [o for o in words if o.split("=")[0] in ("DATA_MOVER", "TOIAUTO_Q")]
    own = [o for o in words if o not in glob]
    text = (f"  GLOBAL {','.join(glob)}\n" if glob else "") + \
        f"  {kind} DBD=DB1,ICOUT=*{',' + ','.join(own) if own else ''}\n"
    return parse(text).statements[0]


def _split(opts: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in opts + ",":
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [o for o in out if o]


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
    ("FASTIC=(REQ,FDUMP),DATA_MOVER=EMCSNAP", VMAX, "fdump-timefinder", "logical"),
    ("FASTIC=(PREF,FDUMP),DATA_MOVER=EMCSNAP", VMAX, "fdump-timefinder", "logical"),
    ("FASTIC=(PREF,DUMP),DATA_MOVER=EMCSNAP", DS8K, "dump-vcc", "logical"),  # DUMP ignores DATA_MOVER
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
    ("FASTIC=(PREF,FDUMP),DATA_MOVER=EMCSNAP", DS8K, "DLB650E"),  # no fallback without TimeFinder
])
def test_required_services_missing(opts, caps, msgid):
    s = st(opts)
    with pytest.raises(PlanError) as e:
        plan(s, caps, "X")
    assert e.value.msgid == msgid and f"line {s.line}" in e.value.text


def test_cic_never_holds():
    for opts, caps in [("", DS8K), ("FASTIC=(REQ,COPY)", DS8K), ("FASTIC=(PREF,DUMP)", RVA)]:
        p = plan(st(opts, "CIC"), caps)
        assert p.release_at == "never-held" and not p.clean


def test_data_mover_emcsnap_applies_to_fdump_and_copy():
    """DATA_MOVER=EMCSNAP is accepted with FDUMP and makes the shadow with TimeFinder, as
    it makes the COPY clone; it does not change a DUMP."""
    f = plan(st("FASTIC=(REQ,FDUMP),DATA_MOVER=EMCSNAP"), VMAX)
    c = plan(st("FASTIC=(REQ,COPY),DATA_MOVER=EMCSNAP"), VMAX)
    assert (f.process, f.service, f.fast_recovery) == ("fdump-timefinder", "timefinder", False)
    assert (c.process, c.service, c.fast_recovery) == ("copy-timefinder", "timefinder", True)
    assert plan(st("FASTIC=(REQ,DUMP),CC_TYPE=CACHE,DATA_MOVER=EMCSNAP"), DS8K).process == "dump-cc"
