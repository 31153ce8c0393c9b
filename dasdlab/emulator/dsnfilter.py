"""DFSMS data set name filters as DFSMSdss ``INCLUDE``/``EXCLUDE`` and catalog searches
use them (z/OS DFSMSdss Storage Administration, "Filtering by data set names"):

* ``*`` alone is one whole qualifier; inside a qualifier it matches 0 or more characters;
* ``**`` matches 0 or more whole qualifiers;
* ``%`` matches exactly one character (``%%%`` three).
"""

from __future__ import annotations

import re
from functools import lru_cache

from dasdlab.errors import ParseError


@lru_cache(maxsize=256)
def compile_filter(pattern: str) -> re.Pattern[str]:
    pat = pattern.strip().upper()
    if not pat or len(pat) > 44 or ".." in pat or pat.startswith(".") or pat.endswith("."):
        raise ParseError("DLB400E", f"{pattern!r} is not a valid data set name filter.")
    parts = pat.split(".")
    out = ""
    need_dot = False
    for i, q in enumerate(parts):
        if q == "**":
            if len(parts) == 1:
                out += r"[^.]+(?:\.[^.]+)*"
            elif i == 0:
                out += r"(?:[^.]+\.)*"
                need_dot = False
            else:
                out += r"(?:\.[^.]+)*"
                need_dot = True
            continue
        body = ""
        for ch in q:
            if ch == "*":
                body += r"[^.]*"
            elif ch == "%":
                body += r"[^.]"
            elif re.match(r"[A-Z0-9@#$-]", ch):
                body += re.escape(ch)
            else:
                raise ParseError("DLB400E", f"{pattern!r}: character {ch!r} is not allowed in a filter.")
        out += (r"\." if need_dot else "") + body
        need_dot = True
    return re.compile(rf"^{out}$")


def matches(pattern: str, dsn: str) -> bool:
    return bool(compile_filter(pattern).match(dsn.upper()))
