"""The truth: an independent record of a database's committed content over time.

Every check of a copy or a recovery ("a clean copy equals the database at logical
completion; a recovered data set equals the database at the recovery point", docs/architecture.md *Truth*) compares against this, so it shares no code path with the IMS log, the
buffer pool or DASD:

* the **base** content is the deterministic load image, regenerated on demand from
  the seed by :func:`dasdlab.engine.layout.generate` (the loader writes the same
  function's output to DASD, but the truth never reads DASD);
* the **journal** ``SITE/ims/truth/DBD/journal.bin`` holds every committed update as
  (sequence number, time, data set group, block, offset, after image), appended per
  time slice in self-checking chunks (magic, counts, arrays, CRC-32); a torn last chunk
  (``kill -9``) is ignored on read.

So the content of any block range at any time ``t`` (or sequence number) is the base
plus the journal up to ``t``: :meth:`Truth.content_at`.

**Commit order.**  The workload appends a slice to the truth *before* writing its
change records to the log (the log write is the commit point), and DASD is written only
after both.  After a crash the journal may therefore hold updates the log never got;
those units of work never committed, and :meth:`Truth.reconcile` drops them given the
last sequence number on the log -- the one fact the truth takes from the log.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dasdlab.engine.errors import ImsError

MAGIC = b"TRJ1"
_HDR = struct.Struct("<4sIHH")  # magic, records, width, reserved
_CRC = struct.Struct("<I")


def truth_dir(site_path: str | os.PathLike, dbd: str) -> Path:
    return Path(site_path) / "ims" / "truth" / dbd.upper()


@dataclass
class Journal:
    """Journal entries as arrays (sequence order); after image ``i`` is
    ``after[i, :width]`` (all entries of one journal share the widest width; shorter
    ones are padded and ``length`` says how many bytes are real)."""

    seq: np.ndarray
    time: np.ndarray
    group: np.ndarray
    block: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    data: np.ndarray  # flat after images
    start: np.ndarray

    def __len__(self) -> int:
        return int(self.seq.size)

    def in_blocks(self, lo: int, hi: int) -> np.ndarray | None:
        """Indexes of the entries for blocks ``lo..hi-1``, in sequence order within each
        block (which is all replay needs: entries of different blocks commute), or None
        when the journal is too short for an index to pay.  The block order is sorted
        once per journal, so checking a data set range by range costs the journal once,
        not once per range."""
        if self.seq.size < 4096:
            return None
        order = getattr(self, "_order", None)
        if order is None:
            order = np.argsort(self.block, kind="stable")
            self._order, self._sorted = order, self.block[order]
        a, b = np.searchsorted(self._sorted, [lo, hi])
        return order[a:b]

    def select(self, mask: np.ndarray) -> Journal:
        return Journal(self.seq[mask], self.time[mask], self.group[mask], self.block[mask],
                       self.offset[mask], self.length[mask], self.data, self.start[mask])


class Truth:
    """The committed content of one database."""

    def __init__(self, site_path: str | os.PathLike, dbd: str) -> None:
        self.dir = truth_dir(site_path, dbd)
        meta = self.dir / "meta.json"
        if not meta.is_file():
            raise ImsError("DLB585E", f"database {dbd.upper()} has no truth record; load it with "
                           "'dasdlab db load' first.")
        from dasdlab.errors import read_json_file

        self.meta = read_json_file(meta, "the truth record")
        self.path = self.dir / "journal.bin"
        self.notes: list[str] = []
        self._fd: int | None = None

    @classmethod
    def create(cls, site_path: str | os.PathLike, dbd: str, seed: int,
               groups: list[dict]) -> Truth:
        """Start the truth of a freshly loaded database: ``groups`` lists per data set
        group {ddn, block_size, nblocks}."""
        d = truth_dir(site_path, dbd)
        d.mkdir(parents=True, exist_ok=True)
        (d / "journal.bin").write_bytes(b"")
        tmp = d / "meta.json.tmp"
        tmp.write_text(json.dumps({"dbd": dbd.upper(), "seed": int(seed), "groups": groups}, indent=1))
        os.replace(tmp, d / "meta.json")
        return cls(site_path, dbd)

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    def group_index(self, ddn: str) -> int:
        for i, g in enumerate(self.meta["groups"]):
            if g["ddn"] == ddn.upper():
                return i
        raise ImsError("DLB586E", f"database {self.meta['dbd']} has no data set group {ddn.upper()}.")

    # ------------------------------------------------------------------ writing
    def append(self, seq: np.ndarray, time: np.ndarray, group: np.ndarray, block: np.ndarray,
               offset: np.ndarray, after: np.ndarray) -> None:
        """Append committed updates (one chunk, one write); ``after`` is (n, width)."""
        n = int(seq.size)
        if n == 0:
            return
        after = np.ascontiguousarray(after, dtype=np.uint8).reshape(n, -1)
        body = b"".join((
            _HDR.pack(MAGIC, n, after.shape[1], 0),
            np.asarray(seq, np.int64).tobytes(), np.asarray(time, np.float64).tobytes(),
            np.asarray(group, np.int16).tobytes(), np.asarray(block, np.int64).tobytes(),
            np.asarray(offset, np.int32).tobytes(), after.tobytes(),
        ))
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        os.write(self._fd, body + _CRC.pack(zlib.crc32(body)))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------------ reading
    def _chunks(self) -> list[tuple[int, int, dict[str, np.ndarray]]]:
        """(file offset, end offset, arrays) of each complete chunk."""
        raw = np.fromfile(self.path, dtype=np.uint8) if self.path.exists() else np.empty(0, np.uint8)
        mv = memoryview(raw)
        out = []
        pos = 0
        size = raw.size
        while pos < size:
            if pos + _HDR.size > size:
                self.notes.append(f"torn journal chunk at byte {pos} ignored")
                break
            magic, n, w, _ = _HDR.unpack_from(mv, pos)
            if magic != MAGIC:
                raise ImsError("DLB587E", f"truth journal {self.path} is damaged at byte {pos}.")
            ln = _HDR.size + n * (8 + 8 + 2 + 8 + 4 + w)
            if pos + ln + 4 > size:
                self.notes.append(f"torn journal chunk at byte {pos} ignored")
                break
            (crc,) = _CRC.unpack_from(mv, pos + ln)
            if zlib.crc32(mv[pos : pos + ln]) != crc:
                if pos + ln + 4 == size:
                    self.notes.append(f"torn journal chunk at byte {pos} ignored")
                    break
                raise ImsError("DLB587E", f"truth journal {self.path} is damaged at byte {pos}.")
            p = pos + _HDR.size
            arrs = {}
            for name, dt, k in (("seq", np.int64, 8), ("time", np.float64, 8), ("group", np.int16, 2),
                                ("block", np.int64, 8), ("offset", np.int32, 4)):
                arrs[name] = raw[p : p + n * k].view(dt)
                p += n * k
            arrs["after"] = raw[p : p + n * w].reshape(n, w)
            out.append((pos, pos + ln + 4, arrs))
            pos += ln + 4
        return out

    def journal(self, until_time: float | None = None, until_seq: int | None = None,
                ddn: str | None = None) -> Journal:
        """Entries up to a time (inclusive) or sequence number, optionally of one DDN."""
        self.notes = []
        chunks = self._chunks()
        if not chunks:
            e = np.empty(0, np.int64)
            return Journal(e, np.empty(0), e.astype(np.int16), e, e, e, np.empty(0, np.uint8), e)
        cat = {k: np.concatenate([c[2][k] for c in chunks]) for k in ("seq", "time", "group", "block", "offset")}
        lens = np.concatenate([np.full(c[2]["seq"].size, c[2]["after"].shape[1], np.int64) for c in chunks])
        data = np.concatenate([c[2]["after"].reshape(-1) for c in chunks])
        start = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
        j = Journal(cat["seq"], cat["time"], cat["group"], cat["block"], cat["offset"].astype(np.int64),
                    lens, data, start)
        mask = np.ones(len(j), bool)
        if until_time is not None:
            mask &= j.time <= until_time
        if until_seq is not None:
            mask &= j.seq <= until_seq
        if ddn is not None:
            mask &= j.group == self.group_index(ddn)
        return j if mask.all() else j.select(mask)

    def last(self) -> tuple[int, float]:
        """(sequence number, time) of the last journal entry ((0, 0.0) when none)."""
        chunks = self._chunks()
        if not chunks:
            return 0, 0.0
        a = chunks[-1][2]
        return int(a["seq"][-1]), float(a["time"][-1])

    def reconcile(self, committed_seq: int) -> int:
        """Drop journal entries after ``committed_seq`` (units of work that had not
        reached the log when the system stopped) and a torn tail; returns how many."""
        chunks = self._chunks()
        keep_end = 0
        dropped = 0
        tail = None
        for pos, end, a in chunks:
            if a["seq"].size and int(a["seq"][-1]) <= committed_seq:
                keep_end = end
                continue
            m = a["seq"] <= committed_seq
            dropped += int((~m).sum())
            if m.any() and tail is None:
                tail = {k: v[m] for k, v in a.items()}
            if tail is None:
                tail = {}
        size = self.path.stat().st_size
        if keep_end == size and not dropped:
            return 0
        self.close()
        with open(self.path, "r+b") as f:
            f.truncate(keep_end)
        if tail:
            self.append(tail["seq"], tail["time"], tail["group"], tail["block"], tail["offset"], tail["after"])
            self.close()
        return dropped

    def content_at(self, ddn: str, t: float | None = None, seq: int | None = None,
                   first: int = 0, count: int | None = None, journal: Journal | None = None) -> np.ndarray:
        """Committed content of blocks ``first..first+count-1`` of data set group ``ddn``
        at time ``t`` (or after sequence number ``seq``; default: now).  Pass a
        ``journal`` already read with :meth:`journal` (same ``t``/``seq``/``ddn``) to
        avoid re-reading it for each block range."""
        from dasdlab.engine.kernels import apply_changes
        from dasdlab.engine.layout import block_layout, generate

        gi = self.group_index(ddn)
        g = self.meta["groups"][gi]
        nblocks = int(g["nblocks"])
        count = nblocks - first if count is None else count
        if first < 0 or count < 0 or first + count > nblocks:
            raise ImsError("DLB588E", f"blocks {first}..{first + count - 1} are outside {ddn} ({nblocks} blocks).")
        dbd = self._dbd()
        lay = block_layout(dbd, dbd.group(ddn))
        img = generate(lay, self.seed, first, count)
        j = journal if journal is not None else self.journal(until_time=t, until_seq=seq, ddn=ddn)
        if len(j):
            sel = j.in_blocks(first, first + count)
            if sel is None:
                apply_changes(img, first, j.block, j.offset, j.data, j.start, j.length)
            elif sel.size:
                apply_changes(img, first, j.block[sel], j.offset[sel], j.data, j.start[sel], j.length[sel])
        return img

    def ranges_at(self, ddn: str, t: float | None = None, seq: int | None = None, step: int = 2048):
        """The committed content of data set group ``ddn`` at ``t`` (or after ``seq``) as
        ``(first block, blocks)`` ranges of at most ``step`` blocks: the whole content,
        never in memory at once."""
        nblocks = int(self.meta["groups"][self.group_index(ddn)]["nblocks"])
        j = self.journal(until_time=t, until_seq=seq, ddn=ddn)
        for a in range(0, nblocks, step):
            yield a, self.content_at(ddn, first=a, count=min(step, nblocks - a), journal=j)

    def _dbd(self):
        from dasdlab.engine.dbd import Dbd

        import json as _json

        from dasdlab.errors import read_json_file

        path = self.dir.parent.parent / "dbdlib" / f"{self.meta['dbd']}.json"
        return Dbd.from_json(_json.dumps(read_json_file(path, "the DBD library entry")))
