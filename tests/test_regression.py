"""Regression losses: hand-checked values, PyTorch's option semantics, edge cases and errors.
(Every loss is also run through tests/test_catalog.py and tests/test_golden.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

X = jnp.array([1.1, 2.1, 3.1])
Y = jnp.array([1.0, 2.0, 3.0])


def test_classic_mse_example():
    assert float(jaxloss.mse_loss(X, Y)) == pytest.approx(0.01, rel=1e-5)
    np.testing.assert_allclose(jax.grad(jaxloss.mse_loss)(X, Y), [0.2 / 3] * 3, rtol=1e-5)
    assert float(jaxloss.mse_loss(X, Y, reduction="sum")) == pytest.approx(0.03, rel=1e-5)
    np.testing.assert_allclose(jaxloss.mse_loss(X, Y, reduction="none"), [0.01] * 3, rtol=1e-5)


def test_weighted_means_follow_pytorch():
    x, y = jnp.array([0.0, 0.0, 0.0]), jnp.array([1.0, 2.0, 4.0])
    w = jnp.array([1.0, 2.0, 3.0])
    # mse and l1: sum(w l) / sum(w).
    assert float(jaxloss.mse_loss(x, y, weight=w)) == pytest.approx((1 + 8 + 48) / 6)
    assert float(jaxloss.l1_loss(x, y, weight=w)) == pytest.approx((1 + 4 + 12) / 6)
    # huber: the plain mean of w l; with delta = 1: 0.5, 1.5, 3.5.
    assert float(jaxloss.huber_loss(x, y, weight=w)) == pytest.approx((0.5 + 3 + 10.5) / 3)
    # The weight's gradient is the per-element loss (torch differentiates it too).
    weight_grad = jax.grad(lambda w: jaxloss.mse_loss(x, y, weight=w))(w)
    np.testing.assert_allclose(weight_grad,
                               (np.array([1, 4, 16]) - 57 / 6) / 6, rtol=1e-6)


def test_weighted_mean_with_where_divides_by_kept_weight():
    x, y, w = jnp.zeros(3), jnp.array([1.0, 2.0, 4.0]), jnp.array([1.0, 2.0, 3.0])
    keep = jnp.array([True, False, True])
    assert float(jaxloss.mse_loss(x, y, weight=w, where=keep)) == pytest.approx((1 + 48) / 4)


def test_huber_and_smooth_l1_regimes():
    error = jnp.array([0.5, -0.5, 3.0, -3.0])
    zeros = jnp.zeros(4)
    np.testing.assert_allclose(jaxloss.huber_loss(error, zeros, reduction="none", delta=2.0),
                               [0.125, 0.125, 4.0, 4.0])
    np.testing.assert_allclose(jaxloss.smooth_l1_loss(error, zeros, reduction="none", beta=2.0),
                               [0.0625, 0.0625, 2.0, 2.0])
    grad = jax.grad(lambda e: jaxloss.huber_loss(e, zeros, reduction="sum", delta=2.0))(error)
    np.testing.assert_allclose(grad, [0.5, -0.5, 2.0, -2.0])


def test_huber_and_smooth_l1_derivatives_of_their_rule(x64):
    # Both are written without a select and differentiated by a rule of their own: at the
    # threshold the gradient is PyTorch's (e clipped to [-delta, delta], so delta sign(e)), and
    # the derivatives in delta and beta are those of the formula, by central differences.
    zeros = jnp.zeros(2, jnp.float64)
    at_threshold = jnp.array([2.0, -2.0], jnp.float64)
    grad = jax.grad(lambda e: jaxloss.huber_loss(e, zeros, reduction="sum", delta=2.0))(
        at_threshold)
    np.testing.assert_array_equal(grad, [2.0, -2.0])
    grad = jax.grad(lambda e: jaxloss.smooth_l1_loss(e, zeros, reduction="sum", beta=2.0))(
        at_threshold)
    np.testing.assert_array_equal(grad, [1.0, -1.0])
    error = jnp.array([0.3, -0.7, 1.9, -2.5, 4.0], jnp.float64)
    zeros = jnp.zeros_like(error)
    h = 1e-3  # hyperparameters are float32 inside; the losses are quadratic near 2 here
    for loss, name in ((jaxloss.huber_loss, "delta"), (jaxloss.smooth_l1_loss, "beta")):
        def value(t, loss=loss, name=name):
            return loss(error, zeros, reduction="sum", **{name: t})

        numeric = (value(jnp.asarray(2.0 + h)) - value(jnp.asarray(2.0 - h))) / (2 * h)
        assert abs(float(numeric)) > 0.1  # not vacuous
        np.testing.assert_allclose(jax.grad(value)(jnp.asarray(2.0)), numeric, rtol=1e-3)


def test_smooth_l1_with_beta_zero_is_l1_with_finite_gradient():
    x, y = jnp.array([1.0, 2.5, -1.0]), jnp.array([1.0, 3.0, 1.0])
    assert float(jaxloss.smooth_l1_loss(x, y, beta=0.0)) == pytest.approx(2.5 / 3)
    grad = jax.grad(jaxloss.smooth_l1_loss)(x, y, beta=0.0)
    np.testing.assert_allclose(grad, [0.0, -1 / 3, -1 / 3])  # sign(0) = 0, as torch


@pytest.mark.parametrize("loss", [jaxloss.l1_loss, jaxloss.huber_loss, jaxloss.smooth_l1_loss])
def test_gradient_is_zero_where_prediction_equals_target(loss):
    x = jnp.array([1.0, 2.0])
    np.testing.assert_array_equal(jax.grad(loss)(x, x), [0.0, 0.0])


def test_integer_targets_are_cast():
    assert float(jaxloss.mse_loss(jnp.array([1.5, 2.0]), jnp.array([1, 2]))) == 0.125


def test_poisson_nll_formulas():
    x, y = jnp.array([0.5, 2.0, 1.0]), jnp.array([0.0, 1.0, 4.0])
    expected = np.exp([0.5, 2.0, 1.0]) - np.array([0.0, 2.0, 4.0])
    np.testing.assert_allclose(jaxloss.poisson_nll_loss(x, y, reduction="none"), expected,
                               rtol=1e-6)
    rate = jnp.array([0.5, 2.0, 1.0])
    plain = rate - y * np.log(rate + 1e-8)
    np.testing.assert_allclose(
        jaxloss.poisson_nll_loss(rate, y, reduction="none", log_input=False), plain, rtol=1e-6)
    # Stirling's term only where y > 1.
    stirling = np.array([0, 0, 4 * math.log(4) - 4 + 0.5 * math.log(2 * math.pi * 4)])
    np.testing.assert_allclose(
        jaxloss.poisson_nll_loss(rate, y, reduction="none", log_input=False, full=True),
        plain + stirling, rtol=1e-6)


def test_gaussian_nll_value_and_clamp_gradient():
    x, y = jnp.array([1.0]), jnp.array([3.0])
    assert float(jaxloss.gaussian_nll_loss(x, y, 2.0)) == pytest.approx(
        0.5 * (math.log(2) + 4 / 2))
    full = jaxloss.gaussian_nll_loss(x, y, 2.0, full=True)
    assert float(full) == pytest.approx(0.5 * (math.log(2) + 2) + 0.5 * math.log(2 * math.pi))
    # var below eps is clamped for the value, but the gradient still reaches var, evaluated at
    # the clamped value (torch clamps a copy under no_grad).
    eps = 0.5
    grad = jax.grad(jaxloss.gaussian_nll_loss, argnums=2)(x, y, jnp.array([0.1]), eps=eps)
    np.testing.assert_allclose(grad, [0.5 * (1 / eps - 4 / eps**2)], rtol=1e-6)


@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3), ()])
def test_gaussian_nll_accepts_pytorchs_variance_shapes(var_shape):
    x, y = jnp.zeros((4, 3)), jnp.ones((4, 3))
    var = jnp.full(var_shape, 2.0)
    expected = 0.5 * (math.log(2) + 1 / 2)
    assert float(jaxloss.gaussian_nll_loss(x, y, var)) == pytest.approx(expected)


@pytest.mark.parametrize("var_shape", [(3,), (2, 3), (1, 1), (4, 3, 1)])
def test_gaussian_nll_refuses_other_variance_shapes(var_shape):
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: `var` has shape \(.*\) but must "
                                         r"have `input`'s shape \(4, 3\)"):
        jaxloss.gaussian_nll_loss(jnp.zeros((4, 3)), jnp.zeros((4, 3)), jnp.ones(var_shape))


def test_mismatched_shapes_name_both():
    with pytest.raises(ValueError, match=r"^mse_loss: `input` has shape \(4, 3\) but `target` "
                                         r"has shape \(4,\)"):
        jaxloss.mse_loss(jnp.zeros((4, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"^huber_loss: `input` has shape \(3,\) but `target`"):
        jaxloss.huber_loss(jnp.zeros(3), jnp.zeros((1, 3)))  # no silent broadcasting


def test_weight_must_match_input_shape():
    with pytest.raises(ValueError, match=r"^l1_loss: `weight` has shape \(3,\) but must have "
                                         r"shape \(2, 3\) \(the shape of `input`\)"):
        jaxloss.l1_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), weight=jnp.ones(3))


def test_non_floating_inputs_are_refused():
    with pytest.raises(TypeError, match=r"^mse_loss: `input` must have a floating dtype, "
                                        r"got int32"):
        jaxloss.mse_loss(jnp.array([1, 2]), jnp.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"^l1_loss: `target` must have a floating or integer "
                                        r"dtype, got bool"):
        jaxloss.l1_loss(jnp.array([1.0, 2.0]), jnp.array([True, False]))


def test_extreme_magnitudes_stay_finite():
    big = jnp.array([1e30, -1e30, 1e-30])
    for loss in (jaxloss.l1_loss, jaxloss.huber_loss, jaxloss.smooth_l1_loss):
        value, grad = jax.value_and_grad(loss)(big, jnp.zeros(3))
        assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_float64_stays_float64(x64):
    x = jnp.array([1.0, 2.0], jnp.float64)
    assert jaxloss.mse_loss(x, x + 1).dtype == jnp.float64


@pytest.mark.parametrize("loss, option", [(jaxloss.huber_loss, "delta"),
                                          (jaxloss.smooth_l1_loss, "beta")])
def test_float64_threshold_given_as_python_float_is_not_rounded_to_float32(x64, loss, option):
    # 0.3 is not a float32 number: rounded to one, the loss of an error of 1 is off by 1e-8.
    x = jnp.array([1.0, 0.2], jnp.float64)
    value = loss(x, jnp.zeros(2, jnp.float64), reduction="none", **{option: 0.3})
    expected = {"delta": [0.3 * (1 - 0.15), 0.5 * 0.2**2], "beta": [1 - 0.15, 0.5 * 0.2**2 / 0.3]}
    np.testing.assert_allclose(value, expected[option], rtol=1e-15)


def test_float64_smooth_l1_with_beta_zero_is_l1_for_errors_below_float32s_range(x64):
    # beta is floored at the smallest normal number of the errors' dtype, not float32's 1e-38.
    x = jnp.array([1e-40, -1e-40, 1e-45], jnp.float64)
    grad = jax.grad(lambda x: jaxloss.smooth_l1_loss(x, jnp.zeros(3, jnp.float64), beta=0.0,
                                                     reduction="sum"))(x)
    np.testing.assert_array_equal(grad, [1.0, -1.0, 1.0])


def test_float64_log_cosh_is_accurate_to_float64(x64):
    # The float32 series (accurate to 3e-7 relative) is not used for float64. Reference:
    # log(1 + 2 sinh²(e/2)) in NumPy's extended precision.
    e = np.concatenate([np.geomspace(1e-100, 0.399, 60), np.linspace(0.39, 3.0, 30)])
    got = jaxloss.log_cosh_loss(jnp.asarray(e), jnp.zeros(len(e), jnp.float64), reduction="none")
    half = e.astype(np.longdouble) / 2
    expected = np.log1p(2 * np.sinh(half) ** 2).astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
