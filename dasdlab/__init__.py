"""dasdlab: IBM 3390 DASD, storage copy services and IMS image copy, emulated.

The package has three layers (see docs/architecture.md): ``dasdlab.emulator`` is the hardware
(geometry, CKD volumes, VTOC, storage subsystems, copy services), ``dasdlab.engine`` is
the software that runs on it (IMS databases, log, RECON, HP Image Copy, recovery, time
model) and ``dasdlab.bench`` measures outages.  ``emulator`` never imports ``engine``.
"""

__version__ = "0.1.0"
