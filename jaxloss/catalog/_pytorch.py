"""Catalogue entries of the losses that carry ``torch.nn.functional``'s names."""

from __future__ import annotations

from types import MappingProxyType

import jax
import jax.numpy as jnp
import optax

import jaxloss

from ._base import Dims, Entry, Sample, dims
from ._base import keys as _keys
from ._base import labels as _labels
from ._base import normal as _normal
from ._base import signs as _signs
from ._base import uniform as _uniform

# Class-weight hyperparameters are made once, for the default sample sizes (`sample_dims`
# does not change them).
_CLASSES = Dims().classes


def _with_ignored(key, labels, rate=0.25):
    return jnp.where(jax.random.bernoulli(key, rate, labels.shape), -100, labels)


def _pair(key, n, dtype, **kwargs):
    """Prediction/target pair of shape (n, width) with errors in both Huber regimes."""
    k1, k2 = _keys(key, 2)
    shape = (n, dims().width)
    return Sample((_normal(k1, shape, dtype, 2.0), _normal(k2, shape, dtype)), kwargs)


def _pair_weighted(key, n, dtype):
    k1, k2 = _keys(key, 2)
    sample = _pair(k1, n, dtype)
    weight = _uniform(k2, (n, dims().width), dtype, 0.5, 2.0)
    return Sample(sample.args, {"weight": weight}, frozenset({"weight"}))


def _class_weight(key, dtype):
    return _uniform(key, (dims().classes,), dtype, 0.5, 2.0)


def _logits_labels(key, n, dtype):
    k1, k2 = _keys(key, 2)
    return Sample((_normal(k1, (n, dims().classes), dtype, 2.0), _labels(k2, (n,))))


def _logits_labels_options(key, n, dtype):
    k1, k2, k3 = _keys(key, 3)
    logits, labels = _logits_labels(k1, n, dtype).args
    options = {"weight": _class_weight(k2, dtype), "label_smoothing": 0.1}
    return Sample((logits, _with_ignored(k3, labels)), options)


def _logits_probabilities(key, n, dtype, **options):
    k1, k2 = _keys(key, 2)
    probs = jax.nn.softmax(_normal(k2, (n, dims().classes), jnp.float32, 2.0)).astype(dtype)
    return Sample((_normal(k1, (n, dims().classes), dtype, 2.0), probs), options)


def _logits_probabilities_options(key, n, dtype):
    k1, k2 = _keys(key, 2)
    return _logits_probabilities(
        k1, n, dtype, weight=_class_weight(k2, dtype), label_smoothing=0.1
    )


def _log_probs_labels(key, n, dtype, ignored=False):
    k1, k2, k3 = _keys(key, 3)
    log_probs = jax.nn.log_softmax(_normal(k1, (n, dims().classes), jnp.float32, 2.0)).astype(dtype)
    labels = _labels(k2, (n,))
    if not ignored:
        return Sample((log_probs, labels))
    return Sample((log_probs, _with_ignored(k3, labels)), {"weight": _class_weight(k3, dtype)})


def _probs_targets(key, n, dtype, weighted=False):
    k1, k2, k3 = _keys(key, 3)
    shape = (n, dims().classes)
    args = (_uniform(k1, shape, dtype, 0.02, 0.98), _uniform(k2, shape, dtype))
    return Sample(args, {"weight": _class_weight(k3, dtype)} if weighted else {})


def _logit_targets(key, n, dtype, weighted=False):
    k1, k2, k3, k4 = _keys(key, 4)
    args = (_normal(k1, (n, dims().classes), dtype, 2.0), _uniform(k2, (n, dims().classes), dtype))
    if not weighted:
        return Sample(args)
    return Sample(
        args, {"weight": _class_weight(k3, dtype), "pos_weight": _class_weight(k4, dtype)}
    )


def _kl_sample(key, n, dtype, log_target=False):
    k1, k2 = _keys(key, 2)
    log_q = jax.nn.log_softmax(_normal(k1, (n, dims().classes), jnp.float32)).astype(dtype)
    log_t = jax.nn.log_softmax(_normal(k2, (n, dims().classes), jnp.float32)).astype(dtype)
    if log_target:
        return Sample((log_q, log_t), {"log_target": True})
    return Sample((log_q, jnp.exp(log_t.astype(jnp.float32)).astype(dtype)))


def _poisson(key, n, dtype, log_input=True):
    k1, k2 = _keys(key, 2)
    counts = jax.random.poisson(k2, 3.0, (n, dims().width)).astype(dtype)
    if log_input:
        return Sample((_normal(k1, (n, dims().width), dtype), counts))
    rates = _uniform(k1, (n, dims().width), dtype, 0.5, 5.0)
    return Sample((rates, counts), {"log_input": False, "full": True})


def _gaussian(key, n, dtype, per_row=False):
    k1, k2 = _keys(key, 2)
    mean, target = _pair(k1, n, dtype).args
    var = _uniform(k2, (n,) if per_row else (n, dims().width), dtype, 0.2, 3.0)
    return Sample((mean, target, var), {"full": True} if per_row else {})


def _scores_signs(key, n, dtype, sign_dtype=jnp.int32):
    k1, k2 = _keys(key, 2)
    shape = (n, dims().width)
    return Sample((_normal(k1, shape, dtype, 2.0), _signs(k2, shape, sign_dtype)))


def _multilabel_binary(key, n, dtype, weighted=False):
    k1, k2, k3 = _keys(key, 3)
    targets = jax.random.bernoulli(k2, 0.4, (n, dims().classes)).astype(dtype)
    args = (_normal(k1, (n, dims().classes), dtype, 2.0), targets)
    return Sample(args, {"weight": _class_weight(k3, dtype)} if weighted else {})


def _multilabel_indices(key, n, dtype):
    """Rows of distinct class indices, each ended early by -1 (entries after it are ignored)."""
    k1, k2, k3 = _keys(key, 3)
    order = jnp.argsort(jax.random.uniform(k2, (n, dims().classes)), axis=-1).astype(jnp.int32)
    count = jax.random.randint(k3, (n, 1), 0, dims().classes)
    targets = jnp.where(jnp.arange(dims().classes)[None, :] < count, order, -1)
    return Sample((_normal(k1, (n, dims().classes), dtype, 2.0), targets))


def _multi_margin(key, n, dtype, squared=False):
    k1, k2 = _keys(key, 2)
    sample = _logits_labels(k1, n, dtype)
    options = {"p": 2, "margin": 0.7, "weight": _class_weight(k2, dtype)} if squared else {}
    return Sample(sample.args, options)


def _ranking(key, n, dtype):
    k1, k2, k3 = _keys(key, 3)
    return Sample((_normal(k1, (n,), dtype), _normal(k2, (n,), dtype), _signs(k3, (n,))))


def _embedding_pair(key, n, dtype):
    k1, k2, k3 = _keys(key, 3)
    x1, x2 = _normal(k1, (n, dims().features), dtype), _normal(k2, (n, dims().features), dtype)
    return Sample((x1, x2, _signs(k3, (n,))), {"margin": 0.2})


def _triplet(key, n, dtype, **options):
    k1, k2, k3 = _keys(key, 3)
    anchor = _normal(k1, (n, dims().features), dtype)
    positive = anchor + _normal(k2, (n, dims().features), dtype, 0.7)
    return Sample((anchor, positive, _normal(k3, (n, dims().features), dtype)), options)


def l1_distance(x1, x2):
    """``Σ|x1 - x2|`` over the last axis: a module-level distance, so it is one static value."""
    return jnp.sum(jnp.abs(x1 - x2), axis=-1)


def _ctc(key, n, dtype, time=12, width=4):
    k1, k2, k3, k4 = _keys(key, 4)
    logits = _normal(k1, (n, time, dims().classes), jnp.float32, 2.0)
    log_probs = jax.nn.log_softmax(logits).astype(dtype)
    targets = jax.random.randint(k2, (n, width), 1, dims().classes)  # blank = 0 is never a label
    input_lengths = jax.random.randint(k3, (n,), time - 4, time + 1)
    target_lengths = jax.random.randint(k4, (n,), 0, width + 1)
    return Sample((log_probs, targets, input_lengths, target_lengths))


def _hidden_weight_labels(key, n, dtype, options=False, blocked=False):
    """Hidden states (n, features), a shared (vocab, features) output weight, labels (n,)."""
    k1, k2, k3, k4, k5 = _keys(key, 5)
    vocab = dims().vocab
    hidden = _normal(k1, (n, dims().features), dtype)
    weight = _normal(k2, (vocab, dims().features), dtype)
    labels = _labels(k3, (n,), vocab)
    kwargs = {}
    if options:
        labels = _with_ignored(k4, labels)
        kwargs = {"bias": _normal(k5, (vocab,), dtype), "label_smoothing": 0.1,
                  "z_loss": 1e-2, "logit_softcap": 3.0}
    if blocked:  # blocks that do not divide the token or vocabulary count
        kwargs |= {"implementation": "blocked", "block_size": 4, "vocab_block_size": 3}
    return Sample((hidden, weight, labels), kwargs, shared=frozenset({1}))


# Baselines: the same value as the loss's default call, written independently (optax where it
# has the loss, plain jax.numpy otherwise). Benchmarks time them; tests check the agreement.


def _take(x, labels):
    return jnp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]


def _cosine(x1, x2):
    return optax.cosine_similarity(x1, x2, epsilon=1e-12)


def _triplet_baseline(anchor, positive, negative):
    return optax.losses.triplet_margin_loss(anchor, positive, negative).mean()


def _ctc_baseline(log_probs, targets, input_lengths, target_lengths):
    time, width = log_probs.shape[1], targets.shape[1]
    logit_pad = (jnp.arange(time)[None] >= input_lengths[:, None]).astype(log_probs.dtype)
    label_pad = (jnp.arange(width)[None] >= target_lengths[:, None]).astype(log_probs.dtype)
    per_example = optax.ctc_loss(log_probs, logit_pad, targets, label_pad)
    return jnp.mean(per_example / jnp.maximum(target_lengths, 1))


def _multi_margin_baseline(x, y):
    margins = jax.nn.relu(1.0 - _take(x, y)[:, None] + x)
    return jnp.mean((jnp.sum(margins, -1) - 1.0) / x.shape[-1])  # i = y adds exactly 1


def _multilabel_margin_baseline(x, targets):
    valid = jnp.cumprod(targets != -1, axis=-1).astype(bool)
    classes = jnp.arange(x.shape[-1]).reshape((1,) * targets.ndim + (-1,))
    is_target = jnp.any(valid[..., None] & (targets[..., None] == classes), -2)
    picked = jnp.take_along_axis(x, jnp.maximum(targets, 0), axis=-1)
    hinge = jax.nn.relu(1.0 - picked[..., :, None] + x[..., None, :])
    pairs = valid[..., :, None] & ~is_target[..., None, :]
    return jnp.mean(jnp.sum(jnp.where(pairs, hinge, 0.0), (-2, -1)) / x.shape[-1])


# What "mean" divides by where it is not the number of kept entries (see Entry.weighted_mean).
_BY_WEIGHT = "the kept entries' weights (PyTorch's weighted mean)"
_BY_LABEL_WEIGHT = "the class weights of the kept, non-ignored labels (PyTorch)"


def _entries() -> tuple[Entry, ...]:
    m = MappingProxyType
    jl = jaxloss
    return (
        Entry("l1_loss", "regression", jl.l1_loss,
              m({"plain": _pair, "weighted": _pair_weighted}),
              lambda x, y: jnp.mean(jnp.abs(x - y)), "jnp", "l1_loss",
              grad_argnums=(0, 1), smooth=False, weighted_mean=m({"weighted": _BY_WEIGHT})),
        Entry("mse_loss", "regression", jl.mse_loss,
              m({"plain": _pair, "weighted": _pair_weighted}),
              lambda x, y: optax.squared_error(x, y).mean(), "optax.squared_error", "mse_loss",
              grad_argnums=(0, 1), weighted_mean=m({"weighted": _BY_WEIGHT})),
        Entry("huber_loss", "regression", jl.huber_loss,
              m({"plain": _pair, "weighted": _pair_weighted}),
              lambda x, y: optax.huber_loss(x, y).mean(), "optax.huber_loss", "huber_loss",
              grad_argnums=(0, 1), hyperparameters=m({"delta": (1.0, 0.5)}), smooth=False),
        Entry("smooth_l1_loss", "regression", jl.smooth_l1_loss, m({"plain": _pair}),
              lambda x, y: optax.huber_loss(x, y).mean(), "optax.huber_loss", "smooth_l1_loss",
              grad_argnums=(0, 1), hyperparameters=m({"beta": (1.0, 0.5)}), smooth=False),
        Entry("poisson_nll_loss", "regression", jl.poisson_nll_loss,
              m({"log_input": _poisson, "rate_full": lambda k, n, d: _poisson(k, n, d, False)}),
              lambda x, y: jnp.mean(jnp.exp(x) - y * x), "jnp", "poisson_nll_loss",
              hyperparameters=m({"eps": (1e-8, 0.5)})),
        Entry("gaussian_nll_loss", "regression", jl.gaussian_nll_loss,
              m({"per_element": _gaussian,
                 "per_row_full": lambda k, n, d: _gaussian(k, n, d, True)}),
              lambda x, y, v: jnp.mean(0.5 * (jnp.log(v) + (x - y) ** 2 / v)), "jnp",
              "gaussian_nll_loss", grad_argnums=(0, 1, 2),
              hyperparameters=m({"eps": (1e-6, 1.0)})),
        Entry("kl_div", "classification", jl.kl_div,
              m({"probabilities": _kl_sample,
                 "log_target": lambda k, n, d: _kl_sample(k, n, d, True)}),
              lambda x, t: jnp.mean(jax.scipy.special.xlogy(t, t) - t * x), "jnp", "kl_div",
              grad_argnums=(0, 1), probabilities=(1,)),
        Entry("cross_entropy", "classification", jl.cross_entropy,
              m({"labels": _logits_labels, "labels_options": _logits_labels_options,
                 "probabilities": _logits_probabilities,
                 "probabilities_options": _logits_probabilities_options}),
              lambda x, y: optax.softmax_cross_entropy_with_integer_labels(x, y).mean(),
              "optax.softmax_cross_entropy_with_integer_labels", "cross_entropy",
              grad_argnums=(0, 1), integer_argnums=(1,),
              hyperparameters=m({"label_smoothing": (0.0, 0.1),
                                 "weight": (jnp.ones(_CLASSES), jnp.arange(1.0, _CLASSES + 1))}),
              probabilities=(1,), weighted_mean=m({"labels_options": _BY_LABEL_WEIGHT})),
        Entry("nll_loss", "classification", jl.nll_loss,
              m({"labels": _log_probs_labels,
                 "weighted_ignored": lambda k, n, d: _log_probs_labels(k, n, d, True)}),
              lambda x, y: -jnp.mean(_take(x, y)), "jnp", "nll_loss", integer_argnums=(1,),
              hyperparameters=m({"ignore_index": (-100, 0)}),
              weighted_mean=m({"weighted_ignored": _BY_LABEL_WEIGHT})),
        Entry("binary_cross_entropy", "classification", jl.binary_cross_entropy,
              m({"plain": _probs_targets,
                 "weighted": lambda k, n, d: _probs_targets(k, n, d, True)}),
              lambda p, y: -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log1p(-p)), "jnp",
              "binary_cross_entropy", grad_argnums=(0, 1), probabilities=(0, 1)),
        Entry("binary_cross_entropy_with_logits", "classification",
              jl.binary_cross_entropy_with_logits,
              m({"plain": _logit_targets,
                 "weighted": lambda k, n, d: _logit_targets(k, n, d, True)}),
              lambda x, y: optax.sigmoid_binary_cross_entropy(x, y).mean(),
              "optax.sigmoid_binary_cross_entropy", "binary_cross_entropy_with_logits",
              grad_argnums=(0, 1),
              hyperparameters=m({"pos_weight": (jnp.ones(_CLASSES), 3 * jnp.ones(_CLASSES))}),
              probabilities=(1,)),
        Entry("hinge_embedding_loss", "margin", jl.hinge_embedding_loss,
              m({"int_signs": _scores_signs}),
              lambda x, y: jnp.mean(jnp.where(y == 1, x, jax.nn.relu(1.0 - x))), "jnp",
              "hinge_embedding_loss", hyperparameters=m({"margin": (1.0, 0.5)}), smooth=False,
              fixed=(1,)),
        Entry("soft_margin_loss", "margin", jl.soft_margin_loss,
              m({"int_signs": _scores_signs,
                 "float_signs": lambda k, n, d: _scores_signs(k, n, d, d)}),
              lambda x, y: jnp.mean(jax.nn.softplus(-y * x)), "jnp", "soft_margin_loss",
              grad_argnums=(0,), fixed=(1,)),
        Entry("multilabel_soft_margin_loss", "margin", jl.multilabel_soft_margin_loss,
              m({"plain": _multilabel_binary,
                 "weighted": lambda k, n, d: _multilabel_binary(k, n, d, True)}),
              lambda x, y: optax.sigmoid_binary_cross_entropy(x, y).mean(),
              "optax.sigmoid_binary_cross_entropy", "multilabel_soft_margin_loss",
              grad_argnums=(0, 1), probabilities=(1,)),
        Entry("multilabel_margin_loss", "margin", jl.multilabel_margin_loss,
              m({"indices": _multilabel_indices}), _multilabel_margin_baseline, "jnp",
              "multilabel_margin_loss", integer_argnums=(1,), smooth=False),
        Entry("multi_margin_loss", "margin", jl.multi_margin_loss,
              m({"p1": _multi_margin, "p2_weighted": lambda k, n, d: _multi_margin(k, n, d, True)}),
              _multi_margin_baseline, "jnp", "multi_margin_loss", integer_argnums=(1,),
              hyperparameters=m({"margin": (1.0, 0.5)}), smooth=False),
        Entry("margin_ranking_loss", "margin", jl.margin_ranking_loss, m({"signs": _ranking}),
              lambda x1, x2, y: jnp.mean(jax.nn.relu(-y * (x1 - x2))), "jnp",
              "margin_ranking_loss", grad_argnums=(0, 1),
              hyperparameters=m({"margin": (0.0, 0.5)}), smooth=False),
        Entry("cosine_embedding_loss", "margin", jl.cosine_embedding_loss,
              m({"signs": _embedding_pair}),
              lambda x1, x2, y, margin: jnp.mean(
                  jnp.where(y == 1, 1 - _cosine(x1, x2), jax.nn.relu(_cosine(x1, x2) - margin))),
              "optax.cosine_similarity", "cosine_embedding_loss", grad_argnums=(0, 1),
              hyperparameters=m({"margin": (0.2, 0.5)}), smooth=False),
        Entry("triplet_margin_loss", "margin", jl.triplet_margin_loss,
              m({"plain": _triplet,
                 "swap_l1": lambda k, n, d: _triplet(k, n, d, swap=True, p=1.0, margin=0.5)}),
              _triplet_baseline, "optax.triplet_margin_loss", "triplet_margin_loss",
              grad_argnums=(0, 1, 2),
              hyperparameters=m({"margin": (1.0, 0.5), "p": (2.0, 3.0), "eps": (1e-6, 1e-4)}),
              smooth=False),
        Entry("triplet_margin_with_distance_loss", "margin",
              jl.triplet_margin_with_distance_loss,
              m({"default_distance": _triplet,
                 "l1_swap": lambda k, n, d: _triplet(k, n, d, distance_function=l1_distance,
                                                     swap=True)}),
              _triplet_baseline, "optax.triplet_margin_loss",
              "triplet_margin_with_distance_loss", grad_argnums=(0, 1, 2),
              hyperparameters=m({"margin": (1.0, 0.5)}), smooth=False),
        Entry("linear_cross_entropy", "classification", jl.linear_cross_entropy,
              m({"labels": _hidden_weight_labels,
                 "options": lambda k, n, d: _hidden_weight_labels(k, n, d, options=True),
                 "blocked_options": lambda k, n, d: _hidden_weight_labels(
                     k, n, d, options=True, blocked=True)}),
              lambda h, w, y: optax.softmax_cross_entropy_with_integer_labels(
                  h @ w.T, y).mean(), "optax.softmax_cross_entropy_with_integer_labels",
              "linear_cross_entropy", grad_argnums=(0, 1), integer_argnums=(2,),
              hyperparameters=m({"label_smoothing": (0.0, 0.1), "z_loss": (0.0, 1e-2),
                                 "logit_softcap": (3.0, 5.0), "ignore_index": (-100, 0)}),
              reverse_only=frozenset({"blocked_options"}),
              # The logits are products of two inputs: float32 holds them up to 1e15 each.
              max_scale=1e15),
        Entry("ctc_loss", "sequence", jl.ctc_loss, m({"padded": _ctc}), _ctc_baseline,
              "optax.ctc_loss", "ctc_loss", integer_argnums=(1, 2, 3),
              weighted_mean=m({"padded": "each loss over its target length, then the number "
                                         "of kept examples (PyTorch)"})),
    )


ENTRIES: tuple[Entry, ...] = _entries()
