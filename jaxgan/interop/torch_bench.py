"""The PyTorch backends of `python -m jaxgan.bench`: torch_ref's step as the seeds' loop runs it
(eager or torch.compile), and torch_ref.tuned's step, the best the torch side can do.

Each takes the recipe and the uint8 batches (steps, B, H, W, C) every backend is timed on, and
returns the bench's record of one backend: steps, seconds, compile_s, device, version.
"""

from __future__ import annotations

import time

import numpy as np


def _torch_device(threads):
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _torch_result(steps: int, seconds: float, compile_s: float, device, label: str) -> dict:
    import torch

    cuda = device.type == "cuda"
    return {"steps": steps, "seconds": seconds, "compile_s": compile_s,
            "device_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            "device": torch.cuda.get_device_name() if cuda else "cpu",
            "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads{label}"}


def _seed_batches(config, batches: np.ndarray) -> list:
    """The batches as the seeds' loaders yield them (ToTensor's arithmetic), on the host."""
    import torch

    def seed_batch(u8: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(u8).float().div(255)
        if config.data.scale == "minus_one_one":
            x = (x - 0.5) / 0.5
        if config.train.scheme == "book":  # the book's per-image layout
            return x.reshape(len(u8), -1) if u8.shape[-1] == 1 else x
        return x.permute(0, 3, 1, 2).contiguous()

    return [seed_batch(b) for b in batches]


def _compile_networks(gan, compile_fn) -> None:
    """Wraps both networks in torch.compile. The book's classes call `self.model` from their own
    `forward` and `train` methods, so there the inner Sequential is the one to compile."""
    if gan.flavour == "book":
        gan.generator.model = compile_fn(gan.generator.model)
        gan.discriminator.model = compile_fn(gan.discriminator.model)
    else:
        gan.generator = compile_fn(gan.generator)
        gan.discriminator = compile_fn(gan.discriminator)


def run_torch(config, batches: np.ndarray, warmup: int, compiled: bool, threads=None) -> dict:
    """torch_ref's step as the seeds' loop runs it: batch to the device, noise drawn there."""
    import torch

    from torch_ref.steps import build_gan, train_step

    device = _torch_device(threads)
    torch.manual_seed(config.seed)
    gan = build_gan(config, batches.shape[2:])
    gan.generator.to(device)  # in place: the optimisers keep the same parameters
    gan.discriminator.to(device)
    if compiled:
        _compile_networks(gan, torch.compile)
    real = _seed_batches(config, batches)  # converted outside the timed loop
    b, zd = config.train.batch_size, config.model.z_dim
    fresh = config.train.scheme == "book" or config.train.generator_noise == "fresh"

    def step(x):
        z = torch.randn(b, zd, device=device)
        return train_step(gan, x.to(device), z, torch.randn(b, zd, device=device) if fresh else None)

    t0 = time.perf_counter()
    for x in real[:warmup]:
        step(x)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for x in real[warmup:]:
        step(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return _torch_result(len(real) - warmup, time.perf_counter() - t0, compile_s, device, "")


def run_torch_tuned(config, batches: np.ndarray, warmup: int, mode: str, threads=None) -> dict:
    """torch_ref.tuned's step: uint8 batches copied to the device and converted there, metrics
    read once per `train.log_every` steps, one sync at the end."""
    import torch

    from torch_ref.tuned import LogWindow, build_tuned, from_uint8

    device = _torch_device(threads)
    if mode == "auto":
        mode = "reduce-overhead" if device.type == "cuda" else "none"
    torch.manual_seed(config.seed)
    tuned = build_tuned(config, batches.shape[2:], device, mode)
    u8 = [torch.from_numpy(b) for b in batches]
    if device.type == "cuda":
        u8 = [b.pin_memory() for b in u8]
    b, zd = config.train.batch_size, config.model.z_dim
    fresh = config.train.generator_noise == "fresh"
    window, pm1 = LogWindow(), config.data.scale == "minus_one_one"

    def run(chunk):
        for i, x in enumerate(chunk):
            real = tuned.prepare(from_uint8(x.to(device, non_blocking=True), pm1))
            z = torch.randn(b, zd, device=device)
            window.add(tuned(real, z, torch.randn(b, zd, device=device) if fresh else None))
            if window.count == config.train.log_every:
                window.read()
        if window.count:
            window.read()  # the last window: also the end-of-loop sync

    t0 = time.perf_counter()
    run(u8[:warmup])
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(u8[warmup:])
    label = f", compile {mode}, {config.model.precision}"
    return _torch_result(len(u8) - warmup, time.perf_counter() - t0, compile_s, device, label)
