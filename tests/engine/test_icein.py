"""ICEIN control statements: syntax, GLOBAL defaults, illegal combinations."""

from pathlib import Path

import pytest

from dasdlab.engine.icein import parse, parse_file
from dasdlab.errors import ParseError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "icein"


def test_every_fixture_parses_to_its_method():
    expected = {
        "standard": "standard", "standard-quiesce": "standard", "cic": "standard",
        "compressed": "standard", "dump-cc": "dump", "dump-vcc": "dump", "fdump": "fdump",
        "copy-flashcopy": "copy", "copy-snapshot": "copy", "copy-timefinder": "emcsnap",
        "pref-fallback": "dump",
    }
    for name, method in expected.items():
        ic = parse_file(FIX / f"{name}.icein")
        assert [s.options.method for s in ic.statements] == [method], name
    assert parse_file(FIX / "cic.icein").statements[0].concurrent
    q = parse_file(FIX / "standard-quiesce.icein").statements[0]
    assert q.options.quiesce and q.options.copies == 2


def test_global_defaults_and_overrides_with_continuation_and_comments():
    ic = parse_file(FIX / "all-dbds.icein")
    a, b = ic.statements
    assert ic.glob.fastic == ("PREF", "DUMP")
    assert a.dbd == "HDAMDB01" and a.ddn is None and a.options.fastic == ("REQ", "COPY") and a.line == 3
    assert b.kind == "CIC" and b.options.fastic is None and b.options.ichlq == "IMSIC"


@pytest.mark.parametrize("text,msgid,line", [
    ("  IC DBD=X,ICOUT=*,BOGUS=1\n", "DLB609E", 1),
    ("  IC DBD=X,ICOUT=*,FASTIC=(SOON,COPY)\n", "DLB607E", 1),
    ("  IC DBD=X,ICOUT=*,COMP=maybe\n", "DLB603E", 1),
    ("  GLOBAL DBRC=Y\n  IC DBD=X,\n     ICOUT=*,FASTIC=(REQ,COPY),COMP=Y\n", "DLB612E", 2),
    ("  CIC DBD=X,ICOUT=*,DBRC=N\n", "DLB610E", 1),
    ("  IC DBD=X,ICOUT=*,DATA_MOVER=EMCSNAP\n", "DLB622E", 1),
    ("  GLOBAL DBRC=Y\n  CIC DBD=X,\n      TOIAUTO_Q=Y\n", "DLB622E", 3),
    ("  IC DBD=X,ICOUT=(*,*),FASTIC=(REQ,COPY)\n", "DLB613E", 1),
    ("  IC DBD=X,ICOUT=*,FASTIC=(FREQ,DUMP)\n", "DLB614E", 1),
    ("  IC ICOUT=*\n", "DLB618E", 1),
    ("  IC DBD=X,DBD=Y\n", "DLB617E", 1),
    ("  IC DBD=X,\n", "DLB602E", 1),
    ("  COPY DBD=X\n", "DLB600E", 1),
    ("  IC DBD=X\n  GLOBAL DBRC=Y\n", "DLB616E", 2),
    ("* nothing\n", "DLB619E", None),
    ("  IC DBD=X,ICOUT=((*)\n", "DLB601E", 1),
    ("  GLOBAL DDN=A\n  IC DBD=X\n", "DLB604E", 1),
])
def test_bad_statements_name_the_line(text, msgid, line):
    with pytest.raises(ParseError) as e:
        parse(text, "t.icein")
    assert e.value.msgid == msgid
    if line is not None:
        assert f"line {line}" in e.value.text


def test_column_is_reported():
    with pytest.raises(ParseError) as e:
        parse("  IC       DBD=X,ICOUT=*,BOGUS=1\n", "t.icein")
    assert "column 26" in e.value.text


def test_data_mover_and_toiauto_q_are_global_only():
    """DATA_MOVER and TOIAUTO_Q: "Statements that support this keyword: GLOBAL"."""
    for kw in ("DATA_MOVER=EMCSNAP", "DATA_MOVER=ADRDSSU", "TOIAUTO_Q=Y"):
        for kind in ("IC", "AIC", "CIC", "ACIC"):
            with pytest.raises(ParseError) as e:
                parse(f"  {kind} DBD=X,ICOUT=*,FASTIC=(REQ,COPY),{kw}\n", "t.icein")
            col = len(f"  {kind} DBD=X,ICOUT=*,FASTIC=(REQ,COPY),") + 1
            assert e.value.msgid == "DLB622E" and "GLOBAL-only" in e.value.text
            assert e.value.text.startswith(f"t.icein line 1 column {col}:")
    ic = parse("  GLOBAL DATA_MOVER=EMCSNAP,TOIAUTO_Q=Y\n  IC DBD=X,ICOUT=*,FASTIC=(REQ,FDUMP)\n"
               "  IC DBD=Y,ICOUT=*,FASTIC=N\n")
    a, b = ic.statements
    assert a.options.data_mover == "EMCSNAP" and a.options.quiesce and a.options.method == "emcsnap"
    assert b.options.method == "standard"  # DATA_MOVER does not apply to the standard process


def test_toiauto_keyword_operands_and_where_they_may_be_coded():
    """TOIAUTO=Y|N|O on GLOBAL and IC/AIC; the optional operands (EVERY|LAST|NO,
    DBR|DBD, FIRST|SECOND) on GLOBAL only, inherited by an IC's Y or O; not on CIC;
    not together with TOIAUTO_Q=Y."""
    ic = parse("  GLOBAL TOIAUTO=(Y,LAST,DBD)\n  IC DBD=X,ICOUT=*\n  IC DBD=Y,ICOUT=*,TOIAUTO=O\n"
               "  CIC DBD=Z,ICOUT=*\n")
    a, b, c = ic.statements
    assert a.options.toiauto == ("Y", "LAST", "DBD", "FIRST")
    assert b.options.toiauto == ("O", "LAST", "DBD", "FIRST")
    assert parse("  IC DBD=X,ICOUT=*,TOIAUTO=Y\n").statements[0].options.toiauto == ("Y", "EVERY", "DBR", "FIRST")
    assert parse("  IC DBD=X,ICOUT=*\n").statements[0].options.toiauto is None
    for text, msgid in [
        ("  IC DBD=X,ICOUT=*,TOIAUTO=(Y,LAST)\n", "DLB624E"),          # optional operands: GLOBAL only
        ("  GLOBAL TOIAUTO=(N,LAST)\n  IC DBD=X,ICOUT=*\n", "DLB624E"),  # only with Y or O
        ("  GLOBAL TOIAUTO=(Y,SOMETIMES)\n  IC DBD=X,ICOUT=*\n", "DLB624E"),
        ("  GLOBAL TOIAUTO=(Y,EVERY,DBR,FIRST,LOCAL)\n  IC DBD=X,ICOUT=*\n", "DLB624E"),
        ("  CIC DBD=X,ICOUT=*,TOIAUTO=Y\n", "DLB625E"),
        ("  GLOBAL TOIAUTO_Q=Y,TOIAUTO=Y\n  IC DBD=X,ICOUT=*\n", "DLB626E"),
    ]:
        with pytest.raises(ParseError) as e:
            parse(text, "t.icein")
        assert e.value.msgid == msgid, (text, str(e.value))
