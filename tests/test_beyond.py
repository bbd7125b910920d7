"""Robust regression, focal, poly-1, Jensen-Shannon, hinge, sparsemax losses and cross_entropy's
z-loss: values and gradients against live optax 0.2.8 where optax defines the loss, against
NumPy float64 transcriptions of the papers' formulas (equation numbers in the test names and
docstrings) otherwise, the extremes the issue asks for (focal gradients at saturated logits with
gamma < 1; Barron's loss at and near alpha = 0, 2 and +-inf) and the error messages of the new
options. The generic properties (jit, vmap, where, dtypes, empty batches, retracing, float64
gradient checks) come from test_catalog.py. torchvision's focal loss: test_segmentation_boxes.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

import jaxloss


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _finite(*arrays):
    for a in arrays:
        assert np.all(np.isfinite(np.asarray(a))), a


def _value_and_grads(fn, *args, argnums=(0,)):
    """The summed loss and its gradients with respect to `argnums`."""
    return jax.value_and_grad(lambda *a: jnp.sum(fn(*a)), argnums=argnums)(*args)


def _against_optax(ours, theirs, args, argnums=(0,), rtol=1e-5, atol=1e-6):
    """Per-element values and the gradients of their sum equal optax's."""
    _close(ours(*args), theirs(*args), rtol, atol)
    (_, got), (_, want) = (_value_and_grads(f, *args, argnums=argnums) for f in (ours, theirs))
    for g, w in zip(got, want, strict=True):
        _close(g, w, rtol, atol)


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


# --- optax 0.2.8 as the reference ----------------------------------------------------------------


def test_log_cosh_matches_optax_across_its_switch_and_far_tail():
    errors = np.array([0.0, 1e-4, 0.5, 3.0, 9.99, 10.0, 10.01, 50.0, 88.0, 89.0, 1e4], np.float32)
    errors = np.concatenate([errors, -errors[1:]])
    target = _rng(1).normal(size=errors.shape).astype(np.float32)
    _against_optax(
        lambda x, y: jaxloss.log_cosh_loss(x, y, reduction="none"), optax.log_cosh,
        (target + errors, target), argnums=(0, 1), atol=2e-6,
    )


def test_log_cosh_is_relatively_exact_for_small_errors_where_optax_cancels():
    # float64 reference free of cancellation: cosh e - 1 = 2 sinh^2(e/2), and d/de = tanh e,
    # d2/de2 = 1 / cosh^2 e. Errors from where e^2/2 is a normal float32 (XLA flushes
    # subnormals to zero) to far past the switch between the series and the closed form.
    errors = np.geomspace(2e-19, 60.0, 4001).astype(np.float32)
    errors = np.concatenate([errors, -errors, [0.0, 0.4, np.nextafter(np.float32(0.4), 0)]])
    e = errors.astype(np.float64)
    value = jaxloss.log_cosh_loss(errors, np.zeros_like(errors), reduction="none")
    np.testing.assert_allclose(value, np.log1p(2 * np.sinh(e / 2) ** 2), rtol=2e-6, atol=0)
    grad = jax.vmap(jax.grad(lambda x: jaxloss.log_cosh_loss(x, jnp.float32(0))))(errors)
    np.testing.assert_allclose(grad, np.tanh(e), rtol=2e-6, atol=0)
    hess = jax.vmap(jax.hessian(lambda x: jaxloss.log_cosh_loss(x, jnp.float32(0))))(errors)
    np.testing.assert_allclose(hess, 1 / np.cosh(e) ** 2, rtol=0, atol=2e-5)
    assert float(hess[-3]) == 1.0  # at e = 0 exactly, where |e|'s derivative is 0


def test_log_cosh_mean_is_optax_mean():
    x, y = _rng(2).normal(size=(2, 7, 3)).astype(np.float32) * 4
    _close(jaxloss.log_cosh_loss(x, y), jnp.mean(optax.log_cosh(x, y)))


# Hard labels, soft labels, and logits from moderate to nearly saturated (optax's own gradient
# is NaN once p_t rounds to 1 with gamma < 1; jaxloss's is checked there against the paper).
_FOCAL_LOGITS = np.concatenate([
    3 * _rng(3).normal(size=20), [-15.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 15.0]
]).astype(np.float32)


@pytest.mark.parametrize("alpha", [None, 0.25, 0.6])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_sigmoid_focal_matches_optax(alpha, gamma, labels):
    # With hard labels optax's gradient with respect to the labels is not the derivative of
    # the formula at 0 or 1 (jaxloss's is: torchvision's golden gradients check it), so only
    # the logits' gradient is compared there.
    n = _FOCAL_LOGITS.size
    if labels == "hard":
        y = (_rng(4).random(n) < 0.4).astype(np.float32)
    else:
        y = _rng(4).uniform(0.0, 1.0, n).astype(np.float32)
    _against_optax(
        lambda x, t: jaxloss.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction="none"),
        lambda x, t: optax.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma),
        (_FOCAL_LOGITS, y), argnums=(0,) if labels == "hard" else (0, 1),
    )


@pytest.mark.parametrize("epsilon", [2.0, -1.0, 0.5])
def test_poly1_with_integer_labels_matches_optax_with_one_hot(epsilon):
    logits = 2 * _rng(5).normal(size=(6, 4)).astype(np.float32)
    logits[0] = [50.0, -50.0, 0.0, 1.0]  # a saturated row: p_t rounds to 1
    logits[1] = [-50.0, 50.0, 0.0, 1.0]  # and one where p_t is about 0
    labels = np.array([0, 0, 1, 2, 3, 1])
    one_hot = jax.nn.one_hot(labels, 4)
    _close(
        jaxloss.poly1_cross_entropy(logits, labels, epsilon=epsilon, reduction="none"),
        optax.losses.poly_loss_cross_entropy(logits, one_hot, epsilon=epsilon),
    )
    got = jax.grad(lambda x: jaxloss.poly1_cross_entropy(x, labels, epsilon=epsilon))(logits)
    want = jax.grad(
        lambda x: jnp.mean(optax.losses.poly_loss_cross_entropy(x, one_hot, epsilon=epsilon))
    )(logits)
    _close(got, want)


@pytest.mark.parametrize("epsilon", [2.0, -1.0])
def test_poly1_with_probability_labels_matches_optax(epsilon):
    rng = _rng(6)
    logits = (2 * rng.normal(size=(5, 3))).astype(np.float32)
    labels = rng.dirichlet(np.ones(3), size=5).astype(np.float32)
    labels[0] = [0.0, 1.0, 0.0]
    _against_optax(
        lambda x, t: jaxloss.poly1_cross_entropy(x, t, epsilon=epsilon, reduction="none"),
        lambda x, t: optax.losses.poly_loss_cross_entropy(x, t, epsilon=epsilon),
        (logits, labels), argnums=(0, 1),
    )


def test_hinge_matches_optax_off_the_hinge():
    x = np.concatenate([_rng(7).normal(size=12) * 2, [-3.0, 0.0, 0.5, 1.5, 3.0]])
    y = np.where(_rng(8).random(x.size) < 0.5, -1.0, 1.0)
    x = np.where(np.isclose(x * y, 1.0), x + 0.1, x).astype(np.float32)  # off the kink
    _against_optax(
        lambda a, b: jaxloss.hinge_loss(a, b, reduction="none"), optax.hinge_loss,
        (x, y.astype(np.float32)), argnums=(0, 1),
    )


def test_hinge_and_squared_hinge_at_the_hinge():
    # optax's jnp.maximum splits the gradient of a tie (-y / 2); jaxloss documents 0 there.
    x, y = jnp.array([1.0, -1.0, 0.5]), jnp.array([1.0, -1.0, 2.0])
    _close(jaxloss.hinge_loss(x, y, reduction="none"), optax.hinge_loss(x, y))
    for loss in (jaxloss.hinge_loss, jaxloss.squared_hinge_loss):
        _close(jax.grad(lambda v, f=loss: f(v, y, reduction="sum"))(x), [0.0, 0.0, 0.0])


def test_hinge_accepts_integer_labels():
    x = jnp.array([0.25, 2.0, 0.5])
    _close(jaxloss.hinge_loss(x, jnp.array([1, 1, -1])), (0.75 + 0 + 1.5) / 3)


def test_multiclass_hinge_matches_optax_including_ties():
    rng = _rng(9)
    scores = rng.normal(size=(8, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=8)
    scores[0] = [1.0, 3.0, 3.0, 0.0, -1.0]  # two other classes tie for the maximum
    labels[0] = 0
    scores[1] = [2.0, 1.0, 1.0, 1.0, 0.0]  # the target wins by exactly the margin: a tie
    labels[1] = 0
    scores[2] = [5.0, 1.0, 1.0, 1.0, 0.0]  # the target wins clearly: loss 0, gradient 0
    labels[2] = 0
    _against_optax(
        lambda s: jaxloss.multiclass_hinge_loss(s, labels, reduction="none"),
        lambda s: optax.losses.multiclass_hinge_loss(s, labels), (scores,),
    )


def test_sparsemax_matches_optax_at_and_between_its_knots():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 1e-3, -1e-3], np.float32)
    x = np.concatenate([x, x])
    y = np.repeat([0, 1], x.size // 2)
    _against_optax(
        lambda a: jaxloss.sparsemax_loss(a, y, reduction="none"),
        lambda a: optax.losses.sparsemax_loss(a, y), (x,),
    )


def test_sparsemax_is_zero_exactly_where_the_sparse_sigmoid_is_the_label():
    x = jnp.array([1.0, 2.5, -1.0, -4.0, 0.9, -0.9])
    y = jnp.array([1, 1, 0, 0, 1, 0])
    loss = np.asarray(jaxloss.sparsemax_loss(x, y, reduction="none"))
    exact = np.asarray(jax.nn.sparse_sigmoid(x)) == np.asarray(y)
    np.testing.assert_array_equal(loss == 0, exact)


# --- Barron, A General and Adaptive Robust Loss Function, CVPR 2019 (arXiv:1701.03077v10) --------
# Eq. 1: rho = |a-2|/a (((x/c)^2/|a-2| + 1)^(a/2) - 1); its limits: Eq. 2 (a -> 2, L2), Eq. 5
# (a -> 0, Cauchy), Eq. 7 (a -> -inf, Welsch); special cases Eq. 3 (a = 1, Charbonnier) and
# Eq. 6 (a = -2, Geman-McClure); Eq. 9 its derivative in x. The a -> +inf limit, exp(z/2) - 1,
# follows from Eq. 1 the same way.


def _barron_eq1(x, alpha, c):
    """Eq. 1, with (z / b + 1)^(a / 2) - 1 written expm1(a / 2 log1p(z / b)): the same number,
    without the cancellation that would swamp finite differences in alpha near 0."""
    z = np.square(np.asarray(x, np.float64) / c)
    b = abs(alpha - 2)
    return b / alpha * np.expm1(alpha / 2 * np.log1p(z / b))


def _barron_limits(x, alpha, c):
    z = np.square(np.asarray(x, np.float64) / c)
    return {
        2.0: 0.5 * z,  # Eq. 2
        0.0: np.log(0.5 * z + 1),  # Eq. 5
        -np.inf: 1 - np.exp(-0.5 * z),  # Eq. 7
        np.inf: np.exp(0.5 * z) - 1,
    }[alpha]


def _barron_eq9(x, alpha, c):
    """Eq. 9: d rho / d x."""
    x = np.asarray(x, np.float64)
    z = np.square(x / c)
    if alpha == 2:
        return x / c**2
    if alpha == 0:
        return 2 * x / (x**2 + 2 * c**2)
    if alpha == -np.inf:
        return x / c**2 * np.exp(-0.5 * z)
    return x / c**2 * np.power(z / abs(alpha - 2) + 1, alpha / 2 - 1)


_RESIDUALS = np.array([0.0, 1e-3, -0.3, 0.7, -1.5, 2.0, 4.0, -9.0], np.float32)


def _robust(x, alpha, scale, reduction="none"):
    return jaxloss.general_robust_loss(x, jnp.zeros_like(x), alpha=alpha, scale=scale,
                                       reduction=reduction)


@pytest.mark.parametrize("alpha", [-7.0, -2.0, -0.5, 0.25, 1.0, 1.5, 3.0, 6.0])
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_general_robust_loss_is_eq1_with_eq9_derivative(alpha, scale):
    target = _rng(10).normal(size=_RESIDUALS.shape).astype(np.float32)
    x = target + _RESIDUALS
    loss = lambda v: jaxloss.general_robust_loss(  # noqa: E731
        v, target, alpha=alpha, scale=scale, reduction="none")
    residual = x.astype(np.float64) - target
    _close(loss(x), _barron_eq1(residual, alpha, scale), rtol=2e-5)
    _close(jax.grad(lambda v: jnp.sum(loss(v)))(x), _barron_eq9(residual, alpha, scale),
           rtol=2e-5)


def test_general_robust_loss_special_cases_eq3_and_eq6():
    x, c = _RESIDUALS.astype(np.float64), 1.7
    _close(_robust(_RESIDUALS, 1.0, c), np.sqrt((x / c) ** 2 + 1) - 1)  # Eq. 3
    _close(_robust(_RESIDUALS, -2.0, c), 2 * (x / c) ** 2 / ((x / c) ** 2 + 4))  # Eq. 6


@pytest.mark.parametrize("alpha", [2.0, 0.0, -np.inf, np.inf])
def test_general_robust_loss_limits_eq2_eq5_eq7_with_eq9_derivative(alpha):
    x, c = _RESIDUALS, 1.3
    _close(_robust(x, alpha, c), _barron_limits(x, alpha, c), rtol=2e-5)
    if alpha != np.inf:
        grad = jax.grad(lambda v: _robust(v, alpha, c, "sum"))(x)
        _close(grad, _barron_eq9(x, alpha, c), rtol=2e-5)


@pytest.mark.parametrize("limit, near", [
    (0.0, [1e-6, -1e-6, 1e-4]),
    (2.0, [2 - 1e-6, 2 + 1e-6, 2 - 1e-4]),
    (-np.inf, [-1e7, -1e12, -1e30]),
    (np.inf, [1e7, 1e12]),
])
def test_general_robust_loss_is_continuous_across_its_limits(limit, near):
    # Residuals where the +inf limit is still finite in float32.
    x = _RESIDUALS[np.abs(_RESIDUALS) < 5]
    at = _robust(x, limit, 1.3)
    grad_at = jax.grad(lambda v: _robust(v, limit, 1.3, "sum"))(x)
    for alpha in near:
        _close(_robust(x, alpha, 1.3), at, rtol=1e-3, atol=1e-6)
        _close(jax.grad(lambda v, a=alpha: _robust(v, a, 1.3, "sum"))(x), grad_at,
               rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1e-7, -1e-7, 2.0, 2 - 1e-7, 2 + 1e-7, -np.inf, np.inf,
                                   -1e30, 1e30, -1e4])
def test_general_robust_loss_gradients_are_finite_at_and_near_the_limits(alpha):
    x = jnp.asarray(_RESIDUALS[np.abs(_RESIDUALS) < 5])
    if alpha <= 0:  # bounded (alpha = 0: logarithmic) for every finite residual
        x = jnp.concatenate([x, jnp.array([1e4, -1e15, 1e30])])
    value, grads = jax.value_and_grad(_robust, argnums=(0, 1, 2))(
        x, jnp.float32(alpha), jnp.float32(1.3), "sum")
    _finite(value, *grads)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_general_robust_loss_is_finite_for_every_finite_residual_when_alpha_is_not_positive(
        scale):
    # alpha < 0: rho < |a - 2| / |a| (1 for a = -inf); alpha = 0 grows like 2 log|x/c|. Found
    # a bug: the value was NaN once x / c overflowed (scale < 1), and the gradient NaN for
    # |x / c| > 9e37 (2 x / c overflowed in an unused branch: 0 * inf in the backward pass).
    x = jnp.array([3e38, -3e38, 1e20, -1e-30, 0.0], jnp.float32)
    for alpha, bound in ((-2.0, 2.0), (-0.5, 5.0), (-np.inf, 1.0), (0.0, None)):
        value, grads = jax.vmap(jax.value_and_grad(_robust, argnums=(0, 1, 2)),
                                in_axes=(0, None, None))(x, alpha, scale)
        _finite(value, *grads)
        if bound is not None:
            assert np.all(np.asarray(value) <= bound * (1 + 1e-6))
    _close(_robust(x[:3], 0.0, scale),
           2 * np.log(np.abs(np.float64(x[:3])) / scale) - np.log(2), rtol=1e-5)


def test_general_robust_loss_is_zero_at_zero_residual_for_alpha_within_1e_15_of_2(x64):
    # Found a bug: with |alpha - 2| < 1e-13 (float64 only) a zero residual took the log-space
    # path for huge ratios, and the loss was 0.5 instead of 0.
    x = jnp.array([0.0, 1e-9, 1.0])
    for alpha in (2 - 1e-15, 2 + 1e-15, 2 - 1e-13):
        _close(_robust(x, alpha, 1.0), [0.0, 5e-19, 0.5], rtol=1e-9, atol=0)
    _close(_robust(x, 1.0, 1e-20), [0.0, np.sqrt(1e22 + 1) - 1, 1e20], rtol=1e-9, atol=0)


def _barron_fd(x, alpha, c, wrt, h):
    """Central finite differences of Eq. 1 (float64) in `alpha` or `c`; Eq. 1 is undefined at
    alpha = 0 and 2 only, so a difference straddling them still gives the derivative there."""
    if wrt == "alpha":
        return (_barron_eq1(x, alpha + h, c) - _barron_eq1(x, alpha - h, c)) / (2 * h)
    rho = _barron_limits if alpha == 0 else _barron_eq1  # Eq. 5 at alpha = 0
    return (rho(x, alpha, c + h) - rho(x, alpha, c - h)) / (2 * h)


@pytest.mark.parametrize("alpha", [-4.0, -1e-3, 0.0, 1e-3, 0.7, 1.9, 2.1, 5.0])
def test_general_robust_loss_gradients_in_alpha_and_scale_match_eq1(alpha, x64):
    x, c = np.array([0.1, -0.8, 1.5, 4.0, -12.0]), 1.1
    jac = jax.jacrev(_robust, argnums=(1, 2))(jnp.asarray(x), alpha, c)
    _close(jac[0], _barron_fd(x, alpha, c, "alpha", 1e-5), rtol=1e-6, atol=1e-9)
    _close(jac[1], _barron_fd(x, alpha, c, "scale", 1e-6), rtol=1e-6, atol=1e-9)


def test_general_robust_loss_learns_one_alpha_and_scale_per_column():
    x = _rng(11).normal(size=(6, 3)).astype(np.float32) * 2
    alpha, scale = np.array([-2.0, 0.0, 1.0]), np.array([0.5, 1.0, 2.0])
    got = jaxloss.general_robust_loss(x, np.zeros_like(x), alpha=alpha, scale=scale,
                                      reduction="none")
    want = np.stack([
        _barron_eq1(x[:, 0], -2.0, 0.5), _barron_limits(x[:, 1], 0.0, 1.0),
        _barron_eq1(x[:, 2], 1.0, 2.0),
    ], axis=1)
    _close(got, want, rtol=2e-5)


# --- quantile (pinball) loss: Koenker & Bassett, Regression Quantiles, 1978 ----------------------


@pytest.mark.parametrize("tau", [0.05, 0.5, 0.9])
def test_quantile_loss_is_koenker_bassetts_check_function(tau):
    # Their objective (Sec. 1): theta |u| where y >= x b, (1 - theta) |u| where y < x b.
    rng = _rng(12)
    x, y = rng.normal(size=(2, 20)).astype(np.float32)
    u = y.astype(np.float64) - x
    want = np.where(u >= 0, tau * np.abs(u), (1 - tau) * np.abs(u))
    _close(jaxloss.quantile_loss(x, y, quantile=tau, reduction="none"), want)
    _close(jaxloss.quantile_loss(x, y, quantile=tau), want.mean())
    grad = jax.grad(lambda v: jaxloss.quantile_loss(v, y, quantile=tau, reduction="sum"))(x)
    _close(grad, np.where(u >= 0, -tau, 1 - tau))


def test_quantile_loss_per_column_and_its_gradient_at_zero_error():
    x = jnp.array([[1.0, 1.0, 1.0], [0.0, 2.0, 5.0]])
    y = jnp.array([[1.0, 3.0, 0.0], [1.0, 2.0, 4.0]])
    tau = jnp.array([0.1, 0.5, 0.9])
    want = [[0.0, 0.5 * 2, 0.1 * 1], [0.1 * 1, 0.0, 0.1 * 1]]
    _close(jaxloss.quantile_loss(x, y, quantile=tau, reduction="none"), want)
    grad = jax.grad(lambda v: jaxloss.quantile_loss(v, y, quantile=tau, reduction="sum"))(x)
    # At u = 0 the documented subgradient is that of the tau * u side: -tau.
    _close(grad, [[-0.1, -0.5, 0.1], [-0.1, -0.5, 0.1]])


def test_quantile_loss_minimiser_is_the_sample_quantile():
    y = jnp.asarray(_rng(13).normal(size=999).astype(np.float32))
    grid = jnp.linspace(-3, 3, 1201)
    for tau in (0.1, 0.5, 0.8):
        risks = jax.vmap(lambda c, t=tau: jaxloss.quantile_loss(
            jnp.full_like(y, c), y, quantile=t))(grid)
        best = float(grid[jnp.argmin(risks)])
        assert abs(best - float(np.quantile(np.asarray(y), tau))) < 0.02


# --- focal losses: Lin et al, Focal Loss for Dense Object Detection, 2017 ------------------------


def _softmax_focal_eq5(logits, labels, gamma, weight):
    """Eq. 5, FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t), with p_t the softmax probability of
    the target class and alpha_t its class weight; the weighted mean of cross_entropy."""
    z = logits.astype(np.float64)
    log_p = z - z.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    rows = np.arange(len(labels))
    p_t = np.exp(log_p[rows, labels])
    alpha_t = weight[labels]
    return -alpha_t * (1 - p_t) ** gamma * log_p[rows, labels], alpha_t


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_softmax_focal_is_eq5_with_class_weights_as_alpha(gamma):
    rng = _rng(14)
    logits = (2 * rng.normal(size=(9, 4))).astype(np.float32)
    labels = rng.integers(0, 4, size=9)
    weight = np.array([0.25, 1.0, 2.0, 0.75])
    per_entry, alpha_t = _softmax_focal_eq5(logits, labels, gamma, weight)
    got = jaxloss.softmax_focal_loss(logits, labels, gamma=gamma, weight=weight,
                                     reduction="none")
    _close(got, per_entry)
    _close(jaxloss.softmax_focal_loss(logits, labels, gamma=gamma, weight=weight),
           per_entry.sum() / alpha_t.sum())
    unweighted, _ = _softmax_focal_eq5(logits, labels, gamma, np.ones(4))
    _close(jaxloss.softmax_focal_loss(logits, labels, gamma=gamma), unweighted.mean())


def test_softmax_focal_ignores_ignore_index_in_value_and_denominator():
    rng = _rng(15)
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, -100, 2, 1, -100, 2])
    kept = labels != -100
    weight = np.array([2.0, 1.0, 0.5])
    per_entry, alpha_t = _softmax_focal_eq5(logits[kept], labels[kept], 1.5, weight)
    _close(jaxloss.softmax_focal_loss(logits, labels, gamma=1.5, weight=weight),
           per_entry.sum() / alpha_t.sum())


def test_softmax_focal_at_gamma_zero_is_cross_entropy():
    rng = _rng(16)
    logits, labels = rng.normal(size=(7, 5)).astype(np.float32), rng.integers(0, 5, size=7)
    _against_optax(
        lambda x: jaxloss.softmax_focal_loss(x, labels, gamma=0.0, reduction="none"),
        lambda x: optax.softmax_cross_entropy_with_integer_labels(x, labels), (logits,),
    )


def _sigmoid_focal_grad_appendix(x, y, alpha, gamma):
    """d FL / dx for hard labels (Lin et al, Appendix B, with y in {0, 1} rather than +-1):
    alpha_t (1 - p_t)^gamma (gamma p_t log p_t + p_t - 1), signed by the label, in log space
    so that 1 - p_t is exact for saturated logits."""
    x = np.asarray(x, np.float64)
    sign = np.where(y == 1, 1.0, -1.0)
    log_pt, log_miss = _log_sigmoid(sign * x), _log_sigmoid(-sign * x)
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    p_t, miss = np.exp(log_pt), np.exp(log_miss)
    return sign * alpha_t * np.exp(gamma * log_miss) * (gamma * p_t * log_pt - miss)


# Logits where p_t is exactly 0 or 1 in float32 (|x| >= 17), and one where it is nearly so.
_SATURATED = np.array([100.0, -100.0, 100.0, -100.0, 30.0, -30.0, 17.0, -17.0, 8.0],
                      np.float32)
_SATURATED_LABELS = np.array([1, 0, 0, 1, 1, 0, 0, 1, 1])


@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5, 0.9, 1.0, 2.0])
def test_sigmoid_focal_gradient_is_finite_and_right_at_saturated_probabilities(gamma):
    # torchvision's and optax's gradients are NaN here for 0 < gamma < 1.
    y = _SATURATED_LABELS.astype(np.float32)
    loss = lambda x: jaxloss.sigmoid_focal_loss(x, y, alpha=0.25, gamma=gamma,  # noqa: E731
                                                reduction="sum")
    grads = jax.grad(loss, argnums=0)(_SATURATED)
    _finite(loss(_SATURATED), grads)
    want = _sigmoid_focal_grad_appendix(_SATURATED, _SATURATED_LABELS, 0.25, gamma)
    _close(grads, want, rtol=1e-5, atol=1e-30)
    # The target and gamma gradients are finite too (the target one is exactly what the
    # log-space JVP must get right: d/dy involves log(p) - log(1 - p)).
    _finite(*jax.grad(
        lambda x, t, g: jaxloss.sigmoid_focal_loss(x, t, gamma=g, reduction="sum"),
        argnums=(1, 2))(_SATURATED, y, jnp.float32(gamma)))


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9])
def test_softmax_focal_gradient_is_finite_at_saturated_probabilities(gamma):
    logits = np.array([[100.0, -100.0, 0.0], [-100.0, 100.0, 0.0], [30.0, 0.0, -5.0],
                       [0.0, 0.0, 0.0]], np.float32)
    labels = np.array([0, 0, 0, 1])
    loss = lambda x, g: jaxloss.softmax_focal_loss(x, labels, gamma=g,  # noqa: E731
                                                   reduction="none")
    value = loss(logits, gamma)
    grads = jax.jacrev(lambda x, g: jnp.sum(loss(x, g)), argnums=(0, 1))(logits, gamma)
    _finite(value, *grads)
    # Eq. 5 differentiated by hand: with r = 1 - p_t (exact, from the other classes' logits)
    # dFL/dx_c = (1[c = t] - p_c) (gamma r^(gamma - 1) p_t log p_t - r^gamma).
    z = logits.astype(np.float64)
    lse = np.logaddexp.reduce(z, axis=-1)
    p = np.exp(z - lse[:, None])
    rows = np.arange(4)
    others = np.where(np.eye(3, dtype=bool)[labels], -np.inf, z)
    log_r = np.logaddexp.reduce(others, axis=-1) - lse
    log_pt = z[rows, labels] - lse
    factor = (gamma * np.exp((gamma - 1) * log_r + log_pt) * log_pt - np.exp(gamma * log_r))
    want = (np.eye(3)[labels] - p) * factor[:, None]
    # Absolute tolerances: where p_t rounds to 1 in float32 (third row, r = 1e-13), log p_t =
    # lse - x_t rounds to 0, like cross_entropy's, and the gradient there is ~1e-15.
    _close(grads[0], want, rtol=1e-5, atol=1e-7)
    _close(value, -np.exp(gamma * log_r) * log_pt, rtol=1e-5, atol=1e-7)


def test_softmax_focal_derivatives_in_gamma_and_second_order(x64):
    rng = _rng(17)
    logits = jnp.asarray(2 * rng.normal(size=(6, 4)))
    labels = rng.integers(0, 4, size=6)
    weight = jnp.array([0.5, 1.0, 2.0, 1.5])

    def loss(x, gamma):
        return jaxloss.softmax_focal_loss(x, labels, gamma=gamma, weight=weight)

    check_grads(loss, (logits, jnp.float64(1.5)), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_softmax_focal_hessian_at_saturated_rows_agrees_with_float64(gamma):
    # In float32 the first row's -log p_y rounds to 0 (it is e^-200); the Hessian must stay
    # finite there and agree with float64's, which resolves it.
    logits = np.array([[100.0, -100.0, -100.0], [0.5, -1.0, 2.0], [3.0, 0.0, -2.0]])
    labels = np.array([0, 2, 1])

    def hessian(dtype):
        loss = lambda x: jaxloss.softmax_focal_loss(x, labels, gamma=gamma)  # noqa: E731
        return jax.hessian(loss)(jnp.asarray(logits, dtype))

    with jax.enable_x64(True):
        wide = np.asarray(hessian(jnp.float64))
    narrow = hessian(jnp.float32)
    _finite(narrow)
    _close(narrow, wide, rtol=1e-4, atol=1e-6)


def test_softmax_focal_dropped_rows_reach_no_derivative_of_gamma():
    # A dropped row's logits are NaN; gamma's derivative must be that of the kept rows alone.
    rng = _rng(18)
    logits = (2 * rng.normal(size=(5, 3))).astype(np.float32)
    labels = np.array([0, 2, 1, 1, 0])
    keep = np.array([True, False, True, True, False])
    dirty = np.where(keep[:, None], logits, np.nan)

    def grads(x, y, where):
        return jax.grad(
            lambda x, g: jaxloss.softmax_focal_loss(x, y, gamma=g, where=where), argnums=(0, 1)
        )(jnp.asarray(x), jnp.float32(1.5))

    masked, alone = grads(dirty, labels, keep), grads(logits[keep], labels[keep], None)
    _close(masked[1], alone[1], rtol=1e-6)
    _close(masked[0][keep], alone[0], rtol=1e-6)
    assert not np.any(np.asarray(masked[0])[~keep])


def test_sigmoid_focal_alpha_minus_one_and_none_disable_the_weighting():
    x = jnp.asarray(_FOCAL_LOGITS[:8])
    y = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    unweighted = jaxloss.sigmoid_focal_loss(x, y, alpha=None, gamma=2.0, reduction="none")
    _close(jaxloss.sigmoid_focal_loss(x, y, alpha=-1.0, gamma=2.0, reduction="none"),
           unweighted)
    # gamma = 0, no alpha: binary cross-entropy with logits.
    _close(jaxloss.sigmoid_focal_loss(x, y, alpha=None, gamma=0.0, reduction="none"),
           optax.sigmoid_binary_cross_entropy(x, y))


# --- Jensen-Shannon divergence: Lin, Divergence Measures Based on the Shannon Entropy, 1991 ------


def _entropy(p):
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def _js_entropy_form(p, q):
    """JS with weights (1/2, 1/2) as Lin defines it: H((P + Q) / 2) - (H(P) + H(Q)) / 2."""
    return _entropy(0.5 * (p + q)) - 0.5 * (_entropy(p) + _entropy(q))


def test_js_divergence_is_lins_entropy_form_with_its_gradient():
    rng = _rng(17)
    p = rng.dirichlet(np.ones(5), size=6)
    q = rng.dirichlet(np.full(5, 0.5), size=6)
    p[0], q[0] = [0.5, 0.5, 0, 0, 0], [0, 0, 0.25, 0.75, 0]  # disjoint supports: log 2
    p[1], q[1] = [0.2, 0.8, 0, 0, 0], [0.2, 0.8, 0, 0, 0]  # equal: 0
    p[2], q[2] = [0.1, 0.0, 0.9, 0, 0], [0.3, 0.3, 0.0, 0.4, 0]  # zeros on both sides
    with np.errstate(divide="ignore"):
        log_p, log_q = np.log(p).astype(np.float32), np.log(q).astype(np.float32)
    want = _js_entropy_form(p, q)
    _close(want[:2], [np.log(2), 0.0], atol=1e-12)
    _close(jaxloss.js_divergence(log_p, log_q, reduction="none"), want)
    _close(jaxloss.js_divergence(log_q, log_p, reduction="none"), want)
    # d JS / d log p_c = p_c * (1/2) log(p_c / m_c), 0 where p_c = 0: finite at -inf inputs.
    grad_p, grad_q = jax.grad(
        lambda a, b: jaxloss.js_divergence(a, b, reduction="sum"), argnums=(0, 1)
    )(log_p, log_q)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        want_p = np.where(p > 0, 0.5 * p * np.log(p / m), 0.0)
        want_q = np.where(q > 0, 0.5 * q * np.log(q / m), 0.0)
    _close(grad_p, want_p)
    _close(grad_q, want_q)


# --- squared hinge (L2-SVM) ----------------------------------------------------------------------


def test_squared_hinge_value_and_gradient():
    rng = _rng(18)
    x = (2 * rng.normal(size=16)).astype(np.float32)
    y = np.where(rng.random(16) < 0.5, -1.0, 1.0).astype(np.float32)
    slack = np.maximum(0.0, 1 - y.astype(np.float64) * x)
    _close(jaxloss.squared_hinge_loss(x, y, reduction="none"), slack**2)
    _close(jax.grad(lambda v: jaxloss.squared_hinge_loss(v, y, reduction="sum"))(x),
           -2 * y * slack)


# --- z-loss: Chowdhery et al, PaLM, 2022, Sec. 5 ("z_loss = 1e-4 * log^2 Z") ---------------------


def _log_softmax_np(z):
    z = z.astype(np.float64)
    lse = np.logaddexp.reduce(z, axis=-1)
    return z - lse[..., None], lse


@pytest.mark.parametrize("coefficient", [1e-4, 0.3])
def test_z_loss_is_palms_auxiliary_term_with_its_gradient(coefficient):
    rng = _rng(19)
    logits = (3 * rng.normal(size=(7, 6)) + 4).astype(np.float32)  # log Z well away from 0
    labels = rng.integers(0, 6, size=7)
    log_p, log_z = _log_softmax_np(logits)
    rows = np.arange(7)
    per_entry = -log_p[rows, labels] + coefficient * log_z**2
    got = jaxloss.cross_entropy(logits, labels, z_loss=coefficient, reduction="none")
    _close(got, per_entry)
    # d/dx (coefficient log^2 Z) = 2 coefficient log Z softmax(x)
    p = np.exp(log_p)
    want = (p - np.eye(6)[labels] + 2 * coefficient * log_z[:, None] * p) / 7
    _close(jax.grad(lambda x: jaxloss.cross_entropy(x, labels, z_loss=coefficient))(logits),
           want)


def test_z_loss_with_class_weights_ignored_labels_and_probability_targets():
    rng = _rng(20)
    logits = (2 * rng.normal(size=(6, 4)) + 1).astype(np.float32)
    labels = np.array([0, 3, -100, 1, 2, -100])
    weight = np.array([0.5, 2.0, 1.0, 3.0])
    log_p, log_z = _log_softmax_np(logits)
    kept = labels != -100
    rows, cls = np.arange(6)[kept], labels[kept]
    # Weighted like the rest of each example (docstring): w_y (-log p_y + lambda log^2 Z).
    per_entry = weight[cls] * (-log_p[rows, cls] + 0.01 * log_z[rows] ** 2)
    _close(jaxloss.cross_entropy(logits, labels, weight=weight, z_loss=0.01),
           per_entry.sum() / weight[cls].sum())
    targets = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    per_row = -(targets * log_p).sum(-1) + 0.01 * log_z**2
    _close(jaxloss.cross_entropy(logits, targets, z_loss=0.01), per_row.mean())


# --- error messages of the new options -----------------------------------------------------------


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.5, 1.5, np.array([0.5, 1.0])])
def test_quantile_outside_the_open_unit_interval_is_refused(quantile):
    with pytest.raises(ValueError, match=r"^quantile_loss: `quantile` must be in \(0, 1\), got"):
        jaxloss.quantile_loss(jnp.zeros(2), jnp.zeros(2), quantile=quantile)


def test_quantile_of_a_shape_that_does_not_broadcast_is_refused():
    with pytest.raises(ValueError, match=r"^quantile_loss: `quantile` has shape \(3,\)"):
        jaxloss.quantile_loss(jnp.zeros((4, 2)), jnp.zeros((4, 2)), quantile=jnp.ones(3) / 2)


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_robust_loss_scale_must_be_positive(scale):
    with pytest.raises(ValueError, match=r"^general_robust_loss: `scale` must be positive, got"):
        jaxloss.general_robust_loss(jnp.zeros(2), jnp.zeros(2), scale=scale)


@pytest.mark.parametrize("fn, args", [
    (jaxloss.sigmoid_focal_loss, (jnp.zeros(3), jnp.zeros(3))),
    (jaxloss.softmax_focal_loss, (jnp.zeros((3, 2)), jnp.zeros(3, jnp.int32))),
])
def test_negative_gamma_is_refused(fn, args):
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: `gamma` must be non-negative, got"):
        fn(*args, gamma=-0.5)


def test_focal_alpha_above_one_is_refused():
    with pytest.raises(ValueError, match=r"^sigmoid_focal_loss: `alpha` must be at most 1"):
        jaxloss.sigmoid_focal_loss(jnp.zeros(3), jnp.zeros(3), alpha=1.5)


def test_z_loss_must_not_be_negative():
    with pytest.raises(ValueError, match=r"^cross_entropy: `z_loss` must be non-negative, got"):
        jaxloss.cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), z_loss=-1e-4)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"^js_divergence: `input` has shape \(2, 3\) but "
                                         r"`target` has shape \(2, 4\)"):
        jaxloss.js_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"^hinge_loss: `input` has shape \(3,\) but `target`"):
        jaxloss.hinge_loss(jnp.zeros(3), jnp.ones(4))
    with pytest.raises(TypeError, match=r"^multiclass_hinge_loss: `target` holds class indices"):
        jaxloss.multiclass_hinge_loss(jnp.zeros((3, 2)), jnp.zeros(3))

