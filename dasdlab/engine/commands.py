"""IMS operator commands on databases: ``/DBR``, ``/DBD``, ``/STA`` and ``UPDATE DB``.

Facts (``docs/domain.md`` §1.1, §1.3; S1, S3, S23): a batch (clean) image copy needs the
database out of update use, by ``/DBR`` (offline), ``/DBD`` (read-only) or
``UPDATE DB QUIESCE`` (online, new updaters *held* until the quiesce is released).

Accepted forms (case-insensitive; ``DB`` or ``DATABASE``; several names allowed)::

    /DBR DB name [NOFEOV]          /DBRECOVERY DATABASE name    -> STOPPED
    /DBD DB name                   /DBDUMP DATABASE name        -> READONLY
    /STA DB name                   /START DATABASE name         -> ONLINE
    UPDATE DB NAME(name) STOP(ACCESS)                            like /DBR
    UPDATE DB NAME(name) STOP(UPDATES)                           like /DBD
    UPDATE DB NAME(name) START(ACCESS)                           like /STA
    UPDATE DB NAME(name) START(QUIESCE) OPTION(HOLD)             -> QUIESCED (held)
    UPDATE DB NAME(name) START(QUIESCE)                          quiesce point, no hold
    UPDATE DB NAME(name) STOP(QUIESCE)                           release a held quiesce

**Policy for QUIESCE** (our choice, documented): ``START(QUIESCE) OPTION(HOLD)`` writes
every dirty buffer (a point of consistency), closes the ALLOC records, and then *holds*
new updaters -- they wait, they are not refused -- until ``STOP(QUIESCE)``, ``/STA DB``
or ``UPDATE ... START(ACCESS)`` releases them.  Without ``OPTION(HOLD)`` the quiesce
point is taken and the database is released at once.

**States and checks.**  Each verb is legal only from some states (:data:`TRANSITIONS`);
a command in the wrong state fails with a message id (DLB571E-DLB577E) and changes
nothing.  ``/STA`` is refused while a DBDS needs recovery (DLB575E), needs an image copy after
a point-in-time recovery (DLB562E), or while a batch utility holds update authorization
(DLB578E).

**Who carries out a command.**  The effects on buffers and the log belong to the IMS
subsystem that has the database open: in-process that is an
:class:`~dasdlab.engine.system.ImsSystem` (:func:`execute` calls it directly).  From
another process (``dasdlab ims``) the command is left in RECON for a *live* owner, which
carries it out between two time slices, and the command waits for its reply; with no
live owner only RECON changes (state, ALLOC records).
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass

from dasdlab.engine.errors import ImsError
from dasdlab.engine.recon import Recon

DBR, DBD, STA, QUIESCE, QUIESCE_HOLD, RELEASE = "DBR", "DBD", "STA", "QUIESCE", "QUIESCE_HOLD", "RELEASE"
#: verb -> (states it may be given in, state afterwards)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    DBR: (frozenset({"ONLINE", "READONLY", "QUIESCED"}), "STOPPED"),
    DBD: (frozenset({"ONLINE", "QUIESCED"}), "READONLY"),
    STA: (frozenset({"STOPPED", "READONLY", "QUIESCED"}), "ONLINE"),
    QUIESCE: (frozenset({"ONLINE"}), "ONLINE"),
    QUIESCE_HOLD: (frozenset({"ONLINE"}), "QUIESCED"),
    RELEASE: (frozenset({"QUIESCED"}), "ONLINE"),
}
_WRONG = {
    DBR: ("DLB571E", "is already stopped (/DBR); '/STA DB {name}' starts it again"),
    DBD: ("DLB572E", "is {state}; /DBD applies to an online database"),
    STA: ("DLB574E", "is already started"),
    QUIESCE: ("DLB576E", "is {state}; only an online database can be quiesced ('/STA DB {name}' first)"),
    QUIESCE_HOLD: ("DLB576E", "is {state}; only an online database can be quiesced ('/STA DB {name}' first)"),
    RELEASE: ("DLB577E", "is {state}, not quiesced; there is nothing to release"),
}
_SLASH = {"DBR": DBR, "DBRECOVERY": DBR, "DBD": DBD, "DBDUMP": DBD, "STA": STA, "START": STA}


@dataclass(frozen=True)
class Command:
    verb: str
    names: tuple[str, ...]
    text: str

    @property
    def label(self) -> str:
        return {DBR: "/DBR", DBD: "/DBD", STA: "/STA", QUIESCE: "UPDATE DB START(QUIESCE)",
                QUIESCE_HOLD: "UPDATE DB START(QUIESCE) OPTION(HOLD)", RELEASE: "UPDATE DB STOP(QUIESCE)"}[self.verb]


def parse(text: str) -> Command:
    """Parse one command; raises DLB570E when it is not one of the accepted forms."""
    t = " ".join(text.strip().upper().split())
    bad = ImsError("DLB570E", f"command {text.strip()!r} is not understood; use /DBR DB name, /DBD DB name, "
                   "/STA DB name or UPDATE DB NAME(name) START(QUIESCE) OPTION(HOLD) | STOP(QUIESCE) | "
                   "STOP(ACCESS) | STOP(UPDATES) | START(ACCESS).")
    if t.startswith("/"):
        parts = t[1:].split(" ")
        if len(parts) < 3 or parts[0] not in _SLASH or parts[1] not in ("DB", "DATABASE"):
            raise bad
        names = tuple(p for p in parts[2:] if p not in ("NOFEOV", "FEOV", "GLOBAL", "LOCAL"))
        if not names:
            raise bad
        return Command(_SLASH[parts[0]], names, t)
    m = re.fullmatch(r"UPD(?:ATE)? (?:DB|DATABASE) (.*)", t)
    if not m:
        raise bad
    kw = dict(re.findall(r"(NAME|START|STOP|OPTION)\(([^)]*)\)", m.group(1)))
    rest = re.sub(r"(NAME|START|STOP|OPTION)\([^)]*\)", "", m.group(1)).strip()
    if rest or "NAME" not in kw or ("START" in kw) == ("STOP" in kw):
        raise bad
    names = tuple(n.strip() for n in kw["NAME"].split(",") if n.strip())
    act = ("START", kw["START"]) if "START" in kw else ("STOP", kw["STOP"])
    hold = kw.get("OPTION") == "HOLD"
    if kw.get("OPTION") not in (None, "HOLD"):
        raise bad
    verb = {("STOP", "ACCESS"): DBR, ("STOP", "UPDATES"): DBD, ("START", "ACCESS"): STA,
            ("START", "QUIESCE"): QUIESCE_HOLD if hold else QUIESCE, ("STOP", "QUIESCE"): RELEASE}.get(act)
    if verb is None or not names or (hold and verb != QUIESCE_HOLD):
        raise bad
    return Command(verb, names, t)


def check(recon: Recon, verb: str, name: str) -> tuple[str, str]:
    """Check that ``verb`` is legal for database ``name`` now; returns (old, new) state."""
    db = recon.db(name)
    state = db["state"]
    allowed, new = TRANSITIONS[verb]
    if state not in allowed:
        msgid, what = _WRONG[verb]
        if verb == DBD and state == "STOPPED":
            msgid, what = "DLB573E", "is stopped (/DBR); start it with /STA before /DBD"
        raise ImsError(msgid, f"database {db['dbd']} {what.format(state=state, name=db['dbd'])}.")
    if verb in (STA, RELEASE):
        recov = [r["ddn"] for r in recon.dbds(name) if r["recov"]]
        if recov and verb == STA:
            raise ImsError("DLB575E", f"database {db['dbd']} cannot be started: {', '.join(recov)} "
                           "needs recovery.")
        icn = [r["ddn"] for r in recon.ic_needed(name)]
        if icn and verb == STA:  # a database recovered to a point in time (dasdlab.engine.recovery)
            raise ImsError("DLB562E", f"database {db['dbd']} cannot be started: {', '.join(icn)} was recovered "
                           "to a point in time and needs an image copy first; take one with 'dasdlab hpic'.")
        for a in recon.authorizations(name):
            from dasdlab.engine.recon import pid_alive

            if a["kind"] == "BATCH" and a["level"] == "UPDATE" and pid_alive(a["pid"]):
                raise ImsError("DLB578E", f"database {db['dbd']} is in use by batch utility {a['ssid']}; "
                               "start it when the utility ends.")
    return state, new


def completed(cmd: Command, name: str) -> str:
    return f"DLB579I {cmd.label} COMMAND COMPLETED. DBN={name} RC=0"


def apply_offline(recon: Recon, verb: str, name: str, now: float) -> None:
    """Carry out a verb when no live subsystem has the database open: RECON only."""
    old, new = check(recon, verb, name)
    if verb in (DBR, DBD, QUIESCE, QUIESCE_HOLD):
        recon.close_allocs(name, now, 0)
    recon.set_state(name, new, now)
    if verb == DBR:
        for a in recon.authorizations(name):
            if a["kind"] == "ONLINE":
                recon.unauthorize(name, a["ssid"])


def execute(site, text: str, system=None, wait: float = 30.0) -> list[str]:
    """Run one command; returns the completion messages.  ``system`` is this process's
    :class:`~dasdlab.engine.system.ImsSystem`, if it has one."""
    cmd = parse(text)
    if system is not None:
        return [system.apply_verb(cmd, n) for n in cmd.names]
    recon = Recon.of_site(site.path, create=False)
    try:
        out = []
        names = list(dict.fromkeys(n.upper() for n in cmd.names))
        if len(names) != len(cmd.names):
            raise ImsError("DLB026E", f"{cmd.label} names a database twice; name each database once.")
        for name in names:  # every name is checked before any database changes state
            check(recon, cmd.verb, name)
        for name in names:
            owner = recon.live_owner(name)
            if owner is None:
                apply_offline(recon, cmd.verb, name, recon.last_time())
                out.append(completed(cmd, recon.db(name)["dbd"]))
                continue
            out.append(_ask_owner(recon, cmd, name.upper(), owner, wait))
        return out
    finally:
        recon.close()


def _ask_owner(recon: Recon, cmd: Command, name: str, owner: dict, wait: float) -> str:
    recon.clear_reply(name)
    recon.request(name, cmd.verb)
    deadline = _time.monotonic() + wait
    while _time.monotonic() < deadline:
        reply = recon.reply(name)
        if reply is not None:
            recon.clear_reply(name)
            if reply.startswith("DLB") and reply[6] == "E":
                raise ImsError(reply[:7], reply[8:])
            return reply
        _time.sleep(0.02)
    recon.request(name, None)
    raise ImsError("DLB580E", f"{owner['ssid']} (process {owner['pid']}) did not carry out {cmd.label} for "
                   f"{name} within {wait:g} s; the command was withdrawn.")
