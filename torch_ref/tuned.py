"""The reference step as a PyTorch performance engineer would run it: the fair opponent.

`torch_ref.steps` runs each seed's loop line for line, `.item()` on every logged value (a
host sync every step), NCHW, default cuDNN settings. `TunedStep` computes the same thing for
the minibatch recipes (seed 000/003 DCGAN, seed 002 MLP, seed 004 maxout) from the same
networks and optimisers, but:

- no host sync: the five logged values stay on the device, summed over the log window, and
  are read once per window (`LogWindow`), as jaxgan reads its metrics;
- `cudnn.benchmark` and TF32 on; DCGAN's convolutions in channels_last on the GPU when the
  step runs uncompiled (`uses_channels_last` says why not when compiled);
- Adam's fused (CUDA) or foreach (CPU) kernels: the same update in fewer launches;
- every forward pass and its backward compiled by `torch.compile`, in the mode asked for
  (`reduce-overhead` is CUDA graphs): G(z), D's loss and G's loss are three compiled parts,
  because the G loss backpropagates through G(z) after the D loss has (one compiled graph
  over both would be backpropagated twice); the fused/foreach updates run between them;
- with `model.precision: bfloat16`, the forward passes under bf16 autocast (weights,
  optimiser state and the losses stay float32).

Why it is the same computation: every seed's D step is `D(real)` and `D(G(z).detach())`
through BCE (seeds 002/004 leave G(z) attached but zero or never use G's gradients before
G's own update), the D update, then the G loss through the *updated* D on the same G(z)
(G has not moved) or on G(g_z) for fresh noise. BatchNorm sees real and fake in separate
passes, three D passes and one or two G passes a step, as in the seeds.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch

from jaxgan.errors import JaxganError
from torch_ref.steps import TorchGAN, build_gan

METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "d_fake_after")
FLAVOURS = ("dcgan", "fashion_mlp", "maxout")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def configure_backends() -> None:
    """cuDNN picks the fastest convolution algorithm per shape; TF32 matmuls and convolutions."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True


def fast_optimizers(gan: TorchGAN, device: torch.device) -> None:
    """Replaces each (still unused) Adam by a fused (CUDA) or foreach one with the same
    parameters and hyper-parameters: the same update, in a few kernels instead of one per tensor."""
    for name in ("g_opt", "d_opt"):
        opt = getattr(gan, name)
        if not isinstance(opt, torch.optim.Adam):
            continue
        group = opt.param_groups[0]
        kind = {"fused": True} if device.type == "cuda" else {"foreach": True}
        if opt.state:
            raise ValueError("fast_optimizers replaces optimisers before their first step")
        setattr(gan, name, torch.optim.Adam(group["params"], lr=group["lr"], betas=group["betas"],
                                            eps=group["eps"], **kind))


class TunedStep:
    """One training iteration of a minibatch recipe, metrics returned as one device tensor.

    Call with the batch in the seed's layout (NCHW for DCGAN, as `torch_ref.data` gives it),
    the D step's noise `z` (B * z_dim values) and, for fresh noise, the G step's `g_z`;
    returns the five METRICS as one tensor (float32, or float64 for float64 networks), still on
    the device.
    """

    def __init__(self, gan: TorchGAN, precision: str = "float32", compile_mode: str = "none",
                 channels_last: bool = False):
        if gan.flavour not in FLAVOURS:
            raise JaxganError(f"torch-tuned runs the minibatch recipes ({', '.join(FLAVOURS)}); "
                              f"this recipe is the '{gan.flavour}' loop: use the 'torch' backend")
        if compile_mode not in COMPILE_MODES:
            raise JaxganError(f"compile mode {compile_mode!r}: choose from {', '.join(COMPILE_MODES)}")
        self.gan = gan
        self.bf16 = precision == "bfloat16"
        self.channels_last = channels_last and gan.flavour == "dcgan"
        self.compile_mode = compile_mode
        if self.channels_last:
            gan.generator.to(memory_format=torch.channels_last)
            gan.discriminator.to(memory_format=torch.channels_last)
        parts = {"generate": self._generate, "d_loss": self._d_loss, "g_loss": self._g_loss}
        if compile_mode != "none":
            mode = None if compile_mode == "default" else compile_mode
            parts = {name: torch.compile(fn, mode=mode) for name, fn in parts.items()}
        self._parts = parts

    def prepare(self, real: torch.Tensor) -> torch.Tensor:
        """The batch in the layout the step wants (channels_last for the convolutions)."""
        if self.gan.flavour != "dcgan":
            return real.reshape(real.size(0), -1)
        return real.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def __call__(self, real: torch.Tensor, z: torch.Tensor, g_z: Optional[torch.Tensor] = None) -> torch.Tensor:
        if real.is_cuda and self.compile_mode in ("reduce-overhead", "max-autotune"):
            torch.compiler.cudagraph_mark_step_begin()
        return self._step(real, z, g_z)

    def _noise(self, z: torch.Tensor) -> torch.Tensor:
        b = z.numel() // self.gan.z_dim
        if self.gan.flavour == "dcgan":
            return z.reshape(b, self.gan.z_dim, 1, 1)
        if self.gan.flavour == "maxout":
            return z.reshape(b, 1, self.gan.z_dim)
        return z.reshape(b, self.gan.z_dim)

    def _autocast(self, device_type: str):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=torch.bfloat16)

    def _full(self, d_output):
        """D's outputs as one float32 column: BCE on bf16 probabilities would lose the loss."""
        return (d_output.float() if self.bf16 else d_output).reshape(-1)

    def _generate(self, z):
        with self._autocast(z.device.type):
            return self.gan.generator(self._noise(z))

    def _d_loss(self, real, fake):
        """BCE(D(x), 1) + BCE(D(G(z)), 0), real and fake in separate passes; and the two means."""
        D, criterion = self.gan.discriminator, self.gan.criterion
        with self._autocast(real.device.type):
            d_on_real = self._full(D(real))
            d_on_fake = self._full(D(fake))
        loss = criterion(d_on_real, torch.ones_like(d_on_real)) + criterion(d_on_fake, torch.zeros_like(d_on_fake))
        return loss, d_on_real.mean(), d_on_fake.mean()

    def _g_loss(self, fake):
        """The G loss through the updated D, and mean D(G(z)) after the D step."""
        with self._autocast(fake.device.type):
            d_after = self._full(self.gan.discriminator(fake))
        return self.gan.criterion(d_after, torch.ones_like(d_after)), d_after.mean()  # every seed's G loss

    def _step(self, real, z, g_z):
        gan = self.gan
        fake = self._parts["generate"](z)
        d_loss, d_real, d_fake = self._parts["d_loss"](real, fake.detach())
        gan.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        gan.d_opt.step()

        if g_z is not None:
            fake = self._parts["generate"](g_z)
        g_loss, d_after = self._parts["g_loss"](fake)
        gan.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        gan.g_opt.step()
        return torch.stack([d_loss, g_loss, d_real, d_fake, d_after]).detach()


def from_uint8(u8: torch.Tensor, minus_one_one: bool) -> torch.Tensor:
    """uint8 (B, H, W, C) batches, already on the device, as the seeds' loaders make them:
    ToTensor's x / 255 [then Normalize(0.5, 0.5)], NCHW. The permuted view keeps NHWC memory,
    which is channels_last, so no copy is made for the convolutions."""
    x = u8.permute(0, 3, 1, 2).float().div(255)
    return (x - 0.5) / 0.5 if minus_one_one else x


class LogWindow:
    """Sums the step's metric tensors on the device; `read` syncs once and returns the means."""

    def __init__(self):
        self.total: Optional[torch.Tensor] = None
        self.count = 0

    def add(self, metrics: torch.Tensor) -> None:
        self.total = metrics.clone() if self.total is None else self.total + metrics
        self.count += 1

    def read(self) -> dict[str, float]:
        values = (self.total / self.count).tolist()  # the one host sync of the window
        self.total, self.count = None, 0
        return dict(zip(METRICS, values))


def build_tuned(config, image_shape, device: torch.device, compile_mode: str = "none") -> TunedStep:
    """The recipe's reference networks and optimisers (drawn from torch's global RNG: seed it
    first), moved to `device`, with the fast optimisers and the tuned step around them.

    The layout is `uses_channels_last`'s choice."""
    if device.type == "cuda":
        configure_backends()
    gan = build_gan(config, image_shape)
    gan.generator.to(device)  # in place: the optimisers keep the same parameters
    gan.discriminator.to(device)
    fast_optimizers(gan, device)
    return TunedStep(gan, config.model.precision, compile_mode,
                     channels_last=uses_channels_last(device.type, compile_mode))


def uses_channels_last(device_type: str, compile_mode: str) -> bool:
    """channels_last on CUDA, and only for the uncompiled step.

    On the CPU, oneDNN's float32 convolution gradients in channels_last differ from NCHW's by
    up to a few percent (float64 agrees to 1e-14), and the tuned step must compute what the
    reference computes. Under torch.compile on CUDA (torch 2.11, H200), inductor expects the
    weight gradient of G's first ConvTranspose2d in channels_last while cuDNN returns it
    contiguous (its input, the noise, is 1x1: both layouts describe it), and the compiled step
    stops at inductor's stride check; in NCHW it runs.
    """
    return device_type == "cuda" and compile_mode == "none"
