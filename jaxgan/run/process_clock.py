"""Seconds since the operating system started this process: start-up as a user waits for it.

`time.perf_counter()` at the top of a module misses the interpreter's own start and every
import before it (jax, numpy, matplotlib: seconds). Linux records each process's start time
in /proc/self/stat (in clock ticks since boot, 10 ms steps); elsewhere the clock starts when
this module is first imported.
"""

from __future__ import annotations

import os
import time

_IMPORTED_AT = time.monotonic()


def _age_from_proc() -> float:
    with open("/proc/self/stat") as f:
        # the command name (field 2) may hold spaces: the fields after its ')' are fixed
        fields = f.read().rsplit(")", 1)[1].split()
    start_ticks = int(fields[19])  # field 22, starttime
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def process_age_s() -> float:
    """Seconds since this process started (since this module's import where /proc is missing)."""
    try:
        return max(0.0, _age_from_proc())
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED_AT
