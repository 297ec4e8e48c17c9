"""What each chunk of steps is fed: indices into images kept on the device, or streamed batches.

Where `data.on_device` keeps the images on the device (jaxgan.data.on_device), they are put
there once, replicated over the mesh, and a chunk is its int32 indices (K, B), split by batch
rows as a chunk of batches is; `steps.make_gather_chunk` gathers each step's batch inside the
compiled chunk. A chunk cut short needs no filler images: its rows past the last step index
image 0 and never run. Otherwise each chunk's uint8 batches are gathered on the host, padded
with zero images to a whole chunk and transferred in a background thread while the device
trains (`prefetch.ChunkPrefetcher`). Both paths feed the same batches (`BatchPipeline.indices`),
so nothing a run computes depends on which one it took. A population (`alive` given) is fed
the same way, through jaxgan.population's freezing chunks.
"""

from __future__ import annotations

import numpy as np

from jaxgan.data import BatchPipeline
from jaxgan.gan import GAN
from jaxgan.parallel import Placement
from jaxgan.population import FreezingRunner, make_population_chunk, make_population_gather_chunk
from jaxgan.run.prefetch import ChunkPrefetcher
from jaxgan.steps import ChunkRunner, make_gather_chunk, make_train_chunk


class ChunkFeed:
    """The runner of a run's chunks and the data each one takes, on the devices.

    Args:
      length: steps per chunk (`train.steps_per_dispatch`).
      on_device: put the images on the devices now and feed indices; False streams batches.
      donate: let the compiled chunk reuse the state's buffers (not on the CPU backend).
      alive: a population's flags, one per member, on the devices; None for a single run.
      program: how the population's program holds its members (jaxgan.population).
    """

    def __init__(self, gan: GAN, pipeline: BatchPipeline, placement: Placement, length: int,
                 on_device: bool, donate: bool = False, alive=None, program: str = "auto"):
        self.pipeline, self.placement = pipeline, placement
        self.rows = placement.local_rows(pipeline.batch_size)  # this process's share of each batch
        if alive is not None:
            images = placement.put_images(pipeline.images) if on_device else None
            build = make_population_gather_chunk if on_device else make_population_chunk
            self.runner = FreezingRunner(build(gan, donate, freezing=True, program=program), length, alive, images)
        elif on_device:
            self.runner = ChunkRunner(make_gather_chunk(gan, donate), length, placement.put_images(pipeline.images))
        else:
            self.runner = ChunkRunner(make_train_chunk(gan, donate), length)

    @property
    def on_device(self) -> bool:
        return self.runner.images is not None

    def load(self, start: int, end: int):
        """Steps start .. end-1's data as one whole chunk on the devices."""
        count = end - start
        if self.on_device:
            indices = self.pipeline.indices(start, count, self.rows)
            local = np.zeros((self.runner.length, indices.shape[1]), np.int32)
            local[:count] = indices
        else:
            local = self.runner.pad(self.pipeline.batches(start, count, self.rows))
        return self.placement.put_batches(local, self.pipeline.batch_size)

    def prefetcher(self) -> ChunkPrefetcher:
        """Chunks as the loop asks for them: streamed ones prepared ahead in a background
        thread; index chunks (a few KB) on the spot, with no thread."""
        return ChunkPrefetcher(self.load, background=not self.on_device)
