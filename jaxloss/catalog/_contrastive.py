"""Catalogue entries of the contrastive, ranking and preference (DPO family) losses.

Contrastive samples are batches of independent contrastive batches: embeddings
``(batch, items, features)``, so the catalogue's batch axis (the one vmapped, masked and sliced
by the generic tests) never mixes items that contrast with each other.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import jax
import jax.numpy as jnp
import optax

import jaxloss

from ._base import Entry, Sample, dims
from ._base import keys as _keys
from ._base import normal as _normal
from ._base import uniform as _uniform

GROUPS = 3  # distinct group labels among a batch's items, so every batch has positive pairs
GRADES = 3  # relevance grades 0, 1, 2


def _grouped(key, n, dtype):
    k1, k2 = _keys(key, 2)
    labels = jax.random.randint(k2, (n, dims().items), 0, GROUPS)
    return Sample((_normal(k1, (n, dims().items, dims().features), dtype), labels))


def _image_text(key, n, dtype):
    k1, k2 = _keys(key, 2)
    image = _normal(k1, (n, dims().items, dims().features), dtype)
    text = (image.astype(jnp.float32) + _normal(k2, image.shape, jnp.float32)).astype(dtype)
    return Sample((image, text))


def _lists(key, n, dtype):
    k1, k2 = _keys(key, 2)
    scores = _normal(k1, (n, dims().items), dtype, 2.0)
    return Sample((scores, jax.random.randint(k2, (n, dims().items), 0, GRADES)))


def _dpo(key, n, dtype, **options):
    k1, k2, k3, k4 = _keys(key, 4)
    reference_chosen = _uniform(k1, (n,), dtype, -60.0, -10.0)
    reference_rejected = _uniform(k2, (n,), dtype, -60.0, -10.0)
    policy_chosen = reference_chosen + _normal(k3, (n,), dtype, 4.0)
    policy_rejected = reference_rejected + _normal(k4, (n,), dtype, 4.0)
    return Sample((policy_chosen, policy_rejected, reference_chosen, reference_rejected), options)


def _simpo(key, n, dtype):
    k1, k2 = _keys(key, 2)
    return Sample((_uniform(k1, (n,), dtype, -3.0, -0.2), _uniform(k2, (n,), dtype, -3.0, -0.2)))


# Baselines: the default call's value, from optax where it has the loss, else plain jax.numpy.


def _ntxent_baseline(embeddings, labels):
    """optax.ntxent per contrastive batch, pooled over positive pairs like the default mean."""
    per_batch = jax.vmap(optax.ntxent)(embeddings, labels)
    same = labels[:, :, None] == labels[:, None, :]
    positives = jnp.sum(same, axis=(1, 2)) - labels.shape[1]
    return jnp.sum(per_batch * positives) / jnp.sum(positives)


def _l2_normalized(x):
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def _clip_baseline(image, text):
    logits = (1 / 0.07) * jnp.einsum("bid,bjd->bij", _l2_normalized(image), _l2_normalized(text))
    own = jnp.broadcast_to(jnp.arange(logits.shape[-1]), logits.shape[:-1])
    xent = optax.softmax_cross_entropy_with_integer_labels
    return (jnp.mean(xent(logits, own)) + jnp.mean(xent(jnp.swapaxes(logits, 1, 2), own))) / 2


def _siglip_baseline(image, text):
    logits = 10 * jnp.einsum("bid,bjd->bij", _l2_normalized(image), _l2_normalized(text)) - 10
    matching = jnp.broadcast_to(jnp.eye(logits.shape[-1]), logits.shape)
    per_pair = optax.sigmoid_binary_cross_entropy(logits, matching)
    return jnp.mean(jnp.sum(per_pair, axis=-1))


def _pairwise_baseline(pair_loss):
    def baseline(scores, labels):
        ordered = labels[:, :, None] > labels[:, None, :]
        losses = pair_loss(scores[:, :, None] - scores[:, None, :])
        return jnp.sum(losses * ordered) / jnp.sum(ordered)

    return baseline


def _dpo_baseline(policy_chosen, policy_rejected, reference_chosen, reference_rejected):
    log_ratios = (policy_chosen - policy_rejected) - (reference_chosen - reference_rejected)
    return -jnp.mean(jnp.log(jax.nn.sigmoid(0.1 * log_ratios)))


def _simpo_baseline(chosen, rejected):
    return -jnp.mean(jnp.log(jax.nn.sigmoid(2.0 * chosen - 2.0 * rejected - 1.0)))


def _the_loss(result):
    return result.loss


_BY_PAIRS = "the number of ordered pairs in the kept lists"
# Embeddings shorter than the square root of the dtype's epsilon are not normalised (optax's
# convention), so float32 and float64 differ for embeddings scaled below 1e-3.
_NORMALISED_FROM = 1e-3


def _entries() -> tuple[Entry, ...]:
    m = MappingProxyType
    jl = jaxloss
    return (
        Entry("info_nce_loss", "contrastive", jl.info_nce_loss,
              m({"groups": _grouped}),
              _ntxent_baseline, "optax.ntxent", integer_argnums=(1,),
              hyperparameters=m({"temperature": (0.07, 0.5)}),
              weighted_mean=m({"groups": "the number of positive pairs"}),
              float64_oracle_from=_NORMALISED_FROM),
        Entry("clip_loss", "contrastive", jl.clip_loss,
              m({"normalized": _image_text}),
              _clip_baseline, "optax.softmax_cross_entropy_with_integer_labels",
              grad_argnums=(0, 1),
              hyperparameters=m({"log_scale": (math.log(1 / 0.07), 0.5)}),
              float64_oracle_from=_NORMALISED_FROM),
        Entry("siglip_loss", "contrastive", jl.siglip_loss,
              m({"normalized": _image_text}),
              _siglip_baseline, "optax.sigmoid_binary_cross_entropy", grad_argnums=(0, 1),
              hyperparameters=m({"log_scale": (math.log(10.0), 0.5), "bias": (-10.0, 0.0)}),
              float64_oracle_from=_NORMALISED_FROM),
        Entry("ranking_softmax_loss", "ranking", jl.ranking_softmax_loss,
              m({"graded": _lists}),
              lambda s, y: optax.losses.ranking_softmax_loss(s, y.astype(s.dtype)),
              "optax.losses.ranking_softmax_loss"),
        Entry("pairwise_logistic_loss", "ranking", jl.pairwise_logistic_loss, m({"graded": _lists}),
              _pairwise_baseline(lambda d: jnp.log1p(jnp.exp(-d))), "jnp",
              weighted_mean=m({"graded": _BY_PAIRS})),
        Entry("pairwise_hinge_loss", "ranking", jl.pairwise_hinge_loss, m({"graded": _lists}),
              _pairwise_baseline(lambda d: jnp.maximum(1.0 - d, 0.0)), "jnp",
              hyperparameters=m({"margin": (1.0, 0.5)}), smooth=False,
              weighted_mean=m({"graded": _BY_PAIRS})),
        Entry("dpo_loss", "preference", jl.dpo_loss,
              m({"sigmoid": _dpo,
                 "hinge": lambda k, n, d: _dpo(k, n, d, loss_type="hinge", beta=0.05),
                 "ipo": lambda k, n, d: _dpo(k, n, d, loss_type="ipo", beta=0.5)}),
              _dpo_baseline, "jnp", grad_argnums=(0, 1, 2, 3),
              hyperparameters=m({"beta": (0.1, 0.5), "label_smoothing": (0.0, 0.2)}),
              loss_of=_the_loss),
        Entry("simpo_loss", "preference", jl.simpo_loss,
              m({"plain": _simpo}),
              _simpo_baseline, "jnp", grad_argnums=(0, 1),
              hyperparameters=m({"beta": (2.0, 2.5), "gamma": (1.0, 0.5),
                                 "label_smoothing": (0.0, 0.2)}),
              loss_of=_the_loss),
    )


ENTRIES: tuple[Entry, ...] = _entries()
