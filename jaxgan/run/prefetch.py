"""Prepares the next chunk of batches while the device trains on the current one.

A chunk is the uint8 batches of steps start .. end-1, gathered from the images in the
pipeline's order and transferred to the devices. On a GPU that host work (a 50-step DCGAN
chunk is 78 MB) takes about as long as the steps themselves; done in a background thread
it overlaps them instead of adding to them. The batches are a function of (seed, step) alone,
so prefetching changes no result: a chunk asked for out of order (after a rollback) is simply
prepared on the spot.

Where the images live on the device, a chunk is only its int32 indices (a few KB): it is
prepared on the spot, with no thread (`background=False`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Optional


class ChunkPrefetcher:
    """`get(start, end)` returns `load(start, end)`, prepared ahead by `prefetch(start, end)`
    in a background thread (with `background=False`, no thread: prepared when asked for)."""

    def __init__(self, load: Callable[[int, int], Any], background: bool = True):
        self._load = load
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="jaxgan-prefetch") if background else None
        self._ahead: Optional[tuple[tuple[int, int], Future]] = None

    def prefetch(self, start: int, end: int) -> None:
        """Starts preparing the chunk of steps start .. end-1 in the background."""
        if self._pool is not None:
            self._ahead = ((start, end), self._pool.submit(self._load, start, end))

    def get(self, start: int, end: int):
        """The chunk of steps start .. end-1: the prefetched one if it is that, else loaded now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (start, end):
            return ahead[1].result()  # re-raises what the thread raised
        if ahead is not None:
            ahead[1].cancel()
        return self._load(start, end)

    def close(self) -> None:
        self._ahead = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ChunkPrefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
