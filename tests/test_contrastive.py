"""Contrastive losses: NT-Xent against live optax.ntxent and SimCLR's Eq. 1, CLIP against its
paper's Figure 3, SigLIP against its paper's Algorithm 1 (NumPy transcriptions, float64),
hand-worked cases, `where` over the contrastive batch equal to slicing it, zero embeddings,
extreme temperatures, error messages, and the sharded forms on 8 devices (in a subprocess).
The generic properties (jit, vmap, outer-batch where, dtypes, retracing) are checked for every
loss in test_catalog.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxloss


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


# --- info_nce_loss -----------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
def test_info_nce_matches_optax_ntxent_value_and_gradient(temperature):
    x = jnp.asarray(_normal(10, 6))
    labels = jnp.array([0, 1, 2, 0, 1, 2, 3, 3, 0, 4])  # groups of 3, 2, 2, 2 and a singleton
    ours = jax.value_and_grad(lambda e: jaxloss.info_nce_loss(e, labels, temperature=temperature))
    theirs = jax.value_and_grad(lambda e: optax.ntxent(e, labels, temperature))
    (v, g), (v_ref, g_ref) = ours(x), theirs(x)
    _close(v, v_ref)
    _close(g, g_ref, rtol=1e-4, atol=1e-6)


def _simclr_reference(view1, view2, temperature):
    """SimCLR (Chen et al, 2020), Eq. 1 and the loss below it:
    l(i, j) = -log exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t), averaged over
    the 2N ordered positive pairs."""
    z = np.concatenate([view1, view2]).astype(np.float64)
    n = len(view1)
    sim = _unit(z) @ _unit(z).T / temperature
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denominator = sum(np.exp(sim[i, k]) for k in range(2 * n) if k != i)
        total += -np.log(np.exp(sim[i, j]) / denominator)
    return total / (2 * n)


def test_info_nce_two_views_is_simclr():
    view1, view2 = _normal(5, 4, seed=1), _normal(5, 4, seed=2)
    labels = np.concatenate([np.arange(5), np.arange(5)])
    loss = jaxloss.info_nce_loss(np.concatenate([view1, view2]), labels, temperature=0.3)
    _close(loss, _simclr_reference(view1, view2, 0.3))


def test_info_nce_hand_checked_and_reductions():
    # Anchors 0 and 1 share a label and point the same way; anchor 2 (orthogonal) has no
    # positive. With t = 1: cos(0, 1) = 1 and cos(0, 2) = 0, so each of anchors 0 and 1 has
    # loss -log(e / (e + 1)) = log(1 + e^-1); anchor 2 adds nothing and is not counted.
    x = jnp.array([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    labels = jnp.array([5, 5, 7])
    expected = np.log1p(np.exp(-1.0))
    _close(jaxloss.info_nce_loss(x, labels, temperature=1.0, reduction="none"),
           [expected, expected, 0.0])
    _close(jaxloss.info_nce_loss(x, labels, temperature=1.0, reduction="sum"), 2 * expected)
    _close(jaxloss.info_nce_loss(x, labels, temperature=1.0), expected)  # over 2 positive pairs


def test_info_nce_without_negatives_or_positives():
    x = jnp.asarray(_normal(4, 3))
    same = jnp.zeros(4, jnp.int32)  # positives only: each term is -log(e^s / e^s) = 0
    value, grad = jax.value_and_grad(jaxloss.info_nce_loss)(x, same)
    assert float(value) == 0.0 and not np.any(grad)
    distinct = jnp.arange(4)  # no positive pair at all: the mean over nothing is 0
    value, grad = jax.value_and_grad(jaxloss.info_nce_loss)(x, distinct)
    assert float(value) == 0.0 and not np.any(grad)


def test_info_nce_second_derivatives_with_an_anchor_without_negatives(x64):
    # NT-Xent has its own JVP rule. Its Hessian-vector product must be JAX's autodiff of the
    # plain formula where every anchor has negatives (the first batch), and 0 for a batch whose
    # kept items share one label (the second: its dropped item is the only other label), where
    # the log-sum over no negatives is log(0) and its derivative 0/0.
    rng = np.random.default_rng(23)
    x, direction = (rng.standard_normal((2, 5, 3)) for _ in range(2))
    labels = jnp.array([[0, 0, 1, 1, 2], [0, 0, 0, 0, 1]])
    where = jnp.array([[True] * 5, [True] * 4 + [False]])
    t = 0.5

    def loss(x):
        return jaxloss.info_nce_loss(x, labels, where=where, temperature=t, reduction="sum")

    def reference(x):  # the first batch only; in the second, nothing depends on x
        u = x[0] / jnp.linalg.norm(x[0], axis=-1, keepdims=True)
        s = u @ u.T / t
        same = labels[0][:, None] == labels[0][None, :]
        lse = jax.nn.logsumexp(jnp.where(same, -jnp.inf, s), axis=1)
        terms = jnp.logaddexp(0.0, lse[:, None] - s)
        return jnp.sum(jnp.where(same & ~jnp.eye(5, dtype=bool), terms, 0.0))

    def hvp(f):
        return jax.jvp(jax.grad(f), (jnp.asarray(x),), (jnp.asarray(direction),))[1]

    actual, expected = hvp(loss), hvp(reference)
    assert np.all(np.isfinite(actual))
    _close(actual[0], expected[0], rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(expected))))
    assert not np.any(actual[1])
    # Reverse over reverse, as jax.hessian composes it, agrees.
    reverse = jax.grad(lambda x: jnp.vdot(jax.grad(loss)(x), direction))(jnp.asarray(x))
    _close(reverse, actual, rtol=1e-9, atol=1e-12)


def test_info_nce_is_exact_at_tiny_temperatures():
    # At t = 1e-3 the similarities span +-1000: a shifted exp-sum underflows to log(0) for a
    # positive far below the row maximum; the loss must stay finite and exact.
    x = jnp.asarray(_normal(6, 3, seed=3))
    labels = jnp.array([0, 0, 0, 1, 1, 1])
    value, grad = jax.value_and_grad(jaxloss.info_nce_loss)(x, labels, temperature=1e-3)
    sim = _unit(x) @ _unit(x).T / 1e-3
    expected = []
    for i in range(6):
        negatives = [k for k in range(6) if labels[k] != labels[i]]
        lse = np.logaddexp.reduce(sim[i, negatives])
        expected += [np.logaddexp(sim[i, j], lse) - sim[i, j]
                     for j in range(6) if j != i and labels[j] == labels[i]]
    _close(value, np.mean(expected), rtol=1e-4)
    assert np.all(np.isfinite(grad))


# --- CLIP and SigLIP references ----------------------------------------------------------------


def _clip_reference(image, text, log_scale):
    """CLIP (Radford et al, 2021), Figure 3: logits = I_e T_e^T exp(t); the loss is the mean of
    the cross-entropies along both axes with labels arange(n). Also returns the derivative in
    the log-scale t, d/dt = mean over both directions of E_softmax[z] - z_ii (dz/dt = z)."""
    logits = _unit(image) @ _unit(text).T * np.exp(log_scale)
    diagonal = np.diag(logits)
    loss_i = -np.diag(_log_softmax(logits, axis=1))
    loss_t = -np.diag(_log_softmax(logits, axis=0))
    expected_i = (np.exp(_log_softmax(logits, axis=1)) * logits).sum(axis=1)
    expected_t = (np.exp(_log_softmax(logits, axis=0)) * logits).sum(axis=0)
    d_log_scale = np.mean((expected_i - diagonal + expected_t - diagonal) / 2)
    return (loss_i + loss_t) / 2, d_log_scale


def _siglip_reference(image, text, log_scale, bias):
    """SigLIP (Zhai et al, 2023), Algorithm 1: logits = z_img z_txt^T * exp(t') + b,
    labels = 2 eye(n) - 1, l = -sum(log_sigmoid(labels * logits)) / n. Also returns the
    derivative in the bias, -sum(labels * sigmoid(-labels * logits)) / n."""
    n = len(image)
    logits = _unit(image) @ _unit(text).T * np.exp(log_scale) + bias
    labels = 2 * np.eye(n) - 1
    per_image = -_log_sigmoid(labels * logits).sum(axis=1)
    d_bias = -np.sum(labels / (1 + np.exp(labels * logits))) / n
    return per_image, d_bias


def test_clip_matches_figure_3_value_and_log_scale_gradient():
    image, text = _normal(7, 5, seed=4), _normal(7, 5, seed=5)
    per_pair, d_log_scale = _clip_reference(image, text, 1.2)
    _close(jaxloss.clip_loss(image, text, log_scale=1.2, reduction="none"), per_pair)
    value, grad = jax.value_and_grad(
        lambda t: jaxloss.clip_loss(image, text, log_scale=t))(jnp.float32(1.2))
    _close(value, per_pair.mean())
    _close(grad, d_log_scale, rtol=1e-4)


@pytest.mark.parametrize("log_scale", [25.0, 30.0])
def test_clip_is_exact_for_logits_far_past_2_to_the_31(log_scale):
    # Logits of 7e10 and more (a large learned scale; unnormalised embeddings do the same):
    # the scaled similarities were recomputed inside the log-sum-exp, where a fused
    # multiply-add made the largest logit minus the maximum a rounding error of size 1e3,
    # and the loss inf or NaN.
    image, text = _normal(7, 5, seed=4), _normal(7, 5, seed=5)
    per_pair, d_log_scale = _clip_reference(image, text, np.float64(np.float32(log_scale)))
    value, grad = jax.value_and_grad(
        lambda t: jaxloss.clip_loss(image, text, log_scale=t))(jnp.float32(log_scale))
    _close(value, per_pair.mean())
    _close(grad, d_log_scale, rtol=1e-4)
    raw = jaxloss.clip_loss(2e4 * image, 2e4 * text, normalize=False)
    assert np.isfinite(raw)


def test_siglip_matches_algorithm_1_value_and_bias_gradient():
    image, text = _normal(7, 5, seed=6), _normal(7, 5, seed=7)
    per_image, d_bias = _siglip_reference(image, text, 0.7, -3.0)
    _close(jaxloss.siglip_loss(image, text, log_scale=0.7, bias=-3.0, reduction="none"),
           per_image, rtol=1e-5, atol=1e-5)
    value, grad = jax.value_and_grad(
        lambda b: jaxloss.siglip_loss(image, text, log_scale=0.7, bias=b))(jnp.float32(-3.0))
    _close(value, per_image.mean())  # normalised by the batch size, not by n^2 pairs
    _close(grad, d_bias, rtol=1e-4)


def test_clip_and_siglip_hand_checked():
    # Orthogonal unit pairs, scale 1, bias 0: z = identity. CLIP: each row and column is
    # log(1 + e^-1). SigLIP: softplus(-1) for the positive plus softplus(0) = log 2 per negative.
    x = jnp.eye(3)
    clip = float(jaxloss.clip_loss(x, x, log_scale=0.0))
    _close(clip, np.log(np.e + 2) - 1)
    siglip = float(jaxloss.siglip_loss(x, x, log_scale=0.0, bias=0.0))
    _close(siglip, np.log1p(np.exp(-1.0)) + 2 * np.log(2.0))


def test_normalize_false_uses_raw_dot_products():
    image, text = _normal(4, 3, seed=8), _normal(4, 3, seed=9)
    logits = image.astype(np.float64) @ text.T.astype(np.float64)
    expected = (-np.diag(_log_softmax(logits, 1)) - np.diag(_log_softmax(logits, 0))) / 2
    _close(jaxloss.clip_loss(image, text, log_scale=0.0, normalize=False, reduction="none"),
           expected)
    labels = 2 * np.eye(4) - 1
    expected = -_log_sigmoid(labels * (np.exp(-0.5) * logits + 1.0)).sum(axis=1)
    _close(jaxloss.siglip_loss(image, text, log_scale=-0.5, bias=1.0, normalize=False,
                               reduction="none"), expected)


# --- where over the contrastive batch, zero embeddings -----------------------------------------

KEEP = np.array([True, False, True, True, False, True, True])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_where_removes_items_from_the_contrastive_batch(reduction):
    image, text = _normal(7, 4, seed=10), _normal(7, 4, seed=11)
    labels = np.array([0, 1, 0, 1, 2, 2, 0])
    poisoned = np.where(KEEP[:, None], image, np.nan)  # dropped items may hold NaN
    cases = [
        (jaxloss.clip_loss, (image, text), (poisoned, text)),
        (jaxloss.siglip_loss, (image, text), (poisoned, text)),
        (jaxloss.info_nce_loss, (image, labels), (poisoned, labels)),
    ]
    for fn, args, dirty in cases:
        sliced = fn(*(a[KEEP] for a in args), reduction=reduction)
        _close(fn(*dirty, where=KEEP, reduction=reduction), sliced)
        grads = jax.grad(lambda x, fn=fn, dirty=dirty: fn(x, *dirty[1:], where=KEEP,
                                                           reduction=reduction))(dirty[0])
        grads_sliced = jax.grad(lambda x, fn=fn, args=args: fn(
            x, *(a[KEEP] for a in args[1:]), reduction=reduction))(args[0][KEEP])
        _close(grads[KEEP], grads_sliced)
        assert not np.any(grads[~KEEP])


def test_zero_embeddings_have_finite_gradients_and_zero_similarity():
    image, text = _normal(4, 3, seed=12), _normal(4, 3, seed=13)
    image[1] = 0.0
    text[2] = 0.0
    # A zero embedding normalises to 0: its similarity with everything is 0.
    sim = _unit(np.where(image == 0, 1.0, image)) @ _unit(np.where(text == 0, 1.0, text)).T
    sim[1, :] = 0.0
    sim[:, 2] = 0.0
    logits = sim / 0.07  # CLIP's default scale
    clip = (-np.diag(_log_softmax(logits, 1)) - np.diag(_log_softmax(logits, 0))) / 2
    labels = 2 * np.eye(4) - 1
    siglip = -_log_sigmoid(labels * (10 * sim - 10)).sum(axis=1)  # SigLIP's default t, b
    for fn, expected in ((jaxloss.clip_loss, clip), (jaxloss.siglip_loss, siglip)):
        value, grads = jax.value_and_grad(fn, argnums=(0, 1))(image, text)
        _close(value, expected.mean())
        assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("fn", [jaxloss.clip_loss, jaxloss.siglip_loss], ids=lambda f: f.__name__)
def test_huge_embeddings_normalise_exactly(fn):
    # Scaling an embedding changes nothing after normalisation, even where its squared norm
    # overflows float32 (1e30^2): the loss is the same and the gradient scales by 1 / 1e30.
    image, text = _normal(4, 3, seed=15), _normal(4, 3, seed=16)
    value, (g_image, g_text) = jax.value_and_grad(fn, argnums=(0, 1))(image, text)
    big_value, (big_image, big_text) = jax.value_and_grad(fn, argnums=(0, 1))(image * 1e30, text)
    _close(big_value, value)
    _close(big_image * 1e30, g_image, rtol=1e-4, atol=1e-6)
    _close(big_text, g_text, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fn", [jaxloss.clip_loss, jaxloss.siglip_loss, jaxloss.info_nce_loss],
                         ids=lambda f: f.__name__)
def test_embeddings_at_the_top_of_float32s_range_normalise_exactly(fn):
    # Entries near 1e38, whose reciprocals are subnormal (flushed to zero on XLA:CPU): the loss
    # is the one of the same embeddings at unit scale. The true gradient is below float32's
    # smallest normal number here, so only its finiteness is checked.
    image, text = _normal(6, 5, seed=17), _normal(6, 5, seed=18)
    image[0] /= np.abs(image[0]).max()  # one row with an entry of exactly 1, so 1e38 after
    args = (text,) if fn is not jaxloss.info_nce_loss else (np.array([0, 0, 1, 1, 2, 2]),)
    value = fn(image, *args)
    big_value, big_grad = jax.value_and_grad(fn)(image * 1e38, *args)
    _close(big_value, value)
    assert np.all(np.isfinite(big_grad))


@pytest.mark.parametrize("scale", [1.0, 1e-10, np.array([[1e160], [1], [1], [1], [1]])],
                         ids=["long", "short", "huge_row"])
def test_second_derivatives_match_autodiff_of_the_formula(x64, scale):
    # The normalisation has its own JVP rule. Differentiated again (a Hessian-vector product of
    # clip_loss), it must give JAX's autodiff of x / max(||x||, sqrt(eps)) in float64, for rows
    # longer than sqrt(eps) = 1.5e-8 and for rows shorter (scaled by 1e-10), which are divided
    # by sqrt(eps). A row whose squares overflow (1e160) sends the batch to the scaled form.
    rng = np.random.default_rng(19)
    image, text, direction = (rng.standard_normal((5, 4)) for _ in range(3))
    image = image * scale

    def unit(x):
        top = jnp.max(jnp.abs(x), axis=-1, keepdims=True)  # the norm without overflow
        norm = top * jnp.linalg.norm(x / top, axis=-1, keepdims=True)
        return x / jnp.maximum(norm, np.sqrt(np.finfo(np.float64).eps))

    def reference(image):
        logits = np.exp(0.5) * unit(image) @ unit(text).T
        own = jnp.diagonal(logits)
        return jnp.mean(jax.nn.logsumexp(logits, 1) - own + jax.nn.logsumexp(logits, 0) - own) / 2

    def hvp(f):
        return jax.jvp(jax.grad(f), (jnp.asarray(image),), (jnp.asarray(direction),))[1]

    expected = hvp(reference)
    _close(hvp(lambda i: jaxloss.clip_loss(i, text, log_scale=0.5)), expected,
           rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(expected))))


def test_info_nce_zero_embeddings_have_finite_gradients():
    x = _normal(5, 3, seed=14)
    x[0] = 0.0
    value, grad = jax.value_and_grad(jaxloss.info_nce_loss)(x, np.array([0, 0, 1, 1, 0]))
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))
    _close(value, optax.ntxent(jnp.asarray(x), jnp.array([0, 0, 1, 1, 0])))


# --- errors ------------------------------------------------------------------------------------


def test_error_messages():
    x = jnp.zeros((4, 3))
    with pytest.raises(ValueError, match=r"^clip_loss: `image_embeddings` has shape \(4, 3\) "
                                         r"but `text_embeddings` has shape \(4, 2\)"):
        jaxloss.clip_loss(x, jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"^siglip_loss: `image_embeddings` must have at least 2 "
                                         r"dimensions \(pairs, then the feature axis\), got "
                                         r"shape \(3,\)"):
        jaxloss.siglip_loss(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"^info_nce_loss: `labels` has shape \(3,\) but must "
                                         r"have shape \(4,\)"):
        jaxloss.info_nce_loss(x, jnp.zeros(3, jnp.int32))
    with pytest.raises(TypeError, match=r"^info_nce_loss: `labels` holds group labels and must "
                                        r"have an integer dtype, got float32"):
        jaxloss.info_nce_loss(x, jnp.zeros(4))
    with pytest.raises(TypeError, match=r"^clip_loss: `text_embeddings` must have a floating "
                                        r"dtype, got int32"):
        jaxloss.clip_loss(x, jnp.zeros((4, 3), jnp.int32))


# --- sharded forms -----------------------------------------------------------------------------


def test_sharded_clip_and_siglip_equal_single_device_on_8_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    script = Path(__file__).with_name("_sharded_contrastive.py")
    result = subprocess.run([sys.executable, "-W", "error", str(script)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked 16 cases" in result.stdout


def test_info_nce_int64_labels_are_not_truncated(x64):
    # Group labels are only compared: 7 and 7 + 2**32 are different groups (a cast to int32
    # had merged them).
    x = _normal(4, 3, seed=11).astype(np.float64)
    wide = jnp.array([7, 7 + 2**32, 1, 1], jnp.int64)
    _close(jaxloss.info_nce_loss(x, wide, reduction="none"),
           jaxloss.info_nce_loss(x, jnp.array([0, 1, 2, 2]), reduction="none"), rtol=1e-12)


def test_batches_without_items_give_zero():
    # No items, no anchors: a mean over nothing (the negatives' maximum over no items had
    # raised inside the library). clip_loss and siglip_loss already gave 0.
    empty, labels = jnp.zeros((2, 0, 4)), jnp.zeros((2, 0), jnp.int32)
    value, grad = jax.value_and_grad(jaxloss.info_nce_loss)(empty, labels)
    assert float(value) == 0.0 and grad.shape == (2, 0, 4)
    assert jaxloss.info_nce_loss(empty, labels, reduction="none").shape == (2, 0)
    for loss in (jaxloss.clip_loss, jaxloss.siglip_loss):
        assert float(loss(empty, empty)) == 0.0


def test_empty_feature_axis_gives_zero_similarities():
    # Vectors of no entries are all zero vectors: every similarity is 0 (the normalisation's
    # maximum over no entries had raised inside the library).
    empty = jnp.zeros((3, 0))
    _close(jaxloss.clip_loss(empty, empty), np.log(3.0))
    _close(jaxloss.info_nce_loss(empty, jnp.array([0, 0, 1]), temperature=1.0, reduction="none"),
           [np.log(2.0), np.log(2.0), 0.0])
