"""What a killed batch utility left behind at a site, and how the next command deals with it.

An image copy (``hpic``) allocates its output data sets on a volume, writes them,
catalogues them and only then registers them in RECON; it may stop the database for
the copy and start it again at the end.  A recovery (``recover``) stops the database,
restores and applies, and starts it again.  A ``kill -9`` between those steps leaves
an allocated, never registered image copy data set taking space on a volume, a
relationship or clone session that nobody will withdraw, or a database stopped by a
process that no longer exists -- and nothing in RECON says why.

So a run first writes down what it is about to do, in an *intent* file
``SITE/ims/inflight/PID-N.json`` (complete or absent: it is replaced in one step,
:func:`dasdlab.emulator.newfile.replaced_file`): every output data set before it is
allocated, every copy-service relationship before it depends on it, every database it
stops (with the state it found).  It crosses each off when it is registered, scratched,
withdrawn or started again, and removes the file at the end.

The next command (:func:`settle`, called by ``hpic``, ``recover``, ``ims``, ``db
verify``, ``workload run`` and ``recon list`` before they do anything) reads the
intent files of processes that are gone and

* scratches (and uncatalogues) every output data set RECON does not register, and
  withdraws or terminates its relationship (DLB060W names each);
* reports every database still in the state the killed run put it in, with what to do:
  ``/STA`` after an image copy (DLB061W), ``recover`` again after a recovery (DLB062W).
  It keeps reporting until the database is in another state, then forgets it.

A rerun of a killed ``recover`` takes the killed run's hold over (:func:`adopt`): it
finishes the recovery and starts the database if the killed run found it started.

The registration rule is IMS's: an image copy is recorded in DBRC only once it has
been made (``docs/sources.md``, S27), so a copy that did not end has no IMAGE record and
its data set is only taking space.  That a stopped database stays stopped until someone
starts it, and that the next command names who stopped it, is dasdlab's rule.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from dasdlab.emulator.newfile import clean_folder, replaced_file
from dasdlab.emulator.pids import pid_alive

_seq = 0


def inflight_dir(site_path: str | os.PathLike) -> Path:
    return Path(site_path) / "ims" / "inflight"


class Intent:
    """What one run of this process is doing at a site (see the module docstring)."""

    def __init__(self, site, command: str) -> None:
        global _seq
        _seq += 1
        self.site = site
        self.path = inflight_dir(site.path) / f"{os.getpid()}-{_seq}.json"
        self.data = {"pid": os.getpid(), "command": command, "started": time.time(),
                     "datasets": [], "relationships": [], "holds": {}}
        self._saved = False

    # ------------------------------------------------------------------ entries
    def dataset(self, volser: str, dsn: str) -> None:
        """Before allocating ``dsn`` on ``volser``."""
        self.data["datasets"].append([volser, dsn.upper()])
        self._save()

    def dataset_done(self, dsn: str) -> None:
        """``dsn`` is registered in RECON, or scratched."""
        ds = [d for d in self.data["datasets"] if d[1] != dsn.upper()]
        if len(ds) != len(self.data["datasets"]):
            self.data["datasets"] = ds
            self._save()

    def relationship(self, dsn: str, subsystem: str, service: str, rid: str) -> None:
        """A relationship (FlashCopy id, clone session id) output ``dsn`` depends on."""
        self.data["relationships"].append([dsn.upper(), subsystem, service, rid])
        self._save()

    def relationships_done(self, dsn: str) -> None:
        rels = [r for r in self.data["relationships"] if r[0] != dsn.upper()]
        if len(rels) != len(self.data["relationships"]):
            self.data["relationships"] = rels
            self._save()

    def hold(self, dbd: str, before: str) -> None:
        """Before stopping (or making read-only, or quiescing) database ``dbd``, found in
        state ``before``."""
        self.data["holds"][dbd.upper()] = before
        self._save()

    def released(self, dbd: str) -> None:
        if self.data["holds"].pop(dbd.upper(), None) is not None:
            self._save()

    def close(self) -> None:
        """The run ended (well or with an error it handled): nothing is left to settle."""
        if self._saved:
            self.path.unlink(missing_ok=True)
            self._saved = False

    def _save(self) -> None:
        if not (self.data["datasets"] or self.data["relationships"] or self.data["holds"]):
            self.close()  # nothing in flight: no file (a driver that never calls close leaves none)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_file(self.path) as tmp:
            tmp.write_text(json.dumps(self.data))
        self._saved = True


def _dead_intents(site_path: Path, own: bool = False) -> list[tuple[Path, dict]]:
    d = inflight_dir(site_path)
    if not d.is_dir():
        return []
    clean_folder(d)
    out = []
    for p in sorted(d.glob("*.json")):
        pid = p.name.partition("-")[0]
        if not pid.isdigit() or (pid_alive(int(pid)) and not (own and int(pid) == os.getpid())):
            continue
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            p.unlink(missing_ok=True)  # cannot be torn (replaced whole); unreadable: nothing to act on
            continue
        out.append((p, data))
    return out


def pending(site_path: str | os.PathLike) -> bool:
    """Whether any process that is gone left an intent at the site."""
    return bool(_dead_intents(Path(site_path)))


def adopt(site, dbd: str, command: str, now_state: str) -> str | None:
    """A run of ``command`` takes over the hold a killed run of the same command left
    on ``dbd`` (still in ``now_state``, the state that run put it in): returns the state
    that run found, so this one leaves the database as it was before both (a rerun of a
    killed ``recover`` starts the database again); None when there is no such hold."""
    for path, data in _dead_intents(Path(site.path)):
        before = data.get("holds", {}).get(dbd.upper())
        if data.get("command") != command or before is None or before == now_state:
            continue
        del data["holds"][dbd.upper()]
        if data["holds"] or data.get("datasets"):
            with replaced_file(path) as tmp:
                tmp.write_text(json.dumps(data))
        else:
            path.unlink(missing_ok=True)
        return before
    return None


def settle(site, recon=None, own: bool = False) -> list[str]:
    """Clean up after the runs at ``site`` whose process is gone; returns the messages
    (message id first) to show.  ``recon`` defaults to the site's RECON.  ``own``: this
    process's runs too -- what a command interrupted (Ctrl-C) calls before it exits."""
    intents = _dead_intents(Path(site.path), own)
    if not intents:
        return []
    from dasdlab.engine.recon import Recon

    own = recon is None
    if own:
        recon = Recon.of_site(site.path, create=False)
    try:
        return [m for p, data in intents for m in _settle_one(site, recon, p, data)]
    finally:
        if own:
            recon.close()


def _settle_one(site, recon, path: Path, data: dict) -> list[str]:
    from dasdlab.emulator import dsalloc
    from dasdlab.errors import DasdlabError

    msgs = []
    who = (f"a {data.get('command', 'run')} that did not finish (process {data.get('pid')}, "
           "killed, failed or interrupted)")
    registered = set()
    for img in recon.images():
        if img.get("status", "OK") != "INVALID":
            registered.update(x for x in (img.get("ic1_dsn"), img.get("ic2_dsn")) if x)
    orphans = [(v, dsn) for v, dsn in data.get("datasets", []) if dsn not in registered]
    for dsn, sub_name, service, rid in data.get("relationships", []):
        if dsn in {d for _v, d in orphans}:  # a registered clone keeps its relationship: the copy goes on
            try:
                svc = site.subsystem(sub_name).service(service)
                svc.withdraw(rid)  # the contract's verb: a clone session is terminated with force
                msgs.append(f"DLB063W {who} left {service} relationship {rid} in {sub_name} for a copy it never "
                            "registered: withdrawn.")
            except (DasdlabError, KeyError, LookupError):
                pass  # already withdrawn, or the subsystem is gone
    for volser, dsn in orphans:
        where = []
        try:
            vol = site.volume(volser, writable=True)
            if dsn in vol.vtoc:
                dsalloc.scratch(vol, dsn)
                where.append(f"scratched from {volser}")
        except DasdlabError:
            pass  # the volume is gone: nothing takes space there
        if site.catalog.find(dsn) is not None:
            site.catalog.remove(dsn)
            where.append("uncatalogued")
        if where:
            msgs.append(f"DLB060W {who} left image copy data set {dsn}, never registered in RECON: "
                        f"{' and '.join(where)}; run the image copy again.")
    holds = {}
    for dbd, before in data.get("holds", {}).items():
        try:
            now = recon.db(dbd)["state"]
        except DasdlabError:
            continue  # the database is no longer defined
        if now == before or now == "ONLINE":
            continue  # started again since (or never stopped): nothing to say
        holds[dbd] = before
        sp = site.path
        if data.get("command") == "recover":
            left = [r["ddn"] for r in recon.dbds(dbd) if r.get("recov")]
            need = f"{', '.join(left)} still need{'s' if len(left) == 1 else ''} recovery; " if left else ""
            msgs.append(f"DLB062W database {dbd} was left {now} by {who} that stopped it to recover it; {need}run "
                        f"'dasdlab recover --site {sp} {dbd}' again: it finishes the recovery and leaves the "
                        f"database {before} as it found it.")
        else:
            msgs.append(f"DLB061W database {dbd} was left {now} by {who} that held it for an image copy and "
                        f"never released it (the copy was not registered); start it with "
                        f"dasdlab ims --site {sp} '/STA DB {dbd}', then run the image copy again.")
    if holds:  # reported again by the next command, until the database changes state
        with replaced_file(path) as tmp:
            tmp.write_text(json.dumps({**data, "datasets": [], "relationships": [], "holds": holds}))
    else:
        path.unlink(missing_ok=True)
    return msgs
