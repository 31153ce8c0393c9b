"""Whether a process is alive: the one test every holder of a file, lock or record uses
(partial outputs, the write path's holders, RECON's subsystem and log records).

A process that was killed but not yet reaped (a zombie, state ``Z`` in
``/proc/PID/stat``) holds no file descriptor or lock any more, so it counts as gone.
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
