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
=============================  ==================  ===================================

CONCURRENT values: ``ANYPREFERRED``/``PREFERRED`` (the default), ``ANYREQUIRED``/
``REQUIRED``, ``CACHEPREFERRED``, ``CACHEREQUIRED``, ``VIRTUALPREFERRED``,
``VIRTUALREQUIRED``, ``NONE``/``STANDARD``; each ``...PREFERRED`` may be shortened to
``...PREF`` and ``...REQUIRED`` to ``...REQ``.

Every statement parses and is checked before any runs; a fault is a :class:`ParseError`
naming its line and column (DLB400E-DLB409E, DLB432E).
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
}
_ALIAS = {a: k for k, (abbr, _) in KEYWORDS.items() for a in (k, *abbr)}
_FLAGS = {"FCNOCOPY", "FCINCREMENTAL", "FCINCREMENTALLAST", "FCWITHDRAW", "DELETE",
          "REPLACEUNCONDITIONAL", "REPLACE"}
COMMANDS = ("COPY", "DUMP", "RESTORE")

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
                    "REPLACE": "replace"}[canon]
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
        elif canon in ("OUTDSN", "INDSN"):
            v = _one_word(kw, canon)
            try:
                check_dsn(v)
            except DasdlabError as e:
                raise _perr("DLB406E", kw.args[0].line, kw.args[0].col, e.text) from None
            setattr(st, canon.lower(), v)
    if "DATASET" not in seen:
        raise _perr("DLB408E", st.line, st.col, f"{st.command} needs DATASET(INCLUDE(...)).")
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
    if st.fcincr or st.fcincrlast:
        # DFSMSdss establishes incremental FlashCopy for full volumes only (S78); COPY
        # DATASET cannot ask for it
        k = seen["FCINCREMENTAL" if st.fcincr else "FCINCREMENTALLAST"]
        raise _perr("DLB432E", k.line, k.col, "FCINCREMENTAL and FCINCREMENTALLAST are full-volume keywords "
                    "(COPY FULL); incremental FlashCopy of a data set is not possible.")
    return st
