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


def test_logistic_losses_match_float64_log_sigmoids_at_extreme_logits():
    # The one-softplus forms against the textbook definitions in float64 (numpy, independent
    # of jaxloss), where cancellation or overflow would show: |x| up to 100.
    x = np.array([-100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0])
    y = np.array([0.0, 1.0, 0.25, 1.0, 0.0, 0.0, 1.0])
    log_sig = lambda v: -np.logaddexp(0.0, -v)  # noqa: E731
    expected = -(2.0 * y * log_sig(x) + (1 - y) * log_sig(-x))  # pos_weight 2
    got = jaxloss.binary_cross_entropy_with_logits(
        jnp.array(x, jnp.float32), jnp.array(y, jnp.float32), pos_weight=2.0, reduction="none")
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, atol=1e-7)
    # conservative DPO's smoothed logistic with eps = 0.3, via simpo_loss (beta 1, gamma 0)
    eps = 0.3
    expected = -(1 - eps) * log_sig(x) - eps * log_sig(-x)
    got = jaxloss.simpo_loss(jnp.array(x, jnp.float32), jnp.zeros(7), beta=1.0, gamma=0.0,
                             label_smoothing=eps, reduction="none").loss
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, atol=1e-7)
    # and its gradient: -(1 - eps) sigmoid(-x) + eps sigmoid(x)
    grad = jax.grad(lambda v: jaxloss.simpo_loss(v, jnp.zeros(7), beta=1.0, gamma=0.0,
                                                 label_smoothing=eps, reduction="sum").loss)
    sigmoid = lambda v: np.exp(log_sig(v))  # noqa: E731
    np.testing.assert_allclose(np.asarray(grad(jnp.array(x, jnp.float32))),
                               -(1 - eps) * sigmoid(-x) + eps * sigmoid(x), rtol=1e-6, atol=1e-7)


def test_unshared_is_the_identity_in_value_gradient_and_vmap():
    x = jnp.array([0.5, 2.0, 3.0])
    f = lambda s: jnp.sum(jnp.minimum(x, _ops.unshared(s, x)))  # noqa: E731
    assert float(f(1.0)) == 0.5 + 1.0 + 1.0
    assert float(jax.grad(f)(1.0)) == 2.0  # two entries above the threshold
    scalars = jnp.array([0.0, 1.0, 4.0])
    np.testing.assert_array_equal(np.asarray(jax.vmap(f)(scalars)), [0.0, 2.5, 5.5])
    np.testing.assert_array_equal(np.asarray(jax.vmap(jax.grad(f))(scalars)), [3.0, 2.0, 0.0])


def test_take_last_has_the_gathers_value_and_derivatives():
    # Against JAX's own derivatives of the gather it replaces: reverse, forward, second order
    # (the rule's tangent, differentiated again) and under vmap, with inf and NaN scores in
    # classes not taken, whose derivatives must stay 0.
    x = jax.random.normal(jax.random.key(0), (3, 4, 5))
    x = x.at[0, 0, 1].set(jnp.inf).at[1, 2, 3].set(jnp.nan)
    index = jnp.array([[0, 4, 2, 3], [1, 0, 0, 4], [2, 2, 3, 1]])
    weights = jnp.arange(1.0, 13.0).reshape(3, 4)

    def ours(x):
        return _ops.take_last(x, index)

    def gathered(x):
        return jnp.take_along_axis(x, index[..., None], axis=-1)[..., 0]

    def scalar(pick):
        return lambda x: jnp.sum(weights * jnp.sin(pick(x)))

    for f, g in [(ours, gathered), (scalar(ours), scalar(gathered))]:
        np.testing.assert_array_equal(f(x), g(x))
        np.testing.assert_array_equal(jax.jacrev(f)(x), jax.jacrev(g)(x))
        np.testing.assert_array_equal(jax.jacfwd(f)(x), jax.jacfwd(g)(x))
    finite = jnp.nan_to_num(x, posinf=2.0)
    np.testing.assert_allclose(jax.hessian(scalar(ours))(finite),
                               jax.hessian(scalar(gathered))(finite))
    ours_per_row = jax.vmap(jax.grad(lambda row, i: jnp.sin(_ops.take_last(row, i))))
    theirs_per_row = jax.vmap(jax.grad(lambda row, i: jnp.sin(row[i])))
    np.testing.assert_array_equal(ours_per_row(x[0], index[0]), theirs_per_row(x[0], index[0]))
