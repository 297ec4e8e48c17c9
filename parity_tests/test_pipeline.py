"""(5) Input pipeline: to_float vs torchvision's ToTensor (+ Normalize), make_grid/to_uint8 vs
torchvision's make_grid/save_image pixels, Resize+CenterCrop vs torchvision on real photos."""

import pytest

from parity_tests import checks
from parity_tests.measure import assert_all_ok
from parity_tests.recipes import RECIPES


@pytest.mark.parametrize("recipe", RECIPES)
def test_pipeline_matches_torchvision(recipe):
    assert_all_ok(checks.pipeline(recipe))
