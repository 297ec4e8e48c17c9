"""Converts checkpoints between jaxgan and PyTorch: `python -m jaxgan.convert`.

    # the seeds' own files (torch.save(netG.state_dict(), 'netG.pth'), and netD's) into a jaxgan run folder
    python -m jaxgan.convert --config configs/dcgan_cifar10.yaml --from-torch netG.pth netD.pth --to-jax runs/x
    # a generator alone (D initialised fresh, as the recipe does), or a torch_ref checkpoint
    python -m jaxgan.convert --config configs/dcgan_cifar10.yaml --from-torch netG_epoch_24.pth --to-jax runs/y
    python -m jaxgan.convert --config configs/dcgan_celeba.yaml --from-torch step_0007910.pt --to-jax runs/z
    # a training script's dict ({'netG': ..., 'netD': ..., 'epoch': 3}, Lightning's {'state_dict': ...})
    python -m jaxgan.convert --config configs/dcgan_cifar10.yaml --from-torch ckpt.pth --to-jax runs/w [--torch-key G_ema]
    # and back: the seed's netG.pth and netD.pth, or a torch_ref checkpoint
    python -m jaxgan.convert --config configs/dcgan_cifar10.yaml --from-jax runs/x --to-seed out/
    python -m jaxgan.convert --config configs/dcgan_celeba.yaml --from-jax runs/z --to-torch g_and_d.pt
    # one member of a population run (train.population)
    python -m jaxgan.convert --config configs/gan_fashion_mnist.yaml --from-jax runs/p --member 2 --to-seed out/

--to-jax DIR writes a jaxgan run folder (DIR/checkpoints/<step>/ and config.yaml) that
`jaxgan.sample`, `jaxgan.evaluate` and `jaxgan.train --workdir DIR --resume` take. What the files
do not hold (the discriminator, optimiser state) is initialised fresh, and said so in one line
each. A dict of state_dicts is searched under the names scripts use (netG, netD, generator,
discriminator, G, D, state_dict, model), or --torch-key names the entry; names saved by
nn.DataParallel (`module.`) lose that prefix and float16 tensors become float32, said in one
line each. --from-jax takes a run folder, its checkpoints/ folder or one checkpoints/<step>/
folder (of a run folder, the newest checkpoint that can be read).
Every file is read with torch.load(weights_only=True): a pickle that would run code is refused.
A file that does not fit the recipe is refused naming its first tensor that differs; every error
is one line, exit code 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import sys

from jaxgan.cli import ArgumentParser, run_cli


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m jaxgan.convert", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the recipe both checkpoints belong to")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key (e.g. data.image_size), as for training")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-torch", nargs="+", metavar="FILE",
                        help="a torch_ref checkpoint, or the seed's netG.pth [netD.pth] (G first)")
    source.add_argument("--from-jax", metavar="DIR", help="a jaxgan run folder or checkpoint folder")
    parser.add_argument("--to-jax", metavar="DIR", help="write a jaxgan checkpoint into this run folder")
    parser.add_argument("--to-torch", metavar="OUT.pt", help="write a torch_ref checkpoint")
    parser.add_argument("--to-seed", metavar="OUT_DIR",
                        help="write OUT_DIR/netG.pth and netD.pth as the seed saves them")
    parser.add_argument("--member", type=int, help="with --from-jax: the member of a population run to export")
    parser.add_argument("--force", action="store_true", help="replace existing --to-torch / --to-seed files")
    parser.add_argument("--torch-key", nargs="+", default=[], metavar="NAME",
                        help="the entry of a --from-torch dict that holds the generator's state_dict (then the "
                             "discriminator's), where netG, generator, G, state_dict, model ... do not find it")
    args = parser.parse_args(argv)
    if args.from_torch and not args.to_jax:
        parser.error("--from-torch needs --to-jax DIR")
    if args.torch_key and not args.from_torch:
        parser.error("--torch-key names an entry of a --from-torch file")
    if len(args.torch_key) > 2:
        parser.error("--torch-key takes the generator's entry, then the discriminator's")
    if args.member is not None and not args.from_jax:
        parser.error("--member picks a member of a --from-jax population run")
    if args.from_jax and bool(args.to_torch) == bool(args.to_seed):
        parser.error("--from-jax needs --to-torch OUT.pt or --to-seed OUT_DIR")
    return args


def convert(args: argparse.Namespace) -> None:
    """Reads, converts and writes as `args` say; prints what was written (and initialised fresh)."""
    from jaxgan.config import load_config, recipe_image_shape
    from jaxgan.files import refuse_existing
    from jaxgan.interop import jax_runs, torch_files, weights

    config = load_config(args.config, args.overrides)
    shape = recipe_image_shape(config)
    if args.from_torch:
        checkpoint, sources, notes = torch_files.read_torch_files(args.from_torch, tuple(args.torch_key))
        state = weights.from_torch(config, checkpoint, shape, source=sources)
        counters = weights.torch_counters(config, checkpoint, shape)
        written = [jax_runs.save_jax_checkpoint(config, state, args.to_jax, shape,
                                                     {"torch_num_batches_tracked": counters})]
    else:
        if args.to_torch:
            refuse_existing(args.to_torch, args.force, "torch checkpoint")
        state, meta = jax_runs.restore_jax_run(config, args.from_jax, shape, member=args.member)
        counters = meta.get("torch_num_batches_tracked")
        notes = []
        if args.to_torch:
            checkpoint = weights.to_torch(config, state, shape, counters)
            written = [torch_files.save_torch_checkpoint(checkpoint, args.to_torch)]
        else:
            written = torch_files.write_reference_files(config, state, shape, args.to_seed, counters, args.force)
    for note in notes:
        print(note)
    print(f"{config.name}: step {int(state.step)} written to {', '.join(map(str, written))}")


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: convert(args))


if __name__ == "__main__":
    sys.exit(main())
