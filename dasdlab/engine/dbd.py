"""DBD sources: a documented subset of the IMS DBDGEN macro language.

A DBD (database description) names a database, its access method and its *data set
groups* (one ``DATASET`` statement each, so one DBDS: one DDN, one data set) and the
segment hierarchy stored in them.  Facts: IMS DBDGEN statement reference (DBD, DATASET,
SEGM, FIELD, DBDGEN, FINISH, END); HD data set groups are OSAM or VSAM ESDS and VSAM CI
sizes are 512..8K in 512-byte steps then 8K..32K in 2K steps, a requested size is
rounded up (``docs/domain.md`` §3.2, S73).  IBM's example database is HDAMDB01 with DDN
HDAMDD01 (S1).

**Supported subset** ::

    label    DBD      NAME=name,ACCESS=(HDAM,OSAM)|(HDAM,VSAM)|(HIDAM,VSAM)|(HIDAM,OSAM)
                      [,RMNAME=(randomizer,raps,rbn,bytes)]       HDAM only
             DATASET  DD1=ddname,DEVICE=3390,BLOCK=n   (OSAM block size)
             DATASET  DD1=ddname,DEVICE=3390,SIZE=n    (VSAM CI size, rounded up)
                      [,FRSPC=(fbff,fspf)]   free block frequency / free space percent
             SEGM     NAME=name,PARENT=0|name|((name,SNGL)),BYTES=n[,PTR=...]
             FIELD    NAME=(name,SEQ,U|M)|name,BYTES=n,START=n[,TYPE=C|X|P]
             LCHILD   ...   accepted and kept as text (HIDAM primary index, not built)
             DBDGEN
             FINISH
             END

``SCAN=`` (DATASET) and ``PTR=``, ``POINTER=``, ``RULES=``, ``FREQ=``, ``COMPRTN=``
(SEGM) are accepted and not used: every segment gets a twin-forward and a child pointer
in our block layout.  Segments belong to the data set group of the last ``DATASET``
statement before them.
The first segment is the root and must have ``PARENT=0`` (or none).

**Assembler conventions**: a label starts in column 1, then the operation, then the
operands (``KEY=value`` separated by commas, values may be parenthesised lists or quoted
strings); whatever follows the operands after a blank is a remark.  A non-blank
character in column 72 continues the statement on the next line, whose columns 1-15
are blank and whose operands resume in column 16 (operands may stop early at a comma
followed by blanks before the continuation character).  Columns 73-80 (sequence numbers) are
ignored.  A ``*`` in column 1 makes a comment line.

Every error is a :class:`dasdlab.errors.ParseError` whose message names the source, the
line and the column (1-based), e.g. ``DLB503E hdam.dbd line 7 column 22: ...``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dasdlab.errors import ParseError

#: operations of the subset, in the order IMS requires them (DBD first, END last)
OPERATIONS = ("DBD", "DATASET", "SEGM", "FIELD", "LCHILD", "DBDGEN", "FINISH", "END")
ACCESS = {("HDAM", "OSAM"), ("HDAM", "VSAM"), ("HIDAM", "VSAM"), ("HIDAM", "OSAM")}
DEVICES = ("3390",)
#: OSAM blocks are fixed length up to 32 KB (docs/domain.md §3.2); also bounded by one 3390 track
OSAM_MAX_BLOCK = 32760
_NAME = re.compile(r"^[A-Z@#$][A-Z0-9@#$]{0,7}$")
CONT_COL = 72  # 1-based column whose non-blank character continues a statement
RESUME_COL = 16


def valid_ci_size(requested: int) -> int:
    """The VSAM CI size a request is rounded up to (S73): 512..8192 in 512-byte steps,
    then up to 32768 in 2048-byte steps."""
    if requested <= 0 or requested > 32768:
        raise ValueError(requested)
    if requested <= 8192:
        return max(512, -(-requested // 512) * 512)
    return -(-requested // 2048) * 2048


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    bytes: int
    start: int  # 1-based, as in the DBD
    seq: bool = False
    unique: bool = True
    type: str = "C"


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    parent: str | None  # None for the root
    bytes: int
    group: int  # index of the data set group that stores it
    fields: tuple[Field, ...] = ()

    @property
    def key(self) -> Field | None:
        """The sequence (key) field, if the segment has one."""
        return next((f for f in self.fields if f.seq), None)


@dataclass(frozen=True, slots=True)
class DatasetGroup:
    """One DATASET statement: a DBDS with its DDN and physical record size."""

    index: int
    ddn: str
    device: str
    method: str  # "OSAM" or "VSAM"
    requested: int  # BLOCK= or SIZE= as written
    block_size: int  # OSAM block size, or the CI size after rounding
    frspc: tuple[int, int] = (0, 0)

    @property
    def dsorg(self) -> str:
        """``OSAM`` or ``ESDS``: how the data set is organised."""
        return "OSAM" if self.method == "OSAM" else "ESDS"


@dataclass(frozen=True, slots=True)
class Dbd:
    name: str
    access: str  # HDAM or HIDAM
    method: str  # OSAM or VSAM
    groups: tuple[DatasetGroup, ...]
    segments: tuple[Segment, ...]
    rmname: tuple[str, int, int, int] | None = None  # randomizer, RAPs/block, RBN, bytes
    lchild: tuple[str, ...] = field(default=())

    def group(self, ddn: str) -> DatasetGroup:
        for g in self.groups:
            if g.ddn == ddn.upper():
                return g
        raise KeyError(ddn)

    def segments_of(self, group: int) -> list[Segment]:
        return [s for s in self.segments if s.group == group]

    @property
    def raps(self) -> int:
        """Root anchor points per block of an HDAM root addressable area."""
        return self.rmname[1] if self.rmname else (1 if self.access == "HDAM" else 0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Dbd:
        d = json.loads(text)
        groups = tuple(DatasetGroup(**{**g, "frspc": tuple(g["frspc"])}) for g in d["groups"])
        segs = tuple(Segment(**{**s, "fields": tuple(Field(**f) for f in s["fields"])}) for s in d["segments"])
        rm = tuple(d["rmname"]) if d.get("rmname") else None
        return cls(d["name"], d["access"], d["method"], groups, segs, rm, tuple(d.get("lchild", ())))


# ---------------------------------------------------------------------- lexing
@dataclass(slots=True)
class _Stmt:
    label: str
    op: str
    op_pos: tuple[int, int]
    operands: str
    cols: list[tuple[int, int]]  # (line, column) of each character of ``operands``


class _Source:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name

    def error(self, msgid: str, line: int, col: int, what: str) -> ParseError:
        return ParseError(msgid, f"{self.name} line {line} column {col}: {what}")

    def statements(self) -> list[_Stmt]:
        lines = self.text.splitlines()
        out: list[_Stmt] = []
        i = 0
        while i < len(lines):
            raw = lines[i].expandtabs(1)
            lno = i + 1
            i += 1
            if not raw.strip() or raw.startswith("*") or raw.startswith(".*"):
                continue
            chars: list[tuple[str, int, int]] = []  # char, line, col
            cont = len(raw) >= CONT_COL and raw[CONT_COL - 1] != " "
            body = _continued_body(raw, cont)
            for c, ch in enumerate(body):
                chars.append((ch, lno, c + 1))
            while cont:
                if i >= len(lines):
                    raise self.error("DLB501E", lno, CONT_COL,
                                     "the statement is continued in column 72 but the source ends.")
                nxt = lines[i].expandtabs(1)
                lno = i + 1
                i += 1
                lead = nxt[: RESUME_COL - 1]
                if lead.strip():
                    col = len(lead) - len(lead.lstrip()) + 1
                    raise self.error("DLB502E", lno, col,
                                     "a continuation line must be blank in columns 1-15 and "
                                     "continue in column 16.")
                cont = len(nxt) >= CONT_COL and nxt[CONT_COL - 1] != " "
                body = _continued_body(nxt, cont)
                for c in range(RESUME_COL - 1, len(body)):
                    chars.append((body[c], lno, c + 1))
            out.append(self._split(chars))
        return out

    def _split(self, chars: list[tuple[str, int, int]]) -> _Stmt:
        s = "".join(c for c, _, _ in chars)
        pos = [(ln, col) for _, ln, col in chars]
        label = ""
        k = 0
        if s and s[0] != " ":
            while k < len(s) and s[k] != " ":
                k += 1
            label = s[:k]
            if not _NAME.match(label.upper()):
                raise self.error("DLB503E", *pos[0], f"label {label!r} is not a valid name (1-8 "
                                 "characters A-Z 0-9 @ # $, not starting with a digit).")
        while k < len(s) and s[k] == " ":
            k += 1
        if k >= len(s):
            raise self.error("DLB504E", *pos[min(k, len(pos) - 1)], "a statement needs an operation.")
        j = k
        while j < len(s) and s[j] != " ":
            j += 1
        op = s[k:j].upper()
        op_pos = pos[k]
        while j < len(s) and s[j] == " ":
            j += 1
        # operands end at the first blank outside quotes; the rest is a remark
        e = j
        quote = False
        while e < len(s):
            ch = s[e]
            if ch == "'":
                quote = not quote
            elif ch == " " and not quote:
                break
            e += 1
        return _Stmt(label.upper(), op, op_pos, s[j:e], pos[j:e])


def _continued_body(line: str, cont: bool) -> str:
    """Columns 1-71 of a line.  On a continued line whose operands end with a comma
    followed by blanks (``DD1=A,DEVICE=3390,        X``) the blanks are not the end of
    the operands: the operands go on in column 16 of the next line."""
    body = line[: CONT_COL - 1]
    if cont and body.rstrip().endswith(","):
        body = body.rstrip()
    return body


def _split_top(text: str, start: int, sep: str = ",") -> list[tuple[str, int]]:
    """Split at ``sep`` outside parentheses and quotes; pieces with their offsets."""
    out = []
    depth = 0
    quote = False
    piece = start
    for k in range(start, len(text)):
        ch = text[k]
        if ch == "'":
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append((text[piece:k], piece))
            piece = k + 1
    out.append((text[piece:], piece))
    return out


class _Operands:
    """``KEY=value`` operands of one statement, with positions for error messages."""

    def __init__(self, src: _Source, st: _Stmt, allowed: tuple[str, ...]) -> None:
        self.src = src
        self.st = st
        self.values: dict[str, tuple[str, int]] = {}
        text = st.operands
        if not text:
            return
        if text.count("(") != text.count(")"):
            raise self._err("DLB505E", len(text) - 1, "parentheses do not balance.")
        if text.count("'") % 2:
            raise self._err("DLB505E", len(text) - 1, "a quoted string is not closed.")
        for piece, off in _split_top(text, 0):
            if not piece:
                raise self._err("DLB505E", off, "an operand is missing (two commas or a trailing comma).")
            if "=" not in piece:
                raise self._err("DLB506E", off, f"operand {piece!r} is not of the form KEYWORD=value.")
            key, _, val = piece.partition("=")
            key = key.upper()
            if key not in allowed:
                raise self._err("DLB507E", off, f"keyword {key} is not supported on {st.op} "
                                f"(supported: {', '.join(allowed)}).")
            if key in self.values:
                raise self._err("DLB508E", off, f"keyword {key} is given twice.")
            if not val:
                raise self._err("DLB506E", off + len(key) + 1, f"keyword {key} has no value.")
            self.values[key] = (val.upper(), off + len(key) + 1)

    def pos(self, off: int) -> tuple[int, int]:
        cols = self.st.cols
        if not cols:
            return self.st.op_pos
        return cols[min(max(off, 0), len(cols) - 1)]

    def _err(self, msgid: str, off: int, what: str) -> ParseError:
        return self.src.error(msgid, *self.pos(off), what)

    def err(self, key: str, what: str, msgid: str = "DLB509E") -> ParseError:
        off = self.values[key][1] if key in self.values else -1
        if key not in self.values:
            return self.src.error(msgid, *self.st.op_pos, what)
        return self._err(msgid, off, what)

    def require(self, key: str) -> str:
        if key not in self.values:
            raise self.src.error("DLB510E", *self.st.op_pos, f"{self.st.op} needs {key}=.")
        return self.values[key][0]

    def get(self, key: str) -> str | None:
        v = self.values.get(key)
        return None if v is None else v[0]

    def name(self, key: str, raw: str | None = None) -> str:
        v = self.require(key) if raw is None else raw
        if not _NAME.match(v):
            raise self.err(key, f"{key}={v} is not a valid name (1-8 characters A-Z 0-9 @ # $).")
        return v

    def number(self, key: str, lo: int, hi: int, raw: str | None = None) -> int:
        v = self.require(key) if raw is None else raw
        if not v.isdigit():
            raise self.err(key, f"{key}={v} is not a number.")
        n = int(v)
        if not lo <= n <= hi:
            raise self.err(key, f"{key}={n} is outside {lo}..{hi}.")
        return n

    def items(self, key: str) -> list[str]:
        """A value as a list: ``(A,B)`` -> [A, B]; ``A`` -> [A]."""
        v = self.require(key)
        if v.startswith("(") and v.endswith(")"):
            return [p for p, _ in _split_top(v[1:-1], 0)]
        return [v]


# ---------------------------------------------------------------------- parsing
def parse(text: str, name: str = "<dbd>") -> Dbd:
    """Parse DBDGEN source text into a :class:`Dbd`; raises ParseError (line, column)."""
    src = _Source(text, name)
    stmts = src.statements()
    if not stmts:
        raise src.error("DLB511E", 1, 1, "the source holds no statements; it must start with DBD.")
    dbd_name = access = method = None
    rmname = None
    groups: list[DatasetGroup] = []
    segments: list[Segment] = []
    seg_fields: dict[str, list[Field]] = {}
    lchild: list[str] = []
    seen_dbdgen = seen_end = False
    for st in stmts:
        if st.op not in OPERATIONS:
            raise src.error("DLB512E", *st.op_pos, f"operation {st.op} is not in the supported "
                            f"DBDGEN subset ({', '.join(OPERATIONS)}).")
        if seen_end:
            raise src.error("DLB513E", *st.op_pos, f"{st.op} follows END; END must be the last statement.")
        if dbd_name is None and st.op != "DBD":
            raise src.error("DLB513E", *st.op_pos, f"{st.op} before DBD; the source must start with DBD.")
        if st.op == "DBD":
            if dbd_name is not None:
                raise src.error("DLB513E", *st.op_pos, "a second DBD statement; one DBD per source.")
            o = _Operands(src, st, ("NAME", "ACCESS", "RMNAME"))
            dbd_name = o.name("NAME")
            acc = o.items("ACCESS")
            if len(acc) != 2 or (acc[0], acc[1]) not in ACCESS:
                raise o.err("ACCESS", f"ACCESS=({','.join(acc)}) is not supported; use one of "
                            + ", ".join(f"({a},{m})" for a, m in sorted(ACCESS)) + ".")
            access, method = acc
            if "RMNAME" in o.values:
                if access != "HDAM":
                    raise o.err("RMNAME", "RMNAME= applies to HDAM databases only.")
                rm = o.items("RMNAME")
                if not 1 <= len(rm) <= 4:
                    raise o.err("RMNAME", "RMNAME=(randomizer,raps,rbn,bytes) takes 1 to 4 values.")
                rname = o.name("RMNAME", rm[0])
                nums = [o.number("RMNAME", 1 if k < 2 else 0, 2**24, rm[k + 1]) for k in range(len(rm) - 1)]
                nums += [1, 0, 0][len(nums):]
                rmname = (rname, nums[0], nums[1], nums[2])
        elif st.op == "DATASET":
            if seen_dbdgen:
                raise src.error("DLB513E", *st.op_pos, "DATASET after DBDGEN.")
            o = _Operands(src, st, ("DD1", "DEVICE", "BLOCK", "SIZE", "FRSPC", "SCAN"))
            ddn = o.name("DD1")
            if any(g.ddn == ddn for g in groups):
                raise o.err("DD1", f"DD1={ddn} is already used by another DATASET statement.")
            dev = o.get("DEVICE") or "3390"
            if dev not in DEVICES:
                raise o.err("DEVICE", f"DEVICE={dev} is not supported; dasdlab emulates DEVICE=3390.")
            if method == "OSAM":
                if "SIZE" in o.values:
                    raise o.err("SIZE", "SIZE= is the VSAM CI size; an OSAM data set group takes BLOCK=.")
                req = o.number("BLOCK", 1, OSAM_MAX_BLOCK)
                if req % 2:
                    raise o.err("BLOCK", f"BLOCK={req} is odd; OSAM block sizes are even.")
                size = req
            else:
                if "BLOCK" in o.values:
                    raise o.err("BLOCK", "BLOCK= is the OSAM block size; a VSAM data set group takes SIZE=.")
                req = o.number("SIZE", 512, 32768)
                size = valid_ci_size(req)
            frspc = (0, 0)
            if "FRSPC" in o.values:
                fr = o.items("FRSPC")
                if len(fr) != 2:
                    raise o.err("FRSPC", "FRSPC=(fbff,fspf) takes two values.")
                frspc = (o.number("FRSPC", 0, 100, fr[0]), o.number("FRSPC", 0, 99, fr[1]))
            groups.append(DatasetGroup(len(groups), ddn, dev, method, req, size, frspc))
        elif st.op == "SEGM":
            if not groups:
                raise src.error("DLB514E", *st.op_pos, "SEGM before any DATASET statement; "
                                "each segment belongs to the data set group declared before it.")
            o = _Operands(src, st, ("NAME", "PARENT", "BYTES", "PTR", "POINTER", "RULES", "FREQ", "COMPRTN"))
            sname = o.name("NAME")
            if sname in seg_fields:
                raise o.err("NAME", f"segment {sname} is defined twice.")
            parent: str | None = None
            if "PARENT" in o.values:
                pv = o.get("PARENT") or "0"
                pv = pv.strip("()").split(",")[0].strip("()")
                if pv != "0":
                    parent = o.name("PARENT", pv)
                    if parent not in seg_fields:
                        raise o.err("PARENT", f"parent segment {parent} is not defined before {sname}.")
            if not segments and parent is not None:
                raise o.err("PARENT", f"the first segment {sname} is the root and needs PARENT=0.")
            if segments and parent is None:
                raise src.error("DLB514E", *st.op_pos, f"segment {sname} has no parent; only the first "
                                "segment (the root) may have PARENT=0.")
            nbytes = o.number("BYTES", 1, 32000)
            blk = groups[-1].block_size
            # prefix (code, delete byte, two pointers) + data must fit a block with its header
            if nbytes + 10 + 16 > blk - (7 if groups[-1].method == "VSAM" else 0):
                raise o.err("BYTES", f"a {nbytes}-byte segment does not fit a {blk}-byte "
                            f"{'CI' if groups[-1].method == 'VSAM' else 'block'} of {groups[-1].ddn}.")
            seg_fields[sname] = []
            segments.append(Segment(sname, parent, nbytes, len(groups) - 1))
        elif st.op == "FIELD":
            if not segments:
                raise src.error("DLB514E", *st.op_pos, "FIELD before any SEGM statement.")
            o = _Operands(src, st, ("NAME", "BYTES", "START", "TYPE"))
            nm = o.items("NAME")
            fname = o.name("NAME", nm[0])
            flags = nm[1:]
            seq = "SEQ" in flags
            unique = "M" not in flags
            for fl in flags:
                if fl not in ("SEQ", "U", "M"):
                    raise o.err("NAME", f"field attribute {fl} is not SEQ, U or M.")
            seg = segments[-1]
            fb = o.number("BYTES", 1, 255)
            fs = o.number("START", 1, 32000)
            if fs + fb - 1 > seg.bytes:
                raise o.err("START", f"field {fname} (START={fs}, BYTES={fb}) runs past the "
                            f"{seg.bytes}-byte segment {seg.name}.")
            ftype = o.get("TYPE") or "C"
            if ftype not in ("C", "X", "P"):
                raise o.err("TYPE", f"TYPE={ftype} is not C, X or P.")
            if seq and any(f.seq for f in seg_fields[seg.name]):
                raise o.err("NAME", f"segment {seg.name} already has a sequence field.")
            if any(f.name == fname for f in seg_fields[seg.name]):
                raise o.err("NAME", f"field {fname} is defined twice in segment {seg.name}.")
            seg_fields[seg.name].append(Field(fname, fb, fs, seq, unique, ftype))
        elif st.op == "LCHILD":
            lchild.append(st.operands)
        elif st.op == "DBDGEN":
            seen_dbdgen = True
        elif st.op == "FINISH":
            if not seen_dbdgen:
                raise src.error("DLB513E", *st.op_pos, "FINISH before DBDGEN.")
        elif st.op == "END":
            seen_end = True
    last = stmts[-1]
    if not groups:
        raise src.error("DLB515E", *last.op_pos, f"DBD {dbd_name} has no DATASET statement.")
    if not segments:
        raise src.error("DLB515E", *last.op_pos, f"DBD {dbd_name} has no SEGM statement.")
    if not seen_dbdgen:
        raise src.error("DLB515E", *last.op_pos, "the source has no DBDGEN statement.")
    if not seen_end:
        raise src.error("DLB515E", *last.op_pos, "the source has no END statement.")
    for g in groups:
        if not any(s.group == g.index for s in segments):
            raise src.error("DLB515E", *last.op_pos, f"data set group {g.ddn} holds no segment.")
    segs = tuple(Segment(s.name, s.parent, s.bytes, s.group, tuple(seg_fields[s.name])) for s in segments)
    assert dbd_name and access and method
    return Dbd(dbd_name, access, method, tuple(groups), segs, rmname, tuple(lchild))


def parse_file(path: str | Path) -> Dbd:
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise ParseError("DLB500E", f"DBD source {p} does not exist.") from None
    except UnicodeDecodeError as e:
        line = p.read_bytes()[: e.start].count(b"\n") + 1
        raise ParseError("DLB500E", f"{p.name} line {line}: the DBD source is not plain ASCII text.") from None
    except IsADirectoryError:
        raise ParseError("DLB500E", f"{p} is a directory, not a DBD source.") from None
    return parse(text, p.name)
