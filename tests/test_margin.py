"""Margin and embedding losses: values against independent NumPy formulas and hand-worked cases,
float64 gradient checks, PyTorch's gradient conventions at kinks, degenerate inputs and error
messages. The generic properties (jit, vmap, where, dtypes, retracing, PyTorch fixtures) are
checked for every loss in test_catalog.py and test_golden.py."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxloss

REDUCTIONS = ("mean", "sum", "none")


def _normal(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _signs(*shape, seed=1):
    return np.random.default_rng(seed).choice([-1, 1], size=shape)


def _reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def _close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol)


def _grads(fn, *args, argnums=(0,), **kwargs):
    return jax.grad(lambda *a: jnp.sum(fn(*a, reduction="sum", **kwargs)), argnums)(*args)


# Independent NumPy references, written from the definitions with explicit loops.


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _multilabel_margin_reference(x, target):
    x, target = np.asarray(x, np.float64), np.asarray(target)
    out = np.zeros(x.shape[:-1])
    num_classes = x.shape[-1]
    for index in np.ndindex(*x.shape[:-1]):
        listed = []
        for label in target[index]:
            if label == -1:
                break
            listed.append(int(label))
        others = [c for c in range(num_classes) if c not in listed]
        total = sum(max(0.0, 1 - x[index][j] + x[index][c]) for j in listed for c in others)
        out[index] = total / num_classes
    return out


def _multi_margin_reference(x, target, p, margin, weight):
    x = np.asarray(x, np.float64)
    out = np.zeros(x.shape[:-1])
    num_classes = x.shape[-1]
    for index in np.ndindex(*x.shape[:-1]):
        y = int(target[index])
        row = x[index]
        out[index] = sum(
            weight[y] * max(0.0, margin - row[y] + row[c]) ** p
            for c in range(num_classes)
            if c != y
        ) / num_classes
    return out


def _distance_reference(u, v, p, eps):
    diff = np.abs(np.asarray(u, np.float64) - v + eps)
    if np.isinf(p):
        return diff.max(axis=-1)
    return (diff**p).sum(axis=-1) ** (1 / p)


# (a) Values.


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_embedding_matches_formula_for_any_label(reduction):
    x = _normal(12)
    labels = np.array([1, -1, 0, 0.5] * 3, np.float32)  # torch applies both terms for others
    hinge = np.maximum(0.7 - x, 0)
    expected = np.where(labels != 1, hinge, 0) + np.where(labels != -1, x, 0)
    actual = jaxloss.hinge_embedding_loss(x, labels, margin=0.7, reduction=reduction)
    _close(actual, _reduce(expected, reduction))


def test_hinge_embedding_hand_values():
    x = np.array([0.25, 0.25, 2.0], np.float32)
    loss = jaxloss.hinge_embedding_loss(x, np.array([1, -1, -1]), reduction="none")
    _close(loss, [0.25, 0.75, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_matches_formula(reduction):
    x, y = 4 * _normal(3, 5), _signs(3, 5)
    expected = np.logaddexp(0.0, -y * x.astype(np.float64))
    _close(jaxloss.soft_margin_loss(x, y, reduction=reduction), _reduce(expected, reduction))
    float_labels = jaxloss.soft_margin_loss(x, y.astype(np.float32), reduction=reduction)
    _close(float_labels, _reduce(expected, reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_averages_classes_per_sample(reduction):
    x = _normal(4, 5)
    y = np.random.default_rng(2).integers(0, 2, size=(4, 5))
    weight = np.array([0.5, 1.0, 2.0, 0.0, 3.0], np.float32)
    terms = -(y * _log_sigmoid(x.astype(np.float64)) + (1 - y) * _log_sigmoid(-x))
    expected = (weight * terms).sum(axis=-1) / 5
    actual = jaxloss.multilabel_soft_margin_loss(x, y, weight=weight, reduction=reduction)
    _close(actual, _reduce(expected, reduction))
    assert jaxloss.multilabel_soft_margin_loss(x, y, reduction="none").shape == (4,)


def test_multilabel_soft_margin_hand_values_and_unbatched():
    logits = np.array([2.0, -2.0], np.float32)
    # -log sigmoid(2) for both classes: log(1 + e^-2).
    _close(jaxloss.multilabel_soft_margin_loss(logits, np.array([1, 0])), np.log1p(np.exp(-2.0)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_matches_reference(reduction):
    x = _normal(2, 3, 5)
    target = np.array(
        [
            [[3, 0, -1, 1, 1], [-1, 2, 2, 2, 2], [4, 3, 2, 1, 0]],
            [[2, 2, 0, -1, 4], [1, -1, -1, -1, -1], [0, 4, -1, 9, -7]],  # junk after -1
        ]
    )
    expected = _multilabel_margin_reference(x, target)
    actual = jaxloss.multilabel_margin_loss(x, target.astype(np.int8), reduction=reduction)
    _close(actual, _reduce(expected, reduction))


def test_multilabel_margin_hand_values():
    x = np.array([0.1, 0.2, 0.4, 0.8], np.float32)
    # Targets {3, 0}; the classes 1 and 2 are scored against both.
    loss = jaxloss.multilabel_margin_loss(x, np.array([3, 0, -1, 1]))
    _close(loss, (0.4 + 0.6 + 1.1 + 1.3) / 4)
    # Everything after the first -1 is ignored, even indices out of range.
    _close(jaxloss.multilabel_margin_loss(x, np.array([-1, 0, 99, -5])), 0.0)


def test_multilabel_margin_counts_duplicated_targets_twice():
    x = np.array([0.0, 0.2, 0.5, 0.1], np.float32)
    # Target 2 listed twice, 0 once; non-targets 1 and 3.
    once = (1 - 0.5 + 0.2) + (1 - 0.5 + 0.1)
    expected = (2 * once + (1 - 0.0 + 0.2) + (1 - 0.0 + 0.1)) / 4
    _close(jaxloss.multilabel_margin_loss(x, np.array([2, 2, 0, -1])), expected)
    grad = _grads(jaxloss.multilabel_margin_loss, x, np.array([2, 2, 0, -1]))[0]
    _close(grad, [-0.5, 0.75, -1.0, 0.75])


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_margin_matches_reference(p, reduction):
    x, target = _normal(3, 4, 5), np.random.default_rng(3).integers(0, 5, size=(3, 4))
    weight = np.array([1.0, 0.5, 2.0, 0.0, 1.5], np.float32)
    expected = _multi_margin_reference(x, target, p, 0.6, weight)
    actual = jaxloss.multi_margin_loss(
        x, target, p=p, margin=0.6, weight=weight, reduction=reduction
    )
    # "mean" is the plain mean over entries, not divided by the weights of the targets.
    _close(actual, _reduce(expected, reduction))


def test_multi_margin_hand_values():
    x = np.array([[0.1, 0.2, 0.4, 0.8]], np.float32)
    _close(jaxloss.multi_margin_loss(x, np.array([3])), (0.3 + 0.4 + 0.6) / 4)
    _close(jaxloss.multi_margin_loss(x, np.array([3]), p=2), (0.09 + 0.16 + 0.36) / 4)
    unbatched = jaxloss.multi_margin_loss(x[0], np.array(3), reduction="none")
    assert unbatched.shape == ()
    _close(unbatched, 0.325)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_matches_formula(reduction):
    x1, x2, y = _normal(6, seed=4), _normal(6, seed=5), _signs(6)
    expected = np.maximum(-y * (x1.astype(np.float64) - x2) + 0.3, 0)
    actual = jaxloss.margin_ranking_loss(x1, x2, y, margin=0.3, reduction=reduction)
    _close(actual, _reduce(expected, reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_matches_formula(reduction):
    x1, x2 = _normal(6, 3, seed=6), _normal(6, 3, seed=7)
    labels = np.array([1, -1, 0, 1, -1, 2])  # labels other than +-1 add 0
    a, b = x1.astype(np.float64), x2.astype(np.float64)
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    expected = np.where(labels == 1, 1 - cos, 0) + np.where(
        labels == -1, np.maximum(cos - 0.2, 0), 0
    )
    actual = jaxloss.cosine_embedding_loss(x1, x2, labels, margin=0.2, reduction=reduction)
    _close(actual, _reduce(expected, reduction))


def test_cosine_embedding_hand_values():
    x1 = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
    x2 = np.array([[0.0, 1.0], [2.0, 2.0]], np.float32)  # cosines 0 and 1
    loss = jaxloss.cosine_embedding_loss(x1, x2, np.array([1, -1]), margin=0.5, reduction="none")
    _close(loss, [1.0, 0.5])
    unbatched = jaxloss.cosine_embedding_loss(x1[0], x2[0], np.array(1.0), reduction="none")
    assert unbatched.shape == ()


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, np.inf])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_margin_matches_formula(p, swap, reduction):
    a, pos, neg = _normal(5, 4, seed=8), _normal(5, 4, seed=9), _normal(5, 4, seed=10)
    to_negative = _distance_reference(a, neg, p, 1e-3)
    if swap:
        to_negative = np.minimum(to_negative, _distance_reference(pos, neg, p, 1e-3))
    expected = np.maximum(0.8 + _distance_reference(a, pos, p, 1e-3) - to_negative, 0)
    actual = jaxloss.triplet_margin_loss(
        a, pos, neg, p=p, eps=1e-3, margin=0.8, swap=swap, reduction=reduction
    )
    _close(actual, _reduce(expected, reduction))


def test_triplet_margin_hand_value_unbatched():
    a, pos, neg = (np.array(v, np.float32) for v in ([0, 0], [3, 4], [0, 1]))
    loss = jaxloss.triplet_margin_loss(a, pos, neg, eps=0.0, reduction="none")
    assert loss.shape == ()
    _close(loss, 1 + 5 - 1)


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_with_distance_default_and_custom(swap):
    a, pos, neg = _normal(5, 4, seed=11), _normal(5, 4, seed=12), _normal(5, 4, seed=13)

    def expected(dist):
        to_negative = dist(a, neg)
        if swap:
            to_negative = np.minimum(to_negative, dist(pos, neg))
        return np.maximum(0.5 + dist(a, pos) - to_negative, 0)

    loss = jaxloss.triplet_margin_with_distance_loss
    default = loss(a, pos, neg, margin=0.5, swap=swap, reduction="none")
    _close(default, expected(lambda u, v: _distance_reference(u, v, 2, 1e-6)))

    def manhattan(u, v):
        return jnp.sum(jnp.abs(u - v), axis=-1)

    custom = loss(a, pos, neg, distance_function=manhattan, margin=0.5, swap=swap)
    _close(custom, expected(lambda u, v: np.abs(u - v).sum(-1)).mean())


def test_triplet_with_distance_accepts_any_margin():
    # PyTorch raises for margin <= 0, and so does a Python margin (tests/test_errors.py); a
    # traced margin cannot be checked, so it is used as is.
    a, pos, neg = _normal(5, 4, seed=14), _normal(5, 4, seed=15), _normal(5, 4, seed=16)
    gap = _distance_reference(a, pos, 2, 1e-6) - _distance_reference(a, neg, 2, 1e-6)
    loss = jaxloss.triplet_margin_with_distance_loss(a, pos, neg, margin=jnp.asarray(-0.5),
                                                     reduction="sum")
    _close(loss, np.maximum(gap - 0.5, 0).sum())


# (b) Gradients in float64, away from kinks.


def _x64_cases():
    rng = np.random.default_rng(20)

    def normal(*shape):
        return rng.standard_normal(shape)

    signs = rng.choice([-1, 1], size=(3, 4))
    bits = rng.integers(0, 2, size=(3, 4))
    classes = rng.integers(0, 4, size=(3,))
    lists = np.array([[2, 0, -1, 3], [1, 1, 3, -1], [0, 1, 2, 3]])
    scale = np.array([0.5, 1.0, 2.0, 1.5])
    a, pos, neg = normal(3, 4), normal(3, 4), normal(3, 4)
    return {
        "hinge_embedding": (
            lambda x: jaxloss.hinge_embedding_loss(x, signs, margin=0.5), (normal(3, 4),)
        ),
        "soft_margin": (lambda x: jaxloss.soft_margin_loss(x, signs), (normal(3, 4),)),
        "multilabel_soft_margin": (
            lambda x: jaxloss.multilabel_soft_margin_loss(x, bits, weight=scale),
            (normal(3, 4),),
        ),
        "multilabel_margin": (
            lambda x: jaxloss.multilabel_margin_loss(x, lists), (normal(3, 4),)
        ),
        "multi_margin_p1": (
            lambda x: jaxloss.multi_margin_loss(x, classes, weight=scale), (normal(3, 4),)
        ),
        "multi_margin_p2": (
            lambda x: jaxloss.multi_margin_loss(x, classes, p=2, margin=2.0), (normal(3, 4),)
        ),
        "margin_ranking": (
            lambda x1, x2: jaxloss.margin_ranking_loss(x1, x2, signs, margin=0.2),
            (normal(3, 4), normal(3, 4)),
        ),
        "cosine_embedding": (
            lambda x1, x2: jaxloss.cosine_embedding_loss(
                x1, x2, np.array([1, -1, -1]), margin=-0.5
            ),
            (normal(3, 4), normal(3, 4)),
        ),
        # One row of 1e25 sends the batch to the scaled form (its squares pass 1e18), whose
        # derivatives come from the same rule with scales other than 1.
        "cosine_embedding_scaled": (
            lambda x1, x2: jaxloss.cosine_embedding_loss(
                x1, x2, np.array([1, -1, -1]), margin=-0.5
            ),
            (normal(3, 4) * np.array([[1e25], [1.0], [1.0]]), normal(3, 4)),
        ),
        "triplet_p2_swap": (
            lambda *t: jaxloss.triplet_margin_loss(*t, margin=3.0, swap=True), (a, pos, neg)
        ),
        "triplet_p3": (
            lambda *t: jaxloss.triplet_margin_loss(*t, p=3.0, margin=3.0), (a, pos, neg)
        ),
        "triplet_p_inf": (
            lambda *t: jaxloss.triplet_margin_loss(*t, p=np.inf, margin=3.0), (a, pos, neg)
        ),
        "triplet_with_distance": (
            lambda *t: jaxloss.triplet_margin_with_distance_loss(*t, margin=3.0, swap=True),
            (a, pos, neg),
        ),
    }


@pytest.mark.parametrize("name", list(_x64_cases()))
def test_check_grads_float64(x64, name):
    fn, args = _x64_cases()[name]
    args = tuple(jnp.asarray(x, jnp.float64) for x in args)
    assert fn(*args).dtype == jnp.float64
    check_grads(fn, args, order=2, modes=("fwd", "rev"))


# (c) Kinks with PyTorch's conventions, and degenerate inputs.


def test_clamp_min_losses_pass_the_gradient_at_the_margin():
    x = np.array([1.0, 0.5], np.float32)
    grad = _grads(jaxloss.hinge_embedding_loss, x, np.array([-1, -1]), margin=x)[0]
    _close(grad, [-1.0, -1.0])

    x1, x2 = np.array([1.25, 2.0], np.float32), np.array([1.0, 2.25], np.float32)
    grads = _grads(
        jaxloss.margin_ranking_loss, x1, x2, np.array([1, -1]), argnums=(0, 1), margin=0.25
    )
    _close(grads[0], [-1.0, 1.0])
    _close(grads[1], [1.0, -1.0])

    # Orthogonal vectors: cos = 0 = margin.
    x1, x2 = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    grads = _grads(jaxloss.cosine_embedding_loss, x1, x2, np.array(-1), argnums=(0, 1))
    _close(grads[0], [0.0, 1.0])
    _close(grads[1], [1.0, 0.0])

    # 1 + |a - p| - |a - n| = 1 + 5 - 6 = 0.
    a, pos, neg = (np.array(v, np.float32) for v in ([0, 0], [3, 4], [0, 6]))
    grads = _grads(jaxloss.triplet_margin_loss, a, pos, neg, argnums=(0, 1, 2), eps=0.0)
    _close(grads[0], [-0.6, 0.2])
    _close(grads[1], [0.6, 0.8])
    _close(grads[2], [0.0, -1.0])


def test_strict_hinges_have_zero_gradient_at_the_kink():
    # Class 0 sits exactly on the margin of target 1 (1 - x_1 + x_0 = 0); class 2 is inside
    # with z = 0.5, so its gradient is 1/3 for p = 1 and 2 z / 3 = 1/3 for p = 2.
    x = np.array([0.0, 1.0, 0.5], np.float32)
    expected = [0.0, -1 / 3, 1 / 3]
    for p in (1, 2):
        _close(_grads(jaxloss.multi_margin_loss, x, np.array(1), p=p)[0], expected)
    _close(_grads(jaxloss.multilabel_margin_loss, x, np.array([1, -1, 0]))[0], expected)


def test_multi_margin_p2_gradient_is_twice_the_hinge():
    x = np.array([0.0, 1.0, 0.8], np.float32)
    # Only class 2 is inside the margin: z = 1 - 1 + 0.8.
    grad = _grads(jaxloss.multi_margin_loss, x, np.array(1), p=2)[0]
    _close(grad, [0.0, -2 * 0.8 / 3, 2 * 0.8 / 3])


def test_soft_margin_is_finite_far_from_the_boundary():
    x = np.array([-1000.0, 1000.0], np.float32)
    y = np.array([1, 1])
    _close(jaxloss.soft_margin_loss(x, y, reduction="none"), [1000.0, 0.0])
    _close(_grads(jaxloss.soft_margin_loss, x, y)[0], [-1.0, 0.0])


@pytest.mark.parametrize("huge", [1.0, 1e25, 3e38])
def test_cosine_embedding_gradients_match_the_formula(huge):
    # d cos / d x1 = x2 / (n1 n2) - cos x1 / n1^2 with n = sqrt(|x|^2 + eps), in float64.
    # A row of 1e25 (or near the float32 maximum) sends the batch to the scaled form.
    x1, x2 = _normal(3, 5, seed=11), _normal(3, 5, seed=12)
    x1[0] *= huge / np.max(np.abs(x1[0]))
    labels = np.array([1, 1, -1])
    g1, g2 = _grads(jaxloss.cosine_embedding_loss, x1, x2, labels, argnums=(0, 1), margin=-1.0)
    a, b = x1.astype(np.float64), x2.astype(np.float64)
    n1 = np.sqrt(np.sum(a * a, -1, keepdims=True) + 1e-12)
    n2 = np.sqrt(np.sum(b * b, -1, keepdims=True) + 1e-12)
    cos = np.sum(a * b, -1, keepdims=True) / (n1 * n2)
    sign = np.where(labels == 1, -1.0, 1.0)[:, None]  # 1 - cos, or cos + 1 above the margin
    _close(g1, sign * (b / (n1 * n2) - cos * a / n1**2), rtol=1e-5, atol=1e-30)
    _close(g2, sign * (a / (n1 * n2) - cos * b / n2**2), rtol=1e-5, atol=1e-30)


def test_cosine_embedding_zero_vectors_are_finite():
    zeros = np.zeros((2, 3), np.float32)
    other = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]], np.float32)
    labels = np.array([1, -1])
    _close(jaxloss.cosine_embedding_loss(zeros, zeros, labels, reduction="none"), [1.0, 0.0])
    g1, g2 = _grads(jaxloss.cosine_embedding_loss, zeros, zeros, labels, argnums=(0, 1))
    _close(g1, np.zeros((2, 3)))
    _close(g2, np.zeros((2, 3)))
    # One zero vector: d cos / d x1 = x2 / (sqrt(eps) |x2|), large but finite.
    g1, g2 = _grads(jaxloss.cosine_embedding_loss, zeros, other, labels, argnums=(0, 1))
    _close(g1[0], -other[0] / (1e-6 * 3.0), rtol=1e-4)
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, np.inf])
def test_triplet_zero_differences_have_zero_gradient(p):
    a = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    loss, grads = jax.value_and_grad(
        lambda *t: jaxloss.triplet_margin_loss(*t, p=p, eps=0.0), argnums=(0, 1, 2)
    )(a, a.copy(), a.copy())
    _close(loss, 1.0)
    for grad in grads:
        _close(grad, np.zeros((2, 2)))
    # The difference cancels eps exactly.
    a, pos, neg = (np.array(v, np.float32) for v in ([0, 0], [0.5, 0.5], [3, 4]))
    grads = _grads(jaxloss.triplet_margin_loss, a, pos, neg, argnums=(0, 1), p=p, eps=0.5)
    _close(grads[1], [0.0, 0.0])


def test_triplet_with_distance_identical_embeddings_are_finite():
    a = np.ones((2, 3), np.float32)
    grads = _grads(jaxloss.triplet_margin_with_distance_loss, a, a, a, argnums=(0, 1, 2))
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_triplet_swap_splits_a_tie_in_halves():
    # Anchor = positive, so d(a, n) = d(p, n): the minimum sends half to each.
    a, pos, neg = (np.array(v, np.float32) for v in ([0, 0], [0, 0], [0.6, 0.8]))
    grads = _grads(
        jaxloss.triplet_margin_loss, a, pos, neg, argnums=(0, 1, 2), eps=0.0, swap=True
    )
    _close(grads[0], [0.3, 0.4])
    _close(grads[1], [0.3, 0.4])
    _close(grads[2], [-0.6, -0.8])


def test_triplet_gradient_in_p_at_the_euclidean_norm(x64):
    # p = 2 takes the direct Euclidean form, which does not contain p: the derivative in p
    # must still be that of the p-norm, d/dp (sum |v|^p)^(1/p), checked by central
    # differences of the loss in p.
    a, pos, neg = _normal(5, 3, seed=3, dtype=np.float64), _normal(5, 3, seed=4,
                                                                   dtype=np.float64), \
        _normal(5, 3, seed=5, dtype=np.float64)

    def loss(p):
        return jaxloss.triplet_margin_loss(a, pos, neg, p=p, margin=3.0, reduction="sum")

    h = 1e-6
    numeric = (loss(2.0 + h) - loss(2.0 - h)) / (2 * h)
    analytic = jax.grad(loss)(jnp.asarray(2.0))
    assert abs(float(numeric)) > 1e-3  # the check is not vacuous
    _close(analytic, numeric, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["cosine", "triplet", "triplet_swap"])
def test_vmap_over_ordinary_and_huge_batches_equals_the_loop(name):
    # Ordinary inputs take the direct sums, entries of 1e25 the scaled form; vmap over a
    # stack of both computes both forms for both (a select): the form not taken must leak
    # no NaN into the gradients.
    loss = {"cosine": lambda x, y: jaxloss.cosine_embedding_loss(x, y, jnp.array([1, -1, 1])),
            "triplet": lambda x, y: jaxloss.triplet_margin_loss(x, y, 0.5 * x - y),
            "triplet_swap": lambda x, y: jaxloss.triplet_margin_loss(x, y, 0.5 * x - y,
                                                                     swap=True)}[name]
    x, y = _normal(2, 3, 4, seed=6), _normal(2, 3, 4, seed=7)
    x[1] *= 1e25
    y[1] *= 1e25
    value_and_grad = jax.value_and_grad(loss, argnums=(0, 1))
    mapped = jax.vmap(value_and_grad)(x, y)
    for b in range(2):
        value, grads = value_and_grad(x[b], y[b])
        assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads)
        _close(mapped[0][b], value, rtol=1e-6)
        for g_mapped, g in zip(mapped[1], grads, strict=True):
            _close(g_mapped[b], g, rtol=1e-5, atol=1e-30)


def test_triplet_one_huge_distance_keeps_the_other_exact():
    # The distances of a triplet share the choice of form: a negative 1e25 away sends the
    # ordinary anchor-positive distance to the general form too, which must still be exact,
    # in value and in gradient (d/da |a - p| = (a - p) / |a - p|).
    a, pos = _normal(4, 3, seed=8), _normal(4, 3, seed=9)
    neg = 1e25 * _normal(4, 3, seed=10)
    losses = jaxloss.triplet_margin_loss(a, pos, neg, margin=1e27, eps=0.0, reduction="none")
    to_positive = np.linalg.norm(a.astype(np.float64) - pos, axis=-1)
    to_negative = np.linalg.norm(a.astype(np.float64) - neg, axis=-1)
    _close(losses, 1e27 + to_positive - to_negative, rtol=1e-6, atol=0)
    grad_positive = _grads(jaxloss.triplet_margin_loss, a, pos, neg, argnums=(1,),
                           margin=1e27, eps=0.0)[0]
    _close(grad_positive, -(a - pos) / to_positive[:, None], rtol=1e-5)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("size", [9e37, 3e38])
def test_entries_near_the_float32_maximum_keep_exact_distances_and_cosines(p, size):
    # The scaled forms divide by the largest entry, which XLA:CPU does by multiplying with
    # its reciprocal: past 8.5e37 that is subnormal, flushed to 0, and the distance was 0 (the
    # loss silently the margin or 0) and the cosine NaN.
    a = np.array([[size, 0.0]], np.float32)
    pos, neg = np.zeros((1, 2), np.float32), np.array([[size / 2, 0.0]], np.float32)
    loss = jaxloss.triplet_margin_loss(a, pos, neg, p=p, eps=0.0)
    _close(loss, size / 2, rtol=1e-6, atol=0)  # 1 + size - size / 2
    grad = jax.grad(lambda x: jaxloss.triplet_margin_loss(a, x, neg, p=p, eps=0.0))(pos)
    _close(grad, [[-1.0, 0.0]], atol=0)
    x1 = np.array([[size, 0.0]], np.float32)
    _close(jaxloss.cosine_embedding_loss(x1, np.ones((1, 2), np.float32), np.ones(1)),
           1 - np.sqrt(0.5), rtol=1e-6)


@pytest.mark.parametrize("p", [2.0, 3.0, 1.0, float("inf")])
def test_triplet_nan_or_inf_entry_gives_a_nan_or_inf_distance(p):
    # torch.pairwise_distance of a difference with a NaN entry is NaN and with an inf entry
    # inf. The overflow-safe p-norm once skipped a NaN entry (a silently finite loss, 1 + 2 -
    # sqrt 3 here) and turned an inf one into inf / inf. Other rows are unaffected.
    a = np.ones((3, 4), np.float32)
    pos, neg = np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32)
    neg[1, 2] = np.nan
    pos[2, 0] = np.inf
    losses = np.asarray(jaxloss.triplet_margin_loss(a, pos, neg, p=p, eps=0.0,
                                                    reduction="none"))
    assert np.isnan(losses[1])
    assert losses[2] == np.inf
    _close(losses[0], 1.0)  # d(a, pos) = d(a, neg)
    distance = jaxloss.triplet_margin_with_distance_loss(a, pos, neg, reduction="none")
    assert np.isnan(distance[1]) and distance[2] == np.inf


@pytest.mark.parametrize("p", [0.0, -1.0])
def test_triplet_nonpositive_p_is_nan(p):
    # A traced p; a Python one raises (tests/test_errors.py).
    a = _normal(2, 3)
    assert np.isnan(jaxloss.triplet_margin_loss(a, a + 1, a - 1, p=jnp.asarray(p)))


def test_multi_margin_rejects_other_exponents():
    with pytest.raises(ValueError, match=re.escape("multi_margin_loss: `p` must be 1 or 2, got 3")):
        jaxloss.multi_margin_loss(_normal(2, 3), np.array([0, 1]), p=3)


def test_out_of_range_labels_give_nan():
    x = _normal(3, 4)
    loss = jaxloss.multi_margin_loss(x, np.array([0, 4, -1]), reduction="none")
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(loss[2])
    assert np.isnan(jaxloss.multi_margin_loss(x, np.array([0, 4, 1])))
    lists = np.array([[0, 4, -1, 1], [0, -2, -1, 1], [0, -1, 4, -2]])
    loss = jaxloss.multilabel_margin_loss(x, lists, reduction="none")
    assert np.isnan(loss[0]) and np.isnan(loss[1]) and np.isfinite(loss[2])


# (d) Error messages.


def _raises(error, message):
    return pytest.raises(error, match=re.escape(message))


def test_elementwise_shape_and_dtype_errors():
    x = _normal(3)
    with _raises(ValueError, "hinge_embedding_loss: `input` has shape (3,) but `target` has "
                 "shape (2,)"):
        jaxloss.hinge_embedding_loss(x, np.ones(2, np.float32))
    with _raises(TypeError, "soft_margin_loss: `target` must have a floating or integer dtype"):
        jaxloss.soft_margin_loss(x, np.ones(3, bool))
    with _raises(ValueError, "margin_ranking_loss: `input1` has shape (3,) but `input2` has "
                 "shape (4,)"):
        jaxloss.margin_ranking_loss(x, _normal(4), np.ones(3))
    with _raises(ValueError, "margin_ranking_loss: `input1` has shape (3,) but `target` has "
                 "shape (3, 1)"):
        jaxloss.margin_ranking_loss(x, x, np.ones((3, 1)))


def test_multilabel_soft_margin_errors():
    x = _normal(2, 4)
    with _raises(ValueError, "multilabel_soft_margin_loss: `input` has shape (2, 4) but "
                 "`target` has shape (2, 3)"):
        jaxloss.multilabel_soft_margin_loss(x, np.ones((2, 3)))
    with _raises(ValueError, "multilabel_soft_margin_loss: `weight` has shape (3,), which does "
                 "not broadcast to `input`'s shape (2, 4)"):
        jaxloss.multilabel_soft_margin_loss(x, np.ones((2, 4)), weight=np.ones(3))


def test_multilabel_margin_errors():
    x = _normal(2, 4)
    with _raises(TypeError, "multilabel_margin_loss: `target` holds class indices and must "
                 "have an integer dtype, got float32"):
        jaxloss.multilabel_margin_loss(x, np.zeros((2, 4), np.float32))
    with _raises(ValueError, "multilabel_margin_loss: `input` has shape (2, 4) but `target` "
                 "has shape (2,)"):
        jaxloss.multilabel_margin_loss(x, np.zeros(2, int))
    with _raises(ValueError, "multilabel_margin_loss: `input` must have at least 1 dimension"):
        jaxloss.multilabel_margin_loss(np.float32(1.0), np.int32(0))


def test_multi_margin_errors():
    x = _normal(2, 4)
    with _raises(TypeError, "multi_margin_loss: `target` holds class indices and must have an "
                 "integer dtype, got float32"):
        jaxloss.multi_margin_loss(x, np.zeros(2, np.float32))
    with _raises(ValueError, "multi_margin_loss: `input` has shape (2, 4) but `target` has "
                 "shape (2, 4)"):
        jaxloss.multi_margin_loss(x, np.zeros((2, 4), int))
    with _raises(ValueError, "multi_margin_loss: `weight` has shape (3,) but must have shape "
                 "(4,)"):
        jaxloss.multi_margin_loss(x, np.zeros(2, int), weight=np.ones(3))


def test_cosine_embedding_errors():
    x = _normal(2, 4)
    with _raises(ValueError, "cosine_embedding_loss: `input1` has shape (2, 4) but `input2` "
                 "has shape (2, 3)"):
        jaxloss.cosine_embedding_loss(x, _normal(2, 3), np.ones(2))
    with _raises(ValueError, "cosine_embedding_loss: `target` has shape (3,) but must have "
                 "shape (2,)"):
        jaxloss.cosine_embedding_loss(x, x, np.ones(3))
    with _raises(TypeError, "cosine_embedding_loss: `input1` must have a floating dtype"):
        jaxloss.cosine_embedding_loss(np.ones((2, 4), int), x, np.ones(2))


def test_triplet_errors():
    x = _normal(2, 4)
    with _raises(ValueError, "triplet_margin_loss: `anchor` has shape (2, 4) but `negative` "
                 "has shape (4,)"):
        jaxloss.triplet_margin_loss(x, x, x[0])
    with _raises(ValueError, "triplet_margin_loss: `anchor` must have at least 1 dimension"):
        jaxloss.triplet_margin_loss(np.float32(1), np.float32(1), np.float32(1))

    def elementwise_distance(u, v):
        return jnp.abs(u - v)

    with _raises(ValueError, "triplet_margin_with_distance_loss: `distance_function` returned "
                 "shape (2, 4) for inputs of shape (2, 4)"):
        jaxloss.triplet_margin_with_distance_loss(
            x, x, x, distance_function=elementwise_distance
        )


def test_nan_score_gives_nan_in_the_class_margin_losses():
    # Documented difference: PyTorch's kernels add a term only if z > 0, which skips a NaN
    # term (0.225 here); a NaN score is a NaN loss here, as in every other loss.
    scores = np.array([[0.1, np.nan, 0.4, 0.8], [0.1, 0.2, 0.3, 0.4]], np.float32)
    multi = jaxloss.multi_margin_loss(scores, np.array([3, 0]), reduction="none")
    listed = jaxloss.multilabel_margin_loss(scores, np.array([[3, 0, -1, -1]] * 2),
                                            reduction="none")
    for losses in (multi, listed):
        assert np.isnan(losses[0]) and np.isfinite(losses[1])
