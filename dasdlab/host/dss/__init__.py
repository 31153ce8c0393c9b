"""DFSMSdss, the host's data mover: ``COPY``, ``DUMP`` and ``RESTORE`` of data sets and
volumes, and ``CGCREATED``.

DFSMSdss is host software (the z/OS program ADRDSSU, described in z/OS DFSMSdss
Storage Administration); it drives the copy services of the storage subsystems but is
not part of them.  The package follows the manual's concepts, one module each:

* :mod:`.statements` -- the command syntax and keywords (the parse);
* :mod:`.planner` -- which copy methods a data set tries, in which order;
* :mod:`.dumpformat` -- what a DUMP writes and a RESTORE reads;
* :mod:`.report` -- completion events, per-data-set results and messages;
* :mod:`.runner` -- carrying the statements out on a site;
* :mod:`.volumes` -- FULL and TRACKS, DUMPCONDITIONING, consistency groups (CGCREATED).

Message ids DLB401-DLB449 (DLB400E: a bad filter, from :mod:`dasdlab.emulator.dsnfilter`).
"""

from dasdlab.host.dss.dumpformat import DUMP_BLK, DUMP_MAGIC, DumpedDataset, read_dump
from dasdlab.host.dss.planner import Method, cache_cc_possible, methods_for, virtual_cc_possible
from dasdlab.host.dss.report import DsResult, DssError, DssEvent, DssReport
from dasdlab.host.dss.runner import Dss, run
from dasdlab.host.dss.statements import Statement, parse

__all__ = ["DUMP_BLK", "DUMP_MAGIC", "Dss", "DssError", "DssEvent", "DssReport", "DsResult", "DumpedDataset",
           "Method", "Statement", "cache_cc_possible", "methods_for", "parse", "read_dump", "run",
           "virtual_cc_possible"]
