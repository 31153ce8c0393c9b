"""IMS databases of a site: define a DBD, allocate and load its data sets, open it.

One database = one DBD (:mod:`dasdlab.engine.dbd`) whose data set groups are DBDS
data sets on the site's emulated 3390 volumes, catalogued as ``IMS.<DBD>.<DDN>``.

* :func:`define` stores the DBD source and its parsed form in ``SITE/ims/dbdlib/`` and
  registers the database and its DBDS in RECON (DBD library + DBRC ``INIT.DB/INIT.DBDS``).
* :func:`load` allocates each DBDS on a volume with room (or ``volser``), formats every
  block or CI (:mod:`dasdlab.engine.layout`: OSAM HD blocks, ESDS CIs with RDF + CIDF),
  fills them with segments deterministically for the seed, and starts the truth.  The
  size is split evenly across the data set groups; each gets whole tracks.
* :meth:`ImsDatabase.open` gives the database with its DBDS list (DDN -> DSN -> volume,
  block size, blocks, the :class:`~dasdlab.emulator.dataset.Dataset`), for the online
  system (:mod:`dasdlab.engine.system`), image copies and recovery::

      db = ImsDatabase.open(site, "HDAMDB01")
      for d in db.dbds:  d.ddn, d.dsn, d.volser, d.block_size, d.nblocks, d.dataset()
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dasdlab.engine.dbd import Dbd, parse_file
from dasdlab.engine.errors import ImsError
from dasdlab.engine.layout import BlockLayout, ChunkCache, block_layout
from dasdlab.engine.recon import Recon
from dasdlab.errors import DasdlabError


def dbdlib(site_path) -> Path:
    return Path(site_path) / "ims" / "dbdlib"


def dsn_of(dbd: str, ddn: str) -> str:
    return f"IMS.{dbd}.{ddn}"


def define(site, source: str | Path) -> Dbd:
    """Parse a DBD source, keep it in the site's DBD library and register it in RECON."""
    dbd = parse_file(source)
    recon = Recon.of_site(site.path)
    try:
        if any(d["dbd"] == dbd.name for d in recon.databases()):
            raise ImsError("DLB520E", f"database {dbd.name} is already defined in RECON; "
                           "a DBD is defined once per site.")
        lib = dbdlib(site.path)
        lib.mkdir(parents=True, exist_ok=True)
        src = lib / f"{dbd.name}.dbd"
        src.write_text(Path(source).read_text())
        (lib / f"{dbd.name}.json").write_text(dbd.to_json())
        recon.register_db(dbd.name, dbd.access, dbd.method, str(src),
                          [(g.ddn, dsn_of(dbd.name, g.ddn), g.dsorg, g.block_size) for g in dbd.groups])
    finally:
        recon.close()
    return dbd


@dataclass
class Dbds:
    """One DBDS of a database: a data set group's data set."""

    dbd: str
    index: int
    ddn: str
    dsn: str
    dsorg: str
    block_size: int
    volser: str | None
    nblocks: int
    recovery_needed: bool
    layout: BlockLayout
    _site: object = field(repr=False, default=None)
    _ds: object = field(repr=False, default=None)

    def dataset(self, writable: bool = True):
        """The :class:`~dasdlab.emulator.dataset.Dataset` on its volume (attached to its
        subsystem, so writes pass the copy services' write path)."""
        if self._ds is None or (writable and self._ds.vol.read_only):
            from dasdlab.emulator.dataset import Dataset

            if self.volser is None:
                raise ImsError("DLB526E", f"{self.dsn} is not allocated; load database {self.dbd} first.")
            vol = self._site.volume(self.volser, writable=writable)
            self._ds = Dataset(vol, self.dsn)
        return self._ds


class ImsDatabase:
    """A defined database of a site: its DBD, RECON entries and DBDS data sets."""

    def __init__(self, site, dbd: Dbd, info: dict, dbds: list[Dbds]) -> None:
        self.site = site
        self.dbd = dbd
        self.name = dbd.name
        self.info = info
        self.dbds = dbds
        self.by_ddn = {d.ddn: d for d in dbds}

    @classmethod
    def open(cls, site, name: str, recon: Recon | None = None) -> ImsDatabase:
        own = recon is None
        recon = Recon.of_site(site.path) if own else recon
        try:
            info = recon.db(name)
            rows = recon.dbds(name)
        finally:
            if own:
                recon.close()
        import json

        from dasdlab.errors import read_json_file

        path = dbdlib(site.path) / f"{info['dbd']}.json"
        dbd = Dbd.from_json(json.dumps(read_json_file(path, "the DBD library entry")))
        dbds = [Dbds(dbd.name, r["idx"], r["ddn"], r["dsn"], r["dsorg"], r["block_size"], r["volser"],
                     r["nblocks"], bool(r["recov"]), block_layout(dbd, dbd.groups[r["idx"]]), site)
                for r in rows]
        return cls(site, dbd, info, dbds)

    @property
    def loaded(self) -> bool:
        return bool(self.info["loaded"])

    @property
    def seed(self) -> int | None:
        return self.info["seed"]

    def ddn(self, ddn: str) -> Dbds:
        try:
            return self.by_ddn[ddn.upper()]
        except KeyError:
            raise ImsError("DLB527E", f"database {self.name} has no DDN {ddn.upper()} (it has "
                           f"{', '.join(self.by_ddn)}).") from None

    def require_loaded(self) -> None:
        if not self.loaded:
            raise ImsError("DLB528E", f"database {self.name} is defined but not loaded; run 'dasdlab db load'.")


@dataclass
class LoadResult:
    dbd: str
    groups: list[dict]
    bytes: int
    seconds: float

    @property
    def mib_per_s(self) -> float:
        return self.bytes / 2**20 / max(self.seconds, 1e-9)


def _plan(site, db: ImsDatabase, size: int, volser: str | None) -> list[dict]:
    """Blocks and tracks per data set group, and the volume each goes to.  Checks that
    everything fits before anything is allocated."""
    from dasdlab.emulator.geometry import default_model

    if size <= 0:
        raise ImsError("DLB529E", f"--size must be positive, got {size} bytes.")
    share = size / len(db.dbds)
    plans = []
    vols = [volser.upper()] if volser else site.volsers()
    if not vols:
        raise ImsError("DLB530E", f"site {site.path} has no volumes; add one with 'dasdlab site add-volume'.")
    free: dict[str, list[tuple[int, int]]] = {}
    for v in vols:
        vol = site.volume(v)
        free[v] = list(vol.vtoc.free)
    for d in db.dbds:
        geo = default_model()
        bpt = geo.records_per_track(0, d.block_size)
        ntracks = max(1, -(-int(share) // (bpt * d.block_size)))
        alloc_tracks = ntracks + 1  # the EOF record after a last full track
        if alloc_tracks > 0xFFFF:
            raise ImsError("DLB531E", f"{d.dsn} would need {alloc_tracks} tracks; a data set holds at most "
                           "65,535 tracks on one volume. Ask for a smaller --size.")
        chosen = None
        for v in vols:
            runs = sorted(free[v], key=lambda r: r[0] - r[1])[:5]
            if sum(b - a for a, b in runs) >= alloc_tracks:
                chosen = v
                need = alloc_tracks
                left = []
                for a, b in sorted(free[v], key=lambda r: r[0] - r[1]):
                    take = min(need, b - a)
                    need -= take
                    if b - a > take:
                        left.append((a + take, b))
                free[v] = left
                break
        if chosen is None:
            where = f"volume {volser.upper()}" if volser else f"any volume of site {site.path}"
            raise ImsError("DLB532E", f"{d.dsn} needs {alloc_tracks} tracks but {where} has no room for it; "
                           "add a volume (e.g. 'dasdlab site add-volume DIR DS8K1 IMS002 --model 3390-9') "
                           "or ask for a smaller --size.")
        plans.append({"ddn": d.ddn, "dsn": d.dsn, "volser": chosen, "tracks": alloc_tracks,
                      "nblocks": ntracks * bpt, "block_size": d.block_size, "dsorg": d.dsorg})
    return plans


def load(site, name: str, size: int, seed: int, volser: str | None = None,
         progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Allocate, format and fill every DBDS of database ``name``; start its truth."""
    from dasdlab.emulator.dataset import Dataset
    from dasdlab.engine.truth import Truth

    recon = Recon.of_site(site.path, create=False)
    try:
        db = ImsDatabase.open(site, name, recon)
        if db.loaded:
            raise ImsError("DLB523E", f"database {db.name} is already loaded; a site loads a database once.")
        if recon.live_owner(db.name):
            raise ImsError("DLB553E", f"database {db.name} is in use by a running IMS subsystem.")
        for d in db.dbds:
            if site.catalog.find(d.dsn) is not None:
                raise ImsError("DLB533E", f"{d.dsn} is already catalogued; delete it before loading {db.name}.")
        plans = _plan(site, db, size, volser)
        t0 = time.perf_counter()
        done: list[str] = []
        total_tracks = sum(p["tracks"] - 1 for p in plans)
        base = 0
        try:
            for p, d in zip(plans, db.dbds):
                attrs = (dict(dsorg="VS", recfm="U") if p["dsorg"] == "ESDS" else dict(dsorg="PS", recfm="F"))
                site.allocate(p["dsn"], p["volser"], lrecl=p["block_size"], blksize=p["block_size"],
                              unit="TRK", primary=p["tracks"], **attrs)
                done.append(p["dsn"])
                vol = site.volume(p["volser"], writable=True)
                ds = Dataset(vol, p["dsn"])
                cache = ChunkCache(d.layout, seed)

                def prog(k, n, base=base):
                    if progress is not None:
                        progress(base + k, total_tracks)

                ds.format_blocks(p["nblocks"], fill=cache.blocks, progress=prog)
                base += p["tracks"] - 1
                vol.flush()
        except DasdlabError:
            for dsn in reversed(done):
                site.delete_dataset(dsn)
            raise
        Truth.create(site.path, db.name, seed, [{"ddn": p["ddn"], "block_size": p["block_size"],
                                                "nblocks": p["nblocks"]} for p in plans])
        recon.set_loaded(db.name, seed, [(p["ddn"], p["volser"], p["nblocks"]) for p in plans])
        secs = time.perf_counter() - t0
        nbytes = sum(p["nblocks"] * p["block_size"] for p in plans)
        return LoadResult(db.name, plans, nbytes, secs)
    finally:
        recon.close()


def parse_size(text: str) -> int:
    """``64MiB``, ``2GiB``, ``500MB``, ``4096`` -> bytes."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B?)\s*", text.upper())
    if not m:
        raise ImsError("DLB529E", f"size {text!r} is not understood; write e.g. 64MiB, 2GiB or 500MB.")
    num, unit, ib = m.groups()
    base = 1024 if ib.startswith("I") or (unit and not ib) else 1000
    mult = {"": 1, "K": base, "M": base**2, "G": base**3, "T": base**4}[unit]
    return int(float(num) * mult)
