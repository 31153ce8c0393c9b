"""User-facing errors with message ids.

Every error a user can meet carries a message id in the mainframe style ``DLBnnnS``
(``S`` = severity: I, W, E, S) so that it can be quoted in an issue, like Hercules'
``HHCnnnnnE`` ids.  The id ranges are:

=========  =========================================
DLB0xx     command line and general
DLB1xx     geometry and volume images (CKD, CCKD)
DLB2xx     VTOC and data sets
DLB3xx     sites, subsystems and copy services
DLB4xx     DFSMSdss statements
DLB5xx     IMS: DBDs, buffer pool, log, RECON, commands, workload
DLB6xx     HP Image Copy and recovery
DLB7xx     benchmarks and scenarios
DLB8xx     copy-service contract, registry, plug-ins, conformance kit, lab
DLB89x     compressed images read-write
=========  =========================================

The rule every raiser follows: detect the fault *before* changing any file, so that a
failed command leaves its inputs as they were.
"""

from __future__ import annotations


class DasdlabError(Exception):
    """An error meant for the user: message id plus one clear sentence.

    ``msgid`` is e.g. ``"DLB104E"``; ``text`` says what is wrong and, where it helps,
    what to do.  ``str(err)`` gives ``"DLB104E text"``.
    """

    exit_code = 8

    def __init__(self, msgid: str, text: str) -> None:
        super().__init__(f"{msgid} {text}")
        self.msgid = msgid
        self.text = text


class GeometryError(DasdlabError):
    """A cylinder, head, track, record or size outside what the device allows."""


class ImageError(DasdlabError):
    """A volume image file that is not what it claims (header, size, track format)."""


class VtocError(DasdlabError):
    """A VTOC that is damaged, full, or asked for something it cannot hold."""


class DatasetError(DasdlabError):
    """A data set request that cannot be met (not found, duplicate, does not fit)."""


class CopyServiceError(DasdlabError):
    """A copy-service verb that is illegal in the current state or exceeds a limit."""


class ParseError(DasdlabError):
    """A control statement (DSS, DBD, ICEIN) that does not parse; names line and column."""


def read_json_file(path, what: str):
    """The JSON held by a file the program itself wrote (a DBD library entry, the
    truth's meta record): a damaged one is refused with DLB005E naming it, not a raw
    decoder error."""
    import json
    from pathlib import Path

    raw = Path(path).read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DasdlabError("DLB005E", f"{what} {path} is damaged ({'empty' if not raw else e}); nothing was "
                                      "changed. Restore it from a copy.") from None
