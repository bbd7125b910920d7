r"""Contrastive losses: NT-Xent (InfoNCE over labelled groups), CLIP and SigLIP.

Embeddings have shape ``(..., N, D)``: the feature axis is last, the contrastive batch of $N$
items (or image/text pairs) comes before it, and any leading axes index independent batches,
which never see each other. The unreduced loss has one value per item, shape ``(..., N)``, and
``where`` (broadcastable to it) drops items entirely: a dropped item is neither an anchor nor a
positive nor a negative of any other, exactly as if it were sliced out of the batch.

Embeddings are L2-normalised as $x / \sqrt{\max(\lVert x \rVert^2, \epsilon)}$ with $\epsilon$
the machine epsilon of the computation dtype (``optax.ntxent``'s normalisation), so a zero
embedding has a finite value and gradient, where $x / \lVert x \rVert$ gives NaN; the norm is
computed so that it cannot overflow, so huge embeddings normalise exactly too.

`clip_loss` and `siglip_loss` also run inside ``jax.shard_map`` with the batch axis $N$ sharded
over a mesh axis (``axis_name=``): they then equal the single-device loss over the global batch,
value and gradients, and reduce globally (``psum(sum) / psum(count)``, DESIGN §3.6).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from . import _checks, _ops
from ._reduction import fill_dropped, keep_mask, loss_function, reduce

# CLIP's initial logit scale, 1 / 0.07 (Radford et al, 2021), and SigLIP's initial scale 10 and
# bias -10 (Zhai et al, 2023), as the logarithm of the scale.
_CLIP_LOG_SCALE = math.log(1 / 0.07)
_SIGLIP_LOG_SCALE = math.log(10.0)


def _unit_factors(x):
    """The row factors ``inv``, ``r`` and ``long`` of `_unit`'s value ``(x * inv) * r``
    (``long`` is 1.0 for rows at least ``sqrt(eps)`` long, else 0.0).

    ``inv = 1 / max|x|`` scales each row so that its squares neither overflow nor underflow.
    ``max|x|`` is clipped to ``[2**-(maxexp/2 - 4), 2**(maxexp - 2)]`` so that ``inv`` stays a
    normal number with a finite square (XLA:CPU flushes subnormals to zero): a row whose largest
    entry is below that range is short anyway, one above it has scaled entries of at most 4.
    ``r`` is then ``1 / ||x * inv||``, or ``1 / (sqrt(eps) inv)`` for a short row, so
    ``(x * inv) * r`` is ``x / max(||x||, sqrt(eps))`` whatever the rounding of ``inv``: it is
    invariant to the row's scale. There is no ``where``: XLA:CPU keeps selects out of its
    vectorised fusions, and without one the normalisation fuses into the similarity's matrix
    product (clip_loss's value over 1e6 entries 3.1 -> 2.2 ms).
    """
    info = jnp.finfo(x.dtype)
    largest = jnp.clip(jnp.max(jnp.abs(x), axis=-1, initial=0), 2.0 ** -(info.maxexp // 2 - 4),
                       2.0 ** (info.maxexp - 2))
    inv = 1 / largest
    squares = jnp.sum(jnp.square(x * inv[..., None]), axis=-1)
    short_below = info.eps * inv * inv  # ||x||^2 < eps, in the scaled row's units
    r = lax.rsqrt(jnp.maximum(squares, short_below))
    return inv, r, (squares >= short_below).astype(x.dtype)


def _unit_factors_direct_if_finite(x):
    """`_unit_factors`, from the rows' plain sums of squares (``inv`` = 1) when all of them are
    finite, which makes them exact (entries too small to square matter to no row at least
    ``sqrt(eps)`` long): one pass over `x` instead of two (its maximum, then the scaled sums).
    The `cond` stops the factors from fusing into the matrix product, so only the derivative
    rule, whose ``u`` is written out anyway, takes this form."""
    info = jnp.finfo(x.dtype)
    squares = jnp.sum(x * x, axis=-1)

    def direct(x, squares):
        del x
        r = lax.rsqrt(jnp.maximum(squares, info.eps))
        return jnp.ones_like(squares), r, (squares >= info.eps).astype(squares.dtype)

    finite = jnp.max(squares, initial=0) <= info.max  # a float maximum: NaN fails it
    return lax.cond(finite, direct, lambda x, _: _unit_factors(x), x, squares)


@jax.custom_jvp
def _unit(x):
    """``x / max(||x||, sqrt(eps))`` over the last axis (optax.ntxent's normalisation), exact in
    value and gradient for every finite `x`: huge rows do not overflow, zero and short rows
    (divided by ``sqrt(eps)``) have finite gradients. (The gradient of a row longer than about
    1e38 in float32 is subnormal, which XLA:CPU flushes to zero.)"""
    inv, r, _ = _unit_factors(x)
    return (x * inv[..., None]) * r[..., None]


@_unit.defjvp
def _unit_jvp(primals, tangents):
    # The Jacobian of x / ||x|| is (I - u u^T) / ||x||, and that of a short row's x / sqrt(eps)
    # is I / sqrt(eps): one row factor and one dot product per row, where differentiating the
    # scaled form would carry the maximum and both sums through the backward pass.
    (x,), (dx,) = primals, tangents
    inv, r, long = _unit_factors_direct_if_finite(x)
    u = (x * inv[..., None]) * r[..., None]
    along = long * jnp.sum(u * dx, axis=-1)
    return u, (dx - u * along[..., None]) * (r * inv)[..., None]


def _diagonal(like):
    """True on the diagonal of the last two axes, with `like`'s rank (no rank promotion)."""
    n = like.shape[-1]
    return jnp.eye(n, dtype=bool).reshape((1,) * (like.ndim - 2) + (n, n))


# A fused broadcast product beats a batched matrix product on XLA:CPU only for tiny matrices
# of very short vectors, where the matrix product's per-matrix overhead dominates. clip_loss
# over 1e6 embedding entries in groups of 6 (2 cores, jax 0.10.2), broadcast / einsum, in ms:
# D = 4: value 27 / 75, with the gradient 179 / 173; D = 8: 21 / 23 and 127 / 65; D = 16:
# 18 / 15 and 87 / 40; D = 64: 11 / 8 and 64 / 21. The gradient of the broadcast product
# reduces a (..., N, M, D) array, which is what loses from D = 8 on.
_BROADCAST_PRODUCT_MAX_FEATURES = 4
_BROADCAST_PRODUCT_MAX_PAIRS = 16 * 16


def _similarities(a, b):
    """``a_i . b_j`` for every pair: ``(..., N, D), (..., M, D) -> (..., N, M)``."""
    if (a.shape[-1] <= _BROADCAST_PRODUCT_MAX_FEATURES
            and a.shape[-2] * b.shape[-2] <= _BROADCAST_PRODUCT_MAX_PAIRS):
        return jnp.sum(jnp.expand_dims(a, -2) * jnp.expand_dims(b, -3), axis=-1)
    return jnp.einsum("...id,...jd->...ij", a, b)


@loss_function(valid={"temperature": (lambda t: t > 0, "positive")})
def info_nce_loss(embeddings, labels, *, reduction="mean", where=None, temperature=0.07):
    r"""NT-Xent (normalised temperature-scaled cross-entropy): each embedding should be closer,
    in cosine similarity, to those that share its label than to those that do not.

    With $s_{ij} = \cos(x_i, x_j) / \tau$, the positives $P_i = \{j \ne i : y_j = y_i\}$ and
    the negatives $N_i = \{k : y_k \ne y_i\}$ of anchor $i$:

    $$\ell_i = \sum_{j \in P_i} -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N_i} e^{s_{ik}}},
      \qquad \text{mean} = \frac{\sum_i \ell_i}{\sum_i |P_i|}$$

    so ``"mean"`` averages over positive pairs, as ``optax.ntxent``. Other positives are not in
    the denominator (the form of pytorch-metric-learning's ``NTXentLoss``). SimCLR's two-view
    loss is the case ``embeddings = concat([view1, view2])``,
    ``labels = concat([arange(n), arange(n)])``; for a one-directional query/key InfoNCE with
    its own key as the only positive, see `clip_loss`.

    Args:
      embeddings: embeddings $x$, shape ``(..., N, D)``; leading axes are independent batches.
      labels: group labels $y$ of any integer dtype, shape ``(..., N)``: equal labels mark
        positive pairs. An anchor without positives adds 0 and is not counted.
      reduction: ``"mean"`` (default, over positive pairs), ``"sum"`` or ``"none"`` (the
        per-anchor sums $\ell_i$, shape ``(..., N)``).
      where: optional boolean mask broadcastable to ``(..., N)``; a False item is removed
        from the batch (it is no one's positive or negative).
      temperature: $\tau > 0$ (traced; a Python or NumPy value that is not positive raises
        ``ValueError``).

    Returns:
      A scalar (0 when there is no positive pair), or the per-anchor losses ``(..., N)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> labels = jnp.array([0, 0, 1])
      >>> loss = jaxloss.info_nce_loss(x, labels, temperature=1.0, reduction="none")
      >>> loss.round(4)  # log(1 + e^-1) for each anchor with a positive
      Array([0.3133, 0.3133, 0.    ], dtype=float32)

    Equivalents: ``optax.ntxent`` (one batch, mean only).
    Reference: Chen et al, A Simple Framework for Contrastive Learning of Visual
    Representations <https://arxiv.org/abs/2002.05709>, 2020.
    """
    fn = "info_nce_loss"
    _checks.scalars(fn, temperature=temperature)
    (x,) = _checks.floats(fn, embeddings=embeddings)
    _checks.min_rank(fn, "embeddings", x, 2, "items, then the feature axis")
    label = _checks.integers(fn, "labels", labels, "group labels", cast=False)
    _checks.shape_is(fn, "labels", label, x.shape[:-1], "`embeddings`' shape without its last axis")
    keep = keep_mask(fn, where, label.shape)
    x, label = fill_dropped(keep, x, label)
    u = _unit(x)
    s = _similarities(u, u) / temperature
    same = label[..., :, None] == label[..., None, :]
    positive = same & ~_diagonal(s)
    negative = ~same
    if keep is not None:
        pairs = keep[..., :, None] & keep[..., None, :]
        positive, negative = positive & pairs, negative & pairs
    loss = _nt_xent_rows(s, positive, negative)
    return reduce(loss, reduction, mask=keep, weight=jnp.sum(positive, axis=-1))


def _nt_xent_terms(s, positive, negative):
    """NT-Xent's per-pair terms ``softplus(lse_i - s_ij)``, 0 off the positives, with what
    their derivative reuses: `s` masked to the negatives, and each anchor's log-sum-exp over
    its negatives (``-inf`` for an anchor without any)."""
    masked = jnp.where(negative, s, -jnp.inf)
    # One select before the maximum and the sum of exponentials: jax.nn.logsumexp's `where`
    # makes two, each a pass over the (N, N) matrix on XLA:CPU. With the rule below, the
    # value over 1e6 embedding entries in batches of 6, 32 and 128 items took 1.80, 2.23 and
    # 5.30 ms before, 1.54, 1.67 and 4.36 now (optax.ntxent 1.91, 1.87, 5.03), bitwise equal.
    shift, log_sum = _ops.logsumexp_parts(masked)
    # Without negatives the log-sum is log(0), whose derivative 0/0 would reach the pulls'
    # derivative (their second derivatives) through this anchor's lse; the select gives it 0.
    lse = jnp.where(jnp.isfinite(log_sum), shift + log_sum, -jnp.inf)
    # log(1 + sum_k e^(s_ik - s_ij)) as softplus(lse_i - s_ij): exact for any temperature,
    # and 0 (with a zero gradient) for an anchor without negatives, whose lse is -inf.
    # Non-positive pairs enter softplus as -inf (giving 0) rather than being selected away
    # after it: XLA:CPU then vectorises the transcendental loop, 2x faster on small groups.
    terms = _ops.softplus(jnp.where(positive, lse[..., None] - s, -jnp.inf))
    return terms, masked, lse


@jax.custom_jvp
def _nt_xent_rows(s, positive, negative):
    """Each anchor's NT-Xent loss, ``sum_j softplus(lse_i - s_ij)`` over its positives, from
    the (scaled) similarities `s` and the boolean pair masks."""
    return jnp.sum(_nt_xent_terms(s, positive, negative)[0], axis=-1)


@_nt_xent_rows.defjvp
def _nt_xent_rows_jvp(primals, tangents):
    # The derivative in s_ij is a pull -sigmoid(lse_i - s_ij) on a positive pair and a push
    # w_i e^(s_ij - lse_i) on a negative, with w_i the anchor's sum of pulls: one (N, N)
    # factor, where autodiff carried the maximum, the exponentials and the softplus back
    # separately (autodiff of the single select alone ran 5-7% slower than before it).
    # value_and_grad as above: 6.98, 7.80 and 22.0 ms before, 6.04, 5.92 and 17.0 now.
    # Both factors are differentiable in turn, so second derivatives follow.
    s, positive, negative = primals
    terms, masked, lse = _nt_xent_terms(s, positive, negative)
    pulls = jax.nn.sigmoid(jnp.where(positive, lse[..., None] - s, -jnp.inf))
    # An anchor without negatives has lse = -inf and no pushes: exp(-inf - 0) = 0.
    shift = jnp.where(jnp.isfinite(lse), lse, 0)
    pushes = jnp.exp(masked - shift[..., None]) * jnp.sum(pulls, axis=-1, keepdims=True)
    return jnp.sum(terms, axis=-1), jnp.sum((pushes - pulls) * tangents[0], axis=-1)


def _image_text(fn, image_embeddings, text_embeddings, where, normalize, **scalars):
    """Validated, masked (and normalised) image and text embeddings, the keep mask and the
    scalar parameters (by keyword, returned in order) in the computation dtype."""
    _checks.scalars(fn, **scalars)
    image, text = _checks.floats(
        fn, image_embeddings=image_embeddings, text_embeddings=text_embeddings
    )
    _checks.min_rank(fn, "image_embeddings", image, 2, "pairs, then the feature axis")
    _checks.same_shape(fn, image_embeddings=image, text_embeddings=text)
    keep = keep_mask(fn, where, image.shape[:-1])
    image, text = fill_dropped(keep, image, text)
    if normalize:
        image, text = _unit(image), _unit(text)
    return image, text, keep, *(jnp.asarray(v).astype(image.dtype) for v in scalars.values())


def _gather(x, axis_name, axis):
    """The whole batch from every device's shard (None stays None). The transpose of
    ``all_gather`` is ``psum_scatter``, so each shard's gradient collects the contributions
    of every device's rows."""
    if x is None:
        return None
    return lax.all_gather(x, axis_name, axis=x.ndim + axis, tiled=True)


def _scaled_cross_entropy(similarities, own, scale, axis, where):
    """``logsumexp(scale * s) - scale * s_own`` along `axis` (over the entries `where` keeps),
    as ``scale (m - s_own) + log sum exp(scale (s - m))`` with m the largest similarity (a
    constant for the gradient; scale > 0).

    The differences are taken before the scale multiplies them. Formed as logits
    ``scale * s``, XLA:CPU recomputed the product inside the maximum and inside the sum of
    exponentials, contracting it there with the subtraction of the maximum into one fused
    multiply-add: the largest logit minus the maximum was the product's rounding error, and
    past logits of about 2^31 in float32 (a learned log_scale of 25 on unit vectors, or
    unnormalised embeddings of norm 1e4) its exponential was 0 or inf. It also keeps the
    loss exact where it is small next to the logits, as `_ops.logsumexp_parts`."""
    top = jnp.max(similarities, axis=axis, where=where, initial=-jnp.inf)
    top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0))
    gaps = similarities - jnp.expand_dims(top, axis)
    # Each direction its own scale (`_ops.unshared`): one broadcast of it, read by both
    # reductions, was written out in full.
    total = jnp.sum(jnp.exp(_ops.unshared(scale, top) * gaps), axis=axis, where=where)
    return scale * (top - own) + jnp.log(total)


def _cross_entropy_rows(queries, keys, keep, scale, axis_name):
    """For each local query, the cross-entropy of its own key against all (kept) keys."""
    own = jnp.sum(queries * keys, axis=-1)
    if axis_name is not None:
        keys, keep = _gather(keys, axis_name, -2), _gather(keep, axis_name, -1)
    similarities = _similarities(queries, keys)
    columns = None if keep is None else jnp.broadcast_to(keep[..., None, :], similarities.shape)
    return _scaled_cross_entropy(similarities, own, scale, -1, columns)


@loss_function(static=("normalize", "axis_name"))
def clip_loss(
    image_embeddings,
    text_embeddings,
    *,
    reduction="mean",
    where=None,
    log_scale=_CLIP_LOG_SCALE,
    normalize=True,
    axis_name=None,
):
    r"""CLIP's symmetric InfoNCE: each image should pick its own text among the batch's texts,
    and each text its own image.

    With normalised embeddings $x_i$ (images), $y_i$ (texts) and the learnable scale
    $t = e^{t'}$, the logits are $z_{ij} = t\, x_i \cdot y_j$ and

    $$\ell_i = \frac{1}{2}\Bigl(\operatorname{logsumexp}_j z_{ij} - z_{ii}
      + \operatorname{logsumexp}_j z_{ji} - z_{ii}\Bigr)$$

    whose mean over the batch is CLIP's loss, the average of the image-to-text and
    text-to-image cross-entropies.

    **Sharded.** Inside ``jax.shard_map`` with the pair axis $N$ sharded over the mesh axis
    `axis_name`, each device all-gathers the other side's embeddings ($N \times D$ floats) and
    computes its rows' logits ($N/P \times N$). ``"mean"`` and ``"sum"`` are global (identical on
    every device), ``"none"`` gives the local rows. Gradients with respect to each shard, to
    `log_scale` and to `where`-masked inputs equal the single-device ones; differentiate the
    ``shard_map``-ed function, or inside it (with ``check_vma=True``, the default).

    Args:
      image_embeddings: image embeddings, shape ``(..., N, D)``; leading axes are independent
        batches.
      text_embeddings: text embeddings of the same pairs, the shape of `image_embeddings`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per pair, ``(..., N)``).
      where: optional boolean mask broadcastable to ``(..., N)``; a False pair is removed from
        the batch (its image and text are nobody's negatives).
      log_scale: $t'$, the logarithm of the logit scale $t = e^{t'}$ (traced and
        differentiable: pass the learnable parameter itself, as CLIP's ``logit_scale``).
        Defaults to CLIP's initial value $\log(1/0.07)$. CLIP clips $t$ at 100 in training;
        do it in the model if you want it.
      normalize: L2-normalise the embeddings first (static; see the module notes).
      axis_name: the mesh axis the pairs are sharded over, inside ``shard_map`` (static).

    Returns:
      A scalar (a mean over no kept pair is 0), or the per-pair losses ``(..., N)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.eye(2)  # two orthogonal pairs, each image equal to its text
      >>> round(float(jaxloss.clip_loss(x, x, log_scale=0.0)), 4)  # log(1 + e^-1)
      0.3133

    Equivalents: ``open_clip.loss.ClipLoss`` (which takes $t$ itself).
    Reference: Radford et al, Learning Transferable Visual Models From Natural Language
    Supervision <https://arxiv.org/abs/2103.00020>, 2021 (Figure 3).
    """
    image, text, keep, log_scale = _image_text(
        "clip_loss", image_embeddings, text_embeddings, where, normalize, log_scale=log_scale
    )
    scale = jnp.exp(log_scale)
    if axis_name is None:
        # On one device, one similarity matrix serves both directions: its rows are the
        # images' logits over the texts, its columns the texts' over the images, and its
        # diagonal the pairs' own logits (two matrix products and the pairs' dot products
        # made the value 2.4x optax's; this, 1.0x with 64-wide embeddings).
        # It holds half the similarities, against twice the scale: exact, both being powers
        # of two (only a similarity below 2^-125 changes: halved, it is subnormal, which
        # XLA:CPU flushes to zero). XLA:CPU runs the matrix product's fusion about twice as
        # fast when an elementwise operation ends it than when the product does and has
        # several consumers (its profile, 244 batches of 32 pairs of 64-wide embeddings:
        # 1.0 ms against 0.45; the value 1.42 -> 0.88 ms, optax 0.84).
        halves = 0.5 * _similarities(image, text)
        own = jnp.diagonal(halves, axis1=-2, axis2=-1)
        texts = images = None
        if keep is not None:
            texts = jnp.broadcast_to(keep[..., None, :], halves.shape)
            images = jnp.broadcast_to(keep[..., :, None], halves.shape)
        image_to_text = _scaled_cross_entropy(halves, own, 2 * scale, -1, texts)
        text_to_image = _scaled_cross_entropy(halves, own, 2 * scale, -2, images)
    else:
        image_to_text = _cross_entropy_rows(image, text, keep, scale, axis_name)
        text_to_image = _cross_entropy_rows(text, image, keep, scale, axis_name)
    return reduce((image_to_text + text_to_image) / 2, reduction, mask=keep, axis_name=axis_name)


def _sigmoid_rows(image, text, text_keep, scale, bias, *, own_texts):
    """Each image row's summed sigmoid loss against a block of texts, which hold the row's own
    text on the diagonal if `own_texts`, else negatives only."""
    logits = scale * _similarities(image, text) + bias
    if own_texts:
        logits = jnp.where(_diagonal(logits), -logits, logits)
    terms = _ops.softplus(logits)  # -log sigmoid(-z): the loss of a negative pair
    if text_keep is not None:
        terms = jnp.where(text_keep[..., None, :], terms, 0)
    return jnp.sum(terms, axis=-1)


def _sigmoid_ring(image, text, keep, scale, bias, axis_name, loss):
    """Adds the negatives of every other device's texts, passed once around the ring."""
    size = lax.axis_size(axis_name)
    to_next = [(i, (i + 1) % size) for i in range(size)]

    # Rematerialised, so the backward pass keeps one text chunk per step, not its logits.
    @jax.checkpoint
    def step(carry, _):
        loss, text, keep = carry
        text, keep = lax.ppermute((text, keep), axis_name, to_next)
        loss = loss + _sigmoid_rows(image, text, keep, scale, bias, own_texts=False)
        return (loss, text, keep), None

    (loss, _, _), _ = lax.scan(step, (loss, text, keep), length=size - 1)
    return loss


@loss_function(static=("normalize", "axis_name"))
def siglip_loss(
    image_embeddings,
    text_embeddings,
    *,
    reduction="mean",
    where=None,
    log_scale=_SIGLIP_LOG_SCALE,
    bias=-10.0,
    normalize=True,
    axis_name=None,
):
    r"""SigLIP's pairwise sigmoid loss: every image/text pair is a binary classification,
    positive for an image with its own text, negative otherwise.

    With normalised embeddings $x_i$, $y_j$, the learnable scale $t = e^{t'}$ and bias $b$,
    $z_{ij} = 1$ if $i = j$ and $-1$ otherwise:

    $$\ell_i = -\sum_j \log \sigma\bigl(z_{ij} (t\, x_i \cdot y_j + b)\bigr), \qquad
      \text{mean} = \frac{1}{|B|} \sum_i \ell_i$$

    so ``"mean"`` normalises by the batch size $|B|$ (the number of kept pairs), not by the
    $|B|^2$ pairs, as the paper does.

    **Sharded.** Inside ``jax.shard_map`` with the pair axis sharded over the mesh axis
    `axis_name`, each device scores its images against its own texts, then passes its text
    chunk around the ring of devices with ``lax.ppermute`` ($P - 1$ steps), so no device
    ever holds more than an $N/P \times N/P$ block of logits, in the forward or the backward
    pass (the paper's chunked implementation, §3.3; the backward pass keeps the received text
    chunks, $N \times D$ floats, as CLIP's gather does). ``"mean"`` and ``"sum"`` are global
    (identical on every device), ``"none"`` gives the local rows; values and gradients equal
    the single-device ones.

    Args:
      image_embeddings: image embeddings, shape ``(..., N, D)``; leading axes are independent
        batches.
      text_embeddings: text embeddings of the same pairs, the shape of `image_embeddings`.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per image, ``(..., N)``).
      where: optional boolean mask broadcastable to ``(..., N)``; a False pair is removed from
        the batch.
      log_scale: $t'$, the logarithm of the scale $t = e^{t'}$ that the paper calls the
        temperature (traced and differentiable). Defaults to the paper's initial $\log 10$.
      bias: $b$ (traced and differentiable). Defaults to the paper's initial $-10$.
      normalize: L2-normalise the embeddings first (static; see the module notes).
      axis_name: the mesh axis the pairs are sharded over, inside ``shard_map`` (static).

    Returns:
      A scalar (a mean over no kept pair is 0), or the per-image losses ``(..., N)`` for
      ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.eye(2)
      >>> loss = jaxloss.siglip_loss(x, x, log_scale=0.0, bias=0.0)
      >>> round(float(loss), 4)  # softplus(-1) + softplus(0) = log(1 + e^-1) + log 2
      1.0064

    Reference: Zhai et al, Sigmoid Loss for Language Image Pre-Training
    <https://arxiv.org/abs/2303.15343>, 2023 (§3.2, Algorithm 1).
    """
    image, text, keep, log_scale, bias = _image_text(
        "siglip_loss", image_embeddings, text_embeddings, where, normalize,
        log_scale=log_scale, bias=bias,
    )
    scale = jnp.exp(log_scale)
    loss = _sigmoid_rows(image, text, keep, scale, bias, own_texts=True)
    if axis_name is not None:
        loss = _sigmoid_ring(image, text, keep, scale, bias, axis_name, loss)
    return reduce(loss, reduction, mask=keep, axis_name=axis_name)
