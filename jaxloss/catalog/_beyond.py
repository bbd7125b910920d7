"""Catalogue entries of the losses beyond torch.nn: robust regression, focal and hinge
classification, segmentation and boxes."""

from __future__ import annotations

import math
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

SEG_CLASSES = 3  # class axis of the segmentation samples
SEG_SHAPE = (3, 4)  # their spatial axes (H, W)


def _residuals(key, n, dtype, **options):
    k1, k2 = _keys(key, 2)
    shape = (n, dims().width)
    return Sample((_normal(k1, shape, dtype, 2.0), _normal(k2, shape, dtype)), options)


def _quantiles(key, n, dtype):
    return _residuals(key, n, dtype, quantile=jnp.array([0.1, 0.5, 0.9], dtype))


def _robust_per_column(key, n, dtype):
    options = {"alpha": jnp.array([-2.0, 0.5, 1.5], dtype), "scale": jnp.array([0.5, 1.0, 2.0])}
    return _residuals(key, n, dtype, **options)


def _focal(key, n, dtype, hard=False, **options):
    k1, k2 = _keys(key, 2)
    if hard:  # integer 0/1 targets: constants, as in detection
        targets = jax.random.bernoulli(k2, 0.3, (n, dims().classes)).astype(jnp.int32)
    else:
        targets = _uniform(k2, (n, dims().classes), dtype, 0.05, 0.95)
    return Sample((_normal(k1, (n, dims().classes), dtype, 2.0), targets), options)


def _logits_labels(key, n, dtype, **options):
    k1, k2 = _keys(key, 2)
    return Sample((_normal(k1, (n, dims().classes), dtype, 2.0), _labels(k2, (n,))), options)


def _focal_weighted_ignored(key, n, dtype):
    k1, k2, k3 = _keys(key, 3)
    logits, labels = _logits_labels(k1, n, dtype).args
    labels = jnp.where(jax.random.bernoulli(k2, 0.25, labels.shape), -100, labels)
    weight = _uniform(k3, (dims().classes,), dtype, 0.5, 2.0)
    return Sample((logits, labels), {"weight": weight, "gamma": 0.5})


def _logits_probabilities(key, n, dtype):
    k1, k2 = _keys(key, 2)
    probs = jax.nn.softmax(_normal(k2, (n, dims().classes), jnp.float32, 2.0)).astype(dtype)
    return Sample((_normal(k1, (n, dims().classes), dtype, 2.0), probs), {"epsilon": -1.0})


def _log_distributions(key, n, dtype):
    k1, k2 = _keys(key, 2)
    log_p = jax.nn.log_softmax(_normal(k1, (n, dims().classes), jnp.float32, 2.0)).astype(dtype)
    log_q = jax.nn.log_softmax(_normal(k2, (n, dims().classes), jnp.float32, 2.0)).astype(dtype)
    return Sample((log_p, log_q))


def _scores_signs(key, n, dtype, sign_dtype=jnp.int32):
    k1, k2 = _keys(key, 2)
    shape = (n, dims().width)
    return Sample((_normal(k1, shape, dtype, 2.0), _signs(k2, shape, sign_dtype)))


def _scores_binary(key, n, dtype, label_dtype=jnp.int32):
    k1, k2 = _keys(key, 2)
    labels = jax.random.bernoulli(k2, 0.5, (n, dims().width)).astype(label_dtype)
    return Sample((_normal(k1, (n, dims().width), dtype, 2.0), labels))


def _segmentation_labels(key, n, dtype, **options):
    """Softmax logits ``(n, H, W, C)`` against class indices ``(n, H, W)``."""
    k1, k2 = _keys(key, 2)
    logits = _normal(k1, (n, *SEG_SHAPE, SEG_CLASSES), dtype, 2.0)
    labels = _labels(k2, (n, *SEG_SHAPE), SEG_CLASSES)
    return Sample((logits, labels), {"activation": "softmax", **options})


def _segmentation_masks(key, n, dtype, **options):
    """Probabilities against soft masks, with class weights."""
    k1, k2, k3 = _keys(key, 3)
    shape = (n, *SEG_SHAPE, SEG_CLASSES)
    weight = _uniform(k3, (SEG_CLASSES,), dtype, 0.5, 2.0)
    args = (_uniform(k1, shape, dtype, 0.02, 0.98), _uniform(k2, shape, dtype))
    return Sample(args, {"weight": weight, "smooth": 1.0, **options})


def _segmentation_binary(key, n, dtype, **options):
    """Sigmoid (multi-label) logits over sequences ``(n, L, C)`` against binary masks."""
    k1, k2 = _keys(key, 2)
    shape = (n, 6, SEG_CLASSES)
    masks = jax.random.bernoulli(k2, 0.4, shape).astype(dtype)
    options = {"activation": "sigmoid", "axis": (-2,), **options}
    return Sample((_normal(k1, shape, dtype, 2.0), masks), options)


def _boxes(key, n, dtype):
    k1, k2 = _keys(key, 2)
    corner = _uniform(k1, (n, 2), jnp.float32, 0.0, 4.0)
    size = _uniform(k2, (n, 2), jnp.float32, 0.5, 3.0)
    return jnp.concatenate([corner, corner + size], axis=-1).astype(dtype)


def _box_pairs(key, n, dtype, **options):
    k1, k2 = _keys(key, 2)
    return Sample((_boxes(k1, n, dtype), _boxes(k2, n, dtype)), options)


# Baselines: the default call's value, from optax where it has the loss, else plain jax.numpy
# written independently of the implementation.


def _pinball_baseline(x, y):
    error = y - x
    return jnp.mean(jnp.maximum(0.5 * error, -0.5 * error))


def _charbonnier_baseline(x, y):
    return jnp.mean(jnp.sqrt(jnp.square(x - y) + 1) - 1)


def _softmax_focal_baseline(logits, labels):
    p = jnp.take_along_axis(jax.nn.softmax(logits), labels[:, None], axis=-1)[:, 0]
    return jnp.mean(-jnp.square(1 - p) * jnp.log(p))


def _poly1_baseline(logits, labels):
    one_hot = jax.nn.one_hot(labels, logits.shape[-1])
    return jnp.mean(optax.losses.poly_loss_cross_entropy(logits, one_hot, epsilon=2.0))


def _js_baseline(log_p, log_q):
    p, q = jnp.exp(log_p), jnp.exp(log_q)
    m = (p + q) / 2
    return jnp.mean(0.5 * jnp.sum(p * jnp.log(p / m) + q * jnp.log(q / m), axis=-1))


def _overlap_baseline(score):
    def baseline(logits, labels, activation):
        p = jax.nn.softmax(logits)
        t = jax.nn.one_hot(labels, logits.shape[-1])
        inter = jnp.einsum("nhwc,nhwc->nc", p, t)
        return jnp.mean(1 - score(inter, p.sum((1, 2)), t.sum((1, 2))))

    return baseline


def _dice_score(inter, sum_p, sum_t):
    return (2 * inter + 1e-5) / (sum_p + sum_t + 1e-5)


def _tversky_score(inter, sum_p, sum_t):
    fp, fn = sum_p - inter, sum_t - inter
    return (inter + 1e-5) / (inter + 0.5 * fp + 0.5 * fn + 1e-5)


def _jaccard_score(inter, sum_p, sum_t):
    return (inter + 1e-5) / (sum_p + sum_t - inter + 1e-5)


def _box_geometry(a, b):
    """Intersection, union, enclosing area, squared centre distance and enclosing diagonal."""
    lo, hi = jnp.maximum(a[:, :2], b[:, :2]), jnp.minimum(a[:, 2:], b[:, 2:])
    inter = jnp.prod(jnp.clip(hi - lo, 0.0), axis=-1)
    area = lambda box: jnp.prod(box[:, 2:] - box[:, :2], axis=-1)  # noqa: E731
    union = area(a) + area(b) - inter
    outer_lo, outer_hi = jnp.minimum(a[:, :2], b[:, :2]), jnp.maximum(a[:, 2:], b[:, 2:])
    enclosing = jnp.prod(outer_hi - outer_lo, axis=-1)
    centres = jnp.sum(jnp.square((a[:, :2] + a[:, 2:] - b[:, :2] - b[:, 2:]) / 2), axis=-1)
    diagonal = jnp.sum(jnp.square(outer_hi - outer_lo), axis=-1)
    return inter, union, enclosing, centres, diagonal


def _giou_baseline(a, b):
    inter, union, enclosing, _, _ = _box_geometry(a, b)
    iou = inter / (union + 1e-7)
    return jnp.mean(1 - iou + (enclosing - union) / (enclosing + 1e-7))


def _diou_baseline(a, b):
    inter, union, _, centres, diagonal = _box_geometry(a, b)
    return jnp.mean(1 - inter / (union + 1e-7) + centres / (diagonal + 1e-7))


def _ciou_baseline(a, b):
    inter, union, _, centres, diagonal = _box_geometry(a, b)
    iou = inter / (union + 1e-7)
    ratio = lambda box: jnp.arctan((box[:, 2] - box[:, 0]) / (box[:, 3] - box[:, 1]))  # noqa: E731
    v = 4 / math.pi**2 * jnp.square(ratio(b) - ratio(a))
    return jnp.mean(1 - iou + centres / (diagonal + 1e-7) + v * v / (1 - iou + v + 1e-7))


def _entries() -> tuple[Entry, ...]:
    m = MappingProxyType
    jl = jaxloss
    seg_weights = (jnp.ones(SEG_CLASSES), jnp.arange(1.0, SEG_CLASSES + 1))
    seg_variants = {
        "softmax_labels": _segmentation_labels,
        "probability_masks": _segmentation_masks,
        "sigmoid_binary": _segmentation_binary,
    }
    box_hyper = m({"eps": (1e-7, 0.1)})
    # Areas are products of two coordinates: float32 holds them for coordinates up to 1e15.
    box_scale = 1e15
    by_class_weight = "the class weights of the kept entries"
    weighted_masks = {"probability_masks": by_class_weight}
    return (
        Entry("log_cosh_loss", "regression", jl.log_cosh_loss, m({"plain": _residuals}),
              lambda x, y: optax.losses.log_cosh(x, y).mean(), "optax.log_cosh",
              grad_argnums=(0, 1)),
        Entry("quantile_loss", "regression", jl.quantile_loss,
              m({"median": _residuals, "per_column": _quantiles}),
              _pinball_baseline, "jnp", grad_argnums=(0, 1),
              hyperparameters=m({"quantile": (0.5, 0.9)}), smooth=False),
        Entry("general_robust_loss", "regression", jl.general_robust_loss,
              m({"charbonnier": _residuals,
                 "cauchy": lambda k, n, d: _residuals(k, n, d, alpha=0.0, scale=0.5),
                 "welsch": lambda k, n, d: _residuals(k, n, d, alpha=-math.inf),
                 "l2": lambda k, n, d: _residuals(k, n, d, alpha=2.0, scale=2.0),
                 "per_column": _robust_per_column}),
              _charbonnier_baseline, "jnp", grad_argnums=(0, 1),
              hyperparameters=m({"alpha": (1.0, 0.0), "scale": (1.0, 0.5)})),
        Entry("sigmoid_focal_loss", "classification", jl.sigmoid_focal_loss,
              m({"soft_targets": _focal,
                 "hard_unbalanced": lambda k, n, d: _focal(k, n, d, True, alpha=-1.0,
                                                           gamma=0.5)}),
              lambda x, y: optax.losses.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0).mean(),
              "optax.sigmoid_focal_loss", grad_argnums=(0, 1),
              hyperparameters=m({"alpha": (0.25, 0.75), "gamma": (2.0, 0.5)}),
              probabilities=(1,)),
        Entry("softmax_focal_loss", "classification", jl.softmax_focal_loss,
              m({"labels": _logits_labels, "weighted_ignored": _focal_weighted_ignored}),
              _softmax_focal_baseline, "jnp", integer_argnums=(1,),
              hyperparameters=m({"gamma": (2.0, 0.5),
                                 "weight": (jnp.ones(_CLASSES), jnp.arange(1.0, _CLASSES + 1))}),
              weighted_mean=m({"weighted_ignored": "the class weights of the kept, "
                                                   "non-ignored labels"})),
        Entry("poly1_cross_entropy", "classification", jl.poly1_cross_entropy,
              m({"labels": _logits_labels, "probabilities": _logits_probabilities}),
              _poly1_baseline, "optax.poly_loss_cross_entropy", grad_argnums=(0, 1),
              integer_argnums=(1,), hyperparameters=m({"epsilon": (2.0, -1.0)}),
              probabilities=(1,)),
        Entry("js_divergence", "classification", jl.js_divergence,
              m({"log_probabilities": _log_distributions}), _js_baseline, "jnp",
              grad_argnums=(0, 1)),
        Entry("hinge_loss", "classification", jl.hinge_loss,
              m({"int_signs": _scores_signs,
                 "float_signs": lambda k, n, d: _scores_signs(k, n, d, d)}),
              lambda x, y: optax.losses.hinge_loss(x, y).mean(), "optax.hinge_loss", smooth=False,
              fixed=(1,)),
        Entry("squared_hinge_loss", "classification", jl.squared_hinge_loss,
              m({"int_signs": _scores_signs,
                 "float_signs": lambda k, n, d: _scores_signs(k, n, d, d)}),
              lambda x, y: jnp.mean(jnp.square(jnp.maximum(0.0, 1 - x * y))), "jnp",
              smooth=False, fixed=(1,)),
        Entry("multiclass_hinge_loss", "classification", jl.multiclass_hinge_loss,
              m({"labels": _logits_labels}),
              lambda x, y: optax.losses.multiclass_hinge_loss(x, y).mean(),
              "optax.multiclass_hinge_loss", integer_argnums=(1,), smooth=False),
        Entry("sparsemax_loss", "classification", jl.sparsemax_loss,
              m({"int_labels": _scores_binary,
                 "float_labels": lambda k, n, d: _scores_binary(k, n, d, d)}),
              lambda x, y: optax.losses.sparsemax_loss(x, y).mean(), "optax.sparsemax_loss",
              smooth=False, fixed=(1,)),
        Entry("dice_loss", "segmentation", jl.dice_loss,
              m({**seg_variants,
                 "squared": lambda k, n, d: _segmentation_masks(k, n, d, squared=True)}),
              _overlap_baseline(_dice_score), "jnp", grad_argnums=(0, 1),
              integer_argnums=(1,),
              hyperparameters=m({"smooth": (1e-5, 1.0), "weight": seg_weights}),
              probabilities=(0, 1),
              weighted_mean=m({**weighted_masks, "squared": by_class_weight})),
        Entry("tversky_loss", "segmentation", jl.tversky_loss,
              m({**seg_variants,
                 "recall": lambda k, n, d: _segmentation_masks(k, n, d, alpha=0.3, beta=0.7)}),
              _overlap_baseline(_tversky_score), "jnp", grad_argnums=(0, 1),
              integer_argnums=(1,),
              hyperparameters=m({"alpha": (0.5, 0.3), "beta": (0.5, 0.7),
                                 "smooth": (1e-5, 1.0), "weight": seg_weights}),
              probabilities=(0, 1),
              weighted_mean=m({**weighted_masks, "recall": by_class_weight})),
        Entry("jaccard_loss", "segmentation", jl.jaccard_loss, m(seg_variants),
              _overlap_baseline(_jaccard_score), "jnp", grad_argnums=(0, 1),
              integer_argnums=(1,),
              hyperparameters=m({"smooth": (1e-5, 1.0), "weight": seg_weights}),
              probabilities=(0, 1), weighted_mean=m(weighted_masks)),
        Entry("generalized_box_iou_loss", "detection", jl.generalized_box_iou_loss,
              m({"random": _box_pairs}), _giou_baseline, "jnp", grad_argnums=(0, 1),
              hyperparameters=box_hyper, smooth=False, max_scale=box_scale),
        Entry("distance_box_iou_loss", "detection", jl.distance_box_iou_loss,
              m({"random": _box_pairs}), _diou_baseline, "jnp", grad_argnums=(0, 1),
              hyperparameters=box_hyper, smooth=False, max_scale=box_scale),
        Entry("complete_box_iou_loss", "detection", jl.complete_box_iou_loss,
              m({"random": _box_pairs}), _ciou_baseline, "jnp", grad_argnums=(0, 1),
              hyperparameters=box_hyper, smooth=False, exact_gradient=False,
              max_scale=box_scale),
    )


ENTRIES: tuple[Entry, ...] = _entries()
