#!/usr/bin/env bash
# Sets up jaxgan on a fresh machine; safe to run again (it only adds what is missing).
#
#   bash scripts/setup.sh            # the JAX library and its CLIs
#   bash scripts/setup.sh torch,dev  # also the PyTorch reference and the test tools
#
# 1. Fashion-MNIST's real IDX files from Debian's `dataset-fashion-mnist`, where apt exists.
# 2. A virtual environment in .venv with jaxgan installed (editable) and the named extras.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

fashion=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -e "$fashion" ] && command -v apt-get >/dev/null; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
    echo "setup: warning: could not install dataset-fashion-mnist; put the IDX files in \$JAXGAN_DATA instead" >&2
  fi
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: error: jaxgan needs Python >= 3.10 ($python is $("$python" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
spec="."
if [ -n "$extras" ]; then spec=".[$extras]"; fi
echo "setup: installing jaxgan${extras:+ with extras $extras} into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
