"""(2) Initialisation: every parameter tensor is drawn from the same distribution in jaxgan and
torch_ref (mean and std within 5 standard errors, two-sample KS not rejecting at p = 1e-3;
tensors smaller than 2,000 values pooled over extra seeds; constant tensors equal exactly)."""

import pytest

from parity_tests import checks
from parity_tests.measure import assert_all_ok
from parity_tests.recipes import RECIPES


@pytest.mark.parametrize("recipe", RECIPES)
def test_init_distributions_match_torch(recipe):
    assert_all_ok(checks.init(recipe))
