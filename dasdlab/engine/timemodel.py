"""The time model: device profiles and what each operation costs in modeled time.

Modeled time is what a mainframe would see (DESIGN.md §4): a virtual clock advanced by
the scenario, with every cost taken from a *device profile*.  Each figure in a profile
names its source, or says ``assumption`` when no public figure was found — the reference
material is thin here (``shared/reference/limits.md`` B2-B4 and ``domain.md`` §1.3:
"none of the public HP-IC pages give seconds or minutes").

Sources used (keys of ``domain.md`` / sections of ``limits.md``):

* 3390 rotation 14.2 ms per revolution, one track per revolution, about 4.0 MB/s
  (``limits.md`` B2, derived from CERN-OBJ-IT-012's 7.1 ms average rotational delay);
* ESCON 17 MB/s (IBM ESCON channel rate, general knowledge: assumption-grade);
* FICON Express16S+ 3,200 MB/s full duplex, i.e. about 1,600 MB/s each way
  (``limits.md`` B2, Brocade/S. Guendert 2017 citing IBM);
* FlashCopy establish "only a few seconds" (S30, ``limits.md`` B3);
* Concurrent Copy initialisation: 12 s to ADR734I and 35 s in all for a COPY FULL on a
  DS6000 (``limits.md`` B4, DS6000 Copy Services Redbook Appendix A p. 517);
* SnapShot: "a few I/Os, whatever the size of the data" (S63);
* SVC/Storwize background copy rates up to 64 MB/s (``limits.md`` B3), the only published
  background-copy rate table.

**Every profile prices every operation**, so that all copy methods can be compared
under one profile: the methods run on the site's subsystem that has the service
(DS8K1, RVA1, VMAX1), and a cost for a service the profile's own box lacks is marked
``assumption, what-if`` (the same generation of channels and controllers).

**Size scale.**  :meth:`DeviceProfile.scaled` gives a profile in which every track of
the emulated data stands for ``scale`` tracks of a larger modeled database: sequential
I/O and background copies take ``scale`` times longer, fixed costs (establish, session
set-up, commands) do not change.  This lets a small emulated database show the outage
of a large one; results report the scale.

User profiles come from a TOML file whose tables have the fields of
:class:`DeviceProfile` (``[profiles.NAME]``); any field left out is taken from the
profile named by ``base`` (default ``ds8000-ficon16``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType

from dasdlab.errors import DasdlabError

TRACK_BYTES = 56664  # 3390 R1 capacity; geometry.MODELS["3390-3"].r1_capacity


class ProfileError(DasdlabError):
    """A device profile that is unknown or malformed."""


@dataclass(frozen=True)
class DeviceProfile:
    """Costs of one class of storage configuration, in seconds or rates.

    ``sources`` maps each field name to where its value comes from.
    """

    name: str
    description: str
    subsystem_kind: str  # which dasdlab subsystem kind the profile is for
    # -- host sequential I/O (standard image copy read, reload, DSS dump read) --------
    seq_read_mb_s: float  # sustained sequential read of one job, MB/s (10^6)
    seq_write_mb_s: float  # sustained sequential write of one job, MB/s
    io_overhead_s: float  # per-request overhead (channel program start, seek for 3390)
    tracks_per_request: int  # tracks moved per channel program in a sequential job
    # -- copy services ------------------------------------------------------------------
    dss_init_s: float  # DFSMSdss task start: catalog search, serialization (per data set)
    flashcopy_establish_s: float  # one data-set-level relationship, extended long busy
    snapshot_s: float  # one SnapShot of a data set (pointer copy)
    cc_session_init_s: float  # Concurrent Copy session set-up to init complete (per data set)
    vcc_flash_s: float  # virtual CC: flash/snap to the work area, to init complete
    clone_activate_s: float  # TimeFinder/Clone create + activate of a data set
    background_copy_mb_s: float  # FlashCopy / Clone background copy
    sidefile_drain_mb_s: float  # SDM drain of the cache sidefile to the host sidefile
    # -- IMS ------------------------------------------------------------------------------
    db_stop_s: float  # /DBR or UPDATE DB QUIESCE until updaters are held (buffers flushed)
    db_start_s: float  # /STA DB or quiesce release until updates flow again
    update_service_s: float  # base service time of one update transaction
    log_apply_records_s: float  # change records applied per second by recovery
    # -- limits, in bytes of the modeled box (compared in modeled units: see scaled()) --
    cache_bytes: int = 0  # controller cache; Concurrent Copy's half-cache rule (0: the subsystem's setting)
    host_sidefile_bytes: int = 2 * 1024**3  # the SDM data space holding host sidefiles (S41)
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    # -- costs ------------------------------------------------------------------------
    def read_tracks_s(self, ntracks: int, track_bytes: int = TRACK_BYTES) -> float:
        """Modeled time to read ``ntracks`` sequentially (the standard process's read)."""
        return self._seq(ntracks, track_bytes, self.seq_read_mb_s)

    def write_tracks_s(self, ntracks: int, track_bytes: int = TRACK_BYTES) -> float:
        return self._seq(ntracks, track_bytes, self.seq_write_mb_s)

    def _seq(self, ntracks: int, track_bytes: int, mb_s: float) -> float:
        if ntracks <= 0:
            return 0.0
        requests = math.ceil(ntracks / self.tracks_per_request)
        return requests * self.io_overhead_s + ntracks * track_bytes / (mb_s * 1e6)

    def background_tracks_per_s(self, track_bytes: int = TRACK_BYTES) -> float:
        return self.background_copy_mb_s * 1e6 / track_bytes

    def drain_tracks_per_s(self, track_bytes: int = TRACK_BYTES) -> float:
        return self.sidefile_drain_mb_s * 1e6 / track_bytes

    def log_apply_s(self, nrecords: int) -> float:
        return nrecords / self.log_apply_records_s

    def as_dict(self) -> dict:
        return asdict(self)

    def scaled(self, scale: float) -> DeviceProfile:
        """The profile for emulated data standing for ``scale`` times as much."""
        if scale <= 0:
            raise ProfileError("DLB705E", f"size scale must be positive, got {scale}.")
        if scale == 1:
            return self
        return replace(self, seq_read_mb_s=self.seq_read_mb_s / scale, seq_write_mb_s=self.seq_write_mb_s / scale,
                       io_overhead_s=self.io_overhead_s * scale,
                       background_copy_mb_s=self.background_copy_mb_s / scale,
                       sidefile_drain_mb_s=self.sidefile_drain_mb_s / scale,
                       # limits in emulated bytes: an emulated track stands for `scale`
                       # tracks, so a sidefile of n emulated tracks is n x scale modeled
                       # ones and meets the modeled box's limit at the same point
                       cache_bytes=int(round(self.cache_bytes / scale)),
                       host_sidefile_bytes=int(round(self.host_sidefile_bytes / scale)),
                       name=f"{self.name}*{scale:g}")


def _profile(**kw) -> DeviceProfile:
    src = kw.pop("sources")
    return DeviceProfile(sources=src, **kw)


_ASSUME = "assumption"
#: a cost for a service the profile's box does not have: the same channel generation,
#: so that every copy method can be compared under one profile
WHAT_IF = "assumption, what-if"

PROFILES = MappingProxyType({p.name: p for p in (
    _profile(
        name="3390-3990",
        description="IBM 3390 actuators behind a 3990-6 class controller on ESCON",
        subsystem_kind="ds8000",
        seq_read_mb_s=4.0, seq_write_mb_s=4.0, io_overhead_s=0.0120, tracks_per_request=15,
        dss_init_s=4.0, flashcopy_establish_s=3.0, snapshot_s=1.0,
        cc_session_init_s=8.0, vcc_flash_s=9.0, clone_activate_s=3.0,
        background_copy_mb_s=4.0, sidefile_drain_mb_s=4.0,
        db_stop_s=1.0, db_start_s=0.5, update_service_s=0.020, log_apply_records_s=5000.0,
        cache_bytes=2 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "IBM 3990 Storage Control Model 6: up to 2 GB of cache (IBM 3990 Storage Control Reference, GA32-0274; to be checked against that document)",
            "seq_read_mb_s": "limits.md B2: 14.2 ms/rev, one 56,664-byte track per rev = 4.0 MB/s",
            "seq_write_mb_s": "limits.md B2 (as read)",
            "io_overhead_s": "assumption: one average seek (9.5-12.5 ms, unverified in limits.md B2) per cylinder",
            "tracks_per_request": "assumption: one cylinder per channel program",
            "dss_init_s": _ASSUME, "cc_session_init_s": "assumption, below the 12 s of a DS6000 COPY FULL (limits.md B4)",
            "flashcopy_establish_s": WHAT_IF + " (a 3990 has no FlashCopy)",
            "snapshot_s": WHAT_IF + " (SnapShot came with the RVA)",
            "vcc_flash_s": WHAT_IF + " (virtual CC needs FlashCopy or SnapShot)",
            "clone_activate_s": WHAT_IF + " (TimeFinder/Clone is a Symmetrix function)",
            "background_copy_mb_s": "assumption: bound by the 3390 media rate (limits.md B2)",
            "sidefile_drain_mb_s": "assumption: channel-bound like the read",
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": _ASSUME,
        },
    ),
    _profile(
        name="ds8000-ficon16",
        description="DS8000-class box on FICON Express16S+ (FlashCopy, Concurrent Copy)",
        subsystem_kind="ds8000",
        seq_read_mb_s=400.0, seq_write_mb_s=300.0, io_overhead_s=0.0004, tracks_per_request=15,
        dss_init_s=1.5, flashcopy_establish_s=0.8, snapshot_s=0.4,
        cc_session_init_s=4.0, vcc_flash_s=3.5, clone_activate_s=1.0,
        background_copy_mb_s=200.0, sidefile_drain_mb_s=100.0,
        db_stop_s=0.5, db_start_s=0.2, update_service_s=0.002, log_apply_records_s=50000.0,
        cache_bytes=64 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "IBM DS8880 Architecture and Implementation, SG24-8323: DS8884 64-256 GB, DS8886 up to 2 TB of processor memory (cache); 64 GiB is the smallest DS8884",
            "seq_read_mb_s": "assumption: one job's share of a FICON Express16S+ channel (1,600 MB/s each way, limits.md B2)",
            "seq_write_mb_s": _ASSUME, "io_overhead_s": _ASSUME, "tracks_per_request": _ASSUME,
            "dss_init_s": "assumption (limits.md B4: init time is catalog search and serialization)",
            "flashcopy_establish_s": "S30 'only a few seconds' for a volume pair; assumption for one data set",
            "cc_session_init_s": "assumption, a third of the 12 s DS6000 example (limits.md B4)",
            "vcc_flash_s": "assumption: DSS flashes to a work area, then the SDM session (S45)",
            "snapshot_s": WHAT_IF + " (S63: a snap is a few I/Os; SnapShot is an RVA function)",
            "clone_activate_s": WHAT_IF + " (TimeFinder/Clone on a Symmetrix on the same channels)",
            "background_copy_mb_s": "assumption (no IBM figure, S53; SVC max 64 MB/s, limits.md B3)",
            "sidefile_drain_mb_s": _ASSUME,
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": _ASSUME,
        },
    ),
    _profile(
        name="rva-escon",
        description="RAMAC Virtual Array-class box on ESCON (SnapShot, virtual Concurrent Copy)",
        subsystem_kind="rva",
        seq_read_mb_s=12.0, seq_write_mb_s=10.0, io_overhead_s=0.0030, tracks_per_request=15,
        dss_init_s=3.0, flashcopy_establish_s=2.0, snapshot_s=0.3,
        cc_session_init_s=6.0, vcc_flash_s=5.0, clone_activate_s=2.0,
        background_copy_mb_s=10.0, sidefile_drain_mb_s=10.0,
        db_stop_s=1.0, db_start_s=0.5, update_service_s=0.010, log_apply_records_s=10000.0,
        cache_bytes=6 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "IBM RAMAC Virtual Array: 1.5 to 6 GB of cache (IBM RVA Turbo/T82 product summary; to be checked); assumption: the largest",
            "seq_read_mb_s": "assumption: ESCON 17 MB/s channel less protocol overhead",
            "seq_write_mb_s": _ASSUME, "io_overhead_s": _ASSUME, "tracks_per_request": _ASSUME,
            "dss_init_s": _ASSUME,
            "snapshot_s": "S63: a snap is a few I/Os whatever the size; value an assumption",
            "cc_session_init_s": _ASSUME, "vcc_flash_s": "assumption: snap to working space plus SDM set-up (S44)",
            "flashcopy_establish_s": WHAT_IF + " (an RVA has SnapShot, not FlashCopy)",
            "clone_activate_s": WHAT_IF + " (TimeFinder/Clone on a Symmetrix on ESCON)",
            "background_copy_mb_s": "assumption: ESCON-bound; a snap itself needs no background copy (S63)",
            "sidefile_drain_mb_s": _ASSUME,
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": _ASSUME,
        },
    ),
    _profile(
        name="symmetrix-ficon8",
        description="Symmetrix-class box on FICON 8 Gb (TimeFinder/Clone via EMCSNAP)",
        subsystem_kind="symmetrix",
        seq_read_mb_s=250.0, seq_write_mb_s=200.0, io_overhead_s=0.0006, tracks_per_request=15,
        dss_init_s=1.5, flashcopy_establish_s=1.0, snapshot_s=0.5,
        cc_session_init_s=4.5, vcc_flash_s=4.0, clone_activate_s=1.2,
        background_copy_mb_s=150.0, sidefile_drain_mb_s=80.0,
        db_stop_s=0.5, db_start_s=0.2, update_service_s=0.003, log_apply_records_s=40000.0,
        cache_bytes=128 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "EMC Symmetrix VMAX: up to 128 GB of global memory per engine (EMC Symmetrix VMAX product description; to be checked); assumption: one engine",
            "seq_read_mb_s": "assumption: FICON Express8S, 1,600 MB/s read+write (limits.md B2), one job's share",
            "seq_write_mb_s": _ASSUME, "io_overhead_s": _ASSUME, "tracks_per_request": _ASSUME,
            "dss_init_s": _ASSUME,
            "clone_activate_s": "assumption (S65-S67 give no timing)",
            "background_copy_mb_s": _ASSUME,
            "flashcopy_establish_s": WHAT_IF + " (EMC's Compatible FlashCopy, not modelled as such)",
            "snapshot_s": WHAT_IF + " (SnapShot is an RVA function)",
            "cc_session_init_s": WHAT_IF + " (Concurrent Copy on a DS8000 on the same channels)",
            "vcc_flash_s": WHAT_IF, "sidefile_drain_mb_s": WHAT_IF,
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": _ASSUME,
        },
    ),
)})

DEFAULT_PROFILE = "ds8000-ficon16"


def get_profile(name: str, extra: dict[str, DeviceProfile] | None = None) -> DeviceProfile:
    table = {**PROFILES, **(extra or {})}
    try:
        return table[name]
    except KeyError:
        raise ProfileError("DLB700E", f"unknown device profile {name!r}; known: {', '.join(table)}.") from None


_WHOLE = frozenset({"tracks_per_request", "cache_bytes", "host_sidefile_bytes"})
_NUMERIC = {f.name for f in fields(DeviceProfile)} - {"name", "description", "subsystem_kind", "sources"}


def load_profiles(path: str | Path) -> dict[str, DeviceProfile]:
    """User profiles from a TOML file: ``[profiles.NAME]`` tables (see module docstring)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError("DLB701E", f"profile file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError("DLB702E", f"{path}: {e}.") from None
    out: dict[str, DeviceProfile] = {}
    for name, table in (data.get("profiles") or {}).items():
        if not isinstance(table, dict):
            raise ProfileError("DLB702E", f"{path}: profiles.{name} must be a table.")
        base = get_profile(table.get("base", DEFAULT_PROFILE), out)
        unknown = set(table) - _NUMERIC - {"base", "description", "subsystem_kind", "sources"}
        if unknown:
            raise ProfileError("DLB703E", f"{path}: profiles.{name} has unknown fields {sorted(unknown)}.")
        changes = {k: int(v) if k in _WHOLE else float(v) for k, v in table.items() if k in _NUMERIC}
        for k, v in changes.items():
            if not v > 0:
                raise ProfileError("DLB704E", f"{path}: profiles.{name}.{k} must be positive, got {v}.")
        sources = {**base.sources, **{k: f"user profile {path.name}" for k in changes}, **table.get("sources", {})}
        out[name] = replace(base, name=name, description=table.get("description", f"{base.description} (modified)"),
                            subsystem_kind=table.get("subsystem_kind", base.subsystem_kind), sources=sources, **changes)
    if not out:
        raise ProfileError("DLB702E", f"{path}: no [profiles.NAME] tables.")
    return out
