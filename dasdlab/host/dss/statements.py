"""DFSMSdss statements: the command syntax, its keywords and their checks (the parse).

Facts from z/OS DFSMSdss Storage Administration, the command syntax and the COPY, DUMP
and RESTORE keyword descriptions (``docs/domain.md`` §2.1-§2.4; CONCURRENT, S45;
FASTREPLICATION, S46, S47; FlashCopy keywords, S52, S56, S57; FCINCREMENTAL, S78 in
``docs/sources.md``).

**Syntax** (the DFSMSdss command conventions): a statement is a command followed by
keywords; a keyword may take a parenthesised list whose items are separated by commas
or blanks and may nest (``DATASET(INCLUDE(A.**) EXCLUDE(A.X))``, ``RENAMEU((OLD,NEW))``);
a line whose last non-blank character is ``-`` continues on the next line (``+``
continues *inside* a word, skipping the next line's leading blanks); ``/* ... */`` is a
comment anywhere, also across lines.  Keywords and abbreviations:

=============================  ==================  ===================================
keyword                         abbreviations       commands
=============================  ==================  ===================================
DATASET(INCLUDE() EXCLUDE())    DS, INCL, EXCL      COPY DUMP RESTORE
RENAMEUNCONDITIONAL(...)        RENUNC, RENAMEU     COPY RESTORE
OUTDYNAM(volser,...)            ODY                 COPY DUMP RESTORE
OUTDDNAME(volser)               OUTDD, ODD          COPY (the DD name is a volser here)
FASTREPLICATION(PREF|REQ|NONE)  FR                  COPY
FCNOCOPY                        FCNC                COPY
FCINCREMENTAL                   FCINCR              COPY
FCINCREMENTALLAST               FCINCRLAST          COPY
FCWITHDRAW                      FCWDRAW             COPY DUMP
CONCURRENT(...)                 CC                  COPY DUMP
DELETE                                              COPY DUMP
REPLACEUNCONDITIONAL            REPUNC              COPY RESTORE
REPLACE                         REP                 COPY RESTORE
OUTDSN(dsn)  (dasdlab)          OUTDDNAME, OUTDD    DUMP (there is no JCL: a name)
INDSN(dsn)   (dasdlab)          INDDNAME, INDD      RESTORE
FULL                            FUL                 COPY DUMP RESTORE
TRACKS((c1,h1,c2,h2),...)       TRKS                COPY DUMP
INDYNAM(volser)                 IDY, INDDNAME, IDD  COPY DUMP (FULL and TRACKS)
FCCGFREEZE                      FCFREEZE            COPY (FULL and TRACKS)
DUMPCONDITIONING                DUMPCOND            COPY FULL
FCSETGTOK(FAILRELATION)                             COPY (FULL and TRACKS of a volume)
ACCESSVOLUME(volser,...)        ACCVOL              CGCREATED
FCCGVERIFY(volser)              FCCGVFY             CGCREATED
=============================  ==================  ===================================

A COPY or DUMP gives one of ``DATASET``, ``FULL`` and ``TRACKS``; RESTORE ``DATASET``
or ``FULL``.  ``FULL``/``TRACKS`` name the input volume with ``INDYNAM`` and the target
(COPY, RESTORE) or the dump data set's volume (DUMP) with ``OUTDYNAM``; a TRACKS range
leaves off h1 (0), c2 (c1) and h2 (the last head).  The data set keywords (RENAMEU,
DELETE, REPLACE) are refused with them, the full-volume ones (INDYNAM, FCCGFREEZE,
DUMPCONDITIONING, FCSETGTOK) without them (DLB445E); FCINCREMENTAL needs ``FULL``
(DLB432E).  ``CGCREATED ACCESSVOLUME(...)`` ends a consistency group (:mod:`.volumes`).

CONCURRENT values: ``ANYPREFERRED``/``PREFERRED`` (the default), ``ANYREQUIRED``/
``REQUIRED``, ``CACHEPREFERRED``, ``CACHEREQUIRED``, ``VIRTUALPREFERRED``,
``VIRTUALREQUIRED``, ``NONE``/``STANDARD``; each ``...PREFERRED`` may be shortened to
``...PREF`` and ``...REQUIRED`` to ``...REQ``.

Every statement parses and is checked before any runs; a fault is a :class:`ParseError`
naming its line and column (DLB400E-DLB409E, DLB432E, DLB445E).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dasdlab.emulator.dsnfilter import compile_filter
from dasdlab.emulator.vtoc import check_dsn
from dasdlab.errors import DasdlabError, ParseError


@dataclass
class Node:
    """A word with an optional parenthesised list, or a bare list (``word`` None)."""

    word: str | None
    args: list[Node] | None
    line: int
    col: int

    def words(self) -> list[str]:
        return [a.word for a in self.args or [] if a.word is not None]


@dataclass
class Statement:
    """One parsed and checked statement; fields hold canonical values."""

    command: str
    line: int
    col: int
    text: str
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    rename_hlq: str | None = None
    renames: list[tuple[str, str]] = field(default_factory=list)
    outvols: list[str] = field(default_factory=list)
    fr: str = "PREFERRED"
    cc: str | None = None  # canonical CONCURRENT value, None when not coded
    fcnocopy: bool = False
    fcincr: bool = False
    fcincrlast: bool = False
    fcwithdraw: bool = False
    delete: bool = False
    replace: bool = False
    outdsn: str | None = None
    indsn: str | None = None
    full: bool = False
    #: TRACKS ranges as given: (c1, h1, c2, h2), None where defaulted (h1 0, c2 c1,
    #: h2 the last head: resolved against the volume, :func:`track_runs`)
    tracks: list[tuple[int, int | None, int | None, int | None]] | None = None
    invol: str | None = None  # INDYNAM / INDDNAME of COPY and DUMP FULL|TRACKS
    fccgfreeze: bool = False
    dumpcond: bool = False
    fcsetgtok: str | None = None
    accvols: list[str] = field(default_factory=list)  # CGCREATED ACCESSVOLUME
    fccgverify: str | None = None  # CGCREATED FCCGVERIFY

    @property
    def volume_level(self) -> bool:
        """FULL or TRACKS: tracks of a volume, not data sets."""
        return self.full or self.tracks is not None


_WORD_OK = re.compile(r"^[A-Za-z0-9@#$.*%_\-]+$")

#: canonical keyword -> (abbreviations, commands it is valid for)
KEYWORDS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "DATASET": (("DS",), frozenset({"COPY", "DUMP", "RESTORE"})),
    "RENAMEUNCONDITIONAL": (("RENUNC", "RENAMEU"), frozenset({"COPY", "RESTORE"})),
    "OUTDYNAM": (("ODY",), frozenset({"COPY", "DUMP", "RESTORE"})),
    "OUTDDNAME": (("OUTDD", "ODD"), frozenset({"COPY", "DUMP"})),
    "FASTREPLICATION": (("FR",), frozenset({"COPY"})),
    "FCNOCOPY": (("FCNC",), frozenset({"COPY"})),
    "FCINCREMENTAL": (("FCINCR",), frozenset({"COPY"})),
    "FCINCREMENTALLAST": (("FCINCRLAST",), frozenset({"COPY"})),
    "FCWITHDRAW": (("FCWDRAW",), frozenset({"COPY", "DUMP"})),
    "CONCURRENT": (("CC",), frozenset({"COPY", "DUMP"})),
    "DELETE": ((), frozenset({"COPY", "DUMP"})),
    "REPLACEUNCONDITIONAL": (("REPUNC",), frozenset({"COPY", "RESTORE"})),
    "REPLACE": (("REP",), frozenset({"COPY", "RESTORE"})),
    "OUTDSN": ((), frozenset({"DUMP"})),
    "INDSN": (("INDDNAME", "INDD"), frozenset({"RESTORE"})),
    "FULL": (("FUL",), frozenset({"COPY", "DUMP", "RESTORE"})),
    "TRACKS": (("TRKS",), frozenset({"COPY", "DUMP"})),
    "INDYNAM": (("IDY",), frozenset({"COPY", "DUMP"})),
    "FCCGFREEZE": (("FCFREEZE", "FCCGFRZ"), frozenset({"COPY"})),
    "DUMPCONDITIONING": (("DUMPCOND",), frozenset({"COPY"})),
    "FCSETGTOK": ((), frozenset({"COPY"})),
    "ACCESSVOLUME": (("ACCVOL",), frozenset({"CGCREATED"})),
    "FCCGVERIFY": (("FCCGVFY",), frozenset({"CGCREATED"})),
}
#: INDDNAME on COPY and DUMP names the input volume (there is no JCL: a volser)
_INDD_WORDS = {"INDDNAME", "INDD", "IDD"}
_ALIAS = {a: k for k, (abbr, _) in KEYWORDS.items() for a in (k, *abbr)}
_FLAGS = {"FCNOCOPY", "FCINCREMENTAL", "FCINCREMENTALLAST", "FCWITHDRAW", "DELETE",
          "REPLACEUNCONDITIONAL", "REPLACE", "FULL", "FCCGFREEZE", "DUMPCONDITIONING"}
COMMANDS = ("COPY", "DUMP", "RESTORE", "CGCREATED")
#: keywords that only a data set statement takes
_DATASET_ONLY = ("RENAMEUNCONDITIONAL", "DELETE", "REPLACEUNCONDITIONAL", "REPLACE")

FR_VALUES = {"PREFERRED": "PREFERRED", "PREF": "PREFERRED", "REQUIRED": "REQUIRED", "REQ": "REQUIRED",
             "NONE": "NONE"}
CC_VALUES = {}
for _kind in ("ANY", "CACHE", "VIRTUAL"):
    for _full, _short in (("PREFERRED", "PREF"), ("REQUIRED", "REQ")):
        CC_VALUES[_kind + _full] = CC_VALUES[_kind + _short] = _kind + _full
CC_VALUES.update({"PREFERRED": "ANYPREFERRED", "PREF": "ANYPREFERRED", "REQUIRED": "ANYREQUIRED",
                  "REQ": "ANYREQUIRED", "NONE": "NONE", "STANDARD": "NONE"})


def _perr(msgid: str, line: int, col: int, text: str) -> ParseError:
    return ParseError(msgid, f"line {line} column {col}: {text}")


def _statements(text: str) -> list[list[tuple[int, int, str]]]:
    """Split into statements of (line, column, char), comments and continuations gone."""
    out: list[list[tuple[int, int, str]]] = []
    cur: list[tuple[int, int, str]] = []
    in_comment = None
    glue = False
    for ln, line in enumerate(text.splitlines(), 1):
        chars: list[tuple[int, int, str]] = []
        i = 0
        while i < len(line):
            if in_comment is not None:
                j = line.find("*/", i)
                if j < 0:
                    i = len(line)
                    break
                in_comment = None
                chars.append((ln, i + 1, " "))
                i = j + 2
                continue
            if line.startswith("/*", i):
                in_comment = (ln, i + 1)
                i += 2
                continue
            chars.append((ln, i + 1, line[i]))
            i += 1
        if glue:
            while chars and chars[0][2] in " \t":
                chars.pop(0)
            glue = False
        nb = [k for k, c in enumerate(chars) if c[2] not in " \t"]
        cont = None
        if nb and chars[nb[-1]][2] in "-+":
            cont = chars[nb[-1]][2]
            chars = chars[: nb[-1]]
        cur.extend(chars)
        if cont == "-":
            cur.append((ln, len(line) + 1, " "))
        elif cont == "+":
            glue = True
        if cont is None and in_comment is None:
            if any(c[2] not in " \t" for c in cur):
                out.append(cur)
            cur = []
    if in_comment is not None:
        raise _perr("DLB402E", *in_comment, "comment '/*' is not closed by '*/'.")
    if any(c[2] not in " \t" for c in cur):
        out.append(cur)
    return out


def _tokens(chars: list[tuple[int, int, str]]) -> list[tuple[str, int, int]]:
    toks = []
    i = 0
    while i < len(chars):
        ln, col, ch = chars[i]
        if ch in " \t":
            i += 1
            continue
        if ch in "(),":
            toks.append((ch, ln, col))
            i += 1
            continue
        j = i
        while j < len(chars) and chars[j][2] not in " \t(),":
            j += 1
        word = "".join(c[2] for c in chars[i:j])
        if not _WORD_OK.match(word):
            bad = next(k for k in range(i, j) if not _WORD_OK.match(chars[k][2]))
            raise _perr("DLB401E", chars[bad][0], chars[bad][1], f"character {chars[bad][2]!r} is not allowed here.")
        toks.append((word.upper(), ln, col))
        i = j
    return toks


def _parse_list(toks, pos: int, open_at: tuple[int, int]) -> tuple[list[Node], int]:
    items: list[Node] = []
    while True:
        if pos >= len(toks):
            raise _perr("DLB402E", *open_at, "'(' is not closed by ')'.")
        tok, ln, col = toks[pos]
        if tok == ")":
            return items, pos + 1
        if tok == ",":
            pos += 1
            continue
        if tok == "(":
            sub, pos = _parse_list(toks, pos + 1, (ln, col))
            items.append(Node(None, sub, ln, col))
            continue
        node = Node(tok, None, ln, col)
        pos += 1
        if pos < len(toks) and toks[pos][0] == "(":
            node.args, pos = _parse_list(toks, pos + 1, (toks[pos][1], toks[pos][2]))
        items.append(node)


def parse(text: str) -> list[Statement]:
    """Parse and check every statement; raises :class:`ParseError` naming line and
    column before anything runs."""
    out = []
    for chars in _statements(text):
        toks = _tokens(chars)
        raw = " ".join("".join(c[2] for c in chars).split())
        cmd, ln, col = toks[0]
        if cmd in "(),":
            raise _perr("DLB401E", ln, col, f"a statement must start with a command, not {cmd!r}.")
        if cmd not in COMMANDS:
            raise _perr("DLB403E", ln, col, f"{cmd} is not a command; dasdlab knows {', '.join(COMMANDS)}.")
        kws: list[Node] = []
        pos = 1
        while pos < len(toks):
            tok, kl, kc = toks[pos]
            if tok == ")":
                raise _perr("DLB402E", kl, kc, "')' without a matching '('.")
            if tok in "(,":
                raise _perr("DLB401E", kl, kc, f"{tok!r} where a keyword was expected.")
            node = Node(tok, None, kl, kc)
            pos += 1
            if pos < len(toks) and toks[pos][0] == "(":
                node.args, pos = _parse_list(toks, pos + 1, (toks[pos][1], toks[pos][2]))
            kws.append(node)
        out.append(_check(Statement(cmd, ln, col, raw), kws))
    return out


def _one_word(kw: Node, name: str) -> str:
    if not kw.args or len(kw.args) != 1 or kw.args[0].word is None or kw.args[0].args is not None:
        raise _perr("DLB409E", kw.line, kw.col, f"{name} takes one value in parentheses.")
    return kw.args[0].word


def _filters(kw: Node, name: str) -> list[str]:
    if not kw.args:
        raise _perr("DLB409E", kw.line, kw.col, f"{name} needs at least one data set name filter.")
    out = []
    for a in kw.args:
        if a.word is None or a.args is not None:
            raise _perr("DLB406E", a.line, a.col, f"{name} takes data set name filters.")
        try:
            compile_filter(a.word)
        except ParseError as e:
            raise _perr("DLB400E", a.line, a.col, e.text) from None
        out.append(a.word)
    return out


def _check(st: Statement, kws: list[Node]) -> Statement:
    seen: dict[str, Node] = {}
    for kw in kws:
        canon = _ALIAS.get(kw.word or "")
        if kw.word in _INDD_WORDS and st.command in ("COPY", "DUMP"):
            canon = "INDYNAM"
        if canon is None or st.command not in KEYWORDS[canon][1]:
            if canon is None:
                raise _perr("DLB404E", kw.line, kw.col, f"{kw.word} is not a {st.command} keyword.")
            raise _perr("DLB404E", kw.line, kw.col, f"{canon} is not valid for {st.command}.")
        if canon in ("OUTDDNAME",) and st.command == "DUMP":
            canon = "OUTDSN"
        if canon in seen:
            raise _perr("DLB405E", kw.line, kw.col, f"{canon} is given twice (first at line "
                                                    f"{seen[canon].line} column {seen[canon].col}).")
        seen[canon] = kw
        if canon in _FLAGS:
            if kw.args is not None:
                raise _perr("DLB409E", kw.line, kw.col, f"{canon} takes no value.")
            attr = {"FCNOCOPY": "fcnocopy", "FCINCREMENTAL": "fcincr", "FCINCREMENTALLAST": "fcincrlast",
                    "FCWITHDRAW": "fcwithdraw", "DELETE": "delete", "REPLACEUNCONDITIONAL": "replace",
                    "REPLACE": "replace", "FULL": "full", "FCCGFREEZE": "fccgfreeze",
                    "DUMPCONDITIONING": "dumpcond"}[canon]
            setattr(st, attr, True)
        elif canon == "DATASET":
            if not kw.args:
                raise _perr("DLB409E", kw.line, kw.col, "DATASET needs INCLUDE(...) in parentheses.")
            for sub in kw.args:
                name = {"INCLUDE": "INCLUDE", "INCL": "INCLUDE", "EXCLUDE": "EXCLUDE", "EXCL": "EXCLUDE"}.get(
                    sub.word or "")
                if name is None:
                    what = sub.word or "a list"
                    hint = " (BY filtering is not supported)" if sub.word == "BY" else ""
                    raise _perr("DLB404E", sub.line, sub.col, f"{what} is not valid inside DATASET{hint}.")
                (st.include if name == "INCLUDE" else st.exclude).extend(_filters(sub, name))
            if not st.include:
                raise _perr("DLB408E", kw.line, kw.col, "DATASET needs INCLUDE(...).")
        elif canon == "RENAMEUNCONDITIONAL":
            if not kw.args:
                raise _perr("DLB409E", kw.line, kw.col, "RENAMEUNCONDITIONAL needs a new name or (old,new) pairs.")
            for a in kw.args:
                if a.word is not None and a.args is None and len(kw.args) == 1 and "." not in a.word:
                    st.rename_hlq = a.word
                elif a.word is None and a.args and len(a.args) == 2 and all(
                        x.word is not None and x.args is None for x in a.args):
                    st.renames.append((a.args[0].word, a.args[1].word))
                else:
                    raise _perr("DLB406E", a.line, a.col,
                                "RENAMEUNCONDITIONAL takes a new high-level qualifier or (old,new) pairs.")
        elif canon in ("OUTDYNAM", "OUTDDNAME"):
            vols = [a.word for a in kw.args or [] if a.word is not None and a.args is None]
            if not vols or len(vols) != len(kw.args or []):
                raise _perr("DLB409E", kw.line, kw.col, f"{canon} takes volume serials.")
            if st.outvols:
                raise _perr("DLB405E", kw.line, kw.col, "give OUTDYNAM or OUTDDNAME, not both.")
            st.outvols = vols
        elif canon == "FASTREPLICATION":
            v = _one_word(kw, canon)
            if v not in FR_VALUES:
                raise _perr("DLB406E", kw.args[0].line, kw.args[0].col,
                            f"FASTREPLICATION({v}) must be PREFERRED, REQUIRED or NONE.")
            st.fr = FR_VALUES[v]
        elif canon == "CONCURRENT":
            v = "ANYPREFERRED" if kw.args is None or not kw.args else _one_word(kw, canon)
            if v not in CC_VALUES:
                raise _perr("DLB406E", kw.args[0].line, kw.args[0].col, f"CONCURRENT({v}) is not a CONCURRENT value.")
            st.cc = CC_VALUES[v]
        elif canon == "TRACKS":
            st.tracks = _track_ranges(kw)
        elif canon in ("INDYNAM", "FCCGVERIFY"):
            v = _volser(kw, canon)
            setattr(st, "invol" if canon == "INDYNAM" else "fccgverify", v)
        elif canon == "ACCESSVOLUME":
            vols = [a.word for a in kw.args or [] if a.word is not None and a.args is None]
            if not vols or len(vols) != len(kw.args or []):
                raise _perr("DLB409E", kw.line, kw.col, "ACCESSVOLUME takes volume serials.")
            st.accvols = [_checked_volser(v, kw) for v in vols]
        elif canon == "FCSETGTOK":
            v = _one_word(kw, canon)
            if v != "FAILRELATION":
                raise _perr("DLB406E", kw.args[0].line, kw.args[0].col,
                            f"FCSETGTOK({v}) must be FCSETGTOK(FAILRELATION).")
            st.fcsetgtok = v
        elif canon in ("OUTDSN", "INDSN"):
            v = _one_word(kw, canon)
            try:
                check_dsn(v)
            except DasdlabError as e:
                raise _perr("DLB406E", kw.args[0].line, kw.args[0].col, e.text) from None
            setattr(st, canon.lower(), v)
    if st.command == "CGCREATED":
        if not st.accvols:
            raise _perr("DLB408E", st.line, st.col, "CGCREATED needs ACCESSVOLUME(volser,...).")
        return st
    kinds = [k for k in ("DATASET", "FULL", "TRACKS") if k in seen]
    if len(kinds) > 1:
        k = seen[kinds[1]]
        raise _perr("DLB407E", k.line, k.col, f"give one of DATASET, FULL and TRACKS, not {' and '.join(kinds)}.")
    if not kinds:
        more = "DATASET(INCLUDE(...)) or FULL" + (" or TRACKS(c1,h1,c2,h2)" if st.command != "RESTORE" else "")
        raise _perr("DLB408E", st.line, st.col, f"{st.command} needs {more}.")
    if st.volume_level:
        _check_volume_level(st, seen)
    else:
        for name in ("INDYNAM", "FCCGFREEZE", "DUMPCONDITIONING", "FCSETGTOK"):
            if name in seen:
                k = seen[name]
                raise _perr("DLB445E", k.line, k.col, f"{name} is a full-volume keyword: it needs COPY FULL"
                            + ("" if name == "DUMPCONDITIONING" else " or COPY TRACKS") + ", not DATASET.")
    if st.command == "DUMP" and st.outdsn is None:
        raise _perr("DLB408E", st.line, st.col, "DUMP needs OUTDSN(dsn) (or OUTDDNAME(dsn)).")
    if st.command == "RESTORE" and st.indsn is None:
        raise _perr("DLB408E", st.line, st.col, "RESTORE needs INDSN(dsn) (or INDDNAME(dsn)).")
    fr = seen.get("FASTREPLICATION")
    if st.fr == "REQUIRED" and st.cc is not None:
        raise _perr("DLB407E", fr.line, fr.col, "FASTREPLICATION(REQUIRED) is not allowed together with CONCURRENT.")
    if st.fcincr and st.fcincrlast:
        k = seen["FCINCREMENTALLAST"]
        raise _perr("DLB407E", k.line, k.col, "FCINCREMENTAL and FCINCREMENTALLAST exclude each other.")
    if st.fcnocopy and (st.fcincr or st.fcincrlast):
        k = seen["FCNOCOPY"]
        raise _perr("DLB407E", k.line, k.col, "FCNOCOPY cannot be used with incremental FlashCopy (it needs COPY).")
    if (st.fcincr or st.fcincrlast) and not st.full:
        # DFSMSdss establishes incremental FlashCopy for full volumes only (S78); COPY
        # DATASET cannot ask for it
        k = seen["FCINCREMENTAL" if st.fcincr else "FCINCREMENTALLAST"]
        raise _perr("DLB432E", k.line, k.col, "FCINCREMENTAL and FCINCREMENTALLAST are full-volume keywords "
                    "(COPY FULL); incremental FlashCopy of a data set or of tracks is not possible.")
    return st


def _volser(kw: Node, name: str) -> str:
    if not kw.args or len(kw.args) not in (1, 2) or any(a.word is None or a.args is not None for a in kw.args):
        raise _perr("DLB409E", kw.line, kw.col, f"{name} takes one volume serial (and an optional unit).")
    return _checked_volser(kw.args[0].word, kw)


def _checked_volser(v: str, kw: Node) -> str:
    from dasdlab.emulator.vtoc import check_volser

    try:
        return check_volser(v)
    except DasdlabError as e:
        raise _perr("DLB406E", kw.line, kw.col, e.text) from None


def _track_ranges(kw: Node) -> list[tuple[int, int | None, int | None, int | None]]:
    """TRACKS(c1,h1,c2,h2) or TRACKS((c1,h1,c2,h2),(...)); h1, c2 and h2 may be left off."""
    if not kw.args:
        raise _perr("DLB409E", kw.line, kw.col, "TRACKS needs (c1,h1,c2,h2) in parentheses.")
    groups = [kw.args] if all(a.word is not None for a in kw.args) else kw.args
    out = []
    for g in groups:
        items = g if isinstance(g, list) else (g.args if g.word is None else None)
        if not items or len(items) > 4 or any(a.word is None or a.args is not None or not a.word.isdigit()
                                              for a in items):
            at = g[0] if isinstance(g, list) else g
            raise _perr("DLB445E", at.line, at.col, "a TRACKS range is (c1,h1,c2,h2): up to four decimal numbers.")
        nums = [int(a.word) for a in items] + [None] * (4 - len(items))
        c1, h1, c2, h2 = nums
        h1 = 0 if h1 is None else h1
        c2 = c1 if c2 is None else c2
        if (c2, h2 if h2 is not None else 1 << 30) < (c1, h1):
            at = items[0]
            raise _perr("DLB445E", at.line, at.col, f"TRACKS range {c1},{h1},{c2},{h2} ends before it starts.")
        out.append((c1, h1, c2, h2))
    return out


def track_runs(ranges, heads: int) -> list[tuple[int, int]]:
    """Absolute [start, stop) track runs of TRACKS ranges on a volume of ``heads`` heads."""
    runs = []
    for c1, h1, c2, h2 in ranges:
        h2 = heads - 1 if h2 is None else h2
        runs.append((c1 * heads + h1, c2 * heads + h2 + 1))
    return runs


def _check_volume_level(st: Statement, seen: dict[str, Node]) -> None:
    """FULL and TRACKS: which keywords go together (z/OS DFSMSdss Storage Administration,
    COPY FULL and COPY TRACKS, DUMP FULL; S58, S108-S113)."""
    what = "FULL" if st.full else "TRACKS"
    for name in _DATASET_ONLY:
        if name in seen:
            k = seen[name]
            raise _perr("DLB445E", k.line, k.col, f"{name} is a data set keyword, not valid with {st.command} {what}.")
    if st.cc is not None:
        k = seen["CONCURRENT"]
        raise _perr("DLB445E", k.line, k.col, f"CONCURRENT with {st.command} {what} is not modeled by dasdlab; "
                    "copy the volume with FlashCopy (COPY FULL) and dump the copy.")
    if st.command in ("COPY", "DUMP") and st.invol is None:
        raise _perr("DLB408E", st.line, st.col, f"{st.command} {what} needs INDYNAM(volser) (or INDDNAME(volser)).")
    if st.command == "COPY":
        if len(st.outvols) != 1:
            k = seen.get("OUTDYNAM") or seen.get("OUTDDNAME")
            raise _perr("DLB408E" if k is None else "DLB409E", *(st.line, st.col) if k is None else (k.line, k.col),
                        f"COPY {what} needs one OUTDYNAM(volser) target volume.")
        if st.outvols[0].upper() == st.invol:
            k = seen.get("OUTDYNAM") or seen.get("OUTDDNAME")
            raise _perr("DLB445E", k.line, k.col, f"COPY {what} needs a target other than the source {st.invol}.")
    if st.command == "DUMP" and len(st.outvols) != 1:
        raise _perr("DLB408E", st.line, st.col, f"DUMP {what} needs OUTDYNAM(volser): the volume the dump data "
                    "set is written on.")
    if st.command == "DUMP" and st.outvols[0].upper() == st.invol:
        k = seen["OUTDYNAM"]
        raise _perr("DLB445E", k.line, k.col, f"the dump data set cannot be written on the volume being dumped "
                    f"({st.invol}).")
    if st.command == "RESTORE" and len(st.outvols) != 1:
        raise _perr("DLB408E", st.line, st.col, "RESTORE FULL needs one OUTDYNAM(volser) target volume.")
    if st.dumpcond and not st.full:
        k = seen["DUMPCONDITIONING"]
        raise _perr("DLB445E", k.line, k.col, "DUMPCONDITIONING needs COPY FULL.")
    for name in ("FCCGFREEZE", "FCSETGTOK"):
        if name in seen and st.fr == "NONE":
            k = seen[name]
            raise _perr("DLB407E", k.line, k.col, f"{name} needs FlashCopy; it is not allowed with FASTREPLICATION(NONE).")
    if st.fcsetgtok and (st.fcincr or st.fcincrlast):
        k = seen["FCSETGTOK"]
        raise _perr("DLB407E", k.line, k.col, "FCSETGTOK (a space-efficient target) cannot be used with incremental "
                    "FlashCopy.")
