"""The elementwise primitives of jaxloss._ops against the definitions they stand in for."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import _ops

POINTS = [-2.0, -0.0, 0.0, 1e-3, 3.0, jnp.inf, -jnp.inf, jnp.nan]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_relu_has_jax_nn_relus_value_and_gradient_including_nan_and_the_kink(dtype):
    x = jnp.array(POINTS, dtype)
    np.testing.assert_array_equal(np.asarray(_ops.relu(x), np.float32),
                                  np.asarray(jax.nn.relu(x), np.float32))
    assert _ops.relu(x).dtype == dtype
    grad = jax.vmap(jax.grad(lambda v: _ops.relu(v).astype(jnp.float32)))(x)
    # 1 above 0, 0 at and below the kink, 0 at NaN (torch: grad * (result > 0))
    np.testing.assert_array_equal(np.asarray(grad, np.float32), [0, 0, 0, 1, 1, 1, 0, 0])


def test_quantile_loss_keeps_nan_and_the_tau_slope_at_zero():
    x = jnp.array([0.0, jnp.nan, 1.0, -1.0])
    y = jnp.array([0.0, 0.0, 0.0, 0.0])
    loss = jaxloss.quantile_loss(x, y, quantile=0.9, reduction="none")
    np.testing.assert_allclose(np.asarray(loss), [0.0, np.nan, 0.1, 0.9], rtol=1e-6)
    # error u = y - x; at u = 0 the derivative is that of the tau * u side: d/dx = -tau
    grad = jax.grad(lambda x: jaxloss.quantile_loss(x, y, quantile=0.9, reduction="sum"))(x)
    np.testing.assert_allclose(np.asarray(grad)[[0, 2, 3]], [-0.9, 0.1, -0.9], rtol=1e-6)


def test_floor_value_clamps_the_value_and_passes_the_gradient_of_x_unclamped():
    x = jnp.array([-1.0, 0.5, 2.0, jnp.nan])
    np.testing.assert_array_equal(np.asarray(_ops.floor_value(x, 1.0)), [1.0, 1.0, 2.0, np.nan])
    grad = jax.vmap(jax.grad(lambda v: _ops.floor_value(v, 1.0)))(x)
    np.testing.assert_array_equal(np.asarray(grad), [1.0, 1.0, 1.0, 1.0])
    # the floor itself gets no gradient (torch clamps under no_grad)
    assert float(jax.grad(lambda low: _ops.floor_value(jnp.float32(0.0), low))(2.0)) == 0.0


def test_gaussian_nll_loss_is_finite_for_an_error_whose_square_overflows():
    # (1e20)^2 overflows float32; the result 0.5 (log 1e10 + 1e30) does not
    x, y, var = jnp.array([1e20]), jnp.array([0.0]), jnp.array([1e10])
    loss = jaxloss.gaussian_nll_loss(x, y, var, reduction="none")
    np.testing.assert_allclose(np.asarray(loss), [0.5 * (np.log(1e10) + 1e30)], rtol=1e-6)
    grad = jax.grad(lambda x: jaxloss.gaussian_nll_loss(x, y, var))(x)
    np.testing.assert_allclose(np.asarray(grad), [1e20 / 1e10], rtol=1e-6)  # e / var


@pytest.mark.parametrize("reduction, expected", [("none", [0.5, 0.0, 4.5]), ("sum", 5.0),
                                                 ("mean", 2.5)])
def test_reduce_applies_a_constant_scale_to_the_kept_entries(reduction, expected):
    from jaxloss._reduction import reduce

    loss = jnp.array([1.0, jnp.nan, 9.0])  # the NaN entry is masked out
    mask = jnp.array([True, False, True])
    out = reduce(loss, reduction, mask=mask, scale=0.5)
    np.testing.assert_array_equal(np.asarray(out), expected)
    grad = jax.grad(lambda v: jnp.sum(reduce(v, reduction, mask=mask, scale=0.5)))(loss)
    per_entry = {"none": 0.5, "sum": 0.5, "mean": 0.25}[reduction]
    np.testing.assert_array_equal(np.asarray(grad), [per_entry, 0.0, per_entry])
