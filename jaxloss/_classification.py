"""Classification losses: cross-entropy, negative log-likelihood, binary cross-entropies, KL.

The class axis is last (``(..., C)``), the JAX/optax convention; PyTorch puts it at dim 1. Values
and gradients otherwise match ``torch.nn.functional`` (PyTorch 2.13), with a ``where`` mask and a
``"mean"`` over no kept entries that is 0 rather than NaN.

Integer class labels cannot be range-checked under ``jit``: a label outside ``[0, C)`` that is not
``ignore_index`` makes its loss NaN (so the mean is NaN) instead of silently reading another
class, the way a negative index would wrap around in ``jnp.take``. ``jaxloss.checked(loss)``
raises an error naming the first such label instead.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks, _ops
from ._reduction import (
    elementwise,
    fill_dropped,
    gate_dropped,
    keep_mask,
    loss_function,
    not_ignored,
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
        return _ops.take_last(self.scores, self.label)

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
    _checks.nonempty(fn, "input", scores, -1, "class")
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
    keep = keep_mask(fn, where, label.shape, not_ignored(label, ignore_index))
    (label,) = fill_dropped(keep, label)
    (scores,) = gate_dropped(keep, scores)
    in_range = (label >= 0) & (label < num_classes)
    label = jnp.clip(label, 0, num_classes - 1)
    if weight is not None:
        # Class weights are constants, as in PyTorch (which does not differentiate them).
        weight = jax.lax.stop_gradient(weight)
    label_weight = None if weight is None else weight[label]
    return ClassIndexed(scores, label, in_range, keep, weight, label_weight)


# The integer targets of the class-indexed losses, for `jaxloss.checked`.
_LABELS = _checks.Indices("target", "input", ignore="ignore_index")
# Those of the losses that also take probability targets of `input`'s shape.
_LABELS_OR_PROBABILITIES = _checks.Indices("target", "input", only_without_axis=True)
_SMOOTHING_OK = (lambda e: (e >= 0) & (e <= 1), "in [0, 1]")


@loss_function(indices=(_LABELS,))
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
        (traced), or ``None`` for none, which spares the mask. A label outside ``[0, C)``
        otherwise gives NaN (``jaxloss.checked`` raises).

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


@loss_function(
    valid={"z_loss": (lambda z: z >= 0, "non-negative"), "label_smoothing": _SMOOTHING_OK},
    indices=(dataclasses.replace(_LABELS, only_without_axis=True),),
)
def cross_entropy(
    input,
    target,
    *,
    reduction="mean",
    where=None,
    weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
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

    ``z_loss`` $= \lambda$ adds PaLM's auxiliary term $\lambda\, m_i
    (\operatorname{logsumexp}_c x_{ic})^2$ to each $\ell_i$, which keeps the softmax normaliser
    near 1. It is weighted like the rest of the example: $m_i = w_{y_i}$ for integer targets
    (so ``"mean"`` stays a weighted mean over the same denominator $\sum w_{y_i}$), $m_i = 1$
    for probability targets; ignored and masked entries add nothing to it.

    Args:
      input: unnormalised logits $x$, shape ``(..., C)``, class axis last.
      target: class indices of any integer dtype, shape ``(...)``; or class probabilities,
        floating, shape ``(..., C)``.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.
      weight: optional class weights $w$, shape ``(C,)`` (traced). With integer targets they
        are constants, as in PyTorch: no gradient flows to them.
      ignore_index: integer targets only: a label value that contributes nothing (traced), or
        ``None`` for none, which spares the mask. A label outside ``[0, C)`` otherwise gives
        NaN (``jaxloss.checked`` raises).
      label_smoothing: $\varepsilon \in [0, 1]$ (traced); a Python or NumPy value outside
        raises ``ValueError``.
      z_loss: the coefficient $\lambda \ge 0$ of the z-loss (traced; 0, the default, adds
        nothing; PaLM used $10^{-4}$). A negative Python or NumPy value raises ``ValueError``.

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
    <https://arxiv.org/abs/1512.00567>, 2016 (label smoothing); Chowdhery et al, PaLM: Scaling
    Language Modeling with Pathways <https://arxiv.org/abs/2204.02311>, 2022 (z-loss).
    """
    fn = "cross_entropy"
    eps = label_smoothing
    target = jnp.asarray(target)
    logit_shape = jnp.shape(input)
    if jnp.issubdtype(target.dtype, jnp.floating) and target.shape == logit_shape:
        return _cross_entropy_probabilities(
            fn, input, target, weight, eps, z_loss, reduction, where
        )
    if target.shape == logit_shape and len(logit_shape):
        raise TypeError(
            f"{fn}: `target` has the shape of `input` {_checks.shape_str(logit_shape)}, so it "
            f"must hold class probabilities with a floating dtype, got {target.dtype}"
        )
    hint = f"; probability targets must have `input`'s shape {_checks.shape_str(logit_shape)}"
    x = class_indexed(
        fn, input, target, weight=weight, ignore_index=ignore_index, where=where, hint=hint
    )
    shift, log_sum = _ops.logsumexp_parts(x.scores)
    loss = x.loss_of(log_sum + (shift - x.picked()))
    if not _checks.unused(eps):
        loss = _smoothed(x, shift, log_sum, loss, eps)
    if not _checks.unused(z_loss):
        loss = loss + x.loss_of(_z_term(x.keep, shift + log_sum, z_loss))
    return reduce(loss, reduction, mask=x.keep, weight=x.label_weight)


def _smoothed(x, shift, log_sum, loss, eps):
    """Label smoothing: ``(1 - eps) * loss + eps * mean_c(-log p_c)`` (class-weighted), with
    ``-log p_c = log_sum + (shift - x_c)`` (`_ops.logsumexp_parts`)."""
    if x.weight is None:
        num_classes = x.scores.shape[-1]
        gaps = num_classes * log_sum + jnp.sum(shift[..., None] - x.scores, axis=-1)  # fused
    else:
        # sum_c w_c (-log p_c) as a matrix-vector product: XLA's CPU backend writes the
        # elementwise form's backward pass out in full, (..., C) floats.
        gaps = jnp.sum(x.weight) * log_sum - (x.scores - shift[..., None]) @ x.weight
    (smooth,) = fill_dropped(x.keep, gaps / x.scores.shape[-1])
    # At eps = 0 the smoothing term is skipped, not multiplied by 0: it is inf for a -inf logit.
    return jnp.where(eps == 0, loss, (1 - eps) * loss + eps * smooth)


def _z_term(keep, lse, coefficient):
    """``coefficient * lse**2``, 0 at dropped entries. Their `lse` may be NaN (gated logits),
    so it is replaced before it meets the shared coefficient, whose gradient would collect it."""
    (lse,) = fill_dropped(keep, lse)
    return coefficient * jnp.square(lse)


def _cross_entropy_probabilities(fn, input, target, weight, eps, z_loss, reduction, where):
    arrays = {"input": input, "target": target}
    if weight is not None:
        arrays["weight"] = weight
    logits, target, *weight = _checks.floats(fn, **arrays)
    _checks.min_rank(fn, "input", logits, 1, "the class axis is last")
    _checks.nonempty(fn, "input", logits, -1, "class")
    num_classes = logits.shape[-1]
    if weight:
        _checks.shape_is(fn, "weight", weight[0], (num_classes,), "one weight per class")
    keep = keep_mask(fn, where, logits.shape[:-1])
    (target,) = fill_dropped(keep, target)
    (logits,) = gate_dropped(keep, logits)  # read by three reductions: gated, not copied
    if not _checks.unused(eps):
        target = (1 - eps) * target + eps / num_classes
    shift, log_sum = _ops.logsumexp_parts(logits)
    # -log p_c, except 0 where the class has no mass and its logit is -inf (0 * inf).
    minus_log_p = log_sum[..., None] + (shift[..., None] - logits)
    (gaps,) = fill_dropped(
        keep, jnp.where((target == 0) & jnp.isneginf(logits), 0.0, minus_log_p)
    )
    terms = target * gaps
    if weight:
        terms = terms * jnp.broadcast_to(weight[0], terms.shape)
    loss = jnp.sum(terms, axis=-1)
    if not _checks.unused(z_loss):
        loss = loss + _z_term(keep, shift + log_sum, z_loss)
    return reduce(loss, reduction, mask=keep)


@jax.custom_jvp
def _binary_cross_entropy(p, y):
    # log clamped at -100 as in PyTorch, so p in {0, 1} gives a finite loss. (A select in
    # place of `maximum` ran 1.2x faster on rows of 5 but 1.7x slower, and took 6x as long to
    # compile, on rows of 32: XLA:CPU, jax 0.10.2.)
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

    evaluated as PyTorch does, $w_i \bigl((1 - y_i) x_i + (1 + (q_i - 1) y_i)
    \operatorname{softplus}(-x_i)\bigr)$: one exponential and one logarithm per element.

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
    if pos_weight is not None:
        (pos_weight,) = _checks.floats(fn, pos_weight=pos_weight)
        _checks.broadcastable(fn, "pos_weight", pos_weight, jnp.shape(input), "`input`'s shape")
        pos_weight = jnp.broadcast_to(pos_weight, jnp.shape(input))

    def pointwise(x, y):
        # log sigmoid(-x) = log sigmoid(x) - x folds both logs into one softplus (the mean over
        # 1e6 elements: 0.87 ms against 0.96 ms, with the gradient 1.5 ms against 2.5 ms).
        scale = 1.0 if pos_weight is None else 1 + (pos_weight - 1) * y
        return (1 - y) * x + scale * _ops.softplus(-x)

    return elementwise(
        fn, pointwise, {"input": input, "target": target},
        reduction=reduction, where=where, weight=weight, weight_broadcasts=True,
    )


@jax.custom_jvp
def _xlogx(t):
    """``t log t`` with ``0 log 0 = 0`` and NaN for ``t < 0`` (torch's ``xlogy(t, t)``); the
    derivative is ``log t + 1``, and 0 at ``t <= 0`` rather than -inf."""
    return jnp.where(t >= 0, t * jnp.log(jnp.where(t > 0, t, 1.0)), jnp.nan)


@_xlogx.defjvp
def _xlogx_jvp(primals, tangents):
    # Differentiating the guarded form carries its selects into the backward pass, which
    # XLA:CPU keeps out of its vectorised fusions. The derivative's guard puts 2, not the
    # value's 1, in place of t <= 0: with the same expression, XLA computes the logarithm
    # once and writes it out for both. kl_div's value_and_grad over 1e6 entries took 1.3x
    # its jax.numpy formula in both of those forms, and 0.8x in this one.
    (t,), (dt,) = primals, tangents
    positive = t > 0
    return _xlogx(t), jnp.where(positive, jnp.log(jnp.where(positive, t, 2.0)) + 1, 0.0) * dt


@loss_function(static=("log_target",), reductions=(*_checks.REDUCTIONS, "batchmean"))
def kl_div(input, target, *, reduction="mean", where=None, log_target=False):
    r"""Pointwise Kullback-Leibler divergence $\mathrm{KL}(t \,\|\, q)$ given $\log q$.

    $$\ell_i = t_i (\log t_i - x_i), \quad\text{or } e^{y_i}(y_i - x_i)
      \text{ with log\_target (}y = \log t\text{)}$$

    ``"mean"`` averages over *all* elements, as PyTorch's ``"mean"``, which is not the
    divergence: for the divergence per sample, the sum over each row averaged over rows, use
    ``"batchmean"``, as PyTorch recommends,

    $$\text{batchmean} = \frac{1}{N} \sum_i \ell_i,$$

    with $N$ the length of the leading axis: for ``(N, C)`` inputs the batch and, as in
    PyTorch, for ``(C,)`` inputs $C$. Under `where`, $N$ counts only the samples with a kept
    entry.

    Args:
      input: log-probabilities $x = \log q$, any shape; ``(N, ..., C)`` for ``"batchmean"``.
      target: probabilities $t$ (or their logs with `log_target`), the shape of `input`.
      reduction: ``"mean"`` (default), ``"batchmean"``, ``"sum"`` or ``"none"`` (per-element
        terms).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      log_target: whether `target` holds log-probabilities (static).

    Returns:
      A scalar (a mean over no kept entries or samples is 0; PyTorch gives NaN), or the
      per-element terms for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> q, t = jnp.array([0.5, 0.5]), jnp.array([0.25, 0.75])
      >>> float(jaxloss.kl_div(jnp.log(q), t, reduction="sum"))
      0.1308
      >>> q2, t2 = jnp.array([[0.5, 0.5], [0.9, 0.1]]), jnp.array([[0.25, 0.75], [0.5, 0.5]])
      >>> float(jaxloss.kl_div(jnp.log(q2), t2, reduction="batchmean"))  # (0.1308 + 0.5108) / 2
      0.3208

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


_GAMMA_OK = (lambda g: g >= 0, "non-negative")


def _focal_parts(x, y):
    """BCE with logits and ``log(1 - p_t) = log(y q + (1 - y) p)``, both exact in log space
    (``p = sigmoid(x)``, ``q = 1 - p``), and the log-sigmoids they come from."""
    log_p, log_q = _ops.log_sigmoids(x)
    bce = -(y * log_p + (1 - y) * log_q)
    log_miss = jnp.logaddexp(jnp.log(y) + log_q, jnp.log1p(-y) + log_p)
    return bce, log_miss, log_p, log_q


@jax.custom_jvp
def _sigmoid_focal(x, y, gamma):
    bce, log_miss, _, _ = _focal_parts(x, y)
    return bce * jnp.exp(gamma * log_miss)


@_sigmoid_focal.defjvp
def _sigmoid_focal_jvp(primals, tangents):
    # The chain rule through (1 - p_t)^gamma multiplies gamma (1 - p_t)^(gamma - 1), infinite
    # for gamma < 1 where p_t rounds to 1, by factors that vanish there. The products are
    # formed in log space instead, so the derivatives are finite for every finite logit.
    x, y, gamma = primals
    dx, dy, dgamma = tangents
    bce, log_miss, log_p, log_q = _focal_parts(x, y)
    modulation = jnp.exp(gamma * log_miss)
    log_scaled = jnp.log(bce) + (gamma - 1) * log_miss  # log(bce (1 - p_t)^(gamma - 1))
    # d bce / dx = p - y, written without the cancellation of p - 1 for saturated logits.
    d_bce = (1 - y) * jnp.exp(log_p) - y * jnp.exp(log_q)
    d_x = d_bce * modulation + gamma * (1 - 2 * y) * jnp.exp(
        log_scaled + log_p + log_q
    )
    d_y = (log_q - log_p) * modulation + gamma * (
        jnp.exp(log_scaled + log_q) - jnp.exp(log_scaled + log_p)
    )
    d_gamma = bce * modulation * log_miss
    return bce * modulation, d_x * dx + d_y * dy + d_gamma * dgamma


@loss_function(
    valid={
        "alpha": (lambda a: a <= 1, "at most 1 (or negative, or None, to disable it)"),
        "gamma": _GAMMA_OK,
    }
)
def sigmoid_focal_loss(input, target, *, reduction="mean", where=None, alpha=0.25, gamma=2.0):
    r"""Sigmoid focal loss: binary cross-entropy scaled down on well-classified entries.

    With $p = \sigma(x)$ and $p_t = p\,y + (1 - p)(1 - y)$:

    $$\ell_i = -\alpha_t\,(1 - p_t)^\gamma \bigl(y \log p + (1 - y) \log(1 - p)\bigr), \qquad
      \alpha_t = \alpha y + (1 - \alpha)(1 - y)$$

    $1 - p_t$ and its powers are computed in log space from the logits, so values and
    gradients (with respect to `input`, `target`, `alpha` and `gamma`) are finite for every
    finite logit, including saturated ones ($p_t = 1$ in floating point) with $\gamma < 1$,
    where torchvision's gradient is NaN.

    Args:
      input: logits $x$, any shape.
      target: targets $y \in [0, 1]$ (binary, or soft) with a floating dtype, the shape of
        `input`; integer targets are cast. Values outside $[0, 1]$ give NaN.
      reduction: ``"mean"`` (default; torchvision's default is ``"none"``), ``"sum"`` or
        ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      alpha: the weight $\alpha \le 1$ of positives (traced); a negative value (torchvision's
        -1) or None disables the weighting ($\alpha_t = 1$).
      gamma: the focusing exponent $\gamma \ge 0$ (traced); 0 gives weighted BCE.

    Python or NumPy values of `alpha` above 1 or negative `gamma` raise ``ValueError``.

    Returns:
      A scalar (a mean over no kept entries is 0; torchvision gives NaN), or the per-element
      losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([3.0, -1.0]), jnp.array([1.0, 1.0])
      >>> jaxloss.sigmoid_focal_loss(x, y, reduction="none").round(4).tolist()
      [0.0, 0.1755]

    Equivalents: ``torchvision.ops.sigmoid_focal_loss``; ``optax.sigmoid_focal_loss``
    (unreduced, ``alpha=None`` by default).
    Reference: Lin et al, Focal Loss for Dense Object Detection
    <https://arxiv.org/abs/1708.02002>, 2017.
    """
    fn = "sigmoid_focal_loss"
    if alpha is not None:
        (alpha,) = _checks.floats(fn, alpha=alpha)
    (gamma,) = _checks.floats(fn, gamma=gamma)

    def pointwise(x, y):
        loss = _sigmoid_focal(x, y, jnp.broadcast_to(gamma, x.shape))
        if alpha is None:
            return loss
        balance = alpha * y + (1 - alpha) * (1 - y)
        return jnp.where(alpha >= 0, balance * loss, loss)

    return elementwise(
        fn, pointwise, {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


def _log_rest(scores, label, shift, log_sum):
    """``log(1 - p_y)``: the log-probability of every class but the target, exact where
    ``1 - p_y`` cancels, from the row's `_ops.logsumexp_parts`. A row whose other classes all
    have no mass gets 0 with no gradient, and `empty` marks it."""
    others = jnp.where(jax.nn.one_hot(label, scores.shape[-1], dtype=bool), -jnp.inf, scores)
    # A float maximum rather than `jnp.all(jnp.isneginf(others))`: XLA:CPU reads the scores
    # once in its vectorised reduction, where the booleans took a pass and a loop of their
    # own (the value compiled in 69 rather than 85 ms and ran 6% faster). NaN is not -inf.
    empty = jnp.max(others, axis=-1, initial=-jnp.inf) == -jnp.inf
    others = jnp.where(empty[..., None], 0.0, others)
    other_shift, other_log_sum = _ops.logsumexp_parts(others)
    rest = (other_shift - shift) + (other_log_sum - log_sum)
    return jnp.where(empty, 0.0, rest), empty


@loss_function(valid={"gamma": _GAMMA_OK}, indices=(_LABELS,))
def softmax_focal_loss(
    input, target, *, reduction="mean", where=None, gamma=2.0, weight=None, ignore_index=-100
):
    r"""Multi-class focal loss: softmax cross-entropy scaled down on well-classified entries.

    With $p_{iy_i}$ the softmax probability of the target class and class weights $w$:

    $$\ell_i = -w_{y_i}\,(1 - p_{iy_i})^\gamma \log p_{iy_i}, \qquad
      \text{mean} = \frac{\sum_{i \text{ kept}} \ell_i}{\sum_{i \text{ kept}} w_{y_i}}$$

    the weighted mean of `cross_entropy`, which it equals at $\gamma = 0$ (the class weights
    play the role of the paper's $\alpha_t$). $\log(1 - p_{iy_i})$ is a log-sum-exp over the
    other classes, so values and gradients are finite for every finite logit, saturated
    softmaxes with $\gamma < 1$ included.

    Args:
      input: logits, shape ``(..., C)``, class axis last.
      target: class indices $y$ of any integer dtype, shape ``(...)``. A label outside
        ``[0, C)`` that is not `ignore_index` gives NaN (``jaxloss.checked`` raises).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.
      gamma: the focusing exponent $\gamma \ge 0$ (traced); a negative Python or NumPy value
        raises ``ValueError``.
      weight: optional class weights $w$, shape ``(C,)`` (traced; constants, as in
        `cross_entropy`).
      ignore_index: a label value that contributes nothing, not even to the denominator
        (traced), or ``None`` for none, which spares the mask.

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-entry losses ``(...)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
      >>> float(jaxloss.softmax_focal_loss(logits, jnp.array([0])))  # 0.5^2 * log 2
      0.1733

    Reference: Lin et al, Focal Loss for Dense Object Detection
    <https://arxiv.org/abs/1708.02002>, 2017 (eq. 5, with the softmax as in its appendix).
    """
    x = class_indexed(
        "softmax_focal_loss", input, target, weight=weight, ignore_index=ignore_index,
        where=where,
    )
    loss = _softmax_focal(x.scores, x.label, gamma, x.keep)
    return reduce(x.loss_of(loss), reduction, mask=x.keep, weight=x.label_weight)


def _softmax_focal_parts(scores, label, gamma, keep):
    """The log-sum-exp's `_ops.logsumexp_parts`, ``-log p_y``, ``log(1 - p_y)`` and
    ``(1 - p_y)^gamma`` of each row."""
    shift, log_sum = _ops.logsumexp_parts(scores)
    log_rest, certain = _log_rest(scores, label, shift, log_sum)
    # Gated rows may hold NaN; replaced before they meet the shared gamma (see gate_dropped).
    nll = log_sum + (shift - _ops.take_last(scores, label))
    nll, log_rest = fill_dropped(keep, nll, log_rest)
    modulation = jnp.where(certain, jnp.where(gamma == 0, 1.0, 0.0), jnp.exp(gamma * log_rest))
    return (shift, log_sum), nll, log_rest, modulation


@jax.custom_jvp
def _softmax_focal(scores, label, gamma, keep):
    """``(1 - p_y)^gamma (-log p_y)`` per row (0 in rows that `keep` drops)."""
    _, nll, _, modulation = _softmax_focal_parts(scores, label, gamma, keep)
    return modulation * nll


@_softmax_focal.defjvp
def _softmax_focal_jvp(primals, tangents):
    # With q = 1 - p_y and nll = -log p_y, the row's loss q^gamma nll has the derivative
    #   d/dx_c = (p_c - [c = y]) (q^gamma + gamma nll p_y q^(gamma - 1)),
    #   d/dgamma = q^gamma log(q) nll:
    # one factor per row times softmax-minus-one-hot, where differentiating the two
    # log-sum-exps (all classes, and all but the target) carried both softmaxes and the
    # masks of the second through the backward pass (value_and_grad 2.5x the jax.numpy
    # formula). The factor's second term is formed in log space, finite for saturated rows
    # with gamma < 1, and p_y - 1 is written -q, which does not cancel.
    scores, label, gamma, keep = primals
    d_scores, _, d_gamma, _ = tangents
    (shift, log_sum), nll, log_rest, modulation = _softmax_focal_parts(
        scores, label, gamma, keep)
    # gamma nll p_y q^(gamma - 1) in log space; where nll rounds to 0 (a saturated or dropped
    # row) it is 0, with finite derivatives of its own (Hessians): no log(0) is taken.
    positive = nll > 0
    log_term = jnp.log(jnp.where(positive, nll, 1.0)) - nll + (gamma - 1) * log_rest
    factor = modulation + gamma * jnp.exp(jnp.where(positive, log_term, -jnp.inf))
    target = jax.nn.one_hot(label, scores.shape[-1], dtype=scores.dtype)
    # exp(x - lse), with lse rounded at the logits' magnitude: relative error about
    # |lse| * 6e-8 in float32 (the value is exact, `_ops.logsumexp_parts`). Subtracting the
    # parts one after the other made XLA:CPU keep p for the backward pass, (..., C) floats
    # (temporaries of value_and_grad over (31250, 32) logits 0.86 -> 4.3 MiB).
    p = jnp.exp(scores - (shift + log_sum)[..., None])
    p_minus_target = p * (1 - target) - target * jnp.exp(log_rest)[..., None]
    d_loss = factor * jnp.sum(p_minus_target * d_scores, axis=-1)
    return modulation * nll, d_loss + modulation * log_rest * nll * d_gamma


@loss_function(indices=(_LABELS_OR_PROBABILITIES,))
def poly1_cross_entropy(input, target, *, reduction="mean", where=None, epsilon=2.0):
    r"""Poly-1 cross-entropy: cross-entropy plus $\epsilon$ times the leading term
    $1 - p_t$ of its Taylor expansion.

    With $p_{ic}$ the softmax of the logits and target probabilities $t_{ic}$ (one-hot for
    integer labels):

    $$\ell_i = -\sum_c t_{ic} \log p_{ic} + \epsilon \sum_c t_{ic}\,(1 - p_{ic})$$

    i.e. $-\log p_{iy_i} + \epsilon (1 - p_{iy_i})$ for integer labels. ``"mean"`` is the
    plain mean over kept entries.

    Args:
      input: logits, shape ``(..., C)``, class axis last.
      target: class indices of any integer dtype, shape ``(...)``; or class probabilities,
        floating, shape ``(..., C)``. An integer label outside ``[0, C)`` gives NaN
        (``jaxloss.checked`` raises).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.
      epsilon: the coefficient $\epsilon$ of the polynomial term (traced); the paper suggests
        2 for ImageNet classification and -1 for detection.

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-entry losses ``(...)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.log(jnp.array([[0.5, 0.5]]))
      >>> float(jaxloss.poly1_cross_entropy(logits, jnp.array([0])))  # log 2 + 2 * 0.5
      1.6931

    Equivalents: ``optax.losses.poly_loss_cross_entropy`` (unreduced, probability labels).
    Reference: Leng et al, PolyLoss: A Polynomial Expansion Perspective of Classification Loss
    Functions <https://arxiv.org/abs/2204.12511>, 2022.
    """
    fn = "poly1_cross_entropy"
    target = jnp.asarray(target)
    logit_shape = jnp.shape(input)
    if jnp.issubdtype(target.dtype, jnp.floating) and target.shape == logit_shape:
        logits, target = _checks.floats(fn, input=input, target=target)
        _checks.min_rank(fn, "input", logits, 1, "the class axis is last")
        _checks.nonempty(fn, "input", logits, -1, "class")
        keep = keep_mask(fn, where, logits.shape[:-1])
        (target,) = fill_dropped(keep, target)
        (logits,) = gate_dropped(keep, logits)
        shift, log_sum = _ops.logsumexp_parts(logits)
        gaps = log_sum[..., None] + (shift[..., None] - logits)  # -log p
        # A class without target mass adds 0 even where its logit is -inf (0 * inf).
        (gaps,) = fill_dropped(keep, jnp.where((target == 0) & jnp.isneginf(logits), 0.0, gaps))
        xent = jnp.sum(target * gaps, axis=-1)
        miss = jnp.sum(target * -jnp.expm1(-gaps), axis=-1)  # sum_c t_c (1 - p_c)
        return reduce(xent + epsilon * miss, reduction, mask=keep)
    hint = f"; probability targets must have `input`'s shape {_checks.shape_str(logit_shape)}"
    x = class_indexed(fn, input, target, weight=None, ignore_index=None, where=where, hint=hint)
    shift, log_sum = _ops.logsumexp_parts(x.scores)
    (nll,) = fill_dropped(x.keep, log_sum + (shift - x.picked()))
    return reduce(x.loss_of(nll - epsilon * jnp.expm1(-nll)), reduction, mask=x.keep)


@loss_function()
def js_divergence(input, target, *, reduction="mean", where=None):
    r"""Jensen-Shannon divergence between two distributions given as log-probabilities.

    With $P = e^{\text{input}}$, $Q = e^{\text{target}}$ along the last axis and
    $M = \tfrac12 (P + Q)$:

    $$\ell_i = \tfrac12 \mathrm{KL}(P_i \,\|\, M_i) + \tfrac12 \mathrm{KL}(Q_i \,\|\, M_i)
      = \tfrac12 \sum_c \Bigl(P_{ic} \log\frac{P_{ic}}{M_{ic}}
        + Q_{ic} \log\frac{Q_{ic}}{M_{ic}}\Bigr)$$

    in nats, symmetric, between 0 and $\log 2$. **Both arguments are log-probabilities**
    (e.g. ``jax.nn.log_softmax(logits)``), like `kl_div`'s `input`: the gradient with respect
    to a log-probability is finite even where the probability is 0, where the gradient with
    respect to the probability itself is infinite. ``-inf`` (a class with no mass) is
    allowed in either argument.

    Args:
      input: log-probabilities $\log P$, shape ``(..., C)``, distribution axis last.
      target: log-probabilities $\log Q$, the shape of `input`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True rows count.

    Returns:
      A scalar (a mean over no kept rows is 0), or the per-row divergences ``(...)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> p, q = jnp.log(jnp.array([1.0, 0.0])), jnp.log(jnp.array([0.0, 1.0]))
      >>> float(jaxloss.js_divergence(p, q))  # disjoint supports: log 2
      0.6931

    Reference: Lin, Divergence Measures Based on the Shannon Entropy
    <https://doi.org/10.1109/18.61115>, 1991.
    """
    fn = "js_divergence"
    log_p, log_q = _checks.floats(fn, input=input, target=target)
    _checks.min_rank(fn, "input", log_p, 1, "the distribution axis is last")
    _checks.same_shape(fn, input=log_p, target=log_q)
    keep = keep_mask(fn, where, log_p.shape[:-1])
    log_p, log_q = fill_dropped(keep, log_p, log_q)
    return reduce(_js_rows(log_p, log_q), reduction, mask=keep)


def _js_terms(log_p, log_q):
    """Each class's ``p (log p - log m)`` and ``q (log q - log m)``, ``m = (p + q) / 2``."""
    # A class without mass (-inf) is given the lowest finite log-probability instead: its
    # probability is still exactly 0, so its term p (log p - log m) is 0 * finite = 0 with a
    # zero gradient, also where both sides are empty, with no select (XLA:CPU keeps selects
    # out of its vectorised reductions: 2.0 -> 1.3 ms over 1e6 entries, jnp formula 1.15 ms).
    lowest = jnp.finfo(log_p.dtype).min
    log_p, log_q = jnp.maximum(log_p, lowest), jnp.maximum(log_q, lowest)
    # log((p + q) / 2); both are finite, so logaddexp's infinity handling is not needed.
    log_mix = (jnp.maximum(log_p, log_q) + jnp.log1p(jnp.exp(-_ops.abs_(log_p - log_q)))
               - jnp.log(2.0).astype(log_p.dtype))
    return jnp.exp(log_p) * (log_p - log_mix), jnp.exp(log_q) * (log_q - log_mix)


@jax.custom_jvp
def _js_rows(log_p, log_q):
    """The divergence of each row."""
    from_p, from_q = _js_terms(log_p, log_q)
    return 0.5 * jnp.sum(from_p + from_q, axis=-1)


@_js_rows.defjvp
def _js_rows_jvp(primals, tangents):
    # d JS / d log p_c = p_c (log p_c - log m_c) / 2, the value's own term: through m, the
    # class's -p_c log m_c - q_c log m_c changes by -(p_c + q_c) / (2 m_c) = -1 per unit of
    # p_c, which cancels the 1 of d(p_c log p_c) / dp_c. Differentiating the formula instead
    # carried its maxima and abs through the backward pass (value_and_grad 1.39x the
    # jax.numpy formula).
    from_p, from_q = _js_terms(*primals)
    d_p, d_q = tangents
    value = 0.5 * jnp.sum(from_p + from_q, axis=-1)
    return value, 0.5 * jnp.sum(from_p * d_p + from_q * d_q, axis=-1)


@loss_function()
def hinge_loss(input, target, *, reduction="mean", where=None):
    r"""Binary hinge loss with labels $\pm 1$.

    $$\ell_i = \max(0,\, 1 - y_i x_i)$$

    At the hinge ($y_i x_i = 1$) the gradient is 0.

    Args:
      input: scores $x$, any shape.
      target: labels $y \in \{-1, 1\}$, the shape of `input`; integer labels are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-element losses for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.25, 2.0, 0.5]), jnp.array([1, 1, -1])
      >>> jaxloss.hinge_loss(x, y, reduction="none")
      Array([0.75, 0.  , 1.5 ], dtype=float32)

    Equivalents: ``optax.hinge_loss`` (unreduced).
    Reference: Cortes & Vapnik, Support-Vector Networks
    <https://doi.org/10.1007/BF00994018>, 1995.
    """
    return elementwise(
        "hinge_loss", lambda x, y: _ops.relu(1 - y * x), {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


@loss_function()
def squared_hinge_loss(input, target, *, reduction="mean", where=None):
    r"""Squared binary hinge loss with labels $\pm 1$ (the L2-SVM loss): differentiable.

    $$\ell_i = \max(0,\, 1 - y_i x_i)^2$$

    Args:
      input: scores $x$, any shape.
      target: labels $y \in \{-1, 1\}$, the shape of `input`; integer labels are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-element losses for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.25, 2.0, 0.5]), jnp.array([1, 1, -1])
      >>> jaxloss.squared_hinge_loss(x, y, reduction="none")
      Array([0.5625, 0.    , 2.25  ], dtype=float32)

    Equivalents: none in PyTorch or optax (Keras's ``squared_hinge``).
    Reference: Tang, Deep Learning using Linear Support Vector Machines
    <https://arxiv.org/abs/1306.0239>, 2013.
    """
    return elementwise(
        "squared_hinge_loss", lambda x, y: jnp.square(_ops.relu(1 - y * x)),
        {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


@loss_function(indices=(dataclasses.replace(_LABELS, ignore=None),))
def multiclass_hinge_loss(input, target, *, reduction="mean", where=None):
    r"""Crammer-Singer multi-class hinge loss: the target should outscore every other class by
    a margin of 1.

    $$\ell_i = \max_c \bigl(x_{ic} + [c \ne y_i]\bigr) - x_{iy_i}$$

    Where several classes tie for the maximum the gradient is shared equally among them (as
    ``optax.losses.multiclass_hinge_loss``).

    Args:
      input: scores, shape ``(..., C)``, class axis last.
      target: class indices $y$ of any integer dtype, shape ``(...)``. A label outside
        ``[0, C)`` gives NaN (``jaxloss.checked`` raises).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-entry losses ``(...)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[2.0, 1.5, 0.0]])
      >>> float(jaxloss.multiclass_hinge_loss(x, jnp.array([0])))  # 1.5 + 1 - 2
      0.5

    Equivalents: ``optax.losses.multiclass_hinge_loss`` (unreduced); ``multi_margin_loss`` sums the
    hinges instead of taking their maximum.
    Reference: Crammer & Singer, On the Algorithmic Implementation of Multiclass Kernel-based
    Vector Machines <https://jmlr.org/papers/v2/crammer01a.html>, 2001.
    """
    x = class_indexed(
        "multiclass_hinge_loss", input, target, weight=None, ignore_index=None, where=where
    )
    target_class = jax.nn.one_hot(x.label, x.scores.shape[-1], dtype=bool)
    best = jnp.max(jnp.where(target_class, x.scores, x.scores + 1), axis=-1)
    return reduce(x.loss_of(best - x.picked()), reduction, mask=x.keep)


def _sparse_plus(z):
    """0 below -1, ``(z + 1)^2 / 4`` between, `z` above: the smooth (C^1) sparse softplus."""
    return jnp.where(z <= -1, 0.0, jnp.where(z >= 1, z, 0.25 * jnp.square(z + 1)))


@loss_function()
def sparsemax_loss(input, target, *, reduction="mean", where=None):
    r"""Binary sparsemax loss: the Fenchel-Young loss of the sparse sigmoid.

    With $s = x$ for a negative label and $s = -x$ for a positive one:

    $$\ell_i = \begin{cases} 0 & s \le -1 \\ \tfrac14 (s + 1)^2 & -1 < s < 1 \\
      s & s \ge 1 \end{cases}$$

    It is 0 exactly when ``jax.nn.sparse_sigmoid(x)`` equals the label, and is the two-class
    case of Martins & Astudillo's sparsemax loss with scores $(x, 0)$.

    Args:
      input: logits $x$, any shape.
      target: labels 0 or 1, integer or floating, the shape of `input` (any nonzero value
        counts as 1, as in optax).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.

    Returns:
      A scalar (a mean over no kept entries is 0), or the per-element losses for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.0, 2.0, 2.0]), jnp.array([1, 1, 0])
      >>> jaxloss.sparsemax_loss(x, y, reduction="none")
      Array([0.25, 0.  , 2.  ], dtype=float32)

    Equivalents: ``optax.losses.sparsemax_loss`` (unreduced).
    Reference: Martins & Astudillo, From Softmax to Sparsemax
    <https://arxiv.org/abs/1602.02068>, 2016; Blondel et al, Learning with Fenchel-Young
    Losses <https://jmlr.org/papers/v21/19-021.html>, 2020 (Sec. 4.4).
    """
    return elementwise(
        "sparsemax_loss", lambda x, y: _sparse_plus(jnp.where(y != 0, -x, x)),
        {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )
