"""torch_ref's training CLI: a run folder with jaxgan's layout and metric names, checkpoints
that load with weights_only=True, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from jaxgan.config import CONFIG_DIR, load_config
from parity_tests.conftest import FASHION
from torch_ref import models
from torch_ref import train as torch_train

REPO = CONFIG_DIR.parent
JAXGAN_METRICS = {"step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "d_fake_after", "wall_s"}


def test_train_cli_writes_a_run_folder_like_jaxgan(tmp_path, tiny):
    run = tmp_path / "run"
    argv = ["--config", str(FASHION), "--workdir", str(run), "--no-progress", *sum((["--set", o] for o in tiny), [])]
    assert torch_train.main(argv) == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [6, 12]
    assert all(set(line) == JAXGAN_METRICS for line in lines)
    assert sorted(p.name for p in (run / "samples").glob("step_*.png")) == ["step_0000006.png", "step_0000012.png"]
    for name in ("config.yaml", "loss_curves.png", "real_vs_fake.png", "summary.json", "samples/progress.gif"):
        assert (run / name).is_file(), name
    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    assert [p.name for p in ckpts] == ["step_0000006.pt", "step_0000012.pt"]
    ckpt = torch.load(ckpts[-1], weights_only=True)
    assert ckpt["step"] == 12 and ckpt["recipe"] == "gan_fashion_mnist"
    G, D = models.build(load_config(run / "config.yaml"), (28, 28, 1))
    G.load_state_dict(ckpt["generator"])
    D.load_state_dict(ckpt["discriminator"])
    assert ckpt["optimizer_g"]["state"][0]["step"] == 12
    # the same run folder again is refused rather than mixed
    assert torch_train.main(argv) == 2


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys, fashion_dir):
    bad_idx = tmp_path / "bad" / "train-images-idx3-ubyte"
    bad_idx.parent.mkdir()
    bad_idx.write_bytes(b"not an idx file")
    book_csv = tmp_path / "mnist_train.csv"
    book_csv.write_text("".join(f"{i % 10}," + ",".join(["0"] * 784) + "\n" for i in range(4)))
    cases = [
        (["--config", str(tmp_path / "nope.yaml")], "no such config file"),
        (["--config", str(FASHION), "--set", "train.batchsize=3"], "unknown key 'train.batchsize'"),
        (["--config", str(FASHION), "--set", f"data.root={bad_idx}"], str(bad_idx)),
        (["--config", str(CONFIG_DIR / "myfgan_mnist.yaml"), "--set", "train.batch_size=2",
          "--set", f"data.root={book_csv}"], "one image at a time"),
    ]
    for argv, message in cases:
        assert torch_train.main([*argv, "--workdir", str(tmp_path / "w"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    # and from the shell
    proc = subprocess.run([sys.executable, "-m", "torch_ref.train", "--config", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
