"""The seeds' own checkpoint files into jaxgan and back out (`python -m jaxgan.convert_cli`).

A G and D built from the seed's classes (torch_ref/<recipe>.py) and saved as the seed saves
them (`torch.save(netG.state_dict(), 'netG.pth')`) become a jaxgan run folder that samples and
generates the same images (eval mode, 1e-5); `--to-seed` gives the files back, byte for byte.
What does not fit is refused in one line and nothing is written.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from jaxgan import convert_cli, sample
from jaxgan.interop import jax_runs
from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.steps import make_generate
from torch_ref import dcgan_cifar10, gan_fashion_mnist, gan_maxout_mnist
from torch_ref.models import set_mode

CIFAR = str(CONFIG_DIR / "dcgan_cifar10.yaml")
FASHION = str(CONFIG_DIR / "gan_fashion_mnist.yaml")
MAXOUT = str(CONFIG_DIR / "gan_maxout_mnist.yaml")


def _seed_dcgan_files(folder):
    """Seed 003's networks after a few train-mode passes (running statistics and counters moved),
    saved as its epoch loop saves them."""
    torch.manual_seed(1)
    netG = dcgan_cifar10._netG()
    netG.apply(dcgan_cifar10.weights_init)
    netD = dcgan_cifar10._netD()
    netD.apply(dcgan_cifar10.weights_init)
    netG(torch.randn(4, 100, 1, 1))
    for _ in range(3):
        netD(torch.randn(4, 3, 64, 64))
    folder.mkdir()
    torch.save(netG.state_dict(), folder / "netG.pth")
    torch.save(netD.state_dict(), folder / "netD.pth")
    return netG, netD


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = convert_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_dcgan_files_in_sampled_and_back_out_unchanged(tmp_path, capsys):
    netG, _ = _seed_dcgan_files(tmp_path / "seed")
    run = tmp_path / "run"
    code, out, _ = _cli(capsys, "--config", CIFAR, "--from-torch", str(tmp_path / "seed" / "netG.pth"),
                        str(tmp_path / "seed" / "netD.pth"), "--to-jax", str(run))
    assert code == 0 and "optimiser state: not in the seeds' files; initialised fresh" in out
    assert "discriminator" not in out  # both networks were given

    assert sample.main(["--checkpoint", str(run), "--out", str(tmp_path / "x.png")]) == 0
    assert (tmp_path / "x.png").stat().st_size > 0

    config = load_config(CIFAR)
    state = jax_runs.restore_jax_checkpoint(config, run)
    z = np.random.default_rng(0).standard_normal((8, 100)).astype(np.float32)
    ours = np.asarray(make_generate(build_gan(config, (64, 64, 3)))(state, z))
    set_mode(netG, False)
    with torch.no_grad():
        theirs = netG(torch.from_numpy(z).reshape(8, 100, 1, 1)).numpy().transpose(0, 2, 3, 1)
    assert np.max(np.abs(ours - theirs)) <= 1e-5

    code, out, _ = _cli(capsys, "--config", CIFAR, "--from-jax", str(run), "--to-seed", str(tmp_path / "back"))
    assert code == 0
    for name in ("netG.pth", "netD.pth"):
        original = torch.load(tmp_path / "seed" / name, weights_only=True)
        back = torch.load(tmp_path / "back" / name, weights_only=True)
        assert list(back) == list(original)  # num_batches_tracked included, in torch's order
        assert all(torch.equal(back[k], original[k]) for k in original)
        assert (tmp_path / "back" / name).read_bytes() == (tmp_path / "seed" / name).read_bytes()
    loaded = dcgan_cifar10._netD()
    loaded.load_state_dict(torch.load(tmp_path / "back" / "netD.pth"))  # the seed's own line


@pytest.mark.parametrize("recipe", ["fashion", "maxout"])
def test_mlp_and_maxout_seed_files_round_trip_under_the_seeds_key_names(recipe, tmp_path, capsys):
    torch.manual_seed(2)
    if recipe == "fashion":
        config_path, G, D = FASHION, gan_fashion_mnist.make_G(), gan_fashion_mnist.make_D()
        assert list(G.state_dict())[:2] == ["0.weight", "0.bias"]
    else:
        config_path, G, D = MAXOUT, gan_maxout_mnist.Generator(100), gan_maxout_mnist.Discriminator()
        assert "max_1.linear.weight" in D.state_dict()
    torch.save(G.state_dict(), tmp_path / "G.pth")
    torch.save(D.state_dict(), tmp_path / "D.pth")
    code, _, _ = _cli(capsys, "--config", config_path, "--from-torch", str(tmp_path / "G.pth"), str(tmp_path / "D.pth"),
                      "--to-jax", str(tmp_path / "run"))
    assert code == 0
    code, _, _ = _cli(capsys, "--config", config_path, "--from-jax", str(tmp_path / "run"),
                      "--to-seed", str(tmp_path / "back"))
    assert code == 0
    for module, name in ((G, "netG.pth"), (D, "netD.pth")):
        back = torch.load(tmp_path / "back" / name, weights_only=True)
        assert list(back) == list(module.state_dict())
        assert all(torch.equal(back[k], v) for k, v in module.state_dict().items())


def test_a_generator_alone_gets_a_fresh_discriminator_and_says_so(tmp_path, capsys):
    torch.manual_seed(4)
    G = gan_fashion_mnist.make_G()
    torch.save(G.state_dict(), tmp_path / "netG_epoch_24.pth")
    code, out, _ = _cli(capsys, "--config", FASHION, "--from-torch", str(tmp_path / "netG_epoch_24.pth"),
                        "--to-jax", str(tmp_path / "run"))
    assert code == 0
    assert "discriminator: no file given; initialised fresh, as the recipe initialises it" in out
    config = load_config(FASHION)
    state = jax_runs.restore_jax_checkpoint(config, tmp_path / "run")
    init = init_state(build_gan(config, (28, 28, 1)), config.seed)
    assert np.array_equal(state.d.params["fc0"]["kernel"], init.d.params["fc0"]["kernel"])
    assert np.array_equal(state.g.params["fc0"]["kernel"], G.state_dict()["0.weight"].numpy().T)


class _RunsCode:
    def __reduce__(self):
        return (print, ("this pickle runs code",))


def test_files_that_do_not_fit_are_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    _seed_dcgan_files(tmp_path / "seed")
    netG = str(tmp_path / "seed" / "netG.pth")
    torch.manual_seed(5)
    narrow = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 256),
                                 torch.nn.ReLU(), torch.nn.Linear(256, 784), torch.nn.Tanh())
    torch.save(narrow.state_dict(), tmp_path / "narrow.pth")
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a torch file at all")
    torch.save({"0.weight": _RunsCode()}, tmp_path / "code.pth")
    with pytest.raises(pickle.UnpicklingError):  # what weights_only=True says about it
        torch.load(tmp_path / "code.pth", weights_only=True)
    cases = [
        ([FASHION, netG], "generator has no tensor '0.weight' (the recipe expects shape (256, 64)); its first "
                          "tensor is 'main.0.weight' with shape (100, 512, 4, 4)"),
        ([FASHION, str(tmp_path / "narrow.pth")], "generator tensor '0.weight' has shape (128, 64), the recipe "
                                                  "expects (256, 64)"),
        ([FASHION, str(tmp_path / "garbage.pth")], "not a file torch.load can read"),
        ([FASHION, str(tmp_path / "code.pth")], "refused, its pickle would run code"),
        ([FASHION, str(tmp_path / "seed")], "is a folder; give the checkpoint file"),
    ]
    for (config, src), message in cases:
        code, out, err = _cli(capsys, "--config", config, "--from-torch", src, "--to-jax", str(tmp_path / "run"))
        assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "run").exists()

    code, _, _ = _cli(capsys, "--config", CIFAR, "--from-torch", netG, "--to-jax", str(tmp_path / "run"))
    assert code == 0
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "netD.pth").write_bytes(b"mine")
    (tmp_path / "a_file").write_bytes(b"x")
    cases = [
        (["--to-seed", str(tmp_path / "taken")], "already exists; choose another path or pass --force"),
        (["--to-seed", str(tmp_path / "a_file")], "is a file; give a folder"),
        (["--to-torch", str(tmp_path / "taken")], "is a folder; give a file path"),
    ]
    for target, message in cases:
        code, out, err = _cli(capsys, "--config", CIFAR, "--from-jax", str(tmp_path / "run"), *target)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["netD.pth"]
    assert (tmp_path / "taken" / "netD.pth").read_bytes() == b"mine"
    code, _, _ = _cli(capsys, "--config", CIFAR, "--from-jax", str(tmp_path / "run"),
                      "--to-seed", str(tmp_path / "taken"), "--force")
    assert code == 0 and (tmp_path / "taken" / "netD.pth").read_bytes() != b"mine"
    assert not [p for p in tmp_path.rglob(".*tmp*")]  # no temporary left behind


def test_a_converted_folder_trains_on_with_resume(tmp_path, capsys, tiny):
    torch.manual_seed(6)
    G, D = gan_fashion_mnist.make_G(), gan_fashion_mnist.make_D()
    torch.save(G.state_dict(), tmp_path / "netG.pth")
    torch.save(D.state_dict(), tmp_path / "netD.pth")
    sets = [a for o in tiny for a in ("--set", o)]
    code, _, err = _cli(capsys, "--config", FASHION, *sets, "--from-torch", str(tmp_path / "netG.pth"),
                        str(tmp_path / "netD.pth"), "--to-jax", str(tmp_path / "run"))
    assert code == 0, err
    from jaxgan.run.loop import train_and_evaluate

    summary = train_and_evaluate(load_config(tmp_path / "run" / "config.yaml"), tmp_path / "run", resume=True,
                                 progress=False)
    assert summary["step"] == 12
    state = jax_runs.restore_jax_checkpoint(load_config(tmp_path / "run" / "config.yaml"), tmp_path / "run")
    assert int(state.step) == 12
    assert not np.array_equal(state.g.params["fc0"]["kernel"], G.state_dict()["0.weight"].numpy().T)  # it trained
