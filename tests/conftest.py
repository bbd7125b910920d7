"""Strictness for the whole suite (DESIGN §4): no implicit rank promotion, warnings are errors
(pyproject's filterwarnings), and float64 only where a test asks for it."""

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_numpy_rank_promotion", "raise")

# Hypothesis profiles of the property suite (tests/test_properties.py). Compilation dominates
# its time, and the drawn values never change what is compiled, so each loss gets a handful of
# drawn cases on top of its explicit ones by default; `--hypothesis-profile=thorough` draws
# many more. The default is derandomized so CI runs the same cases every time.
_SUITE = dict(deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("default", max_examples=3, derandomize=True, **_SUITE)
settings.register_profile("thorough", max_examples=60, **_SUITE)
settings.load_profile("default")

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
