"""Classification losses: hand-checked values, PyTorch's option semantics, edge cases and errors.
(Every loss is also run through tests/test_catalog.py and tests/test_golden.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_uniform_logits_cost_log_c():
    logits = jnp.zeros((3, 7))
    assert float(jaxloss.cross_entropy(logits, jnp.array([0, 3, 6]))) == pytest.approx(
        math.log(7), rel=1e-6)


def test_cross_entropy_smoothing_weight_ignore_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.integers(0, 5, 8)
    y[[1, 4]] = -100
    w = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    eps = 0.2
    logp = _log_softmax(x)
    kept = y != -100
    nll = -w[y[kept]] * logp[kept, y[kept]]
    smooth = -(logp[kept] * w).sum(-1) / 5
    per_entry = (1 - eps) * nll + eps * smooth
    expected = per_entry.sum() / w[y[kept]].sum()  # both terms over sum of w[y] (PyTorch)
    got = jaxloss.cross_entropy(x, y, weight=w, label_smoothing=eps)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    none = jaxloss.cross_entropy(x, y, weight=w, label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(np.asarray(none)[kept], per_entry, rtol=1e-6)
    assert not np.any(np.asarray(none)[~kept])


def test_probability_targets_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 6)).astype(np.float32)
    t = rng.dirichlet(np.ones(6), size=(4, 3)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, 6).astype(np.float32)
    eps = 0.1
    smoothed = t * (1 - eps) + eps / 6
    expected = -(w * smoothed * _log_softmax(x)).sum(-1).mean()  # mean over positions, not w
    got = jaxloss.cross_entropy(x, t, weight=w, label_smoothing=eps)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_integer_and_one_hot_targets_agree():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 4, 6))
    onehot = jax.nn.one_hot(y, 4)
    for eps in (0.0, 0.3):
        a = jax.value_and_grad(jaxloss.cross_entropy)(x, y, label_smoothing=eps)
        b = jax.value_and_grad(jaxloss.cross_entropy)(x, onehot, label_smoothing=eps)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-7)


def test_all_ignored_is_zero_not_nan():
    x = jnp.ones((3, 4))
    y = jnp.full(3, -100)
    value, grad = jax.value_and_grad(jaxloss.cross_entropy)(x, y, label_smoothing=0.1)
    assert float(value) == 0.0  # PyTorch: nan
    assert not np.any(grad)
    assert float(jaxloss.nll_loss(x, y)) == 0.0


def test_neg_inf_logit_on_other_class_is_finite():
    x = jnp.array([[1.0, -jnp.inf, 2.0]])
    value, grad = jax.value_and_grad(jaxloss.cross_entropy)(x, jnp.array([0]))
    expected = -_log_softmax([1.0, -np.inf, 2.0])[0]
    assert float(value) == pytest.approx(expected, rel=1e-6)
    assert np.all(np.isfinite(grad)) and grad[0, 1] == 0.0
    # The same zero-mass class with a probability target adds exactly 0.
    probs = jnp.array([[0.5, 0.0, 0.5]])
    value, grad = jax.value_and_grad(jaxloss.cross_entropy)(x, probs)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # Smoothing puts mass on that class: the loss is honestly infinite.
    assert np.isinf(jaxloss.cross_entropy(x, jnp.array([0]), label_smoothing=0.1))


def test_extreme_logits_are_finite():
    x = jnp.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    value, grad = jax.value_and_grad(jaxloss.cross_entropy)(x, jnp.array([0, 0]),
                                                            label_smoothing=0.1)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert float(jaxloss.cross_entropy(x[:1], jnp.array([0]))) == 0.0


@pytest.mark.parametrize("label", [5, -1, -99])
def test_out_of_range_label_is_nan_not_another_class(label):
    x = jnp.zeros((2, 5))
    y = jnp.array([0, label])
    assert np.isnan(jaxloss.cross_entropy(x, y))
    assert np.isnan(jaxloss.nll_loss(x, y))
    none = jaxloss.cross_entropy(x, y, reduction="none")
    assert np.isfinite(none[0]) and np.isnan(none[1])


def test_custom_ignore_index():
    x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 3)), jnp.float32)
    y = jnp.array([0, 2, 2, 1])
    kept = jnp.array([True, False, False, True])
    np.testing.assert_allclose(jaxloss.cross_entropy(x, y, ignore_index=2),
                               jaxloss.cross_entropy(x[kept], y[kept]), rtol=1e-6)


def _linear_logits_loss(implementation):
    # linear_cross_entropy of hidden states that the weight maps onto the given logits: h = x,
    # W = I (4 classes, 4 features).
    def loss(x, y, **options):
        return jaxloss.linear_cross_entropy(x, jnp.eye(x.shape[-1]), y,
                                            implementation=implementation, **options)
    return loss


@pytest.mark.parametrize("loss", [
    jaxloss.cross_entropy,
    lambda x, y, **o: jaxloss.nll_loss(jax.nn.log_softmax(x), y, **o),
    jaxloss.softmax_focal_loss,
    _linear_logits_loss("reference"),
    _linear_logits_loss("blocked"),
], ids=["cross_entropy", "nll_loss", "softmax_focal_loss", "linear_reference", "linear_blocked"])
def test_ignore_index_none_ignores_no_label(loss):
    x = jnp.asarray(np.random.default_rng(4).normal(size=(6, 4)), jnp.float32)
    y = jnp.array([0, 3, 2, 1, 1, 0])
    value, grad = jax.value_and_grad(lambda x: loss(x, y, ignore_index=None))(x)
    expected, expected_grad = jax.value_and_grad(lambda x: loss(x, y))(x)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7)
    # -100 is then a label like any other outside the classes (NaN), and `where` still drops.
    padded = y.at[2].set(-100)
    assert np.isnan(loss(x, padded, ignore_index=None))
    kept = jnp.arange(6) != 2
    np.testing.assert_allclose(loss(x, padded, ignore_index=None, where=kept),
                               loss(x[kept], y[kept]), rtol=1e-6)


def test_uint8_labels_do_not_wrap_ignore_index():
    # -100 in uint8 arithmetic would be 156; a label of 156 must not count as ignored.
    x = jnp.zeros((2, 200))
    y = jnp.array([156, 3], jnp.uint8)
    assert float(jaxloss.cross_entropy(x, y)) == pytest.approx(math.log(200), rel=1e-6)


def test_nll_loss_weighted_mean():
    logp = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]))
    y = jnp.array([0, 1, 1])
    w = jnp.array([2.0, 1.0])
    expected = (2 * math.log(2) + math.log(4 / 3) + math.log(10)) / (2 + 1 + 1)
    assert float(jaxloss.nll_loss(logp, y, weight=w)) == pytest.approx(expected, rel=1e-6)


def test_binary_cross_entropy_at_zero_and_one():
    p = jnp.array([0.0, 1.0, 0.0, 1.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    value, grad = jax.value_and_grad(jaxloss.binary_cross_entropy)(p, y, reduction="sum")
    assert float(value) == 200.0  # log clamped at -100
    np.testing.assert_allclose(grad, [-1e12, 1e12, 0.0, 0.0], rtol=1e-6)  # torch's formula
    target_grad = jax.grad(jaxloss.binary_cross_entropy, argnums=1)(p, y, reduction="sum")
    assert np.all(np.isfinite(target_grad))


def test_binary_cross_entropy_matches_logits_version():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    y = jnp.asarray(rng.uniform(size=(5, 3)), jnp.float32)
    np.testing.assert_allclose(jaxloss.binary_cross_entropy(jax.nn.sigmoid(x), y),
                               jaxloss.binary_cross_entropy_with_logits(x, y), rtol=1e-5)


def test_pos_weight_scales_the_positive_term():
    x = jnp.array([[0.3, -1.2]])
    y = jnp.array([[1.0, 1.0]])
    pos = jnp.array([2.0, 5.0])
    expected = -(np.asarray(pos) * np.log(1 / (1 + np.exp(-np.asarray(x))))).mean()
    got = jaxloss.binary_cross_entropy_with_logits(x, y, pos_weight=pos)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_binary_cross_entropy_with_logits_extremes_finite():
    x = jnp.array([1e4, -1e4, 100.0, -100.0])
    y = jnp.array([0.0, 1.0, 1.0, 0.0])
    value, grad = jax.value_and_grad(jaxloss.binary_cross_entropy_with_logits)(
        x, y, reduction="sum")
    assert float(value) == pytest.approx(2e4, rel=1e-6)
    np.testing.assert_allclose(grad, [1.0, -1.0, 0.0, 0.0], atol=1e-30)


def test_kl_div_batchmean_and_log_target():
    q = jnp.array([[0.5, 0.5], [0.9, 0.1]])
    t = jnp.array([[0.25, 0.75], [0.0, 1.0]])
    per_row = [0.25 * math.log(0.5) + 0.75 * math.log(1.5), math.log(10)]
    batchmean = jaxloss.kl_div(jnp.log(q), t, reduction="batchmean")
    assert float(batchmean) == pytest.approx(sum(per_row) / 2, rel=1e-6)
    assert float(jaxloss.kl_div(jnp.log(q), t)) == pytest.approx(sum(per_row) / 4, rel=1e-6)
    # As in PyTorch, the leading axis is the batch even for one distribution, and a scalar
    # is its own sum.
    one = jaxloss.kl_div(jnp.log(q[0]), t[0], reduction="batchmean")
    assert float(one) == pytest.approx(per_row[0] / 2, rel=1e-6)
    scalar = jaxloss.kl_div(jnp.log(q[1, 1]), t[1, 1], reduction="batchmean")
    assert float(scalar) == pytest.approx(math.log(10), rel=1e-6)
    log_t = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    np.testing.assert_allclose(
        jaxloss.kl_div(jnp.log(q), log_t, log_target=True),
        jaxloss.kl_div(jnp.log(q), jnp.exp(log_t)), rtol=1e-6)


def test_kl_div_batchmean_counts_the_samples_that_where_keeps():
    # Dropping rows equals slicing them out; dropping entries keeps their row a sample; a batch
    # with no kept sample (or no sample at all) gives 0 with zero gradients, not NaN.
    x = jnp.log(jax.nn.softmax(jax.random.normal(jax.random.key(1), (5, 3, 4)), axis=-1))
    t = jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 3, 4)), axis=-1)
    rows = jnp.array([True, False, True, True, False])
    masked = jax.value_and_grad(jaxloss.kl_div, argnums=(0, 1))(
        x, t, reduction="batchmean", where=rows[:, None, None])
    sliced = jax.value_and_grad(jaxloss.kl_div, argnums=(0, 1))(
        x[rows], t[rows], reduction="batchmean")
    terms = t * (jnp.log(t) - x)
    assert float(masked[0]) == pytest.approx(float(jnp.sum(terms[rows])) / 3, rel=1e-6)
    np.testing.assert_allclose(masked[0], sliced[0], rtol=1e-6)
    for g_masked, g_sliced in zip(masked[1], sliced[1], strict=True):
        np.testing.assert_allclose(g_masked[rows], g_sliced, rtol=1e-6, atol=1e-8)
        assert not np.any(g_masked[~rows])
    # NaN, -inf and a negative probability in the dropped rows change nothing.
    poison = jnp.where(rows[:, None, None], 0.0, jnp.array([jnp.nan, -jnp.inf, -1.0, 0.0]))
    dirty = jax.value_and_grad(jaxloss.kl_div, argnums=(0, 1))(
        x + poison, t + poison[:, :, ::-1], reduction="batchmean", where=rows[:, None, None])
    for got, want in zip(jax.tree.leaves(dirty), jax.tree.leaves(masked), strict=True):
        np.testing.assert_array_equal(got, want)
    entries = jnp.zeros((5, 3, 4), bool).at[0, 1, 2].set(True).at[3, :, 0].set(True)
    value = jaxloss.kl_div(x, t, reduction="batchmean", where=entries)
    assert float(value) == pytest.approx(float(jnp.sum(terms[entries])) / 2, rel=1e-6)
    nothing = jax.value_and_grad(jaxloss.kl_div)(x, t, reduction="batchmean",
                                                 where=jnp.zeros(5, bool)[:, None, None])
    assert float(nothing[0]) == 0.0 and not np.any(nothing[1])
    empty = jax.value_and_grad(jaxloss.kl_div)(x[:0], t[:0], reduction="batchmean")
    assert float(empty[0]) == 0.0 and empty[1].shape == (0, 3, 4)


def test_kl_div_zero_target_has_finite_gradients():
    x = jnp.log(jnp.array([0.5, 0.5]))
    t = jnp.array([0.0, 1.0])
    grads = jax.grad(jaxloss.kl_div, argnums=(0, 1))(x, t)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_kl_div_target_derivatives():
    # d/dt (t log t - t x) = log t + 1 - x, with t log t's part 0 at t = 0 (not -inf), and
    # d2/dt2 = 1 / t (0 at t = 0), in both modes.
    x = jnp.log(jnp.array([0.5, 0.25, 0.25]))
    t = jnp.array([0.0, 0.5, 0.5])

    def loss(t):
        return jaxloss.kl_div(x, t, reduction="sum")

    expected = np.array([0.0, math.log(0.5) + 1, math.log(0.5) + 1]) - np.asarray(x)
    np.testing.assert_allclose(jax.grad(loss)(t), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(loss)(t), expected, rtol=1e-6)
    for hessian in (jax.hessian(loss)(t), jax.jacrev(jax.jacrev(loss))(t)):
        np.testing.assert_allclose(hessian, np.diag([0.0, 2.0, 2.0]), rtol=1e-6)


def test_label_shape_errors():
    x = jnp.zeros((4, 10))
    with pytest.raises(ValueError, match=r"^cross_entropy: `input` has shape \(4, 10\) but "
                                         r"`target` has shape \(4, 3\); class-index targets "
                                         r"must have shape input.shape\[:-1\] = \(4,\)"):
        jaxloss.cross_entropy(x, jnp.zeros((4, 3), jnp.int32))
    with pytest.raises(TypeError, match=r"^cross_entropy: `target` has the shape of `input` "
                                        r"\(4, 10\), so it must hold class probabilities"):
        jaxloss.cross_entropy(x, jnp.zeros((4, 10), jnp.int32))
    with pytest.raises(TypeError, match=r"^cross_entropy: `target` holds class indices and must "
                                        r"have an integer dtype, got float32; probability "
                                        r"targets must have `input`'s shape \(4, 10\)"):
        jaxloss.cross_entropy(x, jnp.zeros(4))
    with pytest.raises(ValueError, match=r"^nll_loss: `input` must have at least 1 dimension "
                                         r"\(the class axis is last\), got shape \(\)"):
        jaxloss.nll_loss(jnp.float32(0.0), jnp.int32(0))


def test_class_weight_shape_errors():
    x, y = jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32)
    with pytest.raises(ValueError, match=r"^cross_entropy: `weight` has shape \(4,\) but must "
                                         r"have shape \(3,\) \(one weight per class\)"):
        jaxloss.cross_entropy(x, y, weight=jnp.ones(4))
    with pytest.raises(ValueError, match=r"^binary_cross_entropy_with_logits: `pos_weight` has "
                                         r"shape \(4,\), which does not broadcast to `input`'s "
                                         r"shape \(4, 3\)"):
        jaxloss.binary_cross_entropy_with_logits(x, x, pos_weight=jnp.ones(4))


def test_binary_targets_must_be_floating():
    with pytest.raises(TypeError, match=r"^binary_cross_entropy: `target` must have a floating "
                                        r"dtype, got int32"):
        jaxloss.binary_cross_entropy(jnp.array([0.5]), jnp.array([1]))


def test_unbatched_input():
    x = jnp.array([2.0, 0.0, 0.0])
    expected = -_log_softmax(x)[0]
    assert float(jaxloss.cross_entropy(x, jnp.array(0))) == pytest.approx(expected, rel=1e-6)


def test_class_weights_are_constants_as_in_pytorch():
    x, y = jnp.arange(12.0).reshape(3, 4) / 10, jnp.array([0, 1, 2])
    for loss in (jaxloss.cross_entropy, jaxloss.nll_loss):
        grad = jax.grad(lambda w, loss=loss: loss(x, y, weight=w, reduction="sum"))(jnp.ones(4))
        assert not np.any(grad)


def test_weighted_smoothing_is_accurate_for_offset_logits():
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(16, 300)) * 3 + 1000).astype(np.float32)  # a large common offset
    y = rng.integers(0, 300, 16)
    w = rng.uniform(0.5, 2.0, 300).astype(np.float32)
    logp = _log_softmax(x)
    nll = -w[y] * logp[np.arange(16), y]
    smooth = -(logp * w).sum(-1) / 300
    expected = (0.8 * nll + 0.2 * smooth).sum() / w[y].sum()
    got = jaxloss.cross_entropy(x, y, weight=w, label_smoothing=0.2)
    assert float(got) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("offset", [1e3, 1e6])
def test_softmax_losses_are_accurate_for_logits_with_a_large_common_offset(offset):
    # -log p_y is log(sum exp(x - max)) + (max - x_y), as PyTorch's log-softmax: formed as
    # logsumexp(x) - x_y, the log-sum-exp was rounded at the offset's magnitude (1.4375 for
    # 1.4608 at 1e6 in float32). Every form below is shift-invariant, so the reference is
    # the loss of the logits without the offset, in float64.
    rng = np.random.default_rng(6)
    base = rng.normal(size=(16, 30))
    x = (base + offset).astype(np.float32)
    base = x.astype(np.float64) - offset  # what the float32 logits hold, less the offset
    y = rng.integers(0, 30, 16)
    logp = _log_softmax(base)
    nll = -logp[np.arange(16), y]
    p_y = np.exp(-nll)
    targets = rng.dirichlet(np.ones(30), 16).astype(np.float32)
    cases = {
        "cross_entropy": (jaxloss.cross_entropy(x, y, reduction="none"), nll),
        "smoothed": (jaxloss.cross_entropy(x, y, label_smoothing=0.2, reduction="none"),
                     0.8 * nll - 0.2 * logp.mean(-1)),
        "probabilities": (jaxloss.cross_entropy(x, targets, reduction="none"),
                          -(targets * logp).sum(-1)),
        "poly1": (jaxloss.poly1_cross_entropy(x, y, reduction="none"), nll + 2 * (1 - p_y)),
        "focal": (jaxloss.softmax_focal_loss(x, y, reduction="none"), (1 - p_y) ** 2 * nll),
    }
    for name, (got, expected) in cases.items():
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6, err_msg=name)
