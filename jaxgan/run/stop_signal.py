"""Ctrl-C and SIGTERM as a request the training loop answers between dispatches.

The first signal sets a flag: the loop finishes the chunk it is on, writes a checkpoint and
exits with 130. A second one stops at once (KeyboardInterrupt); the last complete
checkpoint stays, so `--resume` continues from it.
"""

from __future__ import annotations

import signal
from typing import Optional


class StopRequest:
    """Turns SIGINT/SIGTERM into `self.signal`, the number of the first one received."""

    def __init__(self):
        self.signal: Optional[int] = None
        self._previous = {}

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
