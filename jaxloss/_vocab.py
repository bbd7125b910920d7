r"""Cross-entropy of a linear classifier over a large vocabulary, without the logits matrix.

A language model's loss is ``cross_entropy(hidden @ embedding.T, target)``. Its logits, and their
gradient, are ``N x V`` — 8 GB in float32 for 8192 tokens and a 256k vocabulary, the largest buffer
of a training step. `linear_cross_entropy` computes the same loss and gradients in blocks of
tokens and of the vocabulary, keeping only per-token scalars between blocks (Wijmans et al., "Cut
Your Losses in Large-Vocabulary Language Models", ICLR 2025, for the idea).

The per-token loss, with raw logits $r = h W^\top + b$, optional soft-capping
$x = c \tanh(r / c)$ (Gemma 2), label smoothing $\varepsilon$ and the PaLM z-loss coefficient $z$:

$$\ell_i = \operatorname{lse}_i - (1-\varepsilon)\, x_{i y_i} - \frac{\varepsilon}{V}\sum_c x_{ic}
  + z \operatorname{lse}_i^2, \qquad \operatorname{lse}_i = \log \sum_c e^{x_{ic}},$$

and with $p = \operatorname{softmax}(x)$ its gradient with respect to the logits is

$$\frac{\partial \ell_i}{\partial x_{ic}} = p_{ic}(1 + 2 z \operatorname{lse}_i)
  - (1-\varepsilon)[c = y_i] - \frac{\varepsilon}{V}.$$

The blocked implementation is a `jax.custom_vjp` whose only residuals are the inputs and the
per-token float32 logsumexp. Its forward pass walks token blocks, and within each an online
logsumexp over vocabulary blocks (2NDV FLOPs). Its backward pass walks vocabulary blocks, and
within each the token blocks: it recomputes each logits block and accumulates the input gradient
(float32, N x D) across vocabulary blocks and each weight block's gradient (float32, one block)
across token blocks (6NDV FLOPs). Memory beyond inputs and gradients is O(N·D + block).

Under ``shard_map`` with the vocabulary (the rows of `weight`) sharded over ``axis_name``, the
blocks cover the local shard and the per-token maxima and sums are combined with ``pmax``/``psum``
(Megatron-LM's vocabulary-parallel cross-entropy, Shoeybi et al. 2019): no logits and no weights
travel, only per-token scalars and, in the backward pass, the input gradient's ``psum``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from . import _checks, _ops
from ._reduction import fill_dropped, keep_mask, loss_function, not_ignored, reduce

# Auto block sizes: a (tokens x vocabulary) float32 logits block of at most 4M entries (16 MiB).
TOKEN_BLOCK = 1024
VOCAB_BLOCK = 4096
# "auto" uses the blocked implementation once the full float32 logits would exceed this.
AUTO_BLOCKED_BYTES = 32 * 2**20

IMPLEMENTATIONS = ("auto", "blocked", "reference")


class LinearCrossEntropyStats(NamedTuple):
    """Per-token quantities computed by the same pass as the loss, for logging (no gradient).

    Each has the shape of `target`; ignored and masked tokens hold 0 (False).
    """

    logsumexp: jax.Array  # float32 lse of the (soft-capped) logits, for z-loss bookkeeping
    entropy: jax.Array  # float32 entropy of softmax(logits)
    accuracy: jax.Array  # bool: the target's logit is the largest (ties count as correct)


class _Static(NamedTuple):
    """Structural settings of one call: hashable, so they can be custom_vjp's static argument."""

    token_block: int
    vocab_block: int
    vocab_size: int  # V over all shards: the label smoothing mass is spread over it
    axis_name: object  # mesh axis the vocabulary is sharded over, or None
    has_bias: bool
    has_cap: bool


def _axes_varied(a) -> frozenset:
    """The mesh axes over which `a` varies inside ``shard_map`` (empty outside)."""
    aval = jax.typeof(a)
    manual = getattr(aval, "manual_axis_type", None)  # jax >= 0.9; `vma` before
    return frozenset(manual.varying if manual is not None else getattr(aval, "vma", ()))


def _vma(*arrays) -> frozenset:
    """The mesh axes over which any of `arrays` varies."""
    return frozenset().union(*(_axes_varied(a) for a in arrays if a is not None))


def _varying(vma, *arrays):
    """`arrays` cast to vary over `vma`: loop carries and branch results must have the type of
    what the loop body computes from sharded operands."""
    out = []
    for a in arrays:
        missing = tuple(sorted(vma - _axes_varied(a), key=str))
        out.append(lax.pcast(a, missing, to="varying") if missing else a)
    return tuple(out)


def _sum_to(cotangent, primal):
    """`cotangent` summed over the mesh axes `primal` does not vary over: a replicated input's
    gradient is the sum of every shard's contribution."""
    if cotangent is None:
        return None
    extra = tuple(sorted(_axes_varied(cotangent) - _axes_varied(primal), key=str))
    return lax.psum(cotangent, extra) if extra else cotangent


def _accumulator(h, w):
    """The dtype of logits and sums: float32, or float64 for float64 inputs."""
    return jnp.result_type(h.dtype, w.dtype, jnp.float32)


def _vocab_offset(local_vocab: int, axis_name):
    """Index of this shard's first vocabulary entry."""
    return 0 if axis_name is None else lax.axis_index(axis_name) * local_vocab


def _block(i, block: int, total: int):
    """Start of block `i` and a mask of its fresh positions.

    The last block is shifted back to end at `total` instead of being padded (padding a weight
    matrix would copy it); the positions it shares with the previous block are not fresh.
    """
    start = jnp.minimum(i * block, total - block)
    fresh = start + jnp.arange(block) >= i * block
    return start, fresh


def _logits(h, w, b, cap, static: _Static):
    """Raw logits ``h @ w.T + b`` in float32 (or float64), and the soft-capped ones with their
    tanh."""
    acc = _accumulator(h, w)
    raw = lax.dot_general(h, w, (((1,), (1,)), ((), ())), preferred_element_type=acc)
    if static.has_bias:
        raw = raw + b.astype(acc)[None, :]
    if not static.has_cap:
        return raw, raw, None
    t = jnp.tanh(raw / cap)
    return raw, cap * t, t


def _forward_stats(h, w, b, y, active, cap, static: _Static):
    """Per-token running max, sum of exp(x - max), sum of exp(x - max) * x, target logit and
    sum of logits over this device's vocabulary, in float32 (float64 for float64 inputs)."""
    n, v = h.shape[0], w.shape[0]
    bt, bv = static.token_block, static.vocab_block
    local_y = y - _vocab_offset(v, static.axis_name)
    vma = _vma(h, w, b, y, active, cap)
    acc = _accumulator(h, w)

    token_blocks = _cdiv(n, bt)

    def token_block(i, out, h, w):
        start, fresh_rows = _block(token_blocks - 1 - i, bt, n)  # last first: see _write_rows
        h_t = lax.dynamic_slice_in_dim(h, start, bt)
        y_t = lax.dynamic_slice_in_dim(local_y, start, bt)

        def vocab_block(j, state, h_t, w):
            m, s, e, tgt, total = state
            vstart, fresh = _block(j, bv, v)
            w_v = lax.dynamic_slice_in_dim(w, vstart, bv)
            b_v = lax.dynamic_slice_in_dim(b, vstart, bv) if static.has_bias else None
            _, x, _ = _logits(h_t, w_v, b_v, cap, static)
            x_new = jnp.where(fresh[None, :], x, -jnp.inf)
            m_next = jnp.maximum(m, jnp.max(x_new, axis=1))
            scale = jnp.exp(m - m_next)
            p = jnp.exp(x_new - m_next[:, None])
            x_fresh = jnp.where(fresh[None, :], x, 0.0)
            is_target = (vstart + jnp.arange(bv))[None, :] == y_t[:, None]
            return (m_next, s * scale + jnp.sum(p, axis=1),
                    e * scale + jnp.sum(p * x_fresh, axis=1),
                    tgt + jnp.sum(jnp.where(is_target & fresh[None, :], x, 0.0), axis=1),
                    total + jnp.sum(x_fresh, axis=1))

        zeros = jnp.zeros((bt,), acc)
        init = _varying(vma, jnp.full((bt,), -jnp.inf, acc), zeros, zeros, zeros, zeros)
        needed = jnp.any(fresh_rows & lax.dynamic_slice_in_dim(active, start, bt))
        # Blocks of ignored or masked tokens only are skipped (their results are never used).
        block = lax.cond(needed, lambda: _loop(_cdiv(v, bv), vocab_block, init, (h_t, w)),
                         lambda: init)
        return tuple(_write_rows(o, r, start) for o, r in zip(out, block, strict=True))

    zeros = jnp.zeros((n,), acc)
    return _loop(token_blocks, token_block, _varying(vma, *(zeros,) * 5), (h, w))


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _loop(count: int, body, carry, operands: tuple):
    """``fori_loop`` over `count` blocks of the large `operands` (hidden states, weights),
    calling ``body(i, carry, *operands)``.

    The operands travel in the loop state through an optimisation barrier, so XLA cannot treat
    them as loop invariants. Where the backend has no 16-bit matrix product (XLA:CPU) it upcasts
    a product's operands, and it would hoist that cast of the whole (invariant) weight matrix
    out of the loop: a float32 copy of it, +4.7 GB of temporaries at the Gemma-2 shape.
    """

    def step(i, state):
        carry, operands = state
        operands = tuple(map(lax.optimization_barrier, operands))  # each keeps its sharding
        return body(i, carry, *operands), operands

    return lax.fori_loop(0, count, step, (carry, operands))[0]


def _write_rows(out, rows, start):
    """`out` with `rows` written at `start`, in `out`'s dtype.

    Nothing is selected or added in `out`'s dtype: XLA:CPU computes 16-bit elementwise
    operations in float32, and moved that cast onto all of a bf16 `out`, updating it out of
    place (a second weight-sized buffer, 1.1 GB at the Gemma-2 shape). Callers visit the
    blocks in reverse, so a shifted last block's stale rows are overwritten by the block
    before it with their right values.
    """
    return lax.dynamic_update_slice_in_dim(out, rows.astype(out.dtype), start, 0)


def _combine(m, s, e, tgt, total, axis_name):
    """logsumexp, expected logit, target logit and sum of logits over the whole vocabulary."""
    if axis_name is not None:
        global_max = lax.pmax(m, axis_name)
        scale = jnp.exp(m - global_max)
        s, e = lax.psum(s * scale, axis_name), lax.psum(e * scale, axis_name)
        tgt, total, m = lax.psum(tgt, axis_name), lax.psum(total, axis_name), global_max
    # Rows never computed (skipped blocks) have s = 0; keep them finite.
    s = jnp.where(s > 0, s, 1.0)
    lse = m + jnp.log(s)
    return lse, m, e / s, tgt, total


def _token_loss(lse, tgt, total, eps, z, vocab_size):
    """The per-token loss; an `eps` or `z` of None leaves its term out of the program."""
    loss = lse - tgt if eps is None else lse - (1.0 - eps) * tgt - eps / vocab_size * total
    return loss if z is None else loss + z * lse**2


def _blocked_primal(h, w, b, y, active, eps, z, cap, static: _Static):
    m, s, e, tgt, total = _forward_stats(h, w, b, y, active, cap, static)
    lse, mx, mean_x, tgt, total = _combine(m, s, e, tgt, total, static.axis_name)
    loss = _token_loss(lse, tgt, total, eps, z, static.vocab_size)
    stats = LinearCrossEntropyStats(lse, lse - mean_x, tgt >= mx)
    return loss, stats, lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(8,))
def _blocked(h, w, b, y, active, eps, z, cap, static: _Static):
    loss, stats, _ = _blocked_primal(h, w, b, y, active, eps, z, cap, static)
    return loss, stats


def _blocked_fwd(h, w, b, y, active, eps, z, cap, static: _Static):
    loss, stats, lse = _blocked_primal(h, w, b, y, active, eps, z, cap, static)
    return (loss, stats), (h, w, b, y, active, eps, z, cap, lse)


def _blocked_bwd(static: _Static, residuals, cotangents):
    h, w, b, y, active, eps, z, cap, lse = residuals
    g = jnp.where(active, cotangents[0], 0.0)  # stats carry no gradient (stop_gradient'ed)
    n, d = h.shape
    v = w.shape[0]
    bt, bv = static.token_block, static.vocab_block
    local_y = y - _vocab_offset(v, static.axis_name)
    coef = 1.0 + 2.0 * z * lse
    smooth = eps / static.vocab_size
    # Matrix products run in the inputs' dtype (bf16 on accelerators), accumulating in float32.
    compute = jnp.result_type(h.dtype, w.dtype)
    acc = _accumulator(h, w)
    vma = _vma(h, w, b, y, active, eps, z, cap, lse, g)

    vocab_blocks = _cdiv(v, bv)

    def vocab_block(j, carry, h, w):
        dh, dw, db, scalars = carry
        # Last block first: see _write_rows.
        vstart, fresh = _block(vocab_blocks - 1 - j, bv, v)
        w_v = lax.dynamic_slice_in_dim(w, vstart, bv)
        b_v = lax.dynamic_slice_in_dim(b, vstart, bv) if static.has_bias else None
        cols = vstart + jnp.arange(bv)

        def token_block(i, inner, h, w_v):
            dh, dw_v, db_v, scalars = inner
            start, fresh_rows = _block(i, bt, n)
            rows = fresh_rows & lax.dynamic_slice_in_dim(active, start, bt)

            def compute_block():
                h_t = lax.dynamic_slice_in_dim(h, start, bt)
                y_t = lax.dynamic_slice_in_dim(local_y, start, bt)
                g_t = lax.dynamic_slice_in_dim(g, start, bt)[:, None]
                raw, x, t = _logits(h_t, w_v, b_v, cap, static)
                p = jnp.exp(x - lax.dynamic_slice_in_dim(lse, start, bt)[:, None])
                is_target = cols[None, :] == y_t[:, None]
                live = rows[:, None] & fresh[None, :]
                dx = jnp.where(live, g_t * (p * lax.dynamic_slice_in_dim(coef, start, bt)[:, None]
                                            - jnp.where(is_target, 1.0 - eps, 0.0) - smooth), 0.0)
                # d loss / d eps = x_target - mean_c x_c, summed with the token cotangents.
                d_eps = jnp.sum(jnp.where(live, g_t * (jnp.where(is_target, x, 0.0)
                                                       - x / static.vocab_size), 0.0))
                if static.has_cap:
                    # x = c tanh(r / c): dx/dr = 1 - t^2, dx/dc = t - (r / c)(1 - t^2).
                    d_cap = jnp.sum(dx * (t - raw / cap * (1.0 - t * t)))
                    dr = dx * (1.0 - t * t)
                else:
                    d_cap = jnp.zeros((), acc)
                    dr = dx
                dr_c = dr.astype(compute)
                dh_t = jnp.dot(dr_c, w_v.astype(compute), preferred_element_type=acc)
                dw_t = lax.dot_general(dr_c, h_t.astype(compute), (((0,), (0,)), ((), ())),
                                       preferred_element_type=acc)
                return dh_t, dw_t, jnp.sum(dr, axis=0), jnp.stack([d_eps, d_cap])

            def skip():
                return _varying(vma, jnp.zeros((bt, d), acc),
                                jnp.zeros((bv, d), acc), jnp.zeros((bv,), acc),
                                jnp.zeros((2,), acc))

            dh_t, dw_t, db_t, s_t = lax.cond(jnp.any(rows), compute_block, skip)
            current = lax.dynamic_slice_in_dim(dh, start, bt)
            dh = lax.dynamic_update_slice_in_dim(dh, current + dh_t, start, 0)
            return dh, dw_v + dw_t, db_v + db_t, scalars + s_t

        init = (dh, *_varying(vma, jnp.zeros((bv, d), acc),
                              jnp.zeros((bv,), acc)), scalars)
        dh, dw_v, db_v, scalars = _loop(_cdiv(n, bt), token_block, init, (h, w_v))
        dw = _write_rows(dw, dw_v, vstart)
        if static.has_bias:
            db = _write_rows(db, db_v, vstart)
        return dh, dw, db, scalars

    init = _varying(vma, jnp.zeros((n, d), acc), jnp.zeros(w.shape, w.dtype),
                    jnp.zeros((v,), b.dtype if static.has_bias else acc),
                    jnp.zeros((2,), acc))
    dh, dw, db, scalars = _loop(vocab_blocks, vocab_block, init, (h, w))
    d_eps, d_cap = scalars[0], scalars[1]
    # Tokens of blocks that were skipped (all inactive) keep lse = -inf: 0 * inf would be NaN.
    d_z = jnp.sum(g * jnp.square(jnp.where(active, lse, 0.0)))
    # Inside shard_map, inputs replicated over the vocabulary shards (h, the hyperparameters)
    # collect every shard's part of their gradient: the input gradient's psum.
    return (_sum_to(dh.astype(h.dtype), h), _sum_to(dw, w),
            _sum_to(db, b) if static.has_bias else None, None, None,
            _sum_to(d_eps, eps), _sum_to(d_z, z),
            _sum_to(d_cap.astype(cap.dtype), cap) if static.has_cap else None)


_blocked.defvjp(_blocked_fwd, _blocked_bwd)


def _reference(h, w, b, y, keep, eps, z, cap, static: _Static):
    """The same per-token loss by plain autodiff over the full (local) logits matrix, where
    `keep` (or None) marks the tokens that count."""
    if keep is None:
        return _reference_loss(h, w, b, y, eps, z, cap, static)
    return _reference_kept(h, w, b, y, keep, eps, z, cap, static)


@functools.partial(jax.custom_jvp, nondiff_argnums=(8,))
def _reference_kept(h, w, b, y, keep, eps, z, cap, static):
    """`_reference_loss`, where every derivative takes the hidden states of the tokens that
    `keep` drops as zeros.

    A dropped token's state may hold NaN. Its loss is masked, but a gradient would still
    multiply its zero cotangent by NaN: in the weight's gradient ``dlogits.T @ h``, and in
    the bias's, smoothing's or cap's through NaN logits. Zeroing those states before the
    product (as the blocked path does) writes a copy of `h`, which the loss value alone does
    not need: (15625, 64) states against a 256-token vocabulary took 3.48 ms against optax's
    3.20 ms with the copy, and compiled in 1.5x optax's time. The rule below zeroes them
    only where something is differentiated.
    """
    del keep
    return _reference_loss(h, w, b, y, eps, z, cap, static)


def _reference_kept_jvp(static, primals, tangents):
    h, w, b, y, keep, eps, z, cap = primals
    rows = keep[:, None]
    primals = (jnp.where(rows, h, 0), w, b, y, eps, z, cap)
    tangents = (tangents[0], *tangents[1:4], *tangents[5:])
    # Forward mode over the arguments with a tangent only (the rule runs when any has one;
    # options left out are None).
    live = [i for i, t in enumerate(tangents)
            if t is not None and not isinstance(t, jax.custom_derivatives.SymbolicZero)]

    def loss(*values):
        args = list(primals)
        for i, value in zip(live, values, strict=True):
            args[i] = value
        return _reference_loss(*args, static)

    tangents = [jnp.where(rows, tangents[i], 0) if i == 0 else tangents[i] for i in live]
    return jax.jvp(loss, [primals[i] for i in live], tangents)


_reference_kept.defjvp(_reference_kept_jvp, symbolic_zeros=True)


def _reference_loss(h, w, b, y, eps, z, cap, static: _Static):
    _, x, _ = _logits(h, w, b, cap, static)
    local = y - _vocab_offset(w.shape[0], static.axis_name)
    picked = _ops.take_last(x, jnp.clip(local, 0, w.shape[0] - 1))
    tgt = jnp.where((local >= 0) & (local < w.shape[0]), picked, 0.0)
    m = lax.stop_gradient(jnp.max(x, axis=1))
    s = jnp.sum(jnp.exp(x - m[:, None]), axis=1)
    e = jnp.sum(jnp.exp(x - m[:, None]) * x, axis=1)
    if static.axis_name is not None:
        m_local, m = m, lax.stop_gradient(lax.pmax(m, static.axis_name))
        s, e = (lax.psum(a * jnp.exp(m_local - m), static.axis_name) for a in (s, e))
        tgt = lax.psum(tgt, static.axis_name)
    total = None
    if eps is not None:
        total = jnp.sum(x, axis=1)
        if static.axis_name is not None:
            total = lax.psum(total, static.axis_name)
    lse = m + jnp.log(s)
    loss = _token_loss(lse, tgt, total, eps, z, static.vocab_size)
    stats = LinearCrossEntropyStats(lse, lse - e / s, tgt >= m)
    return loss, stats


@loss_function(
    static=("implementation", "block_size", "vocab_block_size", "axis_name", "batch_axis_name",
            "return_stats"),
    valid={"label_smoothing": (lambda e: (e >= 0) & (e <= 1), "in [0, 1]"),
           "z_loss": (lambda z: z >= 0, "non-negative"),
           "logit_softcap": (lambda c: c > 0, "positive (or None)")},
    indices=(_checks.Indices("target", "weight", axis=0, ignore="ignore_index"),),
)
def linear_cross_entropy(
    input,
    weight,
    target,
    *,
    bias=None,
    reduction="mean",
    where=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    logit_softcap=None,
    implementation="auto",
    block_size=None,
    vocab_block_size=None,
    axis_name=None,
    batch_axis_name=None,
    return_stats=False,
):
    r"""Cross-entropy of the logits ``input @ weight.T + bias``, never building them.

    Equal in value and in gradients (with respect to `input`, `weight`, `bias` and the numeric
    options) to ``cross_entropy(softcap(input @ weight.T + bias), target, ...)`` plus the z-loss:

    $$\ell_i = \operatorname{lse}_i - (1-\varepsilon)\, x_{i y_i}
      - \frac{\varepsilon}{V}\sum_c x_{ic} + z \operatorname{lse}_i^2,\qquad
      x = c \tanh\!\Bigl(\frac{h W^\top + b}{c}\Bigr)$$

    but its temporary memory is a few blocks and the per-token vectors, not the ``N x V``
    logits and their gradient (module docstring). Use it for the output layer of a language
    model, with the embedding table as `weight` (tied embeddings store it as ``(V, D)``).

    Args:
      input: hidden states $h$, shape ``(..., D)``, any floating dtype (bf16 stays bf16 in the
        matrix products; logits, softmax and accumulation are float32).
      weight: the output projection $W$, shape ``(V, D)`` (PyTorch's ``Linear.weight`` layout).
      target: class indices, any integer dtype, shape ``(...)``.
      bias: optional $b$, shape ``(V,)``.
      reduction: ``"mean"`` (over kept tokens), ``"sum"`` or ``"none"`` (shape ``(...)``).
      where: optional boolean mask broadcastable to ``(...)``; only True tokens count.
      ignore_index: a label that contributes nothing (traced), or ``None`` for none, which
        spares the mask and the pass that zeroes ignored tokens' hidden states. Labels outside
        ``[0, V)`` otherwise give NaN (``jaxloss.checked`` raises).
      label_smoothing: $\varepsilon \in [0, 1]$, PyTorch's semantics (traced).
      z_loss: coefficient $z$ of the PaLM auxiliary loss $\operatorname{lse}^2$ (Chowdhery et
        al. 2022, §5) (traced).
      logit_softcap: $c$, Gemma 2's ``c * tanh(logits / c)`` soft-capping, or None (traced).
        Python or NumPy values of these three options outside their ranges ($\varepsilon \in
        [0, 1]$, $z \ge 0$, $c > 0$) raise ``ValueError``.
      implementation: ``"blocked"`` (the memory-lean custom VJP; reverse mode only),
        ``"reference"`` (materialises the logits; supports forward-mode AD), or ``"auto"``:
        blocked once float32 logits would exceed 32 MiB, or when `axis_name` is given.
      block_size, vocab_block_size: tokens and vocabulary entries per block (default 1024 and
        4096, or the whole axis when smaller).
      axis_name: inside ``shard_map``, the mesh axis that `weight`'s (and `bias`'s) vocabulary
        axis is sharded over; `input` and `target` are then replicated over it. Only per-token
        scalars are communicated.
      batch_axis_name: inside ``shard_map``, a mesh axis the tokens are sharded over: ``"mean"``
        and ``"sum"`` are then global over it (``psum(sum) / psum(count)``).
      return_stats: also return `LinearCrossEntropyStats` (per-token logsumexp, entropy and
        accuracy) from the same pass. They carry no gradient.

    Returns:
      The loss (a scalar, or per-token ``(...)`` for ``"none"``), and with `return_stats`
      a pair ``(loss, stats)``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> embedding = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # V = 3, D = 2
      >>> float(jaxloss.linear_cross_entropy(hidden, embedding, jnp.array([0, 1])))
      0.3955

    Equivalents: ``torch.nn.functional.linear_cross_entropy`` (PyTorch 2.13); Cut Cross-Entropy
    (Wijmans et al., ICLR 2025); Liger Kernel's fused linear cross-entropy.
    """
    fn = "linear_cross_entropy"
    arrays = {"input": input, "weight": weight} | ({} if bias is None else {"bias": bias})
    _checks.floating_dtype(fn, **arrays)
    h, w = jnp.asarray(input), jnp.asarray(weight)
    _checks.min_rank(fn, "input", h, 1, "the feature axis is last")
    _checks.rank_in(fn, "weight", w, (2,), "(vocabulary, features)")
    _checks.nonempty(fn, "weight", w, 0, "vocabulary entry")
    if w.shape[1] != h.shape[-1]:
        raise ValueError(
            f"{fn}: `input` has shape {_checks.shape_str(h.shape)} but `weight` has shape "
            f"{_checks.shape_str(w.shape)}; weight must be (V, {h.shape[-1]}), one row per "
            "vocabulary entry"
        )
    if jnp.shape(target) != h.shape[:-1]:
        raise ValueError(
            f"{fn}: `input` has shape {_checks.shape_str(h.shape)} but `target` has shape "
            f"{_checks.shape_str(jnp.shape(target))}; it must be input.shape[:-1] = "
            f"{_checks.shape_str(h.shape[:-1])}"
        )
    if bias is not None:
        _checks.shape_is(fn, "bias", bias, (w.shape[0],), "one bias per vocabulary entry")
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"{fn}: `implementation` must be one of 'auto', 'blocked' or "
                         f"'reference', got {implementation!r}")
    for name, size in (("block_size", block_size), ("vocab_block_size", vocab_block_size)):
        if size is not None and (not isinstance(size, int) or size < 1):
            raise ValueError(f"{fn}: `{name}` must be a positive int or None, got {size!r}")
    label = _checks.labels(fn, "target", target)
    batch_shape = label.shape
    keep = keep_mask(fn, where, batch_shape, not_ignored(label, ignore_index))
    d = h.shape[-1]
    h, label = h.reshape(label.size, d), label.reshape(-1)  # not -1: d may be 0
    if keep is not None:
        keep = keep.reshape(-1)
        (label,) = fill_dropped(keep, label)

    local_vocab = w.shape[0]
    shards = 1 if axis_name is None else lax.axis_size(axis_name)
    vocab_size = local_vocab * shards
    in_range = (label >= 0) & (label < vocab_size)
    n = h.shape[0]
    static = _Static(
        token_block=max(1, min(block_size or TOKEN_BLOCK, n)),
        vocab_block=max(1, min(vocab_block_size or VOCAB_BLOCK, local_vocab)),
        vocab_size=vocab_size, axis_name=axis_name, has_bias=bias is not None,
        has_cap=logit_softcap is not None)
    acc = _accumulator(h, w)
    eps = jnp.asarray(label_smoothing, acc)
    z = jnp.asarray(z_loss, acc)
    cap = None if logit_softcap is None else jnp.asarray(logit_softcap, acc)
    b = None if bias is None else jnp.asarray(bias)
    if implementation == "auto":
        big = n * local_vocab * 4 > AUTO_BLOCKED_BYTES
        implementation = "blocked" if big or axis_name is not None else "reference"
    if implementation == "reference":
        # Options left at a Python 0 are left out of the plain-autodiff program (XLA cannot
        # drop a multiplication by a traced 0: 0 * inf is NaN); the blocked path's custom
        # rule needs them as arrays.
        eps = None if _checks.unused(label_smoothing) else eps
        z = None if _checks.unused(z_loss) else z
    if n == 0 or local_vocab == 0:
        loss = jnp.zeros((n,), acc)
        stats = LinearCrossEntropyStats(loss, loss, loss > 0)
    elif implementation == "blocked":
        active = jnp.ones((n,), bool) if keep is None else keep
        # Dropped tokens' hidden states may hold NaN: zero them so that no product spreads it.
        (h,) = fill_dropped(keep, h)
        loss, stats = _blocked(h, w, b, label, active, eps, z, cap, static)
    else:
        loss, stats = _reference(h, w, b, label, keep, eps, z, cap, static)
    loss = jnp.where(in_range, loss, jnp.nan)
    loss = reduce(loss.reshape(batch_shape), reduction,
                  mask=None if keep is None else keep.reshape(batch_shape),
                  axis_name=batch_axis_name)
    if not return_stats:
        return loss
    stats = LinearCrossEntropyStats(*fill_dropped(keep, *stats))  # dropped tokens: 0, False
    stats = jax.tree.map(lambda s: lax.stop_gradient(s.reshape(batch_shape)), stats)
    return loss, stats
