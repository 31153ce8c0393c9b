"""What an interrupted (Ctrl-C) image copy job leaves, and taking it back.

An ``hpic`` job stops the databases it copies (``/DBR`` for a standard copy, or
``TOIAUTO``) and allocates its output data sets (``ICHLQ.DBD.DDN.IC1.Cnnnnnnn``, shadow
data sets) before it catalogues and registers them in RECON at the end of each copy.
Interrupted in between, the process still runs its ``finally`` clauses (IMS is shut
down), but a half-written output is left allocated, uncatalogued and unregistered, and
a database it had stopped stays stopped.  :func:`mark` notes, before the job, which
databases are online; :func:`take_back` then scratches the job's output data sets
(named ``ICHLQ.DBD.``) that nothing refers to -- not catalogued, not in RECON: a
finished copy is both, and is kept; one that is neither is no usable copy, whichever
run left it -- and starts again the databases the job stopped.

A copy counts only once it is registered: the image copy function records it in RECON
(its IC record) when the copy is made, and recovery uses only registered copies (IBM,
*IMS Recovery Solution Pack 2.1*, "DBRC IC record registration",
https://www.ibm.com/docs/en/ims-rcvsolutionpack/2.1.0?topic=function-dbrc-ic-record-registration;
docs/sources.md S27).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobMark:
    """The site before a job: the databases online (read from RECON only: the volumes
    and their copy-service state are not touched before the job)."""

    online: frozenset[str]


def _states(site) -> dict[str, str]:
    from dasdlab.engine.recon import Recon

    if not (site.path / "ims" / "recon.db").is_file():
        return {}
    recon = Recon.of_site(site.path)
    try:
        return {d["dbd"]: d["state"] for d in recon.listing()["databases"]}
    finally:
        recon.close()


def _registered(site) -> set[str]:
    from dasdlab.engine.recon import Recon

    if not (site.path / "ims" / "recon.db").is_file():
        return set()
    recon = Recon.of_site(site.path)
    try:
        return {dsn for im in recon.listing()["images"] for dsn in (im["ic1_dsn"], im["ic2_dsn"]) if dsn}
    finally:
        recon.close()


def _datasets(site) -> set[tuple[str, str]]:
    out = set()
    for volser in site.volsers():
        vol = site.volume(volser)
        out |= {(volser, dsn) for dsn in vol.vtoc.datasets}
    return out


def mark(site) -> JobMark | None:
    """The site as it is; None when it cannot be read whole (a damaged RECON or volume:
    the job itself then says what is wrong, and there is nothing to take back)."""
    try:
        return JobMark(frozenset(n for n, s in _states(site).items() if s == "ONLINE"))
    except Exception:  # noqa: BLE001 - the job's own checks report it with their message id
        return None


def take_back(site, before: JobMark | None, prefixes: set[str]) -> list[str]:
    """Undo what an interrupted job left half made (see the module docstring); returns
    one message per thing done.  Only data sets whose names start with one of the
    job's ``prefixes`` (its ``ICHLQ.DBD.``) are considered: another user's data set is
    never touched."""
    from dasdlab.engine.commands import execute

    if before is None:
        return []
    msgs = []
    catalogued = {dsn for dsn, _ in site.catalog.entries()}
    registered = _registered(site)
    for volser, dsn in sorted(_datasets(site)):
        if not any(dsn.startswith(p) for p in prefixes) or dsn in catalogued or dsn in registered:
            continue
        vol = site.volume(volser, writable=True)
        vol.vtoc.delete(dsn)
        msgs.append(f"DLB037I {dsn} on {volser}, an image copy output neither catalogued nor registered "
                    "(written in part), scratched.")
    for name, state in sorted(_states(site).items()):
        if name in before.online and state != "ONLINE":
            try:
                for line in execute(site, f"/STA DB {name}"):
                    msgs.append(line)
                msgs.append(f"DLB038I database {name}, stopped by the interrupted job, started again.")
            except Exception as e:  # noqa: BLE001 - say what to do instead of failing the clean-up
                msgs.append(f"DLB039W database {name} is {state} after the interrupted job and could not be "
                            f"started ({e}); start it with: dasdlab ims --site {site.path} '/STA DB {name}'")
    return msgs
