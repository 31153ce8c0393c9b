"""The software side: IMS databases, log, DBRC (RECON), buffer pool, online workload,
HP Image Copy engine and recovery (docs/architecture.md).  ``engine`` uses ``emulator``;
``emulator`` never imports ``engine``.

The IMS database layer, for the image copy engine and scenario drivers::

    from dasdlab.engine.database import ImsDatabase, define, load   # DBD -> DBDS data sets
    from dasdlab.engine.system import ImsSystem                     # online IMS: commit path,
                                                                     # checkpoints, hold/release
    from dasdlab.engine.workload import Workload, WorkloadSpec      # updates per time slice
    from dasdlab.engine.log import LogReader                        # change records as arrays
    from dasdlab.engine.recon import Recon                          # DBRC: states, ALLOC, LOG, IMAGE
    from dasdlab.engine.truth import Truth                          # committed content at any time
    from dasdlab.engine.verify import verify                        # DASD + log == truth
"""
