"""The DFSMSdss method planner: which copy methods a data set tries, in which order.

Facts from z/OS DFSMSdss Storage Administration (``docs/domain.md`` §2.1-§2.4 and §4.1
item 7: CONCURRENT keyword and virtual concurrent copy, S44, S45; FASTREPLICATION, S46,
S47; the initialisation-complete event, S39, in ``docs/sources.md``).

**Method order per data set** (:func:`methods_for`):

* ``COPY``: with ``FASTREPLICATION(PREFERRED)`` (the default) fast replication is tried
  first, even when CONCURRENT is coded: FlashCopy on a DS8000-like, SnapShot on an
  RVA-like, TimeFinder/Clone on a Symmetrix-like subsystem (EMC's FlashCopy emulation);
  source and target must be in the same subsystem.  Then Concurrent Copy as CONCURRENT
  says, then standard I/O.  ``REQUIRED`` fails the data sets that cannot be flashed and
  goes on with the others; it is not allowed together with CONCURRENT.  ``NONE`` skips
  fast replication.
* ``CONCURRENT`` (COPY and DUMP): ANY = virtual CC, then cache CC; CACHE = cache CC,
  then virtual; VIRTUAL = virtual CC, then cache CC; ``...PREFERRED`` then falls back to
  standard I/O, ``ANYREQUIRED`` fails instead, ``CACHEREQUIRED`` and ``VIRTUALREQUIRED``
  accept only their own kind.  The order inside CACHE/VIRTUAL is our reading of S45,
  which lists the sub-keywords without describing them.
* *Virtual CC* snaps (RVA) or flashes NOCOPY (DS8000) the data set to a working-space
  data set ``SYS1.ANTMAIN.S<sysname>.SNAPnnnn`` on a volume of the same subsystem,
  which is logical completion, then copies the working space with standard I/O and
  deletes it (S44, S45).  *Cache CC* is the subsystem's Concurrent Copy service; an
  RVA-like subsystem has only the virtual kind (as the image copy planner assumes).
* A method that fails when tried (a FlashCopy limit, a full pool, a CC session that
  does not initialise) gives way to the next one, which is what "RC 4: initialisation
  failed, copy as if CONCURRENT had not been given" says for CC (S39).
"""

from __future__ import annotations

from enum import Enum

from dasdlab.host import replication


class Method(Enum):
    FLASHCOPY = "FLASHCOPY"
    SNAPSHOT = "SNAPSHOT"
    TIMEFINDER = "TIMEFINDER"
    VIRTUAL_CC = "VIRTUAL-CC"
    CACHE_CC = "CACHE-CC"
    STANDARD = "STANDARD"


#: the method DFSMSdss reports for each fast-replication service it drives
#: (:data:`dasdlab.host.replication.DSS_FAST_REPLICATION`)
FAST = {"flashcopy": Method.FLASHCOPY, "snapshot": Method.SNAPSHOT, "timefinder": Method.TIMEFINDER}
#: the copy service of a fast-replication method
SERVICE_OF = {m: s for s, m in FAST.items()}


def virtual_cc_possible(caps) -> bool:
    from dasdlab.emulator.services import registry

    return bool(registry.virtual_cc_mechanisms(caps))


def cache_cc_possible(caps) -> bool:
    from dasdlab.emulator.services import registry

    return registry.cache_cc_possible(caps)


def methods_for(command: str, fr: str, cc: str | None, src_caps, same_subsystem: bool) -> tuple[list[Method], bool]:
    """(methods to try in order, whether standard I/O is a permitted last resort).

    ``src_caps`` are the copy services of the source's subsystem; ``same_subsystem``
    says whether the target is in it (fast replication needs that).
    """
    caps = set(src_caps)
    order: list[Method] = []
    if command == "COPY" and fr != "NONE":
        fast = replication.dss_fast_replication(caps)
        if fast is not None and same_subsystem:
            order.append(FAST[fast])
        if fr == "REQUIRED":
            return order, False
    if cc is not None and cc != "NONE":
        kind = cc[:-9] if cc.endswith("PREFERRED") else cc[:-8]
        v = [Method.VIRTUAL_CC] if virtual_cc_possible(caps) else []
        c = [Method.CACHE_CC] if cache_cc_possible(caps) else []
        order += {"ANY": v + c, "VIRTUAL": v + c, "CACHE": c + v}[kind] if cc.endswith("PREFERRED") else \
            {"ANY": v + c, "VIRTUAL": v, "CACHE": c}[kind]
        if cc.endswith("REQUIRED"):
            return order, False
    order.append(Method.STANDARD)
    return order, True
