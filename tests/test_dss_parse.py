"""DFSMSdss statement syntax: keywords, abbreviations, continuation, comments, and
errors that name the line and column."""

from __future__ import annotations

import pytest

from dasdlab.host.dss import parse
from dasdlab.errors import ParseError


def one(text):
    (st,) = parse(text)
    return st


def test_copy_with_every_keyword_in_abbreviated_form():
    st = one("COPY DS(INCL(PROD.**,TEST.A%) EXCL(PROD.TMP.*)) RENUNC((PROD.**,BKUP.**)) "
             "ODY(VOL001) FR(REQ) FCNC FCWDRAW DELETE REPUNC")
    assert st.command == "COPY"
    assert st.include == ["PROD.**", "TEST.A%"] and st.exclude == ["PROD.TMP.*"]
    assert st.renames == [("PROD.**", "BKUP.**")] and st.outvols == ["VOL001"]
    assert st.fr == "REQUIRED" and st.fcnocopy and st.fcwithdraw and st.delete and st.replace
    assert st.cc is None


def test_full_keyword_names_and_defaults():
    st = one("COPY DATASET(INCLUDE(A.B)) RENAMEUNCONDITIONAL(NEWHLQ) OUTDDNAME(V1) "
             "FASTREPLICATION(NONE) FCNOCOPY REPLACEUNCONDITIONAL CONCURRENT")
    assert st.rename_hlq == "NEWHLQ" and st.outvols == ["V1"] and st.fr == "NONE"
    assert st.fcnocopy and st.replace and st.cc == "ANYPREFERRED"
    assert one("COPY DATASET(INCLUDE(A.B))").fr == "PREFERRED"


@pytest.mark.parametrize("value, canon", [
    ("ANYPREFERRED", "ANYPREFERRED"), ("ANYPREF", "ANYPREFERRED"), ("PREFERRED", "ANYPREFERRED"),
    ("ANYREQUIRED", "ANYREQUIRED"), ("REQUIRED", "ANYREQUIRED"), ("REQ", "ANYREQUIRED"),
    ("CACHEPREFERRED", "CACHEPREFERRED"), ("CACHEREQ", "CACHEREQUIRED"),
    ("VIRTUALPREF", "VIRTUALPREFERRED"), ("VIRTUALREQUIRED", "VIRTUALREQUIRED"),
    ("NONE", "NONE"), ("STANDARD", "NONE"),
])
def test_concurrent_values(value, canon):
    assert one(f"DUMP DATASET(INCLUDE(A.B)) OUTDSN(X.Y) CC({value})").cc == canon
    assert one(f"DUMP DATASET(INCLUDE(A.B)) OUTDSN(X.Y) CONCURRENT({value})").cc == canon


def test_continuation_comments_and_several_statements():
    text = """/* nightly backup of the PROD data sets */
  DUMP DATASET( -
         INCLUDE(PROD.** /* everything */ ) -
         EXCLUDE(PROD.SCRATCH.*)) -
       OUTDSN(BACKUP.PR+
              OD.D1) /* a comment that
                        spans lines */ CC(VIRTUALPREF)
  RESTORE DS(INCL(PROD.DB1.*)) INDD(BACKUP.PROD.D1) RENAMEU((PROD.**,REST.**)) REP
"""
    d, r = parse(text)
    assert d.command == "DUMP" and d.line == 2 and d.col == 3
    assert d.include == ["PROD.**"] and d.exclude == ["PROD.SCRATCH.*"]
    assert d.outdsn == "BACKUP.PROD.D1" and d.cc == "VIRTUALPREFERRED"
    assert r.command == "RESTORE" and r.line == 8 and r.indsn == "BACKUP.PROD.D1" and r.replace
    assert r.renames == [("PROD.**", "REST.**")]


def test_lower_case_is_accepted():
    st = one("copy dataset(include(prod.a)) renameu(x) fr(pref)")
    assert st.include == ["PROD.A"] and st.rename_hlq == "X"


@pytest.mark.parametrize("text, msgid, line, col, words", [
    ("BACKUP DATASET(INCLUDE(A.B))", "DLB403E", 1, 1, "not a command"),
    ("COPY DATASET(INCLUDE(A.B)) FRED(1)", "DLB404E", 1, 28, "FRED"),
    ("COPY DATASET(INCLUDE(A.B)) -\n     FR(REQ) CC(ANYPREF)", "DLB407E", 2, 6, "not allowed together"),
    ("COPY DATASET(INCLUDE(A.B)) FR(MAYBE)", "DLB406E", 1, 31, "PREFERRED, REQUIRED or NONE"),
    ("COPY DATASET(INCLUDE(A.B)) FR(PREF) FASTREPLICATION(NONE)", "DLB405E", 1, 37, "twice"),
    ("COPY DATASET(INCLUDE(A.B) RENAMEU(X)", "DLB402E", 1, 13, "not closed"),
    ("COPY DATASET(INCLUDE(A.B))) FR(PREF)", "DLB402E", 1, 27, "without a matching"),
    ("COPY DATASET(INCLUDE(A.B)) /* no end", "DLB402E", 1, 28, "comment"),
    ("COPY DATASET(INCLUDE(A.B)) RENAMEU(X;Y)", "DLB401E", 1, 37, "';'"),
    ("COPY RENAMEU(X)", "DLB408E", 1, 1, "DATASET"),
    ("DUMP DATASET(INCLUDE(A.B))", "DLB408E", 1, 1, "OUTDSN"),
    ("RESTORE DATASET(INCLUDE(A.B))", "DLB408E", 1, 1, "INDSN"),
    ("DUMP DATASET(INCLUDE(A.B)) OUTDSN(X) FR(PREF)", "DLB404E", 1, 38, "not valid for DUMP"),
    ("COPY DATASET(INCLUDE(A..B))", "DLB400E", 1, 22, "filter"),
    ("COPY DATASET(INCLUDE(A.B) BY((DSORG,EQ,PS)))", "DLB404E", 1, 27, "BY"),
    ("COPY DATASET(INCLUDE(A.B)) DELETE(YES)", "DLB409E", 1, 28, "no value"),
    ("COPY DATASET(INCLUDE(A.B)) FCINCR FCINCRLAST", "DLB407E", 1, 35, "exclude each other"),
    ("COPY DATASET(INCLUDE(A.B)) FCNOCOPY FCINCR", "DLB407E", 1, 28, "incremental"),
    ("COPY DATASET(INCLUDE(A.B)) CC(SOMETIMES)", "DLB406E", 1, 31, "CONCURRENT"),
    ("COPY DATASET(INCLUDE(A.B)) RENAMEU((A,B,C))", "DLB406E", 1, 36, "pairs"),
    ("DUMP DATASET(INCLUDE(A.B)) OUTDSN(TOO.LONG.QUALIFIER)", "DLB406E", 1, 35, ""),
    ("\n\n   COPY DATASET(EXCLUDE(A.B))", "DLB408E", 3, 9, "INCLUDE"),
])
def test_bad_statements_name_line_and_column(text, msgid, line, col, words):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert e.value.msgid == msgid
    assert e.value.text.startswith(f"line {line} column {col}:"), e.value.text
    assert words in e.value.text


def test_a_bad_second_statement_stops_everything_before_anything_runs(tmp_path):
    from dasdlab.host.dss import run
    from dasdlab.emulator.site import Site

    s = Site.init(tmp_path / "s")
    s.add_volume("DS8K1", "DS0001", "3390-3", cylinders=5)
    s.allocate("A.B", "DS0001", lrecl=80, blksize=800, primary=1)
    before = sorted(s.catalog.entries())
    with pytest.raises(ParseError) as e:
        run(s, "COPY DATASET(INCLUDE(A.B)) RENAMEU(C)\nCOPY DATASET(INCLUDE(A.B)) OOPS")
    assert e.value.text.startswith("line 2 column 28")
    assert sorted(s.catalog.entries()) == before and "C.B" not in s.volume("DS0001").vtoc
    s.close()


@pytest.mark.parametrize("kw", ["FCINCREMENTAL", "FCINCR", "FCINCREMENTALLAST", "FCINCRLAST"])
def test_fcincremental_is_full_volume_only(kw):
    """DFSMSdss FCINCREMENTAL(LAST) establishes a full-volume incremental relationship;
    COPY DATASET cannot ask for one."""
    with pytest.raises(ParseError) as e:
        parse(f"COPY DATASET(INCLUDE(A.B)) RENAMEU(X) {kw}")
    col = len("COPY DATASET(INCLUDE(A.B)) RENAMEU(X) ") + 1
    assert e.value.msgid == "DLB432E"
    assert e.value.text.startswith(f"line 1 column {col}:") and "full-volume" in e.value.text
