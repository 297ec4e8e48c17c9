"""(1) Shapes: jaxgan's parameter tree and torch_ref's state_dict map one to one, with equal
shapes after the layout change, and every layer's output has the same shape."""

import pytest

from parity_tests import checks
from parity_tests.measure import assert_all_ok
from parity_tests.recipes import RECIPES


@pytest.mark.parametrize("recipe", RECIPES)
def test_param_tree_and_layer_shapes_match_torch(recipe):
    assert_all_ok(checks.shapes(recipe))
