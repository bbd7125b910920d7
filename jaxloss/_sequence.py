"""Sequence losses: connectionist temporal classification (CTC).

``ctc_loss`` matches ``torch.nn.functional.ctc_loss`` (PyTorch 2.13) in value and, through
``log_softmax``, in gradient. Like every jaxloss loss it is batch-first with the class axis last:
``log_probs`` is ``(N, T, C)`` where torch takes ``(T, N, C)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from . import _checks
from ._reduction import fill_dropped, keep_mask, loss_function, reduce

_FN = "ctc_loss"


def _log_add(*terms):
    """``log(sum(exp(terms)))`` of a few same-shaped arrays.

    Where every term is ``-inf`` (an unreachable CTC state, which most states are early on) the
    result is ``-inf`` with a zero derivative in both modes; ``jnp.logaddexp`` and
    ``jax.nn.logsumexp`` have NaN gradients there. A NaN term still gives NaN.
    """
    top = functools.reduce(jnp.maximum, terms)
    reachable = top != -jnp.inf
    shift = lax.stop_gradient(jnp.where(reachable, top, 0.0))
    total = sum(jnp.exp(term - shift) for term in terms)
    return jnp.where(reachable, shift + jnp.log(jnp.where(reachable, total, 1.0)), -jnp.inf)


def _shift(x, by, fill):
    """`x` moved `by` states along axis 1 (to the right if positive, to the left if negative),
    `fill` entering from the emptied end."""
    states = x.shape[1]
    if by >= 0:
        return jnp.pad(x, ((0, 0), (by, 0)), constant_values=fill)[:, :states]
    return jnp.pad(x, ((0, 0), (0, -by)), constant_values=fill)[:, -by:]


def _transitions(x, can_skip, direction):
    """One step of the CTC recursion over log-scores `x` ``(N, 2S+1)``: each state collects
    itself and its one or two predecessors (``direction = 1``, the forward recursion) or
    successors (``direction = -1``, the backward one). A path may jump over a blank between two
    different labels: from ``s`` to ``s + 2`` where ``can_skip[s + 2]``."""
    skips = can_skip if direction == 1 else _shift(can_skip, -2, False)
    from_skip = jnp.where(skips, _shift(x, 2 * direction, -jnp.inf), -jnp.inf)
    return _log_add(x, _shift(x, direction, -jnp.inf), from_skip)


def _pad_concatenated(flat, lengths, width):
    """torch's concatenated targets ``(sum(lengths),)`` as padded rows ``(N, width)``, and
    whether the lengths tile the array exactly (torch raises otherwise)."""
    ends = jnp.cumsum(lengths)
    positions = (ends - lengths)[:, None] + jnp.arange(width)[None]
    if flat.size:
        rows = flat[jnp.clip(positions, 0, flat.size - 1)]
    else:
        rows = jnp.zeros(positions.shape, flat.dtype)
    tiled = (jnp.sum(lengths) == flat.size) & jnp.all(lengths >= 0)
    return rows, tiled


def _negative_log_likelihood(log_probs, labels, input_lengths, label_lengths, blank):
    """``-log P(labels | log_probs)`` per example by the CTC forward recursion, ``(N,)``; NaN
    where a length, a label within its length, or `blank` is out of range."""
    n, frames, num_classes = log_probs.shape
    width = labels.shape[1]
    within = jnp.arange(width)[None] < label_lengths[:, None]
    label_ok = (labels >= 0) & (labels < num_classes) & (labels != blank)
    in_range = (
        (input_lengths >= 0) & (input_lengths <= frames)
        & (label_lengths >= 0) & (label_lengths <= width)
        & (blank >= 0) & (blank < num_classes)
        & jnp.all(label_ok | ~within, axis=1)
    )

    active = jnp.arange(frames)[None] < input_lengths[:, None]  # (N, T)
    blank = jnp.clip(blank, 0, num_classes - 1)
    # Padding and invalid labels become blanks, so every gather below is in bounds; states past
    # 2 * length never feed the result, and invalid examples are NaN anyway.
    labels = jnp.where(within & label_ok, labels, blank)

    # Extended sequence (blank, l1, blank, l2, ..., blank): state s emits extended[s].
    extended = jnp.full((n, 2 * width + 1), blank).at[:, 1::2].set(labels)
    # A path may jump over a blank between two different labels (never between repeats).
    can_skip = (extended != blank) & (extended != _shift(extended, 2, blank))
    # Complete paths end on the last label or on the blank after it.
    last = 2 * jnp.clip(label_lengths, 0, width)
    log_likelihood = _log_likelihood(log_probs, extended, can_skip, active.T, last)
    # 0 - x rather than -x: a certain alignment gives +0, not -0.
    return jnp.where(in_range, 0.0 - log_likelihood, jnp.nan)


def _emissions(log_probs, extended):
    """Each state's log-probability at each frame, time-major ``(T, N, 2S+1)``."""
    return jnp.swapaxes(jnp.take_along_axis(log_probs, extended[:, None, :], axis=-1), 0, 1)


def _only_state(extended, index, dtype):
    """Log-scores ``(N, 2S+1)``: 0 in state ``index[n]`` of row n, -inf elsewhere."""
    states = jnp.arange(extended.shape[1])[None]
    return jnp.where(states == index[:, None], 0.0, -jnp.inf).astype(dtype)


def _recursion(emissions, can_skip, active, start, *, backward=False, every_frame=False):
    """The forward recursion over time-major `emissions` and `active` ``(T, N)``: the
    log-probability of the paths from `start` to each state, counting every frame read, once
    all are read, and after each frame ``(T, N, 2S+1)`` if `every_frame` (else None).
    `backward` runs it from the last frame to the first, through the reversed transitions."""
    direction = -1 if backward else 1

    def step(carry, frame):
        emission, is_active = frame
        advanced = emission + _transitions(carry, can_skip, direction)
        # Frozen outside the example's input: whatever padding holds past it, NaN included,
        # reaches neither the value nor a derivative.
        carry = jnp.where(is_active[:, None], advanced, carry)
        return carry, carry if every_frame else None

    return lax.scan(step, start, (emissions, active), reverse=backward)


def _ends(alpha, last):
    """``log P(labels)`` from the final states: complete paths end on the last label (state
    ``last - 1``) or on the blank after it (state `last`)."""
    ends_blank = jnp.take_along_axis(alpha, last[:, None], axis=1)[:, 0]
    ends_label = jnp.take_along_axis(alpha, jnp.maximum(last - 1, 0)[:, None], axis=1)[:, 0]
    return _log_add(ends_blank, jnp.where(last > 0, ends_label, -jnp.inf))


# Before the first frame the empty prefix has probability 1. Held in state 0, it lets the first
# step reach exactly states 0 (stay) and 1 (advance), as the recursion requires.
def _first_states(extended, dtype):
    return _only_state(extended, jnp.zeros(extended.shape[:1], jnp.int32), dtype)


@jax.custom_jvp
def _log_likelihood(log_probs, extended, can_skip, active, last):
    """``log P(labels | log_probs)`` per example ``(N,)``; the derivative comes from the
    forward-backward recursion (below) rather than from differentiating the scan."""
    emissions = _emissions(log_probs, extended)
    start = _first_states(extended, log_probs.dtype)
    alpha, _ = _recursion(emissions, can_skip, active, start)
    return _ends(alpha, last)


@_log_likelihood.defjvp
def _log_likelihood_jvp(primals, tangents):
    # d log P / d y[t, c] is the posterior probability that a path emits c at frame t: the
    # sum over the states s emitting c of exp(alpha_t(s) + beta_t(s) - y[t, s] - log P), with
    # alpha_t(s) and beta_t(s) the log-probabilities of the paths' prefixes up to frame t and
    # of their suffixes from it, both in state s at frame t and both counting its emission
    # (Graves et al 2006, eq. 14). One backward scan gives beta, where differentiating the
    # forward scan would transpose every step of it; and as an ordinary function of the inputs,
    # the derivative can be differentiated again.
    log_probs, extended, can_skip, active, last = primals
    emissions = _emissions(log_probs, extended)
    start = _first_states(extended, log_probs.dtype)
    alpha, alphas = _recursion(emissions, can_skip, active, start, every_frame=True)
    log_p = _ends(alpha, last)
    # The backward recursion starts from the blank after the last label: the frames past the
    # input come first and hold it, and its reversed transitions reach exactly the two final
    # states (that blank and the last label), each with log-probability 0.
    finish = _only_state(extended, last, log_probs.dtype)
    _, betas = _recursion(emissions, can_skip, active, finish, backward=True, every_frame=True)
    # The posterior over the states at each used frame, normalised there rather than by log P:
    # the two are equal, but with log-probabilities near 1e30 (or long sequences in float32)
    # alpha + beta - log P cancels to rounding error of the size of log P, where the frame's
    # own normalisation keeps its weights finite and summing to 1. Unused frames, states that
    # cannot emit (y = -inf, so alpha = beta = -inf) and infeasible targets (every state -inf)
    # get no weight; NaN inputs in used frames give NaN.
    used = active[..., None] & (emissions != -jnp.inf)
    exponent = jnp.where(used, alphas + betas - emissions, -jnp.inf)
    top = lax.stop_gradient(jnp.max(exponent, axis=-1, keepdims=True))
    weights = jnp.exp(exponent - jnp.where(top == -jnp.inf, 0.0, top))
    total = jnp.sum(weights, axis=-1, keepdims=True)
    occupancy = weights / jnp.where(total == 0, 1.0, total)
    by_class = jax.nn.one_hot(extended, log_probs.shape[-1], dtype=log_probs.dtype)
    grad = jnp.einsum("tns,nsc->ntc", occupancy, by_class)
    return log_p, jnp.sum(grad * tangents[0], axis=(1, 2))


# The values that jit cannot check, for `jaxloss.checked`.
_INDICES = (
    _checks.Indices("targets", "log_probs", exclude="blank", lengths="target_lengths"),
    _checks.Indices("input_lengths", "log_probs", axis=-2, what="sequence lengths",
                    inclusive=True),
    _checks.Indices("target_lengths", "targets", what="sequence lengths", inclusive=True,
                    tiles=True),
    _checks.Indices("blank", "log_probs", what="the blank class index"),
)


@loss_function(static=("zero_infinity",), indices=_INDICES)
def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    *,
    reduction="mean",
    where=None,
    blank=0,
    zero_infinity=False,
):
    r"""Connectionist temporal classification loss: the negative log-probability of a label
    sequence summed over all its frame-level alignments.

    With $y_{tc}$ the log-probabilities and $\mathcal{B}$ the map that merges repeated symbols
    and then removes blanks,

    $$\ell_i = -\log \sum_{\pi \in \mathcal{B}^{-1}(l_i),\ |\pi| = T_i}\ \prod_{t=1}^{T_i}
      e^{y_{t \pi_t}}, \qquad
      \text{mean} = \frac{1}{\lvert\text{kept}\rvert} \sum_{i \text{ kept}}
      \frac{\ell_i}{\max(\lvert l_i\rvert, 1)}$$

    computed by the forward (alpha) recursion in log space, a ``lax.scan`` over time. The
    ``"mean"`` divides each loss by its target length first, as PyTorch does. The derivative
    comes from the forward-backward recursion (a second scan, from the last frame back), as
    PyTorch's and cuDNN's do: each frame's posterior over the labels. It works in forward and
    reverse mode and can itself be differentiated (Hessians).

    An alignment needs at least $\lvert l_i\rvert$ frames plus one per adjacent repeated pair;
    with fewer the loss is ``inf`` (its gradient is 0), or 0 with `zero_infinity`. The loss is
    clamped at 0, which only removes rounding error for normalised inputs but, for
    unnormalised ones (where it can be negative), departs from PyTorch. Lengths and labels
    cannot be checked under ``jit``: an input or target length outside ``[0, T]`` or
    ``[0, S]``, a label within the target length outside ``[0, C)`` or equal to `blank`, or
    a `blank` outside ``[0, C)`` makes that loss NaN (PyTorch raises or reads garbage), as
    concatenated targets whose length is not ``sum(target_lengths)`` make every loss, and
    `zero_infinity` keeps it NaN. ``jaxloss.checked(ctc_loss)`` raises an error naming the first
    such value instead.

    Args:
      log_probs: log-probabilities over classes (``log_softmax`` outputs), **batch-first**
        ``(N, T, C)``, or ``(T, C)`` for one sequence. Frames past an input's length are
        ignored.
      targets: integer labels, padded ``(N, S)`` (entries past the target length are
        ignored); or, as in torch, concatenated ``(sum(target_lengths),)``, which is padded
        here to width ``min(len(targets), T)`` (a target longer than $T$ is infeasible, so
        never needs its labels) - pass padded targets for speed when ``S`` is much less than
        ``T``; or ``(S,)`` with ``(T, C)`` log-probabilities.
      input_lengths: frames used per example, integer ``(N,)`` (``()`` unbatched).
      target_lengths: labels per example, integer ``(N,)`` (``()`` unbatched).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (shape ``(N,)``, or a scalar
        unbatched).
      where: optional boolean mask broadcastable to ``(N,)``; only True examples count. With
        concatenated targets, masked examples' lengths still lay out `targets`.
      blank: the blank class index (traced).
      zero_infinity: whether infinite losses and their gradients become 0 (static).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-example losses ``(N,)`` for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> log_probs = jnp.log(jnp.full((1, 2, 3), 1 / 3))  # N = 1, T = 2, C = 3, uniform
      >>> float(jaxloss.ctc_loss(log_probs, jnp.array([[1]]), jnp.array([2]), jnp.array([1])))
      1.0986
      >>> jaxloss.ctc_loss(  # [1, 1] needs a blank between the repeats: three frames
      ...     log_probs, jnp.array([[1, 1]]), jnp.array([2]), jnp.array([2]), reduction="none")
      Array([inf], dtype=float32)

    The first loss is $\log 3$: of the nine alignments, ``11``, ``01`` and ``10`` give ``[1]``.

    Equivalents: ``torch.nn.functional.ctc_loss`` (time-first ``(T, N, C)`` there: pass
    ``log_probs.transpose(0, 1)``); ``optax.ctc_loss`` (logits and padding masks, unreduced).
    Reference: Graves et al, Connectionist Temporal Classification: Labelling Unsegmented
    Sequence Data with Recurrent Neural Networks
    <https://www.cs.toronto.edu/~graves/icml_2006.pdf>, 2006.
    """
    (log_probs,) = _checks.floats(_FN, log_probs=log_probs)
    _checks.rank_in(_FN, "log_probs", log_probs, (2, 3), "(N, T, C) batch-first, or (T, C)")
    _checks.nonempty(_FN, "log_probs", log_probs, -1, "class")  # the blank is one
    targets = _checks.labels(_FN, "targets", targets)
    input_lengths = _checks.integers(_FN, "input_lengths", input_lengths, "sequence lengths")
    target_lengths = _checks.integers(_FN, "target_lengths", target_lengths, "sequence lengths")
    blank = _checks.labels(_FN, "blank", blank)
    _checks.shape_is(_FN, "blank", blank, (), "one class index")
    batched = log_probs.ndim == 3
    batch_shape = log_probs.shape[:1] if batched else ()
    lengths_are = (
        f"{'one per example' if batched else 'one length'}: `log_probs` has shape "
        f"{_checks.shape_str(log_probs.shape)}"
    )
    _checks.shape_is(_FN, "input_lengths", input_lengths, batch_shape, lengths_are)
    _checks.shape_is(_FN, "target_lengths", target_lengths, batch_shape, lengths_are)
    if batched:
        _checks.rank_in(_FN, "targets", targets, (1, 2), "padded (N, S) or concatenated")
        if targets.ndim == 2 and targets.shape[0] != log_probs.shape[0]:
            raise ValueError(
                f"{_FN}: `log_probs` has shape {_checks.shape_str(log_probs.shape)} but "
                f"`targets` has shape {_checks.shape_str(targets.shape)}; padded targets must "
                f"have shape (N, S) with N = {log_probs.shape[0]}"
            )
    else:
        _checks.rank_in(_FN, "targets", targets, (1,), "(S,) with (T, C) `log_probs`")
        log_probs, targets = log_probs[None], targets[None]
        input_lengths, target_lengths = input_lengths[None], target_lengths[None]

    concatenated = targets.ndim == 1
    if concatenated:
        width = min(targets.size, log_probs.shape[1])
        labels, tiled = _pad_concatenated(targets, target_lengths, width)
    else:
        labels, tiled = targets, True

    keep = keep_mask(_FN, where, batch_shape)
    keep_rows = None if keep is None else keep.reshape(-1)
    log_probs, labels, input_lengths, target_lengths = fill_dropped(
        keep_rows, log_probs, labels, input_lengths, target_lengths
    )
    # A concatenated target wider than the padding is longer than T: infeasible, loss inf.
    # (A padded target longer than S is out of range: NaN, below.)
    too_long = (target_lengths > labels.shape[1]) & concatenated
    label_lengths = jnp.where(too_long, 0, target_lengths)
    loss = _negative_log_likelihood(log_probs, labels, input_lengths, label_lengths, blank)
    loss = jnp.where(too_long, jnp.inf, loss)
    loss = jnp.where(tiled, loss, jnp.nan)
    # -log P can round below 0 when P is about 1. Not jnp.maximum: a loss of exactly 0 keeps
    # its whole gradient (maximum would halve it).
    loss = jnp.where(loss < 0, 0.0, loss)
    if zero_infinity:
        loss = jnp.where(loss == jnp.inf, 0.0, loss)
    if reduction == "mean":
        loss = loss / jnp.maximum(target_lengths, 1)
    return reduce(loss.reshape(batch_shape), reduction, mask=keep)
