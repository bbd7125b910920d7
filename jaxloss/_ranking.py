"""Learning-to-rank losses over scored lists: listwise softmax, pairwise logistic and hinge.

Scores and relevance labels have shape ``(..., list_size)``: the list axis is last and every
leading axis indexes independent lists (queries). The unreduced loss has one value per list,
shape ``(...)``.

``where`` takes either form, told apart by its rank:

* rank ``scores.ndim``, broadcastable to ``(..., list_size)``: marks the valid *items*, so
  padded items (lists shorter than ``list_size``) take no part in the loss, as optax's and rax's
  ``where``/``mask``;
* lower rank, broadcastable to ``(...)``: marks the *lists* that count, as every other loss's
  ``where`` (DESIGN §3.4).

A list with no valid item is dropped like a masked list: it adds 0 to the value and to every
gradient, and ``"mean"`` does not count it. Dropped items may hold NaN or inf.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks, _ops
from ._reduction import fill_dropped, keep_mask, loss_function, reduce


def _scored_lists(fn, scores, labels, where, weights=None):
    """Validated ``(scores, labels, weights, valid, keep)``: `valid` ``(..., list_size)`` marks
    the items that count, `keep` ``(...)`` the lists (None: all); dropped items are zeroed."""
    arrays = {"scores": scores, "labels": labels}
    if weights is not None:
        arrays["weights"] = weights
    s, y, *w = _checks.floats(fn, numeric=("labels",), **arrays)
    _checks.min_rank(fn, "scores", s, 1, "the list axis is last")
    _checks.same_shape(fn, scores=s, labels=y)
    if w:
        _checks.shape_is(fn, "weights", w[0], s.shape, "one weight per item, `scores`' shape")
    list_shape = s.shape[:-1]
    if where is not None and jnp.ndim(where) == s.ndim:
        where = _checks.boolean(fn, "where", where)
        _checks.broadcastable(fn, "where", where, s.shape, "the item shape")
        items = jnp.broadcast_to(where, s.shape)
        keep = keep_mask(fn, None, list_shape, jnp.any(items, axis=-1))
        valid = items & keep[..., None]
    else:
        keep = keep_mask(fn, where, list_shape)
        if keep is None and s.shape[-1]:
            return s, y, (w[0] if w else None), None, None
        if keep is None:
            keep = jnp.ones(list_shape, bool)
        valid = jnp.broadcast_to(keep[..., None], s.shape)
    if not s.shape[-1]:  # lists of no items have no valid item: dropped, as any such list
        keep = jnp.zeros_like(keep)
    s, y, *w = fill_dropped(valid, s, y, *w)
    return s, y, (w[0] if w else None), valid, keep


@loss_function()
def ranking_softmax_loss(scores, labels, *, reduction="mean", where=None, weights=None):
    r"""Listwise softmax cross-entropy between scores and relevance labels.

    $$\ell = -\sum_{i \text{ valid}} w_i\, y_i \log
      \frac{e^{s_i}}{\sum_{j \text{ valid}} e^{s_j}}$$

    The labels are not normalised (optax's definition; rax divides them by their sum first),
    so graded labels weight each relevant item by its grade, and a list without relevant items
    has loss 0 (it still counts in the mean).

    Args:
      scores: item scores $s$, shape ``(..., list_size)``.
      labels: relevance labels $y \ge 0$ (floating or integer), the shape of `scores`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (one loss per list, ``(...)``).
      where: optional boolean mask of valid items (rank ``scores.ndim``, broadcastable to
        ``(..., list_size)``) or of kept lists (lower rank, broadcastable to ``(...)``); see the
        module notes. ``"mean"`` averages over lists with at least one valid item.
      weights: optional per-item weights $w$, the shape of `scores` (traced), multiplying the
        labels as in optax.

    Returns:
      A scalar (a mean over no kept list is 0), or the per-list losses ``(...)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> scores, labels = jnp.array([2.0, 1.0, 3.0]), jnp.array([1.0, 0.0, 0.0])
      >>> round(float(jaxloss.ranking_softmax_loss(scores, labels)), 4)  # log(e+1+e^2) - 2
      1.4076
      >>> valid = jnp.array([True, True, False])  # the third item is padding
      >>> round(float(jaxloss.ranking_softmax_loss(scores, labels, where=valid)), 4)
      0.3133

    Equivalents: ``optax.losses.ranking_softmax_loss`` (``where`` over items only).
    Reference: Cao et al, Learning to Rank: From Pairwise Approach to Listwise Approach
    <https://doi.org/10.1145/1273496.1273513>, 2007.
    """
    s, y, w, valid, keep = _scored_lists("ranking_softmax_loss", scores, labels, where, weights)
    if w is not None:
        y = y * w
    # sum_i y_i (lse - s_i), written with each list's top valid score t as
    # sum(y) log(sum_j e^(s_j - t)) + sum_i y_i (t - s_i): for labels >= 0 both terms are >= 0
    # and add without cancelling, and no log-softmax array is made for the gradient (XLA:CPU
    # took 1.45x optax's value_and_grad with jax.nn.logsumexp, 0.97x with this). t cancels
    # exactly, so it carries no gradient.
    top = jnp.max(s, axis=-1, keepdims=True, where=valid, initial=-jnp.inf)
    if keep is not None:
        top = jnp.where(keep[..., None], top, 0)  # -inf for a list without valid items
    gap = jax.lax.stop_gradient(top) - s
    exps = jnp.exp(-gap) if valid is None else jnp.where(valid, jnp.exp(-gap), 0)
    total = jnp.sum(exps, axis=-1)
    if keep is not None:
        total = jnp.where(keep, total, 1)  # log(0) would give 0 * inf in the gradient
    loss = jnp.sum(y, axis=-1) * jnp.log(total) + jnp.sum(y * gap, axis=-1)
    return reduce(loss, reduction, mask=keep)


def _pairwise(fn, pair_loss, scores, labels, where, reduction):
    s, y, _, valid, keep = _scored_lists(fn, scores, labels, where)
    pairs = y[..., :, None] > y[..., None, :]
    if valid is not None:
        pairs = pairs & valid[..., :, None] & valid[..., None, :]
    loss = jnp.sum(jnp.where(pairs, pair_loss(s[..., :, None] - s[..., None, :]), 0), (-2, -1))
    # "mean" is over pairs, pooled across lists (rax's mean): the denominator is the number of
    # pairs each kept list contributes.
    return reduce(loss, reduction, mask=keep, weight=jnp.sum(pairs, axis=(-2, -1)))


@loss_function()
def pairwise_logistic_loss(scores, labels, *, reduction="mean", where=None):
    r"""Pairwise logistic (RankNet) loss: each more relevant item should outscore each less
    relevant one.

    $$\ell = \sum_{i, j:\, y_i > y_j} \log\bigl(1 + e^{-(s_i - s_j)}\bigr)$$

    Pairs $(i, j)$ run over the valid items of one list with $y_i > y_j$, so equal labels
    compare nothing. ``"mean"`` divides the sum over every kept list's pairs by the number of
    those pairs (rax's mean over pairs); a batch without pairs gives 0 with a zero gradient.
    ``"none"`` gives each list's sum over its pairs.

    Args:
      scores: item scores $s$, shape ``(..., list_size)``.
      labels: relevance labels $y$ (floating or integer), the shape of `scores`.
      reduction: ``"mean"`` (default, over pairs), ``"sum"`` or ``"none"`` (per list, ``(...)``).
      where: optional boolean mask of valid items (rank ``scores.ndim``) or of kept lists
        (lower rank, broadcastable to ``(...)``); see the module notes.

    Returns:
      A scalar, or the per-list sums ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> scores = jnp.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
      >>> labels = jnp.array([[1, 0, 0], [0, 0, 1]])
      >>> valid = jnp.array([[True, True, False], [True, True, True]])
      >>> round(float(jaxloss.pairwise_logistic_loss(scores, labels, where=valid)), 4)
      0.3669

    Equivalents: ``rax.pairwise_logistic_loss`` with ``reduce_fn=jnp.mean``.
    Reference: Burges et al, Learning to Rank using Gradient Descent
    <https://doi.org/10.1145/1102351.1102363>, 2005.
    """
    return _pairwise(
        "pairwise_logistic_loss", lambda d: _ops.softplus(-d), scores, labels, where, reduction
    )


@loss_function()
def pairwise_hinge_loss(scores, labels, *, reduction="mean", where=None, margin=1.0):
    r"""Pairwise hinge loss: each more relevant item should outscore each less relevant one by
    a margin.

    $$\ell = \sum_{i, j:\, y_i > y_j} \max\bigl(0,\, \Delta - (s_i - s_j)\bigr)$$

    Pairs $(i, j)$ run over the valid items of one list with $y_i > y_j$, so equal labels
    compare nothing. ``"mean"`` divides the sum over every kept list's pairs by the number of
    those pairs (rax's mean over pairs); a batch without pairs gives 0 with a zero gradient.
    ``"none"`` gives each list's sum over its pairs.
    At the kink the gradient is 0 (``jax.nn.relu``, as rax).

    Args:
      scores: item scores $s$, shape ``(..., list_size)``.
      labels: relevance labels $y$ (floating or integer), the shape of `scores`.
      reduction: ``"mean"`` (default, over pairs), ``"sum"`` or ``"none"`` (per list, ``(...)``).
      where: optional boolean mask of valid items (rank ``scores.ndim``) or of kept lists
        (lower rank, broadcastable to ``(...)``); see the module notes.
      margin: the margin $\Delta$ (traced; rax fixes it at 1).

    Returns:
      A scalar, or the per-list sums ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> scores = jnp.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
      >>> labels = jnp.array([[1, 0, 0], [0, 0, 1]])
      >>> valid = jnp.array([[True, True, False], [True, True, True]])
      >>> jaxloss.pairwise_hinge_loss(scores, labels, where=valid, reduction="none")
      Array([0. , 0.5], dtype=float32)
      >>> round(float(jaxloss.pairwise_hinge_loss(scores, labels, where=valid)), 4)  # 0.5 / 3
      0.1667

    Equivalents: ``rax.pairwise_hinge_loss`` with ``reduce_fn=jnp.mean``.
    Reference: Herbrich et al, Large Margin Rank Boundaries for Ordinal Regression, 2000;
    Joachims, Optimizing Search Engines using Clickthrough Data
    <https://doi.org/10.1145/775047.775067>, 2002.
    """
    return _pairwise(
        "pairwise_hinge_loss", lambda d: _ops.relu(margin - d), scores, labels, where, reduction
    )
