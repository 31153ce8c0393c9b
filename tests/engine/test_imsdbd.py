"""DBD sources: the DBDGEN subset, assembler conventions, errors naming line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dasdlab.engine.dbd import Dbd, parse, parse_file, valid_ci_size
from dasdlab.errors import ParseError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "dbd"


def stmt(op: str, operands: str = "", label: str = "") -> str:
    return f"{label:<8} {op:<7} {operands}".rstrip()  # operation col 10, operands col 18


def src(*lines: str) -> str:
    return "\n".join(lines) + "\n"


BASE = [
    stmt("DBD", "NAME=TESTDB,ACCESS=(HDAM,OSAM)"),
    stmt("DATASET", "DD1=TESTDD1,DEVICE=3390,BLOCK=4096"),
    stmt("SEGM", "NAME=ROOT,PARENT=0,BYTES=100"),
    stmt("FIELD", "NAME=(KEY,SEQ,U),BYTES=10,START=1"),
    stmt("DBDGEN"), stmt("FINISH"), stmt("END"),
]


def test_hdam_fixture_two_groups():
    d = parse_file(FIX / "hdamdb01.dbd")
    assert (d.name, d.access, d.method) == ("HDAMDB01", "HDAM", "OSAM")
    assert [(g.ddn, g.dsorg, g.block_size) for g in d.groups] == [("HDAMDD01", "OSAM", 4096),
                                                                  ("HDAMDD02", "OSAM", 2048)]
    assert {s.name: s.group for s in d.segments} == {"CUSTOMER": 0, "ORDER": 0, "HISTORY": 1, "PAYMENT": 1}
    assert d.segments[0].parent is None and d.segments[3].parent == "ORDER"
    assert d.rmname == ("DFSHDC40", 2, 500, 4096)  # continued over column 72
    assert d.segments[0].key.name == "CUSTNO" and d.segments[0].key.bytes == 10
    assert Dbd.from_json(d.to_json()) == d


def test_hidam_fixture_ci_rounded_up():
    d = parse_file(FIX / "hidamdb1.dbd")
    g = d.groups[0]
    assert (d.access, d.method, g.dsorg, g.requested, g.block_size) == ("HIDAM", "VSAM", "ESDS", 4000, 4096)


@given(st.integers(1, 32768))
def test_ci_size_rounding(req):
    ci = valid_ci_size(req)
    assert ci >= req and ci >= 512
    assert (ci <= 8192 and ci % 512 == 0) or (ci > 8192 and ci % 2048 == 0)
    smaller = ci - (512 if ci <= 8192 else 2048)
    assert smaller < req or smaller < 512  # the smallest valid size that holds the request


def test_label_comment_remark_and_continuation():
    text = src(
        "* a comment line",
        stmt("DBD", "NAME=TESTDB,ACCESS=(HIDAM,VSAM)", label="MYDBD") + "   a remark",
        (stmt("DATASET", "DD1=TESTDD1,DEVICE=3390,") .ljust(71) + "X").ljust(80, " ")[:72] + "00000010",
        " " * 15 + "SIZE=8000",
        *BASE[2:],
    )
    d = parse(text)
    assert d.groups[0].block_size == 8192 and d.groups[0].ddn == "TESTDD1"


def where(msg: str) -> tuple[int, int]:
    m = re.search(r"line (\d+) column (\d+)", msg)
    assert m, msg
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("lines, msgid, line, col", [
    # unknown operation: column of the operation
    ([BASE[0], BASE[1], stmt("SEGMENT", "NAME=X"), *BASE[3:]], "DLB512E", 3, 10),
    # keyword not supported on DATASET: column of the keyword
    ([BASE[0], stmt("DATASET", "DD1=TESTDD1,COLOR=RED,BLOCK=4096"), *BASE[2:]], "DLB507E", 2, 30),
    # SIZE= on an OSAM group
    ([BASE[0], stmt("DATASET", "DD1=TESTDD1,SIZE=4096"), *BASE[2:]], "DLB509E", 2, 35),
    # field past the end of its segment: column of START's value
    ([*BASE[:3], stmt("FIELD", "NAME=(KEY,SEQ,U),BYTES=10,START=95"), *BASE[4:]], "DLB509E", 4, 50),
    # parent not defined
    ([*BASE[:4], stmt("SEGM", "NAME=KID,PARENT=NOBODY,BYTES=20"), *BASE[4:]], "DLB509E", 5, 34),
    # unbalanced parenthesis
    ([stmt("DBD", "NAME=TESTDB,ACCESS=(HDAM,OSAM"), *BASE[1:]], "DLB505E", 1, 46),
    # SEGM before any DATASET
    ([BASE[0], BASE[2], BASE[1], *BASE[3:]], "DLB514E", 2, 10),
    # no END statement: reported at the last statement
    (BASE[:-1], "DLB515E", 6, 10),
    # bad name
    ([stmt("DBD", "NAME=9BAD,ACCESS=(HDAM,OSAM)"), *BASE[1:]], "DLB509E", 1, 23),
    # access method combination not supported
    ([stmt("DBD", "NAME=TESTDB,ACCESS=(HISAM,VSAM)"), *BASE[1:]], "DLB509E", 1, 37),
])
def test_errors_name_line_and_column(lines, msgid, line, col):
    with pytest.raises(ParseError) as ei:
        parse(src(*lines), "t.dbd")
    assert ei.value.msgid == msgid, str(ei.value)
    assert where(str(ei.value)) == (line, col), str(ei.value)
    assert "t.dbd" in str(ei.value)


def test_continuation_must_resume_in_column_16():
    bad = src(BASE[0], stmt("DATASET", "DD1=TESTDD1,").ljust(71) + "X", "   BLOCK=4096", *BASE[2:])
    with pytest.raises(ParseError) as ei:
        parse(bad)
    assert ei.value.msgid == "DLB502E" and where(str(ei.value)) == (3, 4)


def test_continuation_at_end_of_source():
    bad = src(*BASE[:-1], stmt("END").ljust(71) + "X")
    with pytest.raises(ParseError) as ei:
        parse(bad)
    assert ei.value.msgid == "DLB501E" and where(str(ei.value)) == (7, 72)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(ParseError) as ei:
        parse_file(tmp_path / "nope.dbd")
    assert ei.value.msgid == "DLB500E"
    p = tmp_path / "bin.dbd"
    p.write_bytes(b"\x81\x82\xff\n")
    with pytest.raises(ParseError):
        parse_file(p)
