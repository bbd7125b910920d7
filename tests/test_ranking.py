"""Ranking losses: ranking_softmax_loss against live optax (values and gradients, padded items,
weights, every reduction), the pairwise losses against NumPy loops over pairs and rax's documented
values, padded items equal to slicing, all-padded lists, the two forms of `where`, and error
messages. The generic properties (jit, vmap, list-level where, dtypes, retracing) are checked
for every loss in test_catalog.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxloss

PAIRWISE = [jaxloss.pairwise_logistic_loss, jaxloss.pairwise_hinge_loss]
ALL = [jaxloss.ranking_softmax_loss, *PAIRWISE]


def _close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _lists(seed=0, shape=(4, 6)):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal(shape).astype(np.float32) * 2
    labels = rng.integers(0, 3, shape)
    valid = rng.random(shape) > 0.3
    valid[:, 0] = True
    return scores, labels, valid


# --- ranking_softmax_loss against optax --------------------------------------------------------

OPTAX_REDUCE = {"mean": jnp.mean, "sum": jnp.sum, "none": None}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("masked", [False, True], ids=["all_items", "padded_items"])
def test_ranking_softmax_matches_optax(reduction, masked):
    scores, labels, valid = _lists()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, scores.shape).astype(np.float32)
    where = valid if masked else None
    # Padded items may hold anything, in every input (optax needs clean values there).
    dirty = (np.where(valid, scores, np.nan), np.where(valid, labels, -7),
             np.where(valid, weights, np.inf)) if masked else (scores, labels, weights)
    ours = jaxloss.ranking_softmax_loss(dirty[0], dirty[1], where=where, weights=dirty[2],
                                        reduction=reduction)
    theirs = optax.losses.ranking_softmax_loss(
        jnp.asarray(scores), jnp.asarray(labels, jnp.float32), where=where, weights=weights,
        reduce_fn=OPTAX_REDUCE[reduction])
    _close(ours, theirs)


@pytest.mark.parametrize("masked", [False, True], ids=["all_items", "padded_items"])
def test_ranking_softmax_gradient_matches_optax(masked):
    scores, labels, valid = _lists(seed=2)
    where = valid if masked else None
    labels = jnp.asarray(labels, jnp.float32)
    ours = jax.grad(lambda s: jaxloss.ranking_softmax_loss(s, labels, where=where))(scores)
    theirs = jax.grad(lambda s: optax.losses.ranking_softmax_loss(s, labels, where=where))(
        jnp.asarray(scores))
    _close(ours, theirs)


def test_ranking_softmax_hand_checked():
    # -sum_i y_i log softmax(s)_i with graded labels 2 and 1: labels are not normalised.
    scores, labels = np.array([0.0, 0.0, 0.0, 0.0]), np.array([2, 1, 0, 0])
    _close(jaxloss.ranking_softmax_loss(scores, labels), 3 * np.log(4.0))


# --- pairwise losses ---------------------------------------------------------------------------


def _pairwise_reference(scores, labels, valid, pair_loss):
    """Per-list sums over pairs (i, j) of valid items with y_i > y_j, and the pair counts
    (rax's definition: sum_i sum_j I[y_i > y_j] loss(s_i - s_j))."""
    sums, counts = np.zeros(scores.shape[:-1]), np.zeros(scores.shape[:-1])
    for index in np.ndindex(*scores.shape[:-1]):
        s, y, v = scores[index].astype(np.float64), labels[index], valid[index]
        for i in range(len(s)):
            for j in range(len(s)):
                if v[i] and v[j] and y[i] > y[j]:
                    sums[index] += pair_loss(s[i] - s[j])
                    counts[index] += 1
    return sums, counts


def _logistic(d):
    return np.logaddexp(0.0, -d)


def _hinge(margin):
    return lambda d: max(0.0, margin - d)


@pytest.mark.parametrize("fn, pair_loss, options", [
    (jaxloss.pairwise_logistic_loss, _logistic, {}),
    (jaxloss.pairwise_hinge_loss, _hinge(1.0), {}),
    (jaxloss.pairwise_hinge_loss, _hinge(0.3), {"margin": 0.3}),
], ids=["logistic", "hinge", "hinge_margin"])
@pytest.mark.parametrize("masked", [False, True], ids=["all_items", "padded_items"])
def test_pairwise_matches_loops_over_pairs(fn, pair_loss, options, masked):
    scores, labels, valid = _lists(seed=3, shape=(2, 3, 5))
    if not masked:
        valid = np.ones_like(valid)
    sums, counts = _pairwise_reference(scores, labels, valid, pair_loss)
    where = valid if masked else None
    _close(fn(scores, labels, where=where, reduction="none", **options), sums)
    _close(fn(scores, labels, where=where, reduction="sum", **options), sums.sum())
    _close(fn(scores, labels, where=where, **options), sums.sum() / counts.sum())


def test_pairwise_rax_documented_values():
    # rax's docstring examples (rax.pairwise_hinge_loss, rax.pairwise_logistic_loss), worked:
    # scores [2, 1, 3], labels [1, 0, 0]: pairs (0, 1), (0, 2) with differences 1 and -1.
    scores, labels = np.array([2.0, 1.0, 3.0]), np.array([1.0, 0.0, 0.0])
    _close(jaxloss.pairwise_hinge_loss(scores, labels, reduction="sum"), 2.0)  # 0 + 2
    _close(jaxloss.pairwise_logistic_loss(scores, labels, reduction="sum"),
           np.log1p(np.exp(-1.0)) + np.log1p(np.exp(1.0)))  # rax: 1.6265235
    # Two lists, the first with a padded third item: three pairs in all, mean over pairs.
    scores = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
    labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    valid = np.array([[True, True, False], [True, True, True]])
    _close(jaxloss.pairwise_hinge_loss(scores, labels, where=valid), 0.5 / 3)  # rax: 0.1666667
    _close(jaxloss.pairwise_logistic_loss(scores, labels, where=valid), 0.3668668)


def test_pairwise_hinge_gradient_is_zero_at_the_kink():
    grad = jax.grad(jaxloss.pairwise_hinge_loss)(jnp.array([1.0, 0.0]), jnp.array([1, 0]))
    assert not np.any(grad)


def test_pairwise_gradient_hand_checked():
    # One pair, difference d = 0.5: d/ds_0 log(1 + e^-d) = -sigmoid(-d), d/ds_1 the opposite.
    grad = jax.grad(jaxloss.pairwise_logistic_loss)(jnp.array([0.5, 0.0, 7.0]),
                                                    jnp.array([1, 0, 1]),
                                                    where=jnp.array([True, True, False]))
    expected = 1 / (1 + np.exp(0.5))
    _close(grad, [-expected, expected, 0.0])


# --- padding: where over items ----------------------------------------------------------------


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_padded_items_equal_slicing_them_off(fn):
    scores, labels, valid = _lists(seed=4)
    poisoned = np.where(valid, scores, np.nan)  # padding may hold anything
    per_list = fn(poisoned, labels, where=valid, reduction="none")
    grad = jax.grad(lambda s: fn(s, labels, where=valid, reduction="sum"))(poisoned)
    for row, kept in enumerate(valid):
        one = lambda s, row=row, kept=kept: fn(s, labels[row][kept], reduction="sum")  # noqa: E731
        _close(per_list[row], one(scores[row][kept]))
        _close(grad[row][kept], jax.grad(one)(scores[row][kept]))
        assert not np.any(grad[row][~kept])


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_all_padded_lists_add_nothing(fn):
    scores, labels, valid = _lists(seed=5)
    valid[1] = False  # the second list is all padding, and holds NaN
    scores[1] = np.nan
    value, grad = jax.value_and_grad(fn)(scores, labels, where=valid)
    others = np.arange(len(scores)) != 1
    _close(value, fn(scores[others], labels[others], where=valid[others]))
    assert not np.any(grad[1]) and np.all(np.isfinite(grad))
    assert float(fn(scores, labels, where=valid, reduction="none")[1]) == 0.0
    # Every list padded: 0 with a zero gradient, not NaN.
    value, grad = jax.value_and_grad(fn)(scores, labels, where=np.zeros_like(valid))
    assert float(value) == 0.0 and not np.any(grad)


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("where", [None, np.array([True, True])], ids=["unmasked", "lists"])
def test_lists_of_no_items_add_nothing(fn, where):
    # An empty list has no valid item, so it is dropped like an all-padded one (the softmax
    # loss once gave 0 * log 0 = NaN).
    scores, labels = np.zeros((2, 0), np.float32), np.zeros((2, 0), np.float32)
    value, grad = jax.value_and_grad(fn)(scores, labels, where=where)
    assert float(value) == 0.0 and grad.shape == (2, 0)
    assert np.array_equal(fn(scores, labels, where=where, reduction="none"), [0.0, 0.0])


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_where_over_lists_and_over_items(fn):
    scores, labels, _ = _lists(seed=6)
    lists = np.array([True, False, True, True])
    by_list = fn(scores, labels, where=lists)
    by_item = fn(scores, labels, where=np.broadcast_to(lists[:, None], scores.shape))
    sliced = fn(scores[lists], labels[lists])
    _close(by_list, sliced)
    _close(by_item, sliced)
    # An item mask of shape (lists, 1) is an item mask broadcast along each list.
    _close(fn(scores, labels, where=lists[:, None]), sliced)


def test_ranking_softmax_list_without_relevant_items_counts_as_zero():
    scores, labels = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0, 0], [1, 0]])
    _close(jaxloss.ranking_softmax_loss(scores, labels), np.log(2.0) / 2)  # optax's convention


def test_ranking_softmax_large_scores_keep_float32_accuracy():
    # The loss is a sum of non-negative terms taken relative to each list's top score; the
    # equal form sum(y) * logsumexp(s) - sum(y * s) cancels here, off by about 1e-2 (checked).
    scores, labels, valid = _lists(seed=7)
    scores = np.round(scores * 64) / 64  # so that adding 1e5 is exact in float32
    expected = jaxloss.ranking_softmax_loss(scores, labels, where=valid, reduction="none")
    shifted = jaxloss.ranking_softmax_loss(scores + np.float32(1e5), labels, where=valid,
                                           reduction="none")
    _close(shifted, expected, rtol=1e-5, atol=1e-5)


# --- errors ------------------------------------------------------------------------------------


def test_error_messages():
    scores = jnp.zeros((2, 4))
    with pytest.raises(ValueError, match=r"^ranking_softmax_loss: `scores` has shape \(2, 4\) "
                                         r"but `labels` has shape \(2, 3\)"):
        jaxloss.ranking_softmax_loss(scores, jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^pairwise_hinge_loss: `where` has shape \(2, 5\), "
                                         r"which does not broadcast to the item shape \(2, 4\)"):
        jaxloss.pairwise_hinge_loss(scores, jnp.zeros((2, 4)), where=jnp.ones((2, 5), bool))
    with pytest.raises(ValueError, match=r"^pairwise_logistic_loss: `where` has shape \(3,\), "
                                         r"which does not broadcast to the unreduced loss shape "
                                         r"\(2,\)"):
        jaxloss.pairwise_logistic_loss(scores, jnp.zeros((2, 4)), where=jnp.ones(3, bool))
    with pytest.raises(TypeError, match=r"^ranking_softmax_loss: `where` must be a boolean mask"):
        jaxloss.ranking_softmax_loss(scores, jnp.zeros((2, 4)), where=jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"^ranking_softmax_loss: `weights` has shape \(4,\) but "
                                         r"must have shape \(2, 4\)"):
        jaxloss.ranking_softmax_loss(scores, jnp.zeros((2, 4)), weights=jnp.ones(4))
    with pytest.raises(ValueError, match=r"^pairwise_logistic_loss: `scores` must have at least "
                                         r"1 dimension"):
        jaxloss.pairwise_logistic_loss(jnp.float32(1.0), jnp.float32(1.0))
