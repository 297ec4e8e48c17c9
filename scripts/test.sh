#!/usr/bin/env bash
# One command on a fresh machine: set up (JAX, PyTorch reference, test tools), then run the
# default test suite (unit tests and parity tests).
#
#   bash scripts/test.sh [pytest arguments]
#
# Without arguments the unit tests and the parity tests run as two pytest processes, so the
# parity tests (both frameworks, the book's 47M-parameter CelebA MLP in float64) start with
# the memory the unit tests' compiled programs held given back. With CI=true the parity tests
# also run the checks marked slow: SPEC.md's 10 whole train steps for every recipe (the local
# default follows the DCGANs for 3 and the CelebA MLP for 2) and the rows of docs/parity.md drawn from
# those trajectories.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh torch,dev
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
parity_marks=()
if [ "${CI:-}" = "true" ]; then
  parity_marks=(-m "slow or not slow")
fi
status=0
.venv/bin/python -m pytest tests || status=$?
.venv/bin/python -m pytest parity_tests "${parity_marks[@]}" || status=$?
exit "$status"
