"""jaxgan and torch_ref trained side by side on one recipe: same weights, batches and noise.

`BackendPair` holds both: jaxgan's freshly initialised state, and torch_ref's networks loaded
with the same weights (`jaxgan.interop.weights.to_torch`). Each step, jaxgan draws its noise from
the step key as its own train step does, and the torch side is handed exactly that noise (and,
for recipes with dropout in D, the same keep masks) together with the same batch.

Both start equal, and the parity tests prove that one step computes the same thing in both. In
float32 the two trajectories still part ways after some steps: an activation within rounding
distance of a ReLU kink takes the other branch in one of them, and Adam turns gradients that are
zero up to rounding into full +-lr steps. What should agree after that is what the two learn,
not the exact numbers.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from tqdm import tqdm

from jaxgan import images
from jaxgan.config import Config
from jaxgan.data import BatchPipeline, load_images
from jaxgan.data import value_range as data_value_range  # a local variable is named value_range
from jaxgan.errors import JaxganError
from jaxgan.files import atomic_write_json, output_folder, refuse_existing
from jaxgan.gan import GAN, GANState, build_gan, fixed_noise, init_state
from jaxgan.steps import STEP_BUILDERS, make_generate, step_key

METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
LABELS = {"d_loss": "Loss_D", "g_loss": "Loss_G", "d_real": "D(x)", "d_fake": "D(G(z))"}
PARTED = 1e-3  # a metric differing by more than this between the backends: they have parted


def _torch_modules():
    try:
        import torch

        from torch_ref import steps as torch_steps
        from torch_ref import train as torch_train
        from torch_ref.data import to_seed_batch
    except ModuleNotFoundError as e:
        raise JaxganError(f"the PyTorch side needs {e.name}: pip install -e '.[torch]'") from None
    return torch, torch_steps, torch_train, to_seed_batch


def dropout_masks(module: nn.Module, variables, x, rng) -> list[jax.Array]:
    """The keep masks flax's nn.Dropout layers draw in `module.apply(..., rngs={'dropout': rng})`
    (they depend only on the key, the shape and the layer)."""
    masks: list[jax.Array] = []

    def interceptor(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.Dropout) and context.method_name == "__call__":
            out = next_fun(jnp.ones_like(args[0]), *args[1:], **kwargs)
            masks.append(out != 0)
            return out
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        module.apply(variables, x, train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
    return masks


@dataclasses.dataclass
class StepNoise:
    z: np.ndarray  # the D step's (B, z_dim)
    g_z: Optional[np.ndarray]  # the G step's; None when the step reuses z
    keys: tuple  # dropout keys of D on real, on fake, in the G step


def step_noise(gan: GAN, key: jax.Array, n: int) -> StepNoise:
    """The noise jaxgan's train step draws from `key` (jaxgan.steps: one split into five)."""
    z_key, g_z_key, drop_real, drop_fake, drop_g = jax.random.split(key, 5)
    same = gan.scheme == "minibatch" and gan.generator_noise == "same"
    g_z = None if same else np.array(gan.sample_z(g_z_key, n))  # writable copies: torch shares them
    return StepNoise(np.array(gan.sample_z(z_key, n)), g_z, (drop_real, drop_fake, drop_g))


class BackendPair:
    """One recipe in jaxgan and in torch_ref, from jaxgan's initial weights."""

    def __init__(self, config: Config, image_shape: tuple[int, int, int]):
        torch, torch_steps, self._torch_train, self._to_seed_batch = _torch_modules()
        from jaxgan.interop.weights import to_torch

        self.torch = torch
        self.config = config
        self.image_shape = image_shape
        self.gan = build_gan(config, image_shape)
        self.state: GANState = init_state(self.gan, config.seed)
        weights = to_torch(config, self.state, image_shape)
        self.torch_gan = torch_steps.build_gan(config, image_shape)
        for net, module in (("generator", self.torch_gan.generator), ("discriminator", self.torch_gan.discriminator)):
            module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights[net].items()})
        self._torch_step = torch_steps.train_step
        self._jax_step = jax.jit(STEP_BUILDERS[self.gan.scheme](self.gan))
        self._generate = make_generate(self.gan)
        has_dropout = any(isinstance(m, torch.nn.Dropout) for m in self.torch_gan.discriminator.modules())
        self._masks = self._mask_fn() if has_dropout else None

    def _mask_fn(self) -> Callable:
        gan, shape = self.gan, self.image_shape

        @jax.jit
        def masks(variables, keys, example):
            return [dropout_masks(gan.discriminator, variables, example, k) for k in keys]

        return lambda variables, keys, n: masks(variables, keys, jnp.zeros((n, *shape), jnp.float32))

    def _torch_masks(self, noise: StepNoise, n: int):
        if self._masks is None:
            return None
        d = self.state.d
        variables = {"params": d.params, **({"batch_stats": d.batch_stats} if d.batch_stats else {})}
        drawn = self._masks(variables, noise.keys, n)
        return [[self.torch.from_numpy(np.array(m)) for m in call] for call in drawn]

    def step(self, images_u8: np.ndarray) -> tuple[dict[str, float], dict[str, float], float, float]:
        """One train step of both on the same uint8 batch: (jax metrics, torch metrics, jax
        seconds, torch seconds); drawing the shared noise is timed for neither."""
        n = len(images_u8)
        key = step_key(self.state)
        noise = step_noise(self.gan, key, n)
        masks = self._torch_masks(noise, n)
        real = self._to_seed_batch(self.config, images_u8)
        z = self.torch.from_numpy(noise.z)
        g_z = None if noise.g_z is None else self.torch.from_numpy(noise.g_z)
        t0 = time.perf_counter()
        self.state, jax_metrics = self._jax_step(self.state, jnp.asarray(images_u8), key)
        jax_metrics = {k: float(v) for k, v in jax.block_until_ready(jax_metrics).items()}
        t1 = time.perf_counter()
        torch_metrics = self._torch_step(self.torch_gan, real, z, g_z, masks)
        t2 = time.perf_counter()
        return jax_metrics, {k: float(v) for k, v in torch_metrics.items()}, t1 - t0, t2 - t1

    def jax_generate(self, z) -> np.ndarray:
        """G(z) of the jaxgan side, eval mode, NHWC in the recipe's value range."""
        return np.asarray(self._generate(self.state, jnp.asarray(z)))

    def torch_generate(self, z) -> np.ndarray:
        """G(z) of the torch side, eval mode, NHWC in the recipe's value range."""
        out = self._torch_train.sample_images(self.torch_gan, self.torch.from_numpy(np.array(z, np.float32)))
        return out.permute(0, 2, 3, 1).numpy()


def snapshot_steps(total: int) -> list[int]:
    """The steps whose grids are shown: 0, a tenth, half way, the end."""
    return sorted({0, total // 10, total // 2, total})


def differences(jax_metrics: dict[str, float], torch_metrics: dict[str, float]) -> dict[str, float]:
    return {k: abs(jax_metrics[k] - torch_metrics[k]) for k in METRICS}


def parted_at(diffs: list[dict[str, float]], tolerance: float = PARTED) -> Optional[int]:
    """The first step (1-based) at which some metric differs by more than `tolerance`."""
    for i, d in enumerate(diffs):
        if max(d.values()) > tolerance:
            return i + 1
    return None


def rate(seconds: list[float]) -> dict[str, Any]:
    """Wall time of the steps, and steps/s after the first (which compiles, for jax)."""
    rest = seconds[1:]
    return {"wall_s": round(sum(seconds), 3),
            "steps_per_s": round(len(rest) / sum(rest), 2) if rest and sum(rest) > 0 else None}


# --- the comparison: both backends over N steps, and what comes out of it -----------------------

@dataclasses.dataclass
class Race:
    """What a side-by-side run recorded."""

    steps: int
    metrics: dict[str, dict[str, list[float]]]  # backend -> metric -> one value a step
    diffs: list[dict[str, float]]  # |jax - torch| of each metric, a step each
    seconds: dict[str, list[float]]  # backend -> seconds of each step
    grids: dict[int, tuple[np.ndarray, np.ndarray]]  # step -> (jax, torch) fixed-noise grids
    quality: dict[str, Any] = dataclasses.field(default_factory=dict)


def _grids(pair: BackendPair, z: np.ndarray, value_range) -> tuple[np.ndarray, np.ndarray]:
    nrow = int(np.ceil(np.sqrt(len(z))))
    return tuple(images.to_uint8(images.make_grid(generate(z), nrow=nrow, value_range=value_range))
                 for generate in (pair.jax_generate, pair.torch_generate))


def race(config: Config, steps: int, progress: bool = True, num_grid: int = 64) -> tuple[BackendPair, Race]:
    """Trains both backends `steps` steps on jaxgan's batches; grids at `snapshot_steps`."""
    images = load_images(config.data)
    pipeline = BatchPipeline(images, config.train.batch_size, config.seed, shuffle=config.data.shuffle)
    pair = BackendPair(config, tuple(int(s) for s in images.shape[-3:]))
    value_range = data_value_range(config.data.scale)
    z_fixed = np.asarray(fixed_noise(config.seed, num_grid, pair.gan.z_dim, config.model.noise))
    record = Race(steps, {b: {k: [] for k in METRICS} for b in ("jax", "torch")}, [],
                  {"jax": [], "torch": []}, {})
    shots = snapshot_steps(steps)
    bar = tqdm(total=steps, desc=f"{config.name}: jax | torch", unit="step", disable=not progress)
    for i in range(steps + 1):
        if i in shots:
            record.grids[i] = _grids(pair, z_fixed, value_range)
        if i == steps:
            break
        jm, tm, js, ts = pair.step(pipeline.batch(i))
        for backend, m in (("jax", jm), ("torch", tm)):
            for k in METRICS:
                record.metrics[backend][k].append(m[k])
        record.diffs.append(differences(jm, tm))
        record.seconds["jax"].append(js)
        record.seconds["torch"].append(ts)
        bar.set_postfix(d_loss=f"{jm['d_loss']:.3f}|{tm['d_loss']:.3f}", refresh=False)
        bar.update(1)
    bar.close()
    return pair, record


def quality_evaluator(config: Config, num_samples: int):
    """(Evaluator, None) for MNIST-like recipes, else (None, why not). Built before training, so
    that a missing classifier is said at once and nothing is left to load after the run."""
    from jaxgan.quality.scoring import Evaluator, choose_features

    if choose_features(config, config.eval) != "classifier":
        return None, ("FID here is measured with the domain classifier (MNIST, Fashion-MNIST) only; "
                      "use python -m jaxgan.evaluate with the FID Inception for this recipe")
    try:
        return Evaluator(config, num_samples=num_samples), None
    except JaxganError as e:
        return None, str(e)


def measure_quality(evaluator, pair: BackendPair) -> dict[str, Any]:
    """Domain FID, KID and classes covered of both generators, on one fixed evaluation z."""
    out = {"num_samples": evaluator.num_samples, "features": evaluator.describe()}
    for backend, generate in (("jax", pair.jax_generate), ("torch", pair.torch_generate)):
        scores = evaluator(generate)
        out[backend] = {k: scores[k] for k in ("fid", "kid", "classes_covered")}
    return out


GREY_NOTE = ("Grids are drawn with G in eval mode, so BatchNorm uses its running statistics; early on "
             "they have barely moved from their start, and the grids look flat grey until they do.")


def summary(config: Config, race_: Race, tolerance: float = PARTED) -> dict[str, Any]:
    """compare.json: the per-step differences until the backends part, speed, quality."""
    parted = parted_at(race_.diffs, tolerance)
    shown = race_.diffs[: parted or len(race_.diffs)]  # up to and including the step they part
    before = race_.diffs[: parted - 1] if parted else race_.diffs
    return {
        "recipe": config.name,
        "steps": race_.steps,
        "tolerance": tolerance,
        "parted_at_step": parted,
        "differences_until_parted": [{"step": i + 1, **{k: float(f"{v:.3g}") for k, v in d.items()}}
                                     for i, d in enumerate(shown)],
        "max_difference_before_parting": {k: max((d[k] for d in before), default=0.0) for k in METRICS},
        "speed": {b: rate(race_.seconds[b]) for b in race_.seconds},
        "quality": race_.quality,
        "metrics": race_.metrics,
        "grid_steps": sorted(race_.grids),
    }


def parting_sentence(result: dict[str, Any]) -> str:
    parted = result["parted_at_step"]
    if parted is None:
        return f"The two agreed to within {result['tolerance']:g} on every metric for all {result['steps']} steps."
    return (f"Same start, batches and noise; the float32 trajectories part ways at step {parted} "
            f"(a metric differs by more than {result['tolerance']:g}), as float32 rounding makes any two "
            f"correct implementations do: from then on compare what they learn, not the numbers.")


def format_table(result: dict[str, Any], rows: int = 10) -> str:
    """The printed report: the first per-step differences, speed, and quality."""
    lines = [f"{result['recipe']}: {result['steps']} steps, jaxgan vs torch_ref from the same weights",
             f"{'step':>6}" + "".join(f"{'|d ' + LABELS[k] + '|':>16}" for k in METRICS)]
    diffs = result["differences_until_parted"]
    for d in diffs[:rows]:
        lines.append(f"{d['step']:>6}" + "".join(f"{d[k]:>16.3g}" for k in METRICS))
    if len(diffs) > rows:
        lines.append(f"{'...':>6}  ({len(diffs) - rows} more steps in compare.json)")
    lines.append(parting_sentence(result))
    for b, s in result["speed"].items():
        speed = f"{s['steps_per_s']} steps/s after the first step" if s["steps_per_s"] else "one step"
        lines.append(f"{b:>6}: {s['wall_s']} s for {result['steps']} steps ({speed})")
    q = result["quality"]
    if "skipped" in q:
        lines.append(f"quality: not measured ({q['skipped']})")
    elif q:
        for b in ("jax", "torch"):
            lines.append(f"{b:>6}: FID {q[b]['fid']:.2f}, KID x10^3 {1e3 * q[b]['kid']:.2f}, classes covered "
                         f"{q[b]['classes_covered']:.0f} ({q['num_samples']} samples, domain classifier)")
    return "\n".join(lines)


def draw(result: dict[str, Any], race_: Race, out: Path, has_batch_norm: bool) -> list[Path]:
    """side_by_side.png, losses.png, and final.png (the last grids only: a thumbnail)."""
    steps = sorted(race_.grids)
    caption = parting_sentence(result) + ("\n" + GREY_NOTE if has_batch_norm else "")
    grid_png = images.grid_table([race_.grids[s] for s in steps], [f"step {s}" for s in steps],
                                 ["jaxgan (JAX)", "torch_ref (PyTorch)"], out / "side_by_side.png",
                                 caption=_wrap(caption, 95))
    x = list(range(1, race_.steps + 1))
    panels = {LABELS[k]: {b: (x, race_.metrics[b][k]) for b in ("jax", "torch")} for k in METRICS}
    loss_png = images.curves(panels, out / "losses.png", caption=_wrap(parting_sentence(result), 130))
    last = steps[-1]
    final_png = images.grid_table([race_.grids[last]], [f"step {last}"], ["jaxgan", "torch_ref"],
                                  out / "final.png", cell_inches=1.7)
    return [grid_png, loss_png, final_png]


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.fill(p, width) for p in text.split("\n"))


OUTPUTS = ("side_by_side.png", "losses.png", "final.png", "compare.json")


def compare_backends(config: Config, steps: int, out: str | Path, num_samples: int = 10000,
                     quality: bool = True, progress: bool = True, force: bool = False,
                     torch_threads: Optional[int] = None, num_grid: int = 64) -> dict[str, Any]:
    """Trains `config` in both backends side by side and writes OUTPUTS into `out`; returns
    compare.json's content with "table" (the printed report) added."""
    if steps < 1:
        raise JaxganError(f"--steps must be at least 1, got {steps}")
    if quality and num_samples < 2:
        raise JaxganError(f"--num-samples must be at least 2, got {num_samples}")
    if not 1 <= num_grid <= 1024:
        raise JaxganError(f"--grid must be 1 to 1024 images, got {num_grid}")
    if torch_threads is not None and torch_threads < 1:
        raise JaxganError(f"--torch-threads must be at least 1, got {torch_threads}")
    out = output_folder(out, str(out), "for the outputs")
    for name in OUTPUTS:
        refuse_existing(out / name, force)
    torch = _torch_modules()[0]
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    evaluator, why_not = quality_evaluator(config, num_samples) if quality else (None, None)
    pair, race_ = race(config, steps, progress=progress, num_grid=num_grid)
    if evaluator is not None:
        race_.quality = measure_quality(evaluator, pair)
    elif why_not:
        race_.quality = {"skipped": why_not}
    result = summary(config, race_)
    result["torch_threads"] = torch.get_num_threads()
    draw(result, race_, out, has_batch_norm=bool(pair.state.g.batch_stats))
    atomic_write_json(out / "compare.json", result)
    return {**result, "table": format_table(result)}
