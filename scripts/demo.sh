#!/usr/bin/env bash
# One command on a fresh machine: set up, then train the default recipe (seed 002's MLP GAN
# on Fashion-MNIST) for 100 epochs, about 3 minutes on a 2-core CPU.
#
#   bash scripts/demo.sh [--set KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workdir="runs/demo-$(date +%Y%m%d-%H%M%S)"
.venv/bin/python -m jaxgan.train --config configs/gan_fashion_mnist.yaml \
  --set train.epochs=100 --workdir "$workdir" "$@"
echo "demo: open $workdir/real_vs_fake.png, $workdir/samples/ and $workdir/loss_curves.png"
echo "demo: tensorboard --logdir $workdir"
