"""Strictness for the whole suite (DESIGN §4): no implicit rank promotion, warnings are errors
(pyproject's filterwarnings), and float64 only where a test asks for it."""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

# The fixture generators import torch, torchvision and rlax, optional extras; --doctest-modules
# must not import them.
collect_ignore = [
    "golden/make_torch_golden.py", "golden/make_rlax_golden.py",
    "golden/make_torchvision_golden.py",
]


@pytest.fixture
def x64():
    """Runs a test with 64-bit types enabled (gradient checks in float64)."""
    with jax.enable_x64(True):
        yield
