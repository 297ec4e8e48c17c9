"""One run folder, one trainer: a lock held for as long as a process trains into the folder.

The lock is an exclusive `flock` on `<workdir>/.jaxgan.lock`, which also records the holder's
process id and host. The kernel releases a `flock` when its process ends however it ends
(exit, exception, SIGKILL, the OOM killer), so a lock file left by a killed trainer is stale
by construction: the next trainer takes it over without any clean-up. A second trainer on a
live run is refused at once with one line naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path
from typing import Optional

from jaxgan.errors import JaxganError

LOCK_NAME = ".jaxgan.lock"


class RunLock:
    """`with RunLock(workdir):` trains with the folder to itself; released on any exit."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / LOCK_NAME
        self._fd: Optional[int] = None
        self.took_over: Optional[str] = None  # the stale holder's record, if there was one

    def acquire(self) -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise JaxganError(f"{self.path}: cannot create the run lock ({e.strerror}); choose another --workdir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read(fd)
            os.close(fd)
            raise JaxganError(
                f"{self.path.parent}: another jaxgan.train is training into this folder ({holder or 'holder unknown'}); "
                "wait for it to end, stop it, or choose another --workdir"
            ) from None
        self.took_over = _read(fd) or None
        if self.took_over:  # a record left behind: its process ended without releasing the lock
            print(f"{self.path}: taking over the lock of {self.took_over}, which is no longer running",
                  file=sys.stderr, flush=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # an empty record: nobody holds it
        except OSError:
            pass
        os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
