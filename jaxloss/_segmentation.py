r"""Overlap losses for segmentation: Dice, Tversky and Jaccard (soft IoU).

Layout: `input` has shape ``(..., *spatial, C)``, class axis last; the spatial axes, named by
``axis`` counted from the end (``(-3, -2)``: 2-D images ``(..., H, W, C)``; ``(-4, -3, -2)``:
volumes; ``(-2,)``: sequences), are summed into soft counts per example and class

$$I_{c} = \sum_s p_{sc}\, t_{sc}, \qquad P_c = \sum_s p_{sc}, \qquad T_c = \sum_s t_{sc},$$

so the unreduced loss has `input`'s shape without the spatial axes, ``(..., C)``: one value per
example and class. ``"mean"`` averages it over examples and classes, weighted by the optional
class weights $w_c$: $\sum w_c \ell_c / \sum w_c$ over kept entries. ``where`` (broadcastable to
``(..., C)``) drops examples (shape ``(..., 1)``) or single classes of an example.

`input` holds probabilities (``activation=None``) or logits turned into probabilities by
``activation="sigmoid"`` (independent classes: binary masks with ``C = 1``, multi-label) or
``activation="softmax"`` (exclusive classes, softmax over the class axis). `target` is either
`input`'s shape (binary or soft masks, one-hot; integer masks are cast) or `input`'s shape
without the class axis, holding integer class indices (one-hot encoded here). A class index
outside ``[0, C)`` makes the example's losses NaN (``jaxloss.checked(loss)`` raises instead).
Python or NumPy values of ``smooth`` (and Tversky's ``alpha``, ``beta``) below 0 raise
``ValueError``.

A class that is empty in both prediction and target (a zero denominator, with ``smooth = 0``)
scores a perfect 1, loss 0, rather than 0/0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks
from ._reduction import fill_dropped, keep_mask, loss_function, reduce

_ACTIVATIONS = (None, "sigmoid", "softmax")


def _spatial_axes(fn, axis, ndim):
    """`axis` as sorted non-negative positions, refusing the class axis and repeats."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not axes or not all(isinstance(a, int) for a in axes):
        raise ValueError(f"{fn}: `axis` must be a non-empty tuple of ints, got {axis!r}")
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"{fn}: `axis` {axis!r} is out of range for `input` of rank {ndim}")
    positions = sorted({a % ndim for a in axes})
    if len(positions) != len(axes) or positions[-1] == ndim - 1:
        raise ValueError(
            f"{fn}: `axis` {axis!r} must name distinct spatial axes, not the class axis "
            "(the last one)"
        )
    return tuple(positions)


def _soft_counts(fn, input, target, *, axis, activation, weight, where, squared=False):
    """The soft counts ``(I, P, T)`` per example and class, the kept entries, the class
    weights broadcast to the loss shape and the examples whose labels are all valid."""
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"{fn}: `activation` must be None, 'sigmoid' or 'softmax', got {activation!r}"
        )
    arrays = {"input": input} if weight is None else {"input": input, "weight": weight}
    scores, *weight = _checks.floats(fn, **arrays)
    _checks.min_rank(fn, "input", scores, 2, "spatial axes, then the class axis")
    axes = _spatial_axes(fn, axis, scores.ndim)
    num_classes = scores.shape[-1]
    loss_shape = tuple(d for i, d in enumerate(scores.shape) if i not in axes)
    target = jnp.asarray(target)
    labels = target.shape == scores.shape[:-1]
    if labels:
        hint = f"; masks must have `input`'s shape {_checks.shape_str(scores.shape)}"
        target = _checks.labels(fn, "target", target, hint)
    elif target.shape == scores.shape:
        (target,) = _checks.floats(fn, target=target, numeric=("target",))
        target = target.astype(scores.dtype)
    else:
        raise ValueError(
            f"{fn}: `input` has shape {_checks.shape_str(scores.shape)} but `target` has shape "
            f"{_checks.shape_str(target.shape)}; it must have `input`'s shape (masks) or "
            f"`input`'s shape without the class axis {_checks.shape_str(scores.shape[:-1])} "
            "(class indices)"
        )
    if weight:
        _checks.shape_is(fn, "weight", weight[0], (num_classes,), "one weight per class")
        weight = jnp.broadcast_to(
            weight[0].reshape((1,) * (len(loss_shape) - 1) + (num_classes,)), loss_shape
        )
    else:
        weight = None

    keep = keep_mask(fn, where, loss_shape)
    if keep is not None:
        # A pixel's inputs are dropped only where nothing kept reads them: with a softmax or
        # class indices, every class of an example reads every class's input.
        example = jnp.expand_dims(jnp.any(keep, axis=-1), axes)
        per_class = jnp.expand_dims(keep, axes)
        (scores,) = fill_dropped(per_class if activation != "softmax" else example[..., None],
                                 scores)
        (target,) = fill_dropped(example if labels else per_class, target)
    if activation == "sigmoid":
        scores = jax.nn.sigmoid(scores)
    elif activation == "softmax":
        scores = jax.nn.softmax(scores, axis=-1)
    valid = None
    if labels:
        in_range = (target >= 0) & (target < num_classes)
        valid = jnp.all(in_range, axis=axes)[..., None]
        target = jax.nn.one_hot(target, num_classes, dtype=scores.dtype)
    power = jnp.square if squared else (lambda v: v)
    counts = (
        jnp.sum(scores * target, axis=axes),
        jnp.sum(power(scores), axis=axes),
        jnp.sum(power(target), axis=axes),
    )
    return counts, keep, weight, valid


def _ratio(numerator, denominator):
    """``numerator / denominator``, 1 (perfect agreement) where the denominator is 0."""
    empty = denominator == 0
    return jnp.where(empty, 1.0, numerator / jnp.where(empty, 1.0, denominator))


def _overlap_loss(fn, score, input, target, *, reduction, where, axis, activation, weight,
                  squared=False):
    counts, keep, weight, valid = _soft_counts(
        fn, input, target, axis=axis, activation=activation, weight=weight, where=where,
        squared=squared,
    )
    loss = 1 - score(*counts)
    if valid is not None:
        loss = jnp.where(valid, loss, jnp.nan)
    if weight is None:
        return reduce(loss, reduction, mask=keep)
    # Dropped entries are replaced before they meet the class weights' gradient.
    (loss,) = fill_dropped(keep, loss)
    return reduce(loss * weight, reduction, mask=keep, weight=weight)


_STATIC = ("activation", "axis")
# Class-index targets (not masks) of `input`'s shape without the class axis, for
# `jaxloss.checked`; the loss has a class axis that they do not.
_LABELS = _checks.Indices("target", "input", only_without_axis=True, extra_loss_axes=1)
_NON_NEGATIVE = (lambda v: v >= 0, "non-negative")


@loss_function(static=(*_STATIC, "squared"), valid={"smooth": _NON_NEGATIVE}, indices=(_LABELS,))
def dice_loss(
    input,
    target,
    *,
    reduction="mean",
    where=None,
    activation=None,
    axis=(-3, -2),
    weight=None,
    smooth=1e-5,
    squared=False,
):
    r"""Soft Dice loss, per example and class.

    With the soft counts $I_c$, $P_c$, $T_c$ of the module docstring and smoothing $s$:

    $$\ell_c = 1 - \frac{2 I_c + s}{P_c + T_c + s}$$

    ``squared=True`` sums squares in the denominator, $\sum_s p_{sc}^2 + \sum_s t_{sc}^2$
    (V-Net's form).

    Args:
      input: probabilities, or logits with `activation`, shape ``(..., *spatial, C)``.
      target: masks of `input`'s shape, or integer class indices of `input`'s shape without
        the class axis.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(..., C)``).
      where: optional boolean mask broadcastable to ``(..., C)``; only True entries count.
      activation: None (`input` holds probabilities), ``"sigmoid"`` or ``"softmax"`` (static).
      axis: the spatial axes summed over (static), counted from the end; default 2-D images.
      weight: optional class weights $w$, shape ``(C,)`` (traced, differentiable); ``"mean"``
        is then $\sum w_c \ell_c / \sum w_c$ over kept entries.
      smooth: the smoothing $s \ge 0$ added to numerator and denominator (traced).
      squared: whether the denominator sums squares (static).

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-example, per-class losses
      ``(..., C)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[[[0.9], [0.1]], [[0.8], [0.2]]]])  # (1, 2, 2, 1): one 2x2 image
      >>> t = jnp.array([[[[1.0], [0.0]], [[1.0], [0.0]]]])
      >>> float(jaxloss.dice_loss(p, t, smooth=0.0))  # 1 - 2 * 1.7 / (2 + 2)
      0.15

    Reference: Milletari et al, V-Net <https://arxiv.org/abs/1606.04797>, 2016 (eq. 1, the
    squared form); Sudre et al, Generalised Dice Overlap as a Deep Learning Loss Function
    <https://arxiv.org/abs/1707.03237>, 2017.
    """

    def score(inter, sum_p, sum_t):
        return _ratio(2 * inter + smooth, sum_p + sum_t + smooth)

    return _overlap_loss(
        "dice_loss", score, input, target, reduction=reduction, where=where, axis=axis,
        activation=activation, weight=weight, squared=squared,
    )


@loss_function(
    static=_STATIC,
    valid={"alpha": _NON_NEGATIVE, "beta": _NON_NEGATIVE, "smooth": _NON_NEGATIVE},
    indices=(_LABELS,),
)
def tversky_loss(
    input,
    target,
    *,
    reduction="mean",
    where=None,
    activation=None,
    axis=(-3, -2),
    weight=None,
    alpha=0.5,
    beta=0.5,
    smooth=1e-5,
):
    r"""Soft Tversky loss: Dice with separate weights on false positives and false negatives.

    With the soft counts of the module docstring, $FP_c = P_c - I_c$ and $FN_c = T_c - I_c$:

    $$\ell_c = 1 - \frac{I_c + s}{I_c + \alpha\, FP_c + \beta\, FN_c + s}$$

    $\alpha = \beta = \tfrac12$ is the Dice score (up to where $s$ enters) and
    $\alpha = \beta = 1$ the Jaccard index; $\beta > \alpha$ favours recall (Salehi et al.
    used $\alpha = 0.3, \beta = 0.7$).

    Args:
      input: probabilities, or logits with `activation`, shape ``(..., *spatial, C)``.
      target: masks of `input`'s shape, or integer class indices of `input`'s shape without
        the class axis.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(..., C)``).
      where: optional boolean mask broadcastable to ``(..., C)``; only True entries count.
      activation: None (`input` holds probabilities), ``"sigmoid"`` or ``"softmax"`` (static).
      axis: the spatial axes summed over (static), counted from the end; default 2-D images.
      weight: optional class weights $w$, shape ``(C,)`` (traced, differentiable).
      alpha: the weight $\alpha$ of false positives (traced).
      beta: the weight $\beta$ of false negatives (traced).
      smooth: the smoothing $s \ge 0$ (traced).

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-example, per-class losses
      ``(..., C)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[[0.9], [0.1], [0.6]]])  # (1, 3, 1): one sequence of 3
      >>> t = jnp.array([[[1.0], [0.0], [0.0]]])
      >>> loss = jaxloss.tversky_loss(p, t, axis=(-2,), alpha=0.3, beta=0.7, smooth=0.0)
      >>> round(float(loss), 4)  # 1 - 0.9 / (0.9 + 0.3 * 0.7 + 0.7 * 0.1)
      0.2373

    Reference: Salehi et al, Tversky Loss Function for Image Segmentation Using 3D Fully
    Convolutional Deep Networks <https://arxiv.org/abs/1706.05721>, 2017.
    """

    def score(inter, sum_p, sum_t):
        return _ratio(
            inter + smooth, inter + alpha * (sum_p - inter) + beta * (sum_t - inter) + smooth
        )

    return _overlap_loss(
        "tversky_loss", score, input, target, reduction=reduction, where=where, axis=axis,
        activation=activation, weight=weight,
    )


@loss_function(static=_STATIC, valid={"smooth": _NON_NEGATIVE}, indices=(_LABELS,))
def jaccard_loss(
    input,
    target,
    *,
    reduction="mean",
    where=None,
    activation=None,
    axis=(-3, -2),
    weight=None,
    smooth=1e-5,
):
    r"""Soft Jaccard (IoU) loss, per example and class.

    With the soft counts of the module docstring, the soft union is $P_c + T_c - I_c$:

    $$\ell_c = 1 - \frac{I_c + s}{P_c + T_c - I_c + s}$$

    Args:
      input: probabilities, or logits with `activation`, shape ``(..., *spatial, C)``.
      target: masks of `input`'s shape, or integer class indices of `input`'s shape without
        the class axis.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(..., C)``).
      where: optional boolean mask broadcastable to ``(..., C)``; only True entries count.
      activation: None (`input` holds probabilities), ``"sigmoid"`` or ``"softmax"`` (static).
      axis: the spatial axes summed over (static), counted from the end; default 2-D images.
      weight: optional class weights $w$, shape ``(C,)`` (traced, differentiable).
      smooth: the smoothing $s \ge 0$ (traced).

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-example, per-class losses
      ``(..., C)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[[0.9], [0.1], [0.6]]])  # (1, 3, 1): one sequence of 3
      >>> t = jnp.array([[[1.0], [0.0], [0.0]]])
      >>> round(float(jaxloss.jaccard_loss(p, t, axis=(-2,), smooth=0.0)), 4)  # 1 - 0.9 / 1.7
      0.4706

    Reference: Rahman & Wang, Optimizing Intersection-over-Union in Deep Neural Networks for
    Image Segmentation <https://doi.org/10.1007/978-3-319-50835-1_22>, 2016.
    """

    def score(inter, sum_p, sum_t):
        return _ratio(inter + smooth, sum_p + sum_t - inter + smooth)

    return _overlap_loss(
        "jaccard_loss", score, input, target, reduction=reduction, where=where, axis=axis,
        activation=activation, weight=weight,
    )
