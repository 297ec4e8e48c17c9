"""benchmarks/outcome_parity.py refuses --jax-population over seeds that one population cannot
train (member k is seed S0 + k), with one error line, before training anything."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_jax_population_needs_consecutive_seeds(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/outcome_parity.py", "--jax-population", "--seeds", "0", "2",
                           "--workdir", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--jax-population trains seeds S0..S0+N-1; got --seeds 0 2" in errors[0], done.stderr
    assert not any(tmp_path.iterdir())  # nothing trained
