"""Classification losses: cross-entropy, negative log-likelihood, binary cross-entropies, KL.

The class axis is last (``(..., C)``), the JAX/optax convention; PyTorch puts it at dim 1. Values
and gradients otherwise match ``torch.nn.functional`` (PyTorch 2.13), with a ``where`` mask and a
``"mean"`` over no kept entries that is 0 rather than NaN.

Integer class labels cannot be range-checked under ``jit``: a label outside ``[0, C)`` that is not
``ignore_index`` makes its loss NaN (so the mean is NaN) instead of silently reading another
class, the way a negative index would wrap around in ``jnp.take``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks
from ._reduction import (
    elementwise,
    fill_dropped,
    gate_dropped,
    keep_mask,
    loss_function,
    reduce,
)


class ClassIndexed(NamedTuple):
    """Scores ``(..., C)`` with integer targets ``(...)``, validated and masked.

    The scores of dropped entries are gated, not replaced (`gate_dropped`): per-entry results
    may be NaN there until `loss_of` (or `fill_dropped`) replaces them.
    """

    scores: jnp.ndarray  # (..., C), gated at dropped entries
    label: jnp.ndarray  # (...), int32, clipped into [0, C) so gathers are always in bounds
    in_range: jnp.ndarray  # (...), whether the original label was a class index
    keep: jnp.ndarray | None  # (...), the entries that count
    weight: jnp.ndarray | None  # (C,) class weights
    label_weight: jnp.ndarray | None  # (...), weight[label]

    def picked(self):
        """The score of each target class."""
        return jnp.take_along_axis(self.scores, self.label[..., None], axis=-1)[..., 0]

    def loss_of(self, loss):
        """Weighted by the target's class weight; NaN where the label is not a class index.

        Dropped entries are replaced by 0 first, so that the class weights' gradient never
        sees their (possibly NaN) values.
        """
        (loss,) = fill_dropped(self.keep, loss)
        if self.label_weight is not None:
            loss = self.label_weight * loss
        return jnp.where(self.in_range, loss, jnp.nan)


def class_indexed(
    fn: str, input, target, *, weight, ignore_index, where, hint: str = ""
) -> ClassIndexed:
    """Validates ``input (..., C)`` against integer ``target (...)`` and class weights ``(C,)``.

    Entries whose label equals `ignore_index` (None: no such label) or that `where` drops are
    not kept: their labels are replaced by 0 and their scores gated, so NaN or inf there cannot
    reach a gradient.
    """
    arrays = {"input": input} if weight is None else {"input": input, "weight": weight}
    scores, *weight = _checks.floats(fn, **arrays)
    weight = weight[0] if weight else None
    _checks.min_rank(fn, "input", scores, 1, "the class axis is last")
    num_classes = scores.shape[-1]
    if jnp.shape(target) != scores.shape[:-1]:
        raise ValueError(
            f"{fn}: `input` has shape {_checks.shape_str(scores.shape)} but `target` has shape "
            f"{_checks.shape_str(jnp.shape(target))}; class-index targets must have shape "
            f"input.shape[:-1] = {_checks.shape_str(scores.shape[:-1])}"
        )
    label = _checks.labels(fn, "target", target, hint)
    if weight is not None:
        _checks.shape_is(fn, "weight", weight, (num_classes,), "one weight per class")
    ignored = () if ignore_index is None else (label != ignore_index,)
    keep = keep_mask(fn, where, label.shape, *ignored)
    (label,) = fill_dropped(keep, label)
    (scores,) = gate_dropped(keep, scores)
    in_range = (label >= 0) & (label < num_classes)
    label = jnp.clip(label, 0, num_classes - 1)
    if weight is not None:
        # Class weights are constants, as in PyTorch (which does not differentiate them).
        weight = jax.lax.stop_gradient(weight)
    label_weight = None if weight is None else weight[label]
    return ClassIndexed(scores, label, in_range, keep, weight, label_weight)


@loss_function()
def nll_loss(input, target, *, reduction="mean", where=None, weight=None, ignore_index=-100):
    r"""Negative log-likelihood of class indices given log-probabilities.

    $$\ell_i = -w_{y_i}\, x_{i, y_i}, \qquad
      \text{mean} = \frac{\sum_{i \text{ kept}} \ell_i}{\sum_{i \text{ kept}} w_{y_i}}$$

    Args:
      input: log-probabilities $x$, shape ``(..., C)``, class axis last.
      target: class indices $y$ of any integer dtype, shape ``(...)``.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.
      weight: optional class weights $w$, shape ``(C,)`` (traced). They are constants, as in
        PyTorch: no gradient flows to them.
      ignore_index: a label value that contributes nothing, not even to the mean's denominator
        (traced). A label outside ``[0, C)`` otherwise gives NaN.

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-entry losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> log_probs = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
      >>> float(jaxloss.nll_loss(log_probs, jnp.array([0, 1])))  # -(log .5 + log .75) / 2
      0.4904

    Equivalents: ``torch.nn.functional.nll_loss`` (class axis at dim 1 there).
    """
    x = class_indexed(
        "nll_loss", input, target, weight=weight, ignore_index=ignore_index, where=where
    )
    return reduce(x.loss_of(-x.picked()), reduction, mask=x.keep, weight=x.label_weight)


@loss_function()
def cross_entropy(
    input,
    target,
    *,
    reduction="mean",
    where=None,
    weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
):
    r"""Softmax cross-entropy with class indices or class probabilities as targets.

    With $\log p_{ic} = x_{ic} - \operatorname{logsumexp}_c x_{ic}$, smoothing $\varepsilon$ and
    class weights $w$ (all ones by default), for **integer targets** $y_i$:

    $$\ell_i = (1-\varepsilon)\, w_{y_i} (-\log p_{i y_i})
      + \frac{\varepsilon}{C} \sum_c w_c (-\log p_{ic}), \qquad
      \text{mean} = \frac{\sum_{i \text{ kept}} \ell_i}{\sum_{i \text{ kept}} w_{y_i}}$$

    and for **probability targets** $t_{ic}$ (a floating `target` of `input`'s shape):

    $$\ell_i = -\sum_c w_c\, \bigl((1-\varepsilon)\, t_{ic} + \tfrac{\varepsilon}{C}\bigr)
      \log p_{ic}, \qquad \text{mean} = \text{plain mean over kept } i.$$

    Both follow PyTorch 2.13 exactly, including label smoothing combined with class weights and
    ``ignore_index`` (ignored entries add nothing to either term or to the denominator). With
    $\varepsilon = 0$ the smoothing term is not used, so a ``-inf`` logit on a non-target class
    gives a finite loss and gradient. A zero target probability on a ``-inf`` logit adds 0.

    Args:
      input: unnormalised logits $x$, shape ``(..., C)``, class axis last.
      target: class indices of any integer dtype, shape ``(...)``; or class probabilities,
        floating, shape ``(..., C)``.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.
      weight: optional class weights $w$, shape ``(C,)`` (traced). With integer targets they
        are constants, as in PyTorch: no gradient flows to them.
      ignore_index: integer targets only: a label value that contributes nothing (traced). A
        label outside ``[0, C)`` otherwise gives NaN.
      label_smoothing: $\varepsilon \in [0, 1]$ (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-entry losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
      >>> jaxloss.cross_entropy(logits, jnp.array([0, 2]), reduction="none").round(4)
      Array([0.2395, 1.0986], dtype=float32)
      >>> float(jaxloss.cross_entropy(logits, jnp.array([0, -100])))  # second entry ignored
      0.2395

    Equivalents: ``torch.nn.functional.cross_entropy`` (class axis at dim 1 there);
    ``optax.softmax_cross_entropy_with_integer_labels`` and ``optax.softmax_cross_entropy``
    (unreduced, no weights or smoothing).
    Reference: Szegedy et al, Rethinking the Inception Architecture for Computer Vision
    <https://arxiv.org/abs/1512.00567>, 2016 (label smoothing).
    """
    fn = "cross_entropy"
    eps = label_smoothing
    target = jnp.asarray(target)
    logit_shape = jnp.shape(input)
    if jnp.issubdtype(target.dtype, jnp.floating) and target.shape == logit_shape:
        return _cross_entropy_probabilities(fn, input, target, weight, eps, reduction, where)
    if target.shape == logit_shape and len(logit_shape):
        raise TypeError(
            f"{fn}: `target` has the shape of `input` {_checks.shape_str(logit_shape)}, so it "
            f"must hold class probabilities with a floating dtype, got {target.dtype}"
        )
    hint = f"; probability targets must have `input`'s shape {_checks.shape_str(logit_shape)}"
    x = class_indexed(
        fn, input, target, weight=weight, ignore_index=ignore_index, where=where, hint=hint
    )
    lse = jax.nn.logsumexp(x.scores, axis=-1)
    loss = x.loss_of(lse - x.picked())
    if x.weight is None:
        gaps = jnp.sum(lse[..., None] - x.scores, axis=-1)  # sum of -log p, fused
    else:
        # sum_c w_c (lse - x_c) as a matrix-vector product: XLA's CPU backend writes the
        # elementwise form's backward pass out in full, (..., C) floats. Shifting by the row
        # maximum first keeps the elementwise form's accuracy when logits share a large offset.
        top = jax.lax.stop_gradient(jnp.max(x.scores, axis=-1))
        gaps = jnp.sum(x.weight) * (lse - top) - (x.scores - top[..., None]) @ x.weight
    (smooth,) = fill_dropped(x.keep, gaps / x.scores.shape[-1])
    # At eps = 0 the smoothing term is skipped, not multiplied by 0: it is inf for a -inf logit.
    loss = jnp.where(eps == 0, loss, (1 - eps) * loss + eps * smooth)
    return reduce(loss, reduction, mask=x.keep, weight=x.label_weight)


def _cross_entropy_probabilities(fn, input, target, weight, eps, reduction, where):
    arrays = {"input": input, "target": target}
    if weight is not None:
        arrays["weight"] = weight
    logits, target, *weight = _checks.floats(fn, **arrays)
    _checks.min_rank(fn, "input", logits, 1, "the class axis is last")
    num_classes = logits.shape[-1]
    if weight:
        _checks.shape_is(fn, "weight", weight[0], (num_classes,), "one weight per class")
    keep = keep_mask(fn, where, logits.shape[:-1])
    (target,) = fill_dropped(keep, target)
    (logits,) = gate_dropped(keep, logits)  # read by three reductions: gated, not copied
    target = (1 - eps) * target + eps / num_classes
    lse = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
    # -log p_c, except 0 where the class has no mass and its logit is -inf (0 * inf).
    (gaps,) = fill_dropped(
        keep, jnp.where((target == 0) & jnp.isneginf(logits), 0.0, lse - logits)
    )
    terms = target * gaps
    if weight:
        terms = terms * jnp.broadcast_to(weight[0], terms.shape)
    return reduce(jnp.sum(terms, axis=-1), reduction, mask=keep)


@jax.custom_jvp
def _binary_cross_entropy(p, y):
    # log clamped at -100 as in PyTorch, so p in {0, 1} gives a finite loss.
    return -(y * jnp.maximum(jnp.log(p), -100.0) + (1 - y) * jnp.maximum(jnp.log1p(-p), -100.0))


@_binary_cross_entropy.defjvp
def _binary_cross_entropy_jvp(primals, tangents):
    # PyTorch's derivative, not that of the clamped formula: (p - y) / max(p (1 - p), 1e-12)
    # stays informative at p in {0, 1} where the clamp would make it 0. The target's derivative
    # uses the clamped logs, so it is finite (torch gives +-inf there).
    p, y = primals
    dp, dy = tangents
    grad_p = (p - y) / jnp.maximum(p * (1 - p), 1e-12)
    grad_y = jnp.maximum(jnp.log1p(-p), -100.0) - jnp.maximum(jnp.log(p), -100.0)
    return _binary_cross_entropy(p, y), grad_p * dp + grad_y * dy


@loss_function()
def binary_cross_entropy(input, target, *, reduction="mean", where=None, weight=None):
    r"""Binary cross-entropy between probabilities and binary (or soft) targets.

    $$\ell_i = -w_i \bigl(y_i \max(\log x_i, -100) + (1 - y_i) \max(\log(1 - x_i), -100)\bigr)$$

    The logs are clamped at -100 and the input gradient is
    $w_i (x_i - y_i) / \max(x_i (1 - x_i), 10^{-12})$, both exactly as in PyTorch, so
    probabilities of exactly 0 or 1 give finite values and gradients. Prefer
    `binary_cross_entropy_with_logits`, which is exact for all logits.

    Args:
      input: probabilities $x \in [0, 1]$, any shape. Values outside give NaN (PyTorch raises;
        values cannot be checked under ``jit``).
      target: targets $y \in [0, 1]$ with a floating dtype, the shape of `input`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      weight: optional weights broadcastable to `input`'s shape; ``"mean"`` is the plain mean
        of $\ell_i$ (as PyTorch).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> p, y = jnp.array([0.8, 0.0]), jnp.array([1.0, 1.0])
      >>> jaxloss.binary_cross_entropy(p, y, reduction="none").round(4)  # log 0 clamped at -100
      Array([  0.2231, 100.    ], dtype=float32)

    Equivalents: ``torch.nn.functional.binary_cross_entropy``.
    """
    return elementwise(
        "binary_cross_entropy", _binary_cross_entropy, {"input": input, "target": target},
        reduction=reduction, where=where, weight=weight, weight_broadcasts=True,
    )


@loss_function()
def binary_cross_entropy_with_logits(
    input, target, *, reduction="mean", where=None, weight=None, pos_weight=None
):
    r"""Binary cross-entropy on logits, computed stably with log-sigmoids.

    $$\ell_i = -w_i \bigl(q_i\, y_i \log \sigma(x_i) + (1 - y_i) \log \sigma(-x_i)\bigr)$$

    Args:
      input: logits $x$, any shape ``(..., C)``.
      target: targets $y \in [0, 1]$ with a floating dtype, the shape of `input`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      weight: optional weights $w$ broadcastable to `input`'s shape (traced).
      pos_weight: optional weights $q$ of the positive term, broadcastable to `input`'s shape,
        typically one per class ``(C,)`` (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> float(jaxloss.binary_cross_entropy_with_logits(jnp.array([0.0]), jnp.array([1.0])))
      0.6931

    Equivalents: ``torch.nn.functional.binary_cross_entropy_with_logits``;
    ``optax.sigmoid_binary_cross_entropy`` (unreduced, no weights).
    """
    fn = "binary_cross_entropy_with_logits"
    if pos_weight is None:
        positive = 1.0
    else:
        (positive,) = _checks.floats(fn, pos_weight=pos_weight)
        _checks.broadcastable(fn, "pos_weight", positive, jnp.shape(input), "`input`'s shape")
        positive = jnp.broadcast_to(positive, jnp.shape(input))

    def pointwise(x, y):
        return -(positive * y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x))

    return elementwise(
        fn, pointwise, {"input": input, "target": target},
        reduction=reduction, where=where, weight=weight, weight_broadcasts=True,
    )


def _xlogx(t):
    """``t log t`` with ``0 log 0 = 0`` and NaN for ``t < 0`` (torch's ``xlogy(t, t)``); the
    gradient at 0 is 0 rather than -inf."""
    return jnp.where(t >= 0, t * jnp.log(jnp.where(t > 0, t, 1.0)), jnp.nan)


@loss_function(static=("log_target",))
def kl_div(input, target, *, reduction="mean", where=None, log_target=False):
    r"""Pointwise Kullback-Leibler divergence $\mathrm{KL}(t \,\|\, q)$ given $\log q$.

    $$\ell_i = t_i (\log t_i - x_i), \quad\text{or } e^{y_i}(y_i - x_i)
      \text{ with log\_target (}y = \log t\text{)}$$

    ``"mean"`` averages over *all* elements, as PyTorch's ``"mean"``; the divergence per sample
    (PyTorch's ``"batchmean"``) is ``kl_div(..., reduction="sum") / batch_size``.

    Args:
      input: log-probabilities $x = \log q$, any shape.
      target: probabilities $t$ (or their logs with `log_target`), the shape of `input`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element terms).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      log_target: whether `target` holds log-probabilities (static).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element terms for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> q, t = jnp.array([0.5, 0.5]), jnp.array([0.25, 0.75])
      >>> float(jaxloss.kl_div(jnp.log(q), t, reduction="sum"))
      0.1308

    Equivalents: ``torch.nn.functional.kl_div``; ``optax.kl_divergence`` (sums the class axis).
    """
    if log_target:
        def pointwise(x, y):
            return jnp.exp(y) * (y - x)
    else:
        def pointwise(x, t):
            return _xlogx(t) - t * x

    return elementwise(
        "kl_div", pointwise, {"input": input, "target": target}, reduction=reduction, where=where
    )
