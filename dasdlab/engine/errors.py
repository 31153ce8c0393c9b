"""Errors of the IMS database layer and the message ids they use (DLB500-DLB599).

=========  ===========================================================
DLB500-19  DBD sources (parse and semantic errors; name line and column)
DLB520-39  defining, allocating, loading and opening databases
DLB540-49  buffer pool and log data sets
DLB550-69  DBRC (RECON): registration, authorization, states
DLB570-84  operator commands (/DBR, /DBD, /STA, UPDATE DB)
DLB585-99  workload, truth and verification
=========  ===========================================================

Informational messages (``DLBnnnI``) printed by the CLI use ids from the same ranges.
As everywhere in dasdlab, an error is raised *before* any file changes.
"""

from __future__ import annotations

from dasdlab.errors import DasdlabError


class ImsError(DasdlabError):
    """An IMS database layer request that cannot be met (database, log, RECON, command)."""


class VerifyError(DasdlabError):
    """The database on DASD plus its log does not equal the committed content (truth)."""
