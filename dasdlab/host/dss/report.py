"""What a DFSMSdss run reports: per-data-set completion events, results and messages.

The concept is the DFSMSdss step's output: the messages it prints, its return code
(0, 4 or 8, the highest of its statements), and -- a dasdlab addition for callers that
measure outages -- a logical and a physical completion event per data set (``DssEvent``),
always in that order (z/OS DFSMSdss Storage Administration; the initialisation-complete
event, S39, in ``docs/sources.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dasdlab.errors import DasdlabError


class DssError(DasdlabError):
    """A DFSMSdss statement that cannot be carried out."""


@dataclass(frozen=True)
class DssEvent:
    """Logical or physical completion of one data set of a statement."""

    phase: str  # "logical" or "physical"
    command: str
    dsn: str
    target: str | None  # target data set (COPY, RESTORE) or dump data set (DUMP)
    method: str
    time: float  # modeled clock
    wall: float  # time.monotonic()
    tracks: int
    detail: dict = field(default_factory=dict)


@dataclass
class DsResult:
    dsn: str
    volser: str
    target: str | None = None
    target_volser: str | None = None
    method: str | None = None
    rc: int = 0
    tracks: int = 0
    logical_time: float | None = None
    physical_time: float | None = None
    fallbacks: list[str] = field(default_factory=list)
    message: str = ""
    relationship: str | None = None  # the fast-replication copy's id, when one was made
    #: the error of the last method that failed (for a program calling DFSMSdss)
    cause: DasdlabError | None = field(default=None, repr=False, compare=False)

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "cause"}


@dataclass
class DssReport:
    rc: int = 0
    lines: list[str] = field(default_factory=list)
    results: list[DsResult] = field(default_factory=list)

    def say(self, line: str, rc: int = 0) -> None:
        self.lines.append(line)
        self.rc = max(self.rc, rc)
