"""Margin and embedding losses: hinge embedding, soft margin, multi-label and multi-class
margins, ranking, cosine embedding and triplet losses.

The class (or feature) axis is last (``(..., C)``, ``(..., D)``), the JAX/optax convention;
PyTorch puts a class axis at dim 1 and accepts one batch dimension at most, where these take
any number. Values and gradients otherwise match ``torch.nn.functional`` (PyTorch 2.13), kinks
included: losses that PyTorch writes with ``clamp_min`` pass the gradient at the margin, those
whose kernels test ``z > 0`` do not. Those kernels also skip a NaN term, so a NaN score leaves
their loss finite; here it makes the loss NaN, as a NaN input does in every other loss.

Integer class indices cannot be range-checked under ``jit``: an index outside ``[0, C)`` makes
its entry's loss NaN (PyTorch raises) rather than silently reading another class;
``jaxloss.checked(loss)`` raises an error naming it instead.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from . import _checks, _ops
from ._classification import class_indexed
from ._reduction import elementwise, fill_dropped, keep_mask, loss_function, reduce

# The constant PyTorch adds to each squared norm of the cosine similarity, and its root.
_COSINE_EPS = 1e-12
_COSINE_ROOT_EPS = 1e-6


@loss_function()
def hinge_embedding_loss(input, target, *, reduction="mean", where=None, margin=1.0):
    r"""Hinge embedding loss: $x$ itself for similar pairs, a hinge on it for dissimilar ones.

    $$\ell_i = [y_i \ne 1]\,\max(0, \Delta - x_i) + [y_i \ne -1]\, x_i$$

    For labels $\pm 1$ this is $x_i$ when $y_i = 1$ and $\max(0, \Delta - x_i)$ when
    $y_i = -1$; any other label adds both terms, as in PyTorch. At $x_i = \Delta$ the hinge
    passes the gradient $-1$ (PyTorch's ``clamp_min``).

    Args:
      input: distances (or other scores) $x$, any shape.
      target: labels $y \in \{1, -1\}$, the shape of `input`; integer labels are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      margin: the margin $\Delta$ (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.25, 0.25, 2.0]), jnp.array([1, -1, -1])
      >>> jaxloss.hinge_embedding_loss(x, y, reduction="none")
      Array([0.25, 0.75, 0.  ], dtype=float32)

    Equivalents: ``torch.nn.functional.hinge_embedding_loss``.
    """

    def pointwise(x, y):
        hinge = _ops.clamp_min(margin - x, 0)
        # One nested select rather than the sum of two: XLA:CPU writes each select out before
        # the reduction, and two cost one more pass (the mean over 1e6 elements: 0.85 ms against
        # 0.62 ms, with the gradient 1.14 ms against 0.78 ms).
        return jnp.where(y == 1, x, hinge + jnp.where(y == -1, 0, x))

    return elementwise(
        "hinge_embedding_loss", pointwise, {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


@loss_function()
def soft_margin_loss(input, target, *, reduction="mean", where=None):
    r"""Two-class logistic loss with labels $\pm 1$.

    $$\ell_i = \log\bigl(1 + e^{-y_i x_i}\bigr)$$

    Computed stably as $\operatorname{softplus}(-y_i x_i)$: finite for every finite input,
    where PyTorch's direct formula overflows to ``inf`` (and a NaN gradient) for
    $y_i x_i < -88$. Elsewhere the two agree.

    Args:
      input: scores $x$, any shape.
      target: labels $y \in \{1, -1\}$, the shape of `input`; integer labels are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([0.0, 2.0]), jnp.array([1, -1])
      >>> jaxloss.soft_margin_loss(x, y, reduction="none").round(4)  # log 2, log(1 + e^2)
      Array([0.6931, 2.1269], dtype=float32)
      >>> float(jaxloss.soft_margin_loss(jnp.array([-1000.0]), jnp.array([1])))  # torch: inf
      1000.0

    Equivalents: ``torch.nn.functional.soft_margin_loss``.
    """
    return elementwise(
        "soft_margin_loss", lambda x, y: _ops.softplus(-y * x),
        {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


@loss_function()
def multilabel_soft_margin_loss(input, target, *, reduction="mean", where=None, weight=None):
    r"""Multi-label one-versus-all logistic loss, averaged over the classes of each sample.

    $$\ell_i = -\frac{1}{C} \sum_{c=1}^{C} w_c \bigl(y_{ic} \log \sigma(x_{ic})
      + (1 - y_{ic}) \log \sigma(-x_{ic})\bigr)$$

    Args:
      input: logits $x$, shape ``(..., C)``, class axis last.
      target: targets $y_{ic} \in \{0, 1\}$ (or soft targets in $[0, 1]$), the shape of
        `input`; integer targets are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True samples count.
      weight: optional weights $w$ broadcastable to `input`'s shape, typically one per class
        ``(C,)`` (traced). ``"mean"`` is the plain mean over samples, as PyTorch.

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-sample losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits, y = jnp.array([[0.0, 0.0], [2.0, -2.0]]), jnp.array([[1, 0], [1, 0]])
      >>> jaxloss.multilabel_soft_margin_loss(logits, y, reduction="none").round(4)
      Array([0.6931, 0.1269], dtype=float32)

    Equivalents: ``torch.nn.functional.multilabel_soft_margin_loss`` (which also sums the last
    axis); ``optax.sigmoid_binary_cross_entropy`` averaged over the class axis.
    """
    fn = "multilabel_soft_margin_loss"
    arrays = {"input": input, "target": target}
    if weight is not None:
        arrays["weight"] = weight
    logits, target, *weight = _checks.floats(fn, numeric=("target",), **arrays)
    _checks.min_rank(fn, "input", logits, 1, "the class axis is last")
    _checks.nonempty(fn, "input", logits, -1, "class")  # its mean over classes
    _checks.same_shape(fn, input=logits, target=target)
    if weight:
        _checks.broadcastable(fn, "weight", weight[0], logits.shape, "`input`'s shape")
    keep = keep_mask(fn, where, logits.shape[:-1])
    logits, target = fill_dropped(keep, logits, target)
    # -(t log sigmoid(x) + (1 - t) log sigmoid(-x)), as binary_cross_entropy_with_logits
    terms = (1 - target) * logits + _ops.softplus(-logits)
    if weight:
        (weight,) = fill_dropped(keep, jnp.broadcast_to(weight[0], logits.shape))
        terms = terms * weight
    return reduce(jnp.sum(terms, axis=-1) / logits.shape[-1], reduction, mask=keep)


@loss_function(indices=(_checks.Indices("target", "input", end=-1),))
def multilabel_margin_loss(input, target, *, reduction="mean", where=None):
    r"""Multi-label hinge loss: every target class should outscore every other class by 1.

    With $T_i$ the target classes of sample $i$ (the indices $y_{ij}$ listed before the first
    $-1$ of its target row):

    $$\ell_i = \frac{1}{C} \sum_{j:\, y_{ij} \in T_i}\; \sum_{c \notin T_i}
      \max\bigl(0,\, 1 - (x_{i y_{ij}} - x_{ic})\bigr)$$

    The sum over $j$ runs over positions, so an index listed twice counts twice, as in
    PyTorch. At the kink the gradient is 0 (PyTorch's kernel tests $z > 0$, which also skips
    a NaN term: a NaN score gives NaN here). The cost is $O(C^2)$ per sample.

    Args:
      input: scores $x$, shape ``(..., C)``, class axis last.
      target: class indices of any integer dtype, the shape of `input`: each row lists its
        target classes, ended by $-1$ if it lists fewer than $C$; entries after the first
        $-1$ are ignored. An index outside ``[0, C)`` before the first $-1$ makes that
        sample's loss NaN (PyTorch raises; values cannot be checked under ``jit``, but
        ``jaxloss.checked`` checks them).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True samples count.

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-sample losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([0.1, 0.2, 0.4, 0.8])
      >>> y = jnp.array([3, 0, -1, 1])  # targets {3, 0}; the 1 after -1 is ignored
      >>> float(jaxloss.multilabel_margin_loss(x, y))  # (0.4 + 0.6 + 1.1 + 1.3) / 4
      0.85

    Equivalents: ``torch.nn.functional.multilabel_margin_loss`` (class axis at dim 1 there).
    """
    fn = "multilabel_margin_loss"
    (scores,) = _checks.floats(fn, input=input)
    _checks.min_rank(fn, "input", scores, 1, "the class axis is last")
    _checks.nonempty(fn, "input", scores, -1, "class")
    _checks.same_shape(fn, input=scores, target=target)
    label = _checks.labels(fn, "target", target)
    keep = keep_mask(fn, where, scores.shape[:-1])
    scores, label = fill_dropped(keep, scores, label)
    num_classes = scores.shape[-1]
    listed = jnp.cumsum(label == -1, axis=-1) == 0  # positions before the first -1
    in_range = (label >= 0) & (label < num_classes)
    valid = jnp.all(in_range | ~listed, axis=-1)
    label = jnp.clip(label, 0, num_classes - 1)
    # (..., position j, class c): whether position j lists class c.
    lists = jax.nn.one_hot(label, num_classes, dtype=jnp.bool_) & listed[..., None]
    is_target = jnp.any(lists, axis=-2)
    picked = jnp.take_along_axis(scores, label, axis=-1)
    hinge = _ops.relu(1 - picked[..., :, None] + scores[..., None, :])
    counted = listed[..., :, None] & ~is_target[..., None, :]
    loss = jnp.sum(jnp.where(counted, hinge, 0), axis=(-2, -1)) / num_classes
    return reduce(jnp.where(valid, loss, jnp.nan), reduction, mask=keep)


@loss_function(static=("p",), indices=(_checks.Indices("target", "input"),))
def multi_margin_loss(
    input, target, *, reduction="mean", where=None, p=1, margin=1.0, weight=None
):
    r"""Multi-class hinge loss: the target class should outscore every other class by a margin.

    $$\ell_i = \frac{1}{C} \sum_{c \ne y_i} w_{y_i} \max(0,\, \Delta - x_{i y_i} + x_{ic})^p$$

    ``"mean"`` is the plain mean of $\ell_i$ over samples, not divided by the weights (as
    PyTorch). At the kink the gradient is 0 (PyTorch's kernel tests $z > 0$, which also
    skips a NaN term: a NaN score gives NaN here).

    Args:
      input: scores $x$, shape ``(..., C)``, class axis last.
      target: class indices $y$ of any integer dtype, shape ``(...)``. An index outside
        ``[0, C)`` makes its loss NaN (PyTorch raises; values cannot be checked under ``jit``,
        but ``jaxloss.checked`` checks them).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True entries count.
      p: the exponent, 1 or 2 (static; anything else raises ``ValueError``, as PyTorch).
      margin: the margin $\Delta$ (traced).
      weight: optional class weights $w$, shape ``(C,)`` (traced). They are constants, as in
        PyTorch: no gradient flows to them.

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-entry losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.4, 0.8]])
      >>> float(jaxloss.multi_margin_loss(x, jnp.array([3])))  # (0.3 + 0.4 + 0.6) / 4
      0.325
      >>> float(jaxloss.multi_margin_loss(x, jnp.array([3]), p=2))  # (0.09 + 0.16 + 0.36) / 4
      0.1525

    Equivalents: ``torch.nn.functional.multi_margin_loss`` (class axis at dim 1 there);
    ``optax.losses.multiclass_hinge_loss`` is the Crammer-Singer variant (a max, not a sum).
    """
    fn = "multi_margin_loss"
    if p not in (1, 2):
        raise ValueError(f"{fn}: `p` must be 1 or 2, got {p!r}")
    x = class_indexed(fn, input, target, weight=weight, ignore_index=None, where=where)
    num_classes = x.scores.shape[-1]
    # The gather's own derivative here, not `x.picked()`'s one-hot rule: against every class
    # the picked score's cotangent is a row sum, which XLA:CPU then wrote out broadcast to
    # the scores' shape for the one-hot select (value_and_grad over (31250, 32) scores,
    # 1.05 -> 2.09 ms).
    picked = jnp.take_along_axis(x.scores, x.label[..., None], axis=-1)
    hinge = _ops.relu(margin - picked + x.scores)
    if p == 2:
        hinge = hinge * hinge
    others = ~jax.nn.one_hot(x.label, num_classes, dtype=jnp.bool_)
    loss = jnp.sum(jnp.where(others, hinge, 0), axis=-1) / num_classes
    return reduce(x.loss_of(loss), reduction, mask=x.keep)


@loss_function()
def margin_ranking_loss(input1, input2, target, *, reduction="mean", where=None, margin=0.0):
    r"""Ranking hinge loss: $x_1$ should rank above $x_2$ by a margin where $y = 1$, below
    where $y = -1$.

    $$\ell_i = \max\bigl(0,\, -y_i (x_{1i} - x_{2i}) + \Delta\bigr)$$

    At the margin the gradient passes (PyTorch's ``clamp_min``).

    Args:
      input1: scores $x_1$, any shape.
      input2: scores $x_2$, the shape of `input1`.
      target: labels $y \in \{1, -1\}$, the shape of `input1`; integer labels are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input1`'s shape; only True entries count.
      margin: the margin $\Delta$ (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x1, x2, y = jnp.array([1.0, 1.0]), jnp.array([0.5, 0.5]), jnp.array([1, -1])
      >>> jaxloss.margin_ranking_loss(x1, x2, y, margin=0.1, reduction="none").round(4)
      Array([0. , 0.6], dtype=float32)

    Equivalents: ``torch.nn.functional.margin_ranking_loss``.
    """
    return elementwise(
        "margin_ranking_loss", lambda a, b, y: _ops.clamp_min(margin - y * (a - b), 0),
        {"input1": input1, "input2": input2, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )

@loss_function()
def cosine_embedding_loss(input1, input2, target, *, reduction="mean", where=None, margin=0.0):
    r"""Cosine embedding loss: pulls similar pairs to cosine 1, pushes dissimilar ones below a
    margin.

    $$\cos_i = \frac{x_{1i} \cdot x_{2i}}
      {\sqrt{(\lVert x_{1i}\rVert^2 + \epsilon)(\lVert x_{2i}\rVert^2 + \epsilon)}},
      \qquad \ell_i = \begin{cases} 1 - \cos_i & y_i = 1 \\
      \max(0, \cos_i - \Delta) & y_i = -1 \\ 0 & \text{otherwise} \end{cases}$$

    with $\epsilon = 10^{-12}$ as in PyTorch, so zero vectors give finite values and gradients.
    At the margin the gradient passes (PyTorch's ``clamp_min``). The square root is taken of
    each factor separately, so the product of two large squared norms cannot overflow.

    Args:
      input1: embeddings $x_1$, shape ``(..., D)``, feature axis last.
      input2: embeddings $x_2$, the shape of `input1`.
      target: labels $y \in \{1, -1\}$, shape ``(...)``; integer labels are cast. Other values
        add 0, as in PyTorch.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True pairs count.
      margin: the margin $\Delta$ (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-pair losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x1 = jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> x2 = jnp.array([[0.0, 1.0], [2.0, 2.0]])  # cosines 0 and 1
      >>> y = jnp.array([1, -1])
      >>> jaxloss.cosine_embedding_loss(x1, x2, y, margin=0.5, reduction="none").round(4)
      Array([1. , 0.5], dtype=float32)

    Equivalents: ``torch.nn.functional.cosine_embedding_loss``.
    """
    fn = "cosine_embedding_loss"
    x1, x2, label = _checks.floats(
        fn, input1=input1, input2=input2, target=target, numeric=("target",)
    )
    _checks.min_rank(fn, "input1", x1, 1, "the feature axis is last")
    _checks.same_shape(fn, input1=x1, input2=x2)
    _checks.shape_is(fn, "target", label, x1.shape[:-1], "`input1`'s shape without its last axis")
    keep = keep_mask(fn, where, label.shape)
    x1, x2, label = fill_dropped(keep, x1, x2, label)
    cos = _cosine(x1, x2)
    loss = jnp.where(label == 1, 1 - cos, 0) + jnp.where(
        label == -1, _ops.clamp_min(cos - margin, 0), 0
    )
    return reduce(loss, reduction, mask=keep)


# Squared norms below this take the direct sums: their products and squares in the gradient
# stay within float32's range (3.4e38). Larger ones (entries past 1e9, or NaN) make the whole
# batch take the scaled form, exact up to entries of 1e38 at the cost of one more reduction
# per vector.
_SQUARES_DIRECT_BELOW = 1e18
# Squared distances above this lose none of their terms to float32's underflow (entries below
# 1e-19 square to 0) beyond a relative 1e-8; a norm's gradient is a unit vector however small
# the difference, so smaller ones take the scaled form too.
_SQUARES_DIRECT_ABOVE = 1e-30


@jax.custom_jvp
def _cosine(x1, x2):
    """PyTorch's cosine of the last axis, ``x1 . x2 / sqrt((|x1|^2 + eps)(|x2|^2 + eps))``,
    without overflow (`_cosine_parts`)."""
    return _cosine_parts(x1, x2)[0]


def _cosine_parts(x1, x2):
    """The cosines, the two norms and the two scales of each row, from the direct sums when
    every squared norm is small enough, otherwise from each vector divided by its largest
    entry (at least sqrt(eps); the norms are then those of the scaled vectors, and the
    scales the divisors' reciprocals, 1 for the direct sums). (Under `vmap` with batches
    of both kinds, `cond` computes both forms; it gives the one not taken stop-gradient
    inputs, so its NaNs reach no gradient.)"""
    squares1, squares2 = jnp.sum(x1 * x1, axis=-1), jnp.sum(x2 * x2, axis=-1)
    # The largest squared norm rather than `jnp.all` of the comparisons: XLA:CPU compiles a
    # reduction of booleans to one value with a loop of its own, a float maximum with its
    # vectorised reductions (the cosine's value compiled in 45 rather than 70 ms). A NaN
    # propagates through the maximum and fails the comparison, as it failed `all`.
    largest = jnp.maximum(jnp.max(squares1, initial=0), jnp.max(squares2, initial=0))
    return jax.lax.cond(largest < _SQUARES_DIRECT_BELOW, _direct_cosine, _scaled_cosine,
                        x1, x2, squares1, squares2)


def _direct_cosine(x1, x2, squares1, squares2):
    eps = _COSINE_ROOT_EPS**2
    norm1, norm2 = jnp.sqrt(squares1 + eps), jnp.sqrt(squares2 + eps)
    one = jnp.ones_like(norm1)
    return jnp.sum(x1 * x2, axis=-1) / (norm1 * norm2), norm1, norm2, one, one


def _scaled_cosine(x1, x2, squares1, squares2):
    del squares1, squares2
    top1, top2 = _largest_entry(x1), _largest_entry(x2)
    u1, u2 = x1 / top1, x2 / top2
    norm1 = jnp.sqrt(jnp.sum(u1 * u1, axis=-1) + jnp.square(_COSINE_ROOT_EPS / top1[..., 0]))
    norm2 = jnp.sqrt(jnp.sum(u2 * u2, axis=-1) + jnp.square(_COSINE_ROOT_EPS / top2[..., 0]))
    cos = jnp.sum(u1 * u2, axis=-1) / (norm1 * norm2)
    return cos, norm1, norm2, 1 / top1[..., 0], 1 / top2[..., 0]


def _cosine_jvp(primals, tangents):
    # A rule of its own, as `_difference_norms` has: differentiating the `cond` made each
    # branch return zero-filled copies of the other's intermediates, and the gradient of
    # the cosine loss over 1e6 entries took 1.44 ms where the rule takes 0.96 (compile 200
    # -> 104 ms). With u = x * scale and |u| its norm (eps included),
    #   d cos / d x1 = scale1 (u2 / (|u1| |u2|) - cos u1 / |u1|^2),
    # and likewise for x2. The scales are constants (the cosine does not change when they
    # do), so the rule can be differentiated again, exactly.
    cos, norm1, norm2, scale1, scale2 = (v[..., None] for v in _cosine_parts(*primals))
    u1, u2 = primals[0] * scale1, primals[1] * scale2
    terms = [
        scale * (other / (norm1 * norm2) - cos * own / jnp.square(norm)) * dx
        for dx, own, other, norm, scale in ((tangents[0], u1, u2, norm1, scale1),
                                            (tangents[1], u2, u1, norm2, scale2))
        if not isinstance(dx, jax.custom_derivatives.SymbolicZero)
    ]
    tangent = jnp.sum(sum(terms), axis=-1) if terms else jnp.zeros_like(cos[..., 0])
    return cos[..., 0], tangent


_cosine.defjvp(_cosine_jvp, symbolic_zeros=True)


def _largest_entry(x):
    """``max(max |x|, sqrt(eps)) / 4`` over the last axis (kept), a constant for the gradient.

    A quarter, so that its reciprocal is a normal number even for entries near the largest
    float: XLA:CPU divides by multiplying with the reciprocal and flushes subnormals to zero,
    and dividing by the largest entry itself gave 0 past 8.5e37 in float32 (the cosine NaN).
    The scaled entries are at most 4. (Capping it with a minimum instead added 12 ms to the
    cosine's 69 ms compile; the product adds 2.)"""
    top = jnp.max(_ops.abs_(x), axis=-1, keepdims=True, initial=0)
    return jax.lax.stop_gradient(jnp.maximum(top, _COSINE_ROOT_EPS) * 0.25)


def _largest_safe_divisor(like):
    """``2**(maxexp - 2)`` of `like`'s dtype, the largest divisor `_general_norm` uses: its
    reciprocal is a normal number (see `_largest_entry`); capped there, the quotients of
    finite entries are at most 4."""
    return 2.0 ** (jnp.finfo(like.dtype).maxexp - 2)


def _safe_power(x, exponent):
    """``x ** exponent`` for ``x >= 0``, 0 at ``x = 0`` with a zero gradient (never 0 * inf)."""
    positive = x > 0
    return jnp.where(positive, jnp.where(positive, x, 1) ** exponent, 0)


def _pairwise_distances(pairs, *, p, eps):
    r"""$\lVert x_1 - x_2 + \epsilon \rVert_p$ over the last axis (``torch.pairwise_distance``)
    for each pair ``(x1, x2)`` of `pairs`.

    `p` is traced: the norm is $(\sum_d |v_d|^p)^{1/p}$ for finite $p > 0$ and $\max_d |v_d|$
    for $p = \infty$; $p \le 0$ gives NaN. A zero difference has distance 0 and gradient 0,
    as in PyTorch. The Euclidean norms of differences whose squares neither overflow nor
    underflow (every batch of ordinary embeddings) are computed directly; any other case takes
    the general form, scaled so that no power overflows.
    """
    dtype = jnp.result_type(*(x for pair in pairs for x in pair), eps)
    # The distances of a triplet would share one broadcast of `eps`, written out in full.
    # (In the dtype that adding it would promote to, as before the barrier.)
    return _difference_norms(
        tuple((x1, x2, _ops.unshared(jnp.asarray(eps, dtype), x1, x2)) for x1, x2 in pairs), p
    )


def _difference(term):
    x1, x2, eps = term
    return x1 - x2 + eps


def _euclidean_squares(terms, p):
    """The squared norms of the rows of each difference ``x1 - x2 + eps`` of `terms`, and
    whether the p-norms are Euclidean norms whose squares are all exact: neither overflowing
    nor losing terms to underflow (not NaN, which fails both comparisons)."""
    squares = tuple(jnp.sum(jnp.square(_difference(term)), axis=-1) for term in terms)
    largest = functools.reduce(jnp.maximum, (jnp.max(s, initial=0) for s in squares))
    smallest = functools.reduce(jnp.minimum, (jnp.min(s, initial=1) for s in squares))
    exact = (largest < _SQUARES_DIRECT_BELOW) & (smallest > _SQUARES_DIRECT_ABOVE)
    return squares, (p == 2) & exact


# The norms are functions of the inputs rather than of their differences, so that a difference
# is never an operand of a `cond`: an operand is written out in full, where the direct branch
# needs only the row sums, which XLA fuses with the subtraction.
@jax.custom_jvp
def _difference_norms(terms, p):
    """The `p`-norms of the rows of each difference ``x1 - x2 + eps`` of `terms`: directly
    for Euclidean norms of ordinary size, in the general form otherwise (`_general_norm`).

    The differences share that choice, so that a triplet compiles one `cond` rather than one
    per distance: the value of the triplet loss compiled in 92 rather than 124 ms on XLA:CPU
    (mean over (15625, 64) embeddings), most of it the general branches.
    """
    squares, euclidean = _euclidean_squares(terms, p)
    return jax.lax.cond(
        euclidean, lambda *_: tuple(jnp.sqrt(s) for s in squares),
        lambda terms, p: tuple(_general_norm(_difference(term), p) for term in terms), terms, p,
    )


def _difference_norms_jvp(primals, tangents):
    # A rule of its own, because differentiating the `cond` would make each branch return
    # zero-filled copies of the other's intermediates (its residuals): for the Euclidean
    # branch that tripled the time of a gradient. Here the residual is each norm's gradient
    # with respect to its difference alone, and the derivative in `p` is computed only when
    # asked for. One `cond` per difference: a single one returns all the gradients together,
    # a buffer per difference alive at once (4.2 -> 8.2 MiB of temporaries for the triplet
    # above).
    terms, p = primals
    term_tangents, dp = jax.tree.map(
        lambda t: None if isinstance(t, jax.custom_derivatives.SymbolicZero) else t, tangents,
        is_leaf=lambda t: isinstance(t, jax.custom_derivatives.SymbolicZero))
    squares, euclidean = _euclidean_squares(terms, p)
    norms, norm_tangents = [], []
    for term, term_squares, (dx1, dx2, deps) in zip(terms, squares, term_tangents, strict=True):
        norm, grad = jax.lax.cond(
            euclidean, lambda term, p, s=term_squares: _euclidean(_difference(term), s),
            _general_norm_and_grad, term, p)
        tangent = jnp.zeros_like(norm)
        if dx1 is not None:
            tangent = tangent + jnp.sum(grad * dx1, axis=-1)
        if dx2 is not None:
            tangent = tangent - jnp.sum(grad * dx2, axis=-1)
        if deps is not None:
            tangent = tangent + jnp.sum(grad, axis=-1) * deps
        if dp is not None:
            along_p = jax.jvp(lambda p, term=term: _general_norm(_difference(term), p), (p,),
                              (jnp.ones_like(p),))[1]
            tangent = tangent + along_p * dp
        norms.append(norm)
        norm_tangents.append(tangent)
    return tuple(norms), tuple(norm_tangents)


_difference_norms.defjvp(_difference_norms_jvp, symbolic_zeros=True)


def _euclidean(v, squares):
    """Norms and their gradients (`squares` > 0 where this branch is taken)."""
    norm = jnp.sqrt(squares)
    return norm, v / norm[..., None]


def _general_norm_and_grad(term, p):
    norm, pullback = jax.vjp(lambda v: _general_norm(v, p), _difference(term))
    return norm, pullback(jnp.ones_like(norm))[0]


def _general_norm(v, p):
    r"""$(\sum_d |v_d|^p)^{1/p}$ for finite $p > 0$, $\max_d |v_d|$ for $p = \infty$, NaN for
    $p \le 0$; 0 with a zero gradient for a zero row. A row with a NaN entry has norm NaN,
    one with an infinite entry (and no NaN) norm inf, as in PyTorch."""
    size = _ops.abs_(v)
    finite = jnp.isfinite(p) & (p > 0)
    safe_p = jnp.where(finite, p, 1)
    largest = jnp.max(size, axis=-1, initial=0)  # NaN if an entry is
    # The norm of the entries over the largest one (a constant for the gradient, so exact):
    # their powers cannot overflow, as |v|^2 does past 1e19 in float32.
    top = jax.lax.stop_gradient(largest)[..., None]
    top = jnp.minimum(jnp.where(top > 0, top, 1), _largest_safe_divisor(top))
    ratios = jnp.sum(_safe_power(size / top, safe_p), axis=-1)
    norm = top[..., 0] * _safe_power(ratios, 1 / safe_p)
    norm = jnp.where(finite, norm, largest)
    # The scaled sum skips a NaN entry (`_safe_power` gives 0 where a ratio is not positive)
    # and turns an infinite one into inf / inf: the largest entry says what the norm is.
    norm = jnp.where(jnp.isfinite(largest), norm, largest)
    return jnp.where(p > 0, norm, jnp.nan)


def _triplet(fn, distances, anchor, positive, negative, *, reduction, where, margin, swap):
    """The triplet loss with `distances` mapping a tuple of ``(x1, x2)`` pairs to their
    distances."""
    a, pos, neg = _checks.floats(fn, anchor=anchor, positive=positive, negative=negative)
    _checks.min_rank(fn, "anchor", a, 1, "the feature axis is last")
    _checks.same_shape(fn, anchor=a, positive=pos, negative=neg)
    keep = keep_mask(fn, where, a.shape[:-1])
    a, pos, neg = fill_dropped(keep, a, pos, neg)
    swapped_pair = ((pos, neg),) if swap else ()
    to_positive, to_negative, *swapped = distances(((a, pos), (a, neg), *swapped_pair))
    if swap:
        to_negative = jnp.minimum(to_negative, swapped[0])
    loss = _ops.clamp_min(margin + to_positive - to_negative, 0)
    return reduce(loss, reduction, mask=keep)


@loss_function(static=("swap",), valid={"p": (lambda p: p > 0, "positive (or inf)"),
                                         "margin": (lambda m: m > 0, "positive")})
def triplet_margin_loss(
    anchor,
    positive,
    negative,
    *,
    reduction="mean",
    where=None,
    margin=1.0,
    p=2.0,
    eps=1e-6,
    swap=False,
):
    r"""Triplet margin loss: the anchor should be closer to the positive than to the negative by
    a margin, in the $p$-norm distance.

    $$d(u, v) = \lVert u - v + \epsilon \rVert_p, \qquad
      \ell_i = \max\bigl(0,\, \Delta + d(a_i, p_i) - d(a_i, n_i)\bigr)$$

    With ``swap=True``, $d(a_i, n_i)$ is replaced by $\min(d(a_i, n_i), d(p_i, n_i))$ (ties
    split the gradient in halves, as PyTorch). $\epsilon$ is added to the difference, as
    ``torch.pairwise_distance`` does. At the margin the gradient passes (PyTorch's
    ``clamp_min``); a zero difference has a zero distance gradient.

    Args:
      anchor: anchor embeddings $a$, shape ``(..., D)``, feature axis last.
      positive: embeddings $p$ of the same class, the shape of `anchor`.
      negative: embeddings $n$ of another class, the shape of `anchor`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True triplets count.
      margin: the margin $\Delta > 0$ (traced). As in PyTorch, a Python or NumPy value that
        is not positive raises ``ValueError``; a traced margin cannot be checked.
      p: the norm degree, any $p > 0$ or ``float("inf")`` (traced: changing it does not
        recompile). A Python or NumPy $p \le 0$ raises ``ValueError``; a traced one gives NaN
        (PyTorch computes a count of nonzeros for $p = 0$; neither is a distance).
      eps: the constant $\epsilon$ added to the differences (traced).
      swap: whether to use the distance swap (static).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-triplet losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> a, pos, neg = jnp.array([0.0, 0.0]), jnp.array([3.0, 4.0]), jnp.array([0.0, 1.0])
      >>> float(jaxloss.triplet_margin_loss(a, pos, neg))  # 1 + 5 - 1
      5.0

    Equivalents: ``torch.nn.functional.triplet_margin_loss``; ``optax.losses.triplet_margin_loss``
    (unreduced; it adds $\epsilon$ under the root, not to the difference).
    Reference: Balntas et al, Learning local feature descriptors with triplets and shallow
    convolutional neural networks <http://www.bmva.org/bmvc/2016/papers/paper119/index.html>,
    2016 (the distance swap).
    """
    distances = functools.partial(_pairwise_distances, p=p, eps=eps)
    return _triplet(
        "triplet_margin_loss", distances, anchor, positive, negative,
        reduction=reduction, where=where, margin=margin, swap=swap,
    )


@loss_function(
    static=("distance_function", "swap"), valid={"margin": (lambda m: m > 0, "positive")}
)
def triplet_margin_with_distance_loss(
    anchor,
    positive,
    negative,
    *,
    reduction="mean",
    where=None,
    distance_function=None,
    margin=1.0,
    swap=False,
):
    r"""Triplet margin loss with a distance function of your choice.

    $$\ell_i = \max\bigl(0,\, \Delta + d(a_i, p_i) - d(a_i, n_i)\bigr)$$

    With ``swap=True``, $d(a_i, n_i)$ is replaced by $\min(d(a_i, n_i), d(p_i, n_i))$.

    Args:
      anchor: anchor embeddings $a$, shape ``(..., D)``, feature axis last.
      positive: embeddings $p$ of the same class, the shape of `anchor`.
      negative: embeddings $n$ of another class, the shape of `anchor`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True triplets count. The
        distance function also sees masked triplets, with their embeddings set to 0.
      distance_function: a JAX-traceable $d$ mapping two ``(..., D)`` arrays to ``(...)``
        distances (static). None is `triplet_margin_loss`'s distance with $p = 2$,
        $\epsilon = 10^{-6}$. The function is part of the compilation key: define it once
        (a new ``lambda`` at every call recompiles every time).
      margin: the margin $\Delta > 0$ (traced). As in PyTorch, a Python or NumPy value that
        is not positive raises ``ValueError``; a traced margin cannot be checked.
      swap: whether to use the distance swap (static).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-triplet losses ``(...)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> def cosine_distance(u, v):
      ...     return 1 - jnp.sum(u * v, -1) / jnp.sqrt(jnp.sum(u * u, -1) * jnp.sum(v * v, -1))
      >>> a, pos, neg = jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]), jnp.array([0.0, 1.0])
      >>> loss = jaxloss.triplet_margin_with_distance_loss(
      ...     a, pos, neg, distance_function=cosine_distance)
      >>> float(loss)  # 1 + (1 - 1 / sqrt 2) - 1
      0.2929

    Equivalents: ``torch.nn.functional.triplet_margin_with_distance_loss``.
    """
    fn = "triplet_margin_with_distance_loss"
    if distance_function is None:
        distances = functools.partial(_pairwise_distances, p=2.0, eps=1e-6)
    else:
        def distances(pairs):
            return tuple(_checked_distance(fn, distance_function, x1, x2) for x1, x2 in pairs)
    return _triplet(
        fn, distances, anchor, positive, negative,
        reduction=reduction, where=where, margin=margin, swap=swap,
    )


def _checked_distance(fn, distance_function, x1, x2):
    d = distance_function(x1, x2)
    if jnp.shape(d) != x1.shape[:-1]:
        raise ValueError(
            f"{fn}: `distance_function` returned shape {_checks.shape_str(jnp.shape(d))} "
            f"for inputs of shape {_checks.shape_str(x1.shape)}; it must reduce the last "
            f"axis, returning shape {_checks.shape_str(x1.shape[:-1])}"
        )
    return d
