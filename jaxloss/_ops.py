"""Elementwise primitives whose gradients at kinks follow PyTorch's conventions.

The values are the textbook ones; only the derivative at the non-differentiable point differs
from JAX's defaults, and PyTorch parity includes those points: a prediction equal to its target is
common (``jax.grad(jnp.abs)(0.)`` is 1, torch's ``sign(0)`` is 0), and so is a hinge exactly at
its margin.

The rest are equal in value and derivative to the obvious JAX code, written so that XLA
compiles them better (`unshared`, `take_last`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_jvp
def abs_(x):
    """``|x|`` with derivative ``sign(x)``, 0 at 0 (torch's ``abs`` backward; JAX's is 1).

    A rule rather than ``x * sign(x)``: the value is then one ``abs``, which XLA:CPU
    vectorises with the reduction that follows (l1_loss at 1.24x a plain ``jnp.abs`` before).
    """
    return jnp.abs(x)


abs_.defjvp(lambda primals, tangents: (abs_(primals[0]), jnp.sign(primals[0]) * tangents[0]))


def clamp_min(x, low):
    """``max(x, low)`` passing the gradient to `x` where ``x >= low`` (torch's ``clamp_min``).

    torch's margin losses written with ``clamp_min`` (hinge_embedding, margin_ranking,
    cosine_embedding, triplet) therefore have a gradient at the margin; ``jnp.maximum`` would
    split it in halves and ``jax.nn.relu`` would drop it. Losses whose torch kernels test
    ``z > 0`` (multi_margin, multilabel_margin) use `relu` instead.

    A NaN `x` stays NaN, with a zero gradient, as in torch: a bare ``where(x >= low, x, low)``
    would turn a NaN loss (an out-of-range label, a NaN distance) into a silent ``low``.
    """
    return jnp.where(x >= low, x, jnp.where(x < low, low, jax.lax.stop_gradient(x)))


def relu(x):
    """``max(x, 0)`` with derivative 0 at 0 and at NaN: ``jax.nn.relu`` and torch's ``relu``
    in value and gradient, including a NaN `x` staying NaN.

    Written as two selects rather than ``jnp.maximum`` for the gradient on XLA:CPU (jax
    0.10.2, 2 cores): the mean hinge ``relu(1 - y x)`` over 1e6 elements took 0.74 ms with
    its gradient in rows of 128 (1.00 ms with ``jax.nn.relu``) and 0.89 ms in rows of 3
    (1.36 ms), where XLA:CPU runs a ``maximum`` feeding a sum several times slower (the value
    alone: 0.72 ms against 2.93 ms). The value alone in rows of 128 pays for it: 0.49 ms
    against 0.38 ms.
    """
    return jnp.where(x > 0, x, jnp.where(x <= 0, 0, jax.lax.stop_gradient(x)))


@jax.custom_jvp
def floor_value(x, low):
    """``max(x, low)`` in value, with the derivative of `x` itself (1 everywhere) and none
    for `low`: torch's ``gaussian_nll_loss`` clamps a clone of the variance under ``no_grad``.

    A rule rather than ``x + stop_gradient(max(x, low) - x)``, whose two extra operations
    stay in the compiled value (the gaussian NLL mean over 1e6 elements: 0.87 ms against
    0.75 ms on XLA:CPU).
    """
    return jnp.maximum(x, low)


floor_value.defjvp(lambda primals, tangents: (floor_value(*primals), tangents[0]))


@jax.custom_jvp
def log_sigmoids(x):
    """``(log sigmoid(x), log sigmoid(-x))`` from one ``exp`` and one ``log1p``.

    The sigmoid focal loss needs both logs apart (a plain binary cross-entropy folds them
    into one `softplus`); written as two ``jax.nn.log_sigmoid`` calls they cost two of each
    per element and their gradients two more exponentials, as XLA does not see that ``|x|``
    and ``|-x|`` agree.
    ``log sigmoid(+-x) = -log1p(exp(-|x|)) - max(-+x, 0)``, exact for every finite `x`.
    """
    return _log_sigmoids(x, jnp.exp(-jnp.abs(x)))


def _log_sigmoids(x, e):
    common = -jnp.log1p(e)
    return common - jnp.maximum(-x, 0.0), common - jnp.maximum(x, 0.0)


def _sigmoids(x, e):
    """``(sigmoid(x), sigmoid(-x))`` from ``e = exp(-|x|)``."""
    big = 1 / (1 + e)  # sigmoid(|x|)
    small = e * big  # sigmoid(-|x|), accurate where 1 - big would cancel
    positive = x >= 0
    return jnp.where(positive, big, small), jnp.where(positive, small, big)


@log_sigmoids.defjvp
def _log_sigmoids_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    e = jnp.exp(-jnp.abs(x))
    sigmoid, sigmoid_neg = _sigmoids(x, e)
    return _log_sigmoids(x, e), (sigmoid_neg * dx, -sigmoid * dx)


@jax.custom_jvp
def softplus(x):
    """``log(1 + e^x) = -log sigmoid(-x)``: one ``exp`` and one ``log1p``, with derivative
    ``sigmoid(x)``.

    ``jax.nn.softplus`` is ``logaddexp(x, 0)``, whose infinity-handling selects and custom
    derivative cost several times more on the CPU: 14x on a ``(41666, 6, 6)`` array of
    contrastive logits, 2x on a flat one, measured on 2 cores with jax 0.10.2.

    The derivative is ``jax.nn.sigmoid`` (XLA's ``logistic``) rather than the two sigmoids
    built from the value's ``exp(-|x|)`` with selects: one more ``exp`` costs XLA:CPU less
    than the selects, which it cannot vectorise with the reduction (SimPO's mean with its
    gradient over 1e6 pairs: 1.73 ms against 2.20 ms).
    """
    return jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(x, 0.0)


softplus.defjvp(lambda primals, tangents: (
    softplus(primals[0]), jax.nn.sigmoid(primals[0]) * tangents[0]
))


def logsumexp_parts(x, axis=-1):
    """``logsumexp(x, axis)`` as ``shift + log_sum``: the row maximum (0 where it is not
    finite; a constant for the gradient, as in ``jax.nn.logsumexp``) and the log of the sum
    of ``exp(x - shift)``.

    Kept apart so that a difference with a logit subtracts the shift first,
    ``log_sum + (shift - x_y)``: ``logsumexp(x) - x_y`` rounds the log-sum-exp to the
    logits' magnitude, so at a common offset of 1e6 a float32 cross-entropy of 1.46 came out
    as 1.4375 (PyTorch's log-softmax subtracts the maximum first too)."""
    # Not keepdims: XLA:CPU ran the sum of exponentials several times slower reading the
    # maximum as an (n, 1) column (cross_entropy over (31250, 32) logits: 0.84 ms, 0.62 ms
    # as below).
    # An empty axis has the log-sum-exp -inf, as in jax.nn.logsumexp. jnp.max refuses it
    # without an `initial`, which would add an operation to every other call.
    top = jnp.max(x, axis=axis, initial=None if x.shape[axis] else -jnp.inf)
    shift = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0))
    log_sum = jnp.log(jnp.sum(jnp.exp(x - jnp.expand_dims(shift, axis)), axis=axis))
    return shift, log_sum


def unshared(scalar, *context):
    """`scalar` as a value of its own, whose broadcasts XLA does not merge with other uses.

    On XLA:CPU (jax 0.10) a broadcast of a scalar that a vectorised reduction fusion and
    another fusion both read is written out in full, a pass over memory per use: the Huber
    threshold shared by the loss's sum and its gradient, or one `eps` shared by the two
    distances of a triplet (which doubled that loss's time). The barrier keeps the uses
    apart and costs nothing once they are fused. `context`, the arrays this use is about,
    keeps two calls apart: identical barriers would be merged like the broadcasts.
    """
    return jax.lax.optimization_barrier((scalar, *context))[0]


@jax.custom_jvp
def take_last(x, index):
    """``x[..., index]``: one entry of the last axis per row, `index` of `x`'s shape without
    that axis and within bounds (the callers clip it).

    The value is a gather; the derivative is a one-hot select and sum instead of the
    gather's own, whose transpose is a scatter-add that XLA:CPU compiled and ran more slowly
    than optax's one-hot products. Mean over (31250, 32) scores with its gradient, the
    gather's derivative against this one: cross_entropy 1.80 -> 1.44 ms (compile 164 -> 139
    ms), nll_loss 0.71 -> 0.50 ms, multiclass_hinge_loss 2.54 -> 2.15 ms (compile 109 -> 80
    ms). Not always a gain: see `multi_margin_loss`.
    """
    return jnp.take_along_axis(x, index[..., None], axis=-1)[..., 0]


@take_last.defjvp
def _take_last_jvp(primals, tangents):
    x, index = primals
    chosen = jax.nn.one_hot(index, x.shape[-1], dtype=jnp.bool_)
    return take_last(x, index), jnp.sum(jnp.where(chosen, tangents[0], 0), axis=-1)
