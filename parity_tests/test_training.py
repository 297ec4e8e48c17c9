"""(4) Training, in float64 (see parity_tests/twins.py): the gradients of the first step agree
to 1e-4 relative; parameters, Adam moments and BatchNorm statistics after 1 and after N whole
train steps to 1e-4 relative; losses and D outputs at every step to 1e-5; and the generator
jaxgan trained, converted to torch_ref, samples the same images from the same z (float32, 1e-5).

The default run follows 10 steps, except for the recipes whose double-precision steps take
seconds each (the DCGANs' convolutions: 3 steps; myfgan_celeba's 47M parameters: 2); `-m slow`
follows those for the full 10.
"""

import pytest

from parity_tests import checks
from parity_tests.measure import assert_all_ok
from parity_tests.recipes import RECIPES, SETTINGS, TRAJECTORY_STEPS


@pytest.mark.parametrize("recipe", RECIPES)
def test_training_trajectory_matches_torch(recipe):
    assert_all_ok(checks.training(recipe, SETTINGS[recipe].trajectory_steps))


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [r for r in RECIPES if SETTINGS[r].trajectory_steps < TRAJECTORY_STEPS])
def test_training_trajectory_matches_torch_for_10_steps(recipe):
    assert_all_ok(checks.training(recipe, TRAJECTORY_STEPS))
