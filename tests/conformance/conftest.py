"""The conformance kit's own tests: the repository root on the path, so that the kit's
child processes (which get this process's path) can import ``tests.conformance``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
