"""Whether the training images live on the device: `data.on_device` against a memory budget.

Every dataset of these recipes fits in an accelerator's memory as uint8 (Fashion-MNIST 47 MB,
all of CelebA at 64x64 2.5 GB). Put there once, each chunk of steps needs only its int32
indices (a 50-step DCGAN chunk: 25 KB instead of 78 MB of images) and gathers its batches
inside the compiled program. A dataset that does not fit is streamed from the host instead.

The budget is a quarter of one device's memory (`memory_stats()['bytes_limit']`; every device
of the mesh holds a copy), leaving the rest to the networks, their activations and XLA. The
CPU backend reports no device memory: there the budget is a quarter of the machine's
physical RAM, as the host keeps its own copy of the images beside the device's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from jaxgan.errors import JaxganError

BUDGET_SHARE = 4  # the images may take at most 1/BUDGET_SHARE of the memory


@dataclass(frozen=True)
class MemoryBudget:
    """How many bytes of images a device may hold, and what that figure is."""

    bytes: int
    source: str  # e.g. "a quarter of the 139.8 GiB of NVIDIA H200"


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def memory_budget(devices) -> MemoryBudget:
    """A quarter of the memory of the smallest of `devices` (each holds a copy of the images);
    where a device reports none (the CPU backend), of the machine's RAM."""
    budgets = [_device_budget(d) for d in devices]
    return min(budgets, key=lambda b: b.bytes)


def _device_budget(device) -> MemoryBudget:
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        total = int(stats["bytes_limit"])
        return MemoryBudget(total // BUDGET_SHARE, f"a quarter of the {_gib(total)} of {device.device_kind}")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return MemoryBudget(total // BUDGET_SHARE, f"a quarter of the machine's {_gib(total)} of RAM")


def images_on_device(mode: str, images_bytes: int, budget: MemoryBudget) -> bool:
    """`data.on_device` decided: True to keep the images on the device, False to stream them.

    'auto' keeps them there when they fit the budget; 'always' insists, and a dataset that
    does not fit is refused in one line; 'never' streams.
    """
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"data.on_device must be auto, always or never, got {mode!r}")
    fits = images_bytes <= budget.bytes
    if mode == "always" and not fits:
        raise JaxganError(
            f"data.on_device is always, but the training images ({images_bytes / 2**20:.1f} MiB of uint8) do not "
            f"fit the device budget of {budget.bytes / 2**20:.1f} MiB ({budget.source}); set data.on_device=auto "
            "or never to stream them from the host, or train on fewer (data.limit) or smaller (data.image_size) images"
        )
    return mode == "always" or (mode == "auto" and fits)
