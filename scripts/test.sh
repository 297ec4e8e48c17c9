#!/usr/bin/env bash
# One command on a fresh machine: set up (JAX, PyTorch reference, test tools), then run the
# default test suite (unit tests and parity tests; `-m slow` checks are run on purpose).
#
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh torch,dev
exec .venv/bin/python -m pytest "$@"
