"""The run folder a person opens after training: everything written to disk lives here.

    <workdir>/
      config.yaml           the resolved recipe (defaults filled in, --set applied)
      metrics.jsonl         one JSON object per log window: step, epoch, d_loss, g_loss, ...
      samples/step_NNNNNNN.png   64 images from the run's fixed noise, at intervals and at the end
      samples/progress.gif  the fixed-noise grids over training, as an animation
      loss_curves.png       Loss_D and Loss_G against steps
      real_vs_fake.png      a batch of real images beside the last fixed-noise samples
      checkpoints/<step>/   orbax checkpoints (see jaxgan.checkpoint)
      tensorboard/          event files for `tensorboard --logdir <workdir>`
      summary.json          wall time, steps/s, final metrics, paths
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboardX import SummaryWriter  # noqa: E402

from jaxgan import images as image_io  # noqa: E402
from jaxgan.errors import JaxganError  # noqa: E402

# How the seeds name what they log.
SEED_NAMES = {"d_loss": "Loss_D", "g_loss": "Loss_G", "d_real": "D(x)", "d_fake": "D(G(z))",
              "d_fake_after": "D(G(z)) after D step"}


def check_writable(workdir: Path) -> None:
    """Fails now, not after an hour of training, if the run folder cannot be written."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise JaxganError(f"{workdir}: run folder is not writable ({e.strerror}); choose another --workdir") from None


class RunFolder:
    """Writes metrics, images and plots of one run. Every method is a side effect on disk.

    In a multi-process job only process 0 writes (`enabled`); the others' calls do nothing.
    """

    def __init__(self, workdir: str | Path, start_step: int = 0, enabled: bool = True):
        self.path = Path(workdir)
        self.enabled = enabled
        self.samples_dir = self.path / "samples"
        self.metrics_path = self.path / "metrics.jsonl"
        if not enabled:
            return
        check_writable(self.path)
        self.samples_dir.mkdir(exist_ok=True)
        self._truncate_metrics_after(start_step)
        self._metrics = self.metrics_path.open("a")
        self._tb = SummaryWriter(str(self.path / "tensorboard"), purge_step=start_step or None)

    def _truncate_metrics_after(self, step: int) -> None:
        """On resume, drops lines logged after the checkpoint that training restarts from."""
        if not self.metrics_path.exists():
            return
        kept = [line for line in self.read_metrics() if line["step"] <= step]
        self.metrics_path.write_text("".join(json.dumps(line) + "\n" for line in kept))

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        for key, value in record.items():
            if key not in ("step", "epoch") and isinstance(value, (int, float)):
                self._tb.add_scalar(f"train/{key}", value, record["step"])

    def save_samples(self, step: int, images: np.ndarray, value_range) -> Path:
        path = self.samples_dir / f"step_{step:07d}.png"
        if not self.enabled:
            return path
        grid = image_io.save_grid(images, path, value_range=value_range)
        self._tb.add_image("samples", grid, step, dataformats="HWC")
        return path

    def save_progress_gif(self) -> Path:
        """An animation of every sample grid written so far, in step order."""
        from PIL import Image

        path = self.samples_dir / "progress.gif"
        if not self.enabled:
            return path
        frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(self.samples_dir.glob("step_*.png"))]
        image_io.save_gif(frames, path)
        return path

    def plot_losses(self) -> Path:
        """The DCGAN tutorial's figure: Generator and Discriminator loss during training."""
        path = self.path / "loss_curves.png"
        if not self.enabled:
            return path
        lines = self.read_metrics()
        fig, ax = plt.subplots(figsize=(10, 5))
        steps = [line["step"] for line in lines]
        for key in ("g_loss", "d_loss"):
            ax.plot(steps, [line.get(key, math.nan) for line in lines], label=SEED_NAMES[key].replace("Loss_", ""))
        ax.set_title("Generator and Discriminator Loss During Training")
        ax.set_xlabel("iterations")
        ax.set_ylabel("Loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def real_vs_fake(self, real: np.ndarray, fake: np.ndarray, value_range) -> Path:
        """The DCGAN tutorial's closing figure: real images beside generated ones."""
        path = self.path / "real_vs_fake.png"
        if not self.enabled:
            return path
        fig, axes = plt.subplots(1, 2, figsize=(12, 6.5))
        for ax, title, batch in ((axes[0], "Real Images", real), (axes[1], "Fake Images", fake)):
            ax.imshow(image_io.make_grid(batch, value_range=value_range))
            ax.set_title(title)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def write_summary(self, summary: dict[str, Any]) -> Path:
        path = self.path / "summary.json"
        if not self.enabled:
            return path
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        if not self.enabled:
            return
        self._metrics.close()
        self._tb.close()
