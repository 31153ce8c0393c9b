"""The time model: device profiles and what each operation costs in modeled time.

Modeled time is what a mainframe would see: a virtual clock advanced by the scenario,
with every cost taken from a *device profile*.  Each figure in a profile names its
source (keys of ``docs/sources.md``), or says ``assumption`` when no public figure was
found -- the public material is thin: none of the HP Image Copy pages give seconds or
minutes.

**Sourced figures** (the only ones):

* 3390 media rate: 7.1 ms average rotational delay (S86), i.e. 14.2 ms per revolution,
  one 56,664-byte track per revolution = about 4.0 MB/s (derived) -- profile
  ``3390-3990`` sequential read and write;
* FICON channel rates (S87: FICON Express8S 1,600 MB/s reads + writes; S88: FICON
  Express16S+ 3,200 MB/s full duplex): upper bounds; the per-job shares in the profiles
  are assumptions below them;
* FlashCopy establish "only a few seconds" for a volume pair (S30): the profiles'
  data-set establish times are assumptions below that bound;
* SnapShot: "a few I/Os, whatever the size of the data" (S63): qualitative; the values
  are assumptions.

**Assumptions, with why** (no better public source was found):

* *Concurrent Copy session initialisation*: no published figure.  The DS6000 Copy
  Services Redbook's example (12 s to ADR734I, 35 s in all, S40) was a ``COPY FULL``
  that DFSMSdss did by fast replication (message ADR806I), so it does not time a
  cache Concurrent Copy session and is not used.
* *Background copy rate*: IBM publishes no DS8000 rate -- it "depends on the amount of
  data, the number of concurrent background copies and other activity" (S53); the SAN
  Volume Controller's copy-rate table is another product and is not used.
* *Log apply rate* of recovery: no published figure for DFSURDB0 or the Database
  Recovery Facility.
* DFSMSdss start-up, ``/DBR``/``/STA`` times, update service time, request overheads.

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

from dasdlab.emulator.geometry import default_model
from dasdlab.errors import DasdlabError

TRACK_BYTES = default_model().r1_capacity  # the bytes of a full 3390 track (56,664)


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
    dss_init_s: float  # DFSMSdss start-up: the server task once per job, catalog search, serialization
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
    # -- parallel copies (AIC/ACIC; dasdlab.engine.hpic) -----------------------------------
    channel_mb_s: float = 0.0  # what all concurrent sequential reads share, MB/s (0: seq_read_mb_s)
    dss_dataset_s: float = 0.0  # DFSMSdss per further data set once its server runs in the job
    log_switch_s: float = 0.3  # TOIAUTO: OLDS switch and system checkpoint at a database stop
    # -- limits, in bytes of the modeled box (compared in modeled units: see scaled()) --
    cache_bytes: int = 0  # controller cache; Concurrent Copy's half-cache rule (0: the subsystem's setting)
    host_sidefile_bytes: int = 2 * 1024**3  # the SDM data space holding host sidefiles (S41)
    pool_capacity_bytes: int = 0  # a track pool's back-end capacity (0: the subsystem's setting)
    repository_tracks: int = 0  # the space-efficient FlashCopy repository (0: the subsystem's setting)
    #: modeled tracks per emulated track (set by scaled()): the subsystem's own size
    #: limits (SCALED_LIMITS) are divided by it when the profile is applied
    size_scale: float = 1.0
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

    def shared_read_tracks_s(self, ntracks: int, readers: int, track_bytes: int = TRACK_BYTES) -> float:
        """Modeled time to read ``ntracks`` while ``readers`` jobs read at once: each gets
        its own stream rate, or its share of the channel when that is less."""
        if ntracks <= 0:
            return 0.0
        chan = self.channel_mb_s or self.seq_read_mb_s
        rate = min(self.seq_read_mb_s, chan / max(readers, 1))
        return self._seq(ntracks, track_bytes, rate)

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
                       channel_mb_s=self.channel_mb_s / scale,
                       io_overhead_s=self.io_overhead_s * scale,
                       background_copy_mb_s=self.background_copy_mb_s / scale,
                       sidefile_drain_mb_s=self.sidefile_drain_mb_s / scale,
                       # limits in emulated bytes: an emulated track stands for `scale`
                       # tracks, so a sidefile of n emulated tracks is n x scale modeled
                       # ones and meets the modeled box's limit at the same point
                       cache_bytes=int(round(self.cache_bytes / scale)),
                       host_sidefile_bytes=int(round(self.host_sidefile_bytes / scale)),
                       pool_capacity_bytes=int(round(self.pool_capacity_bytes / scale)),
                       repository_tracks=int(round(self.repository_tracks / scale)),
                       size_scale=self.size_scale * scale,
                       name=f"{self.name}*{scale:g}")


#: what the limits every built-in profile leaves to the subsystem say
_SUBSYSTEM_LIMITS = {
    "pool_capacity_bytes": "assumption: 0, the subsystem's pool_capacity_bytes setting (dasdlab.emulator.rva)",
    "repository_tracks": "assumption: 0, the subsystem's fc_repository_tracks setting "
                         "(dasdlab.emulator.services.flashcopy)",
    "size_scale": "assumption: 1, an unscaled profile (scaled() sets it)",
}


def _profile(**kw) -> DeviceProfile:
    src = kw.pop("sources")
    return DeviceProfile(sources={**_SUBSYSTEM_LIMITS, **src}, **kw)


_ASSUME = "assumption"
#: no public figure for how fast IMS recovery applies change records
NO_APPLY_RATE = "assumption: no published DFSURDB0 / Database Recovery Facility apply rate"
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
        channel_mb_s=17.0, dss_dataset_s=0.5, cache_bytes=2 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "assumption: IBM 3990 Storage Control Model 6: up to 2 GB of cache (IBM 3990 Storage Control Reference, GA32-0274; to be checked against that document)",
            "channel_mb_s": "assumption: one ESCON channel, 17 MB/s", "dss_dataset_s": _ASSUME, "log_switch_s": _ASSUME,
            "seq_read_mb_s": "S86 (derived): 7.1 ms average rotational delay = 14.2 ms/rev, one 56,664-byte track per rev = 4.0 MB/s",
            "seq_write_mb_s": "S86 (derived, as read)",
            "io_overhead_s": "assumption: one average seek (commonly quoted 9.5-12.5 ms, no source found) per cylinder",
            "tracks_per_request": "assumption: one cylinder per channel program",
            "dss_init_s": _ASSUME, "cc_session_init_s": "assumption: no published CC initialisation time (the DS6000 12 s example, S40, used fast replication)",
            "flashcopy_establish_s": WHAT_IF + " (a 3990 has no FlashCopy)",
            "snapshot_s": WHAT_IF + " (SnapShot came with the RVA)",
            "vcc_flash_s": WHAT_IF + " (virtual CC needs FlashCopy or SnapShot)",
            "clone_activate_s": WHAT_IF + " (TimeFinder/Clone is a Symmetrix function)",
            "background_copy_mb_s": "assumption: bound by the 3390 media rate (S86)",
            "sidefile_drain_mb_s": "assumption: channel-bound like the read",
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": NO_APPLY_RATE,
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
        channel_mb_s=1600.0, dss_dataset_s=0.2, cache_bytes=64 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "S93: DS8884 64-256 GB, DS8886 up to 2 TB of processor memory (cache); 64 GiB is the smallest DS8884",
            "channel_mb_s": "S88: FICON Express16S+ 3,200 MB/s full duplex, i.e. 1,600 MB/s each way", "dss_dataset_s": _ASSUME, "log_switch_s": _ASSUME,
            "seq_read_mb_s": "assumption: one job's share of a FICON Express16S+ channel (3,200 MB/s full duplex, S88)",
            "seq_write_mb_s": _ASSUME, "io_overhead_s": _ASSUME, "tracks_per_request": _ASSUME,
            "dss_init_s": "assumption (DSS start-up is catalog search and serialization; no published time)",
            "flashcopy_establish_s": "S30 'only a few seconds' for a volume pair; assumption for one data set",
            "cc_session_init_s": "assumption: no published CC initialisation time (the DS6000 12 s example, S40, used fast replication, ADR806I)",
            "vcc_flash_s": "assumption: DSS flashes to a work area, then the SDM session (S45)",
            "snapshot_s": WHAT_IF + " (S63: a snap is a few I/Os; SnapShot is an RVA function)",
            "clone_activate_s": WHAT_IF + " (TimeFinder/Clone on a Symmetrix on the same channels)",
            "background_copy_mb_s": "assumption: IBM publishes no DS8000 background-copy rate (S53)",
            "sidefile_drain_mb_s": _ASSUME,
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": NO_APPLY_RATE,
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
        channel_mb_s=17.0, dss_dataset_s=0.4, cache_bytes=6 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "assumption: IBM RAMAC Virtual Array: 1.5 to 6 GB of cache (IBM RVA Turbo/T82 product summary; to be checked); assumption: the largest",
            "channel_mb_s": "assumption: one ESCON channel, 17 MB/s", "dss_dataset_s": _ASSUME, "log_switch_s": _ASSUME,
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
            "log_apply_records_s": NO_APPLY_RATE,
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
        channel_mb_s=800.0, dss_dataset_s=0.2, cache_bytes=128 * 1024**3,
        sources={
            "host_sidefile_bytes": "one SDM data space of 2 GB holds the host sidefiles (S41)",
            "cache_bytes": "assumption: EMC Symmetrix VMAX: up to 128 GB of global memory per engine (EMC Symmetrix VMAX product description; to be checked); assumption: one engine",
            "channel_mb_s": "S87: FICON Express8S 1,600 MB/s reads + writes, i.e. 800 MB/s each way", "dss_dataset_s": _ASSUME, "log_switch_s": _ASSUME,
            "seq_read_mb_s": "assumption: FICON Express8S, 1,600 MB/s read+write (S87), one job's share",
            "seq_write_mb_s": _ASSUME, "io_overhead_s": _ASSUME, "tracks_per_request": _ASSUME,
            "dss_init_s": _ASSUME,
            "clone_activate_s": "assumption (S65-S67 give no timing)",
            "background_copy_mb_s": _ASSUME,
            "flashcopy_establish_s": WHAT_IF + " (EMC's Compatible FlashCopy, not modelled as such)",
            "snapshot_s": WHAT_IF + " (SnapShot is an RVA function)",
            "cc_session_init_s": WHAT_IF + " (Concurrent Copy on a DS8000 on the same channels)",
            "vcc_flash_s": WHAT_IF, "sidefile_drain_mb_s": WHAT_IF,
            "db_stop_s": _ASSUME, "db_start_s": _ASSUME, "update_service_s": _ASSUME,
            "log_apply_records_s": NO_APPLY_RATE,
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


_WHOLE = frozenset({"tracks_per_request", "cache_bytes", "host_sidefile_bytes", "pool_capacity_bytes",
                    "repository_tracks"})

#: subsystem settings that are sizes of the modeled box, compared in modeled units like
#: the cache, and the profile field that overrides each: the track pool's back-end
#: capacity (dasdlab.emulator.rva) and the space-efficient FlashCopy repository
#: (dasdlab.emulator.services.flashcopy).  The pool's physical slot count is the
#: emulator's own file size, not a modeled limit, and is not scaled.
SCALED_LIMITS: dict[str, str] = {
    "pool_capacity_bytes": "pool_capacity_bytes",
    "fc_repository_tracks": "repository_tracks",
}
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
        bad = [k for k, v in table.items() if k in _NUMERIC and (isinstance(v, bool) or not isinstance(v, (int, float)))]
        if bad:
            raise ProfileError("DLB704E", f"{path}: profiles.{name}.{bad[0]} must be a number, got "
                                          f"{table[bad[0]]!r}.")
        changes = {k: int(v) if k in _WHOLE else float(v) for k, v in table.items() if k in _NUMERIC}
        for k, v in changes.items():
            if not (v > 0 and math.isfinite(v)):
                raise ProfileError("DLB704E", f"{path}: profiles.{name}.{k} must be positive, got {v}.")
        sources = {**base.sources, **{k: f"user profile {path.name}" for k in changes}, **table.get("sources", {})}
        out[name] = replace(base, name=name, description=table.get("description", f"{base.description} (modified)"),
                            subsystem_kind=table.get("subsystem_kind", base.subsystem_kind), sources=sources, **changes)
    if not out:
        raise ProfileError("DLB702E", f"{path}: no [profiles.NAME] tables.")
    return out


# ====================================================================== copy-service costs
@dataclass(frozen=True)
class ServiceCost:
    """What a Fast Recovery image copy made by one copy service costs under a profile:
    the command that makes the point in time (``establish_s``) and the background copy
    after it (``background_mb_s``, 0 when the copy is physically complete at once)."""

    service: str
    establish_s: float
    background_mb_s: float
    source: str

    def background_tracks_per_s(self, track_bytes: int = TRACK_BYTES) -> float:
        return self.background_mb_s * 1e6 / track_bytes


def service_cost(profile: DeviceProfile, service: str, scale: float = 1.0) -> ServiceCost:
    """The costs of ``service`` under ``profile`` (already scaled by ``scale``).

    The built-ins are priced by the profile's own fields (named by the replication
    facade, :data:`dasdlab.host.replication.BUILT_IN`).  Any other registered service
    declares its costs in its class attribute ``profile`` (a plug-in usually reads it
    from a profile file shipped beside its code): ``establish_s`` and optionally
    ``background_copy_mb_s``, defaults for every device profile, ``profiles`` with
    per-profile overrides by profile name, and ``sources`` saying where each figure
    comes from.  A background rate scales with the size scale as the profile's own do.
    """
    from dasdlab.host.replication import mover

    mv = mover(service)
    if mv.establish_cost is not None:  # priced by the profile's own fields
        bg = float(getattr(profile, mv.background_cost)) if mv.background_cost else 0.0
        return ServiceCost(service, float(getattr(profile, mv.establish_cost)), bg,
                           profile.sources.get(mv.establish_cost, _ASSUME))
    from dasdlab.emulator.services import registry

    declared = getattr(registry.get(service).cls, "profile", None)
    if not isinstance(declared, dict) or "establish_s" not in declared:
        raise ProfileError("DLB824E", f"copy service {service} declares no costs: give its class a 'profile' "
                                      "dict with at least establish_s (see dasdlab.engine.timemodel).")
    base_name = profile.name.split("*")[0]
    table = {**declared, **(declared.get("profiles") or {}).get(base_name, {})}
    try:
        est = float(table["establish_s"])
        bg = float(table.get("background_copy_mb_s", 0.0)) / scale
    except (TypeError, ValueError):
        raise ProfileError("DLB824E", f"copy service {service}: its costs must be numbers.") from None
    if est < 0 or bg < 0:
        raise ProfileError("DLB824E", f"copy service {service}: its costs must not be negative.")
    src = (declared.get("sources") or {}).get("establish_s", f"declared by copy service {service}")
    return ServiceCost(service, est, bg, src)
