"""Data parallelism with JAX's own sharding: one Mesh over the devices, the batch split along it.

The train step is written for the *global* batch. Placing the batch sharded along the mesh's
'data' axis and the GAN state replicated is all it takes: XLA's SPMD partitioner turns the
batch means into cross-device reductions, so gradients are averaged over the global batch and
BatchNorm normalises with the global batch's statistics — the same numbers as one device with
the same global batch. (A per-device `pmap` BatchNorm, as in some public JAX DCGANs, would
instead keep per-device statistics.)

Several processes (hosts): call `initialize_distributed` first; each process then loads only
its slice of every global batch and `jax.make_array_from_process_local_data` assembles them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan.errors import JaxganError

DATA_AXIS = "data"


def initialize_distributed() -> None:
    """Joins a multi-process job when the environment describes one.

    Reads JAXGAN_COORDINATOR (host:port), JAXGAN_NUM_PROCESSES and JAXGAN_PROCESS_ID; on
    SLURM or a Cloud TPU slice, JAXGAN_DISTRIBUTED=auto lets JAX discover them itself.
    CPU processes talk through gloo collectives. A value that cannot be right is refused in
    one line before anything connects.
    """
    job = distributed_job(os.environ)
    if job is None:
        return
    if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if job == "auto":
        jax.distributed.initialize()
        return
    coordinator, num, pid = job
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num, process_id=pid)


def distributed_job(env) -> "None | str | tuple[str, int, int]":
    """What the environment asks for: None (one process), 'auto', or (coordinator, processes, id)."""
    mode = env.get("JAXGAN_DISTRIBUTED", "")
    if mode not in ("", "auto"):
        raise JaxganError(f"environment variable JAXGAN_DISTRIBUTED={mode!r}: the only value is auto (or unset it)")
    coordinator = env.get("JAXGAN_COORDINATOR", "")
    if not coordinator:
        stray = [k for k in ("JAXGAN_NUM_PROCESSES", "JAXGAN_PROCESS_ID") if env.get(k)]
        if stray and mode != "auto":
            raise JaxganError(f"environment variable {stray[0]} is set but JAXGAN_COORDINATOR is not: "
                              "set it to the host:port of process 0, or unset both")
        return "auto" if mode == "auto" else None
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535 or any(c.isspace() for c in coordinator):
        raise JaxganError(f"environment variable JAXGAN_COORDINATOR={coordinator!r}: expected host:port, "
                          "e.g. 10.0.0.1:12345 (port 1 to 65535)")
    num = _env_int(env, "JAXGAN_NUM_PROCESSES", 1, 1_000_000)
    pid = _env_int(env, "JAXGAN_PROCESS_ID", 0, num - 1)
    return coordinator, num, pid


def _env_int(env, name: str, low: int, high: int) -> int:
    text = env.get(name, "")
    if not text.strip().lstrip("+").isdigit() or not low <= int(text) <= high:
        raise JaxganError(f"environment variable {name}={text!r}: JAXGAN_COORDINATOR is set, so this must be "
                          f"a whole number from {low} to {high}")
    return int(text)


@dataclass(frozen=True)
class Placement:
    """Where the state and the batches live: a 1-D mesh of `devices` along 'data'."""

    mesh: Mesh

    @classmethod
    def create(cls, batch_size: int, num_devices: Optional[int] = None) -> "Placement":
        devices = jax.devices()
        if num_devices is not None:
            if num_devices > len(devices):
                raise JaxganError(
                    f"train.num_devices is {num_devices} but only {len(devices)} device(s) are visible"
                )
            if jax.process_count() > 1 and num_devices != len(devices):
                raise JaxganError("train.num_devices must be unset (all devices) in a multi-process job")
            devices = devices[:num_devices]
        if batch_size % len(devices):
            raise JaxganError(
                f"train.batch_size {batch_size} does not split over {len(devices)} devices; "
                f"use a multiple of {len(devices)} or set train.num_devices"
            )
        return cls(Mesh(np.asarray(devices), (DATA_AXIS,)))

    @property
    def num_devices(self) -> int:
        return self.mesh.size

    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    def batch_sharding(self) -> NamedSharding:
        """Chunks of batches (K, B, H, W, C) or of their image indices (K, B): split the B axis."""
        return NamedSharding(self.mesh, P(None, DATA_AXIS))

    def local_devices(self) -> list:
        """The devices of the mesh that this process drives."""
        return [d for d in self.mesh.devices.flat if d.process_index == jax.process_index()]

    def put_state(self, state):
        return jax.device_put(state, self.replicated())

    def local_rows(self, batch_size: int) -> slice:
        """The rows of each global batch this process loads."""
        per_process = batch_size // jax.process_count()
        start = jax.process_index() * per_process
        return slice(start, start + per_process)

    def put_images(self, images: np.ndarray):
        """The whole dataset on every device of the mesh, put there once for the whole run.

        Every process holds all the images (each gathers its own rows of every batch from
        them) and passes the same array: each supplies the copies of its own devices."""
        sharding = self.replicated()
        if jax.process_count() == 1:
            return jax.device_put(images, sharding)
        return jax.make_array_from_callback(images.shape, sharding, lambda index: images[index])

    def put_batches(self, local_batches: np.ndarray, batch_size: int):
        """This process's rows of a chunk (K, B/P, ...) -> one global (K, B, ...) array: its
        batches of images, or of image indices where the images are on the devices."""
        sharding = self.batch_sharding()
        if jax.process_count() == 1:
            return jax.device_put(local_batches, sharding)
        global_shape = (local_batches.shape[0], batch_size, *local_batches.shape[2:])
        return jax.make_array_from_process_local_data(sharding, local_batches, global_shape)


def to_host(x) -> np.ndarray:
    """A replicated (or single-device) array as numpy, also where other processes hold copies."""
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    return np.asarray(x.addressable_data(0))
