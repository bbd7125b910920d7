"""Catalogue entries of the reinforcement-learning losses (jaxloss.rl).

The catalogue's batch axis is a batch of transitions. `td_lambda_loss`, the one loss over whole
trajectories, gets batch-major samples ``(batch, STEPS)`` with ``time_axis=-1``, so that the
generic tests (vmap, masking and slicing over the batch axis) never cut a trajectory.
The estimators (returns, advantages, V-trace) are not losses and are not listed.
"""

from __future__ import annotations

from types import MappingProxyType

import jax
import jax.numpy as jnp
import optax

import jaxloss

from ._base import Entry, Sample, dims
from ._base import keys as _keys
from ._base import labels as _labels
from ._base import normal as _normal

ACTIONS = 5  # actions of the Q-value samples
STEPS = 5  # time steps of the td_lambda_loss trajectories (not 7: the where-shape test)
QUANTILES = 4  # quantile estimates per distribution
TARGET_SAMPLES = 3  # target samples per distribution


def _discounts(key, shape, dtype, gamma=0.9, terminal_rate=0.25):
    """gamma, or 0 at (randomly placed) terminal transitions."""
    return jnp.where(jax.random.bernoulli(key, terminal_rate, shape), 0.0, gamma).astype(dtype)


def _state_values(key, n, dtype, **options):
    k1, k2, k3, k4 = _keys(key, 4)
    shape = (n, dims().width)
    args = (_normal(k1, shape, dtype, 2.0), _normal(k2, shape, dtype),
            _discounts(k3, shape, dtype), _normal(k4, shape, dtype, 2.0))
    return Sample(args, options)


def _trajectories(key, n, dtype, **options):
    k1, k2, k3, k4 = _keys(key, 4)
    shape = (n, STEPS)
    args = (_normal(k1, shape, dtype, 2.0), _normal(k2, shape, dtype),
            _discounts(k3, shape, dtype), _normal(k4, shape, dtype, 2.0))
    return Sample(args, {"lambda_": 0.8, "time_axis": -1, **options})


def _action_values(key, n, dtype, bootstrap="q_t", **options):
    """(q_tm1, a_tm1, r_t, discount_t, *next) with the next step's inputs for `bootstrap`."""
    k1, k2, k3, k4, k5, k6 = _keys(key, 6)
    head = (_normal(k1, (n, ACTIONS), dtype, 2.0), _labels(k2, (n,), ACTIONS),
            _normal(k3, (n,), dtype), _discounts(k4, (n,), dtype))
    q_t = _normal(k5, (n, ACTIONS), dtype, 2.0)
    following = {
        "q_t": (q_t,),
        "double": (q_t, _normal(k6, (n, ACTIONS), dtype)),
        "sarsa": (q_t, _labels(k6, (n,), ACTIONS)),
        "expected": (q_t, jax.nn.softmax(_normal(k6, (n, ACTIONS), jnp.float32)).astype(dtype)),
    }[bootstrap]
    return Sample(head + following, options)


def _quantiles(key, n, dtype, **options):
    k1, k2 = _keys(key, 2)
    levels = (jnp.arange(QUANTILES) + 0.5) / QUANTILES
    tau = jnp.broadcast_to(levels, (n, QUANTILES)).astype(dtype)
    src = _normal(k1, (n, QUANTILES), dtype, 2.0)
    return Sample((src, tau, _normal(k2, (n, TARGET_SAMPLES), dtype, 2.0)), options)


def _policy(key, n, dtype, **options):
    k1, k2, k3 = _keys(key, 3)
    args = (_normal(k1, (n, ACTIONS), dtype, 2.0), _labels(k2, (n,), ACTIONS),
            _normal(k3, (n,), dtype))
    return Sample(args, options)


def _logits(key, n, dtype):
    return Sample((_normal(key, (n, ACTIONS), dtype, 2.0),))


def _ppo(key, n, dtype, **options):
    k1, k2, k3 = _keys(key, 3)
    old = jax.nn.log_sigmoid(_normal(k1, (n, dims().width), jnp.float32, 2.0))
    new = old + _normal(k2, (n, dims().width), jnp.float32, 0.3)
    return Sample((new.astype(dtype), old.astype(dtype), _normal(k3, (n, dims().width), dtype)),
                  options)


def _ppo_values(key, n, dtype, **options):
    k1, k2, k3 = _keys(key, 3)
    shape = (n, dims().width)
    old = _normal(k1, shape, dtype, 2.0)
    values = (old.astype(jnp.float32) + _normal(k2, shape, jnp.float32, 0.5)).astype(dtype)
    return Sample((values, _normal(k3, shape, dtype, 2.0), old), options)


# Baselines: the default call's value in plain jax.numpy (optax has no RL losses but entropy),
# written as the textbook formulas rather than jaxloss's code paths.


def _td_baseline(v_tm1, r_t, discount_t, v_t):
    return jnp.mean(jnp.square(v_tm1 - (r_t + discount_t * v_t))) / 2


def _td_lambda_baseline(v_tm1, r_t, discount_t, v_t, *, lambda_, time_axis):
    """λ-returns by an unrolled Python loop over batch-major time."""
    assert time_axis == -1
    following = v_t[:, -1]
    returns = []
    for i in reversed(range(r_t.shape[1])):
        following = r_t[:, i] + discount_t[:, i] * (
            (1 - lambda_) * v_t[:, i] + lambda_ * following
        )
        returns.append(following)
    returns = jnp.stack(returns[::-1], axis=1)
    return jnp.mean(jnp.square(returns - v_tm1)) / 2


def _q_baseline(next_value):
    def baseline(q_tm1, a_tm1, r_t, discount_t, *following):
        taken = q_tm1[jnp.arange(q_tm1.shape[0]), a_tm1]
        return jnp.mean(jnp.square(r_t + discount_t * next_value(*following) - taken)) / 2

    return baseline


def _rows(q, a):
    return q[jnp.arange(q.shape[0]), a]


def _quantile_baseline(dist_src, tau_src, dist_target):
    u = dist_target[:, None, :] - dist_src[:, :, None]
    weight = jnp.where(u < 0, 1 - tau_src[:, :, None], tau_src[:, :, None])
    return jnp.mean(jnp.sum(weight * jnp.abs(u), axis=(1, 2)) / u.shape[2])


def _pg_baseline(logits_t, a_t, adv_t):
    one_hot = jax.nn.one_hot(a_t, logits_t.shape[-1])
    return -jnp.mean(jnp.sum(one_hot * jax.nn.log_softmax(logits_t), axis=-1) * adv_t)


def _entropy_baseline(logits_t):
    return -jnp.mean(optax.softmax_cross_entropy(logits_t, jax.nn.softmax(logits_t)))


def _ppo_baseline(log_probs, old_log_probs, advantages):
    ratio = jnp.exp(log_probs) / jnp.exp(old_log_probs)
    unclipped, clipped = ratio * advantages, jnp.clip(ratio, 0.8, 1.2) * advantages
    return jnp.mean(jnp.where(unclipped < clipped, -unclipped, -clipped))


def _ppo_value_baseline(values, returns, old_values):
    return jnp.mean(jnp.square(values - returns)) / 2


def _the_loss(result):
    return result.loss


def _entries() -> tuple[Entry, ...]:
    m = MappingProxyType
    jl = jaxloss
    huber = m({"huber_delta": (1.0, 0.5)})

    def q_entry(name, bootstrap, next_value, integer=(1,), probabilities=(3,), **options):
        """Squared-error samples, and Huber ones with `options` (each entry one more)."""
        makers = {"squared": lambda k, n, d: _action_values(k, n, d, bootstrap),
                  "huber": lambda k, n, d: _action_values(k, n, d, bootstrap, huber_delta=1.0,
                                                          **options)}
        return Entry(name, "reinforcement", getattr(jl, name), m(makers),
                     _q_baseline(next_value), "jnp", integer_argnums=integer,
                     hyperparameters=huber, probabilities=probabilities)

    return (
        Entry("td_loss", "reinforcement", jl.td_loss,
              m({"squared": _state_values,
                 "huber_through_target": lambda k, n, d: _state_values(
                     k, n, d, huber_delta=1.0, stop_target_gradients=False)}),
              _td_baseline, "jnp", hyperparameters=huber, probabilities=(2,)),
        Entry("td_lambda_loss", "reinforcement", jl.td_lambda_loss,
              m({"squared": _trajectories,
                 "huber_through_target": lambda k, n, d: _trajectories(
                     k, n, d, lambda_=0.5, huber_delta=1.0, stop_target_gradients=False)}),
              _td_lambda_baseline, "jnp",
              hyperparameters=m({"lambda_": (0.8, 0.3), "huber_delta": (1.0, 0.5)}),
              probabilities=(2,)),
        q_entry("q_learning_loss", "q_t", lambda q_t: jnp.max(q_t, axis=-1)),
        q_entry("double_q_learning_loss", "double",
                lambda value, selector: _rows(value, jnp.argmax(selector, axis=-1))),
        q_entry("sarsa_loss", "sarsa", _rows, integer=(1, 5), stop_target_gradients=False),
        q_entry("expected_sarsa_loss", "expected",
                lambda q_t, probs: jnp.einsum("na,na->n", q_t, probs), probabilities=(3, 5),
                stop_target_gradients=False),
        Entry("quantile_regression_loss", "reinforcement", jl.quantile_regression_loss,
              m({"absolute": _quantiles,
                 "huber": lambda k, n, d: _quantiles(k, n, d, huber_delta=1.0)}),
              _quantile_baseline, "jnp", hyperparameters=huber, smooth=False,
              probabilities=(1,)),
        Entry("policy_gradient_loss", "reinforcement", jl.policy_gradient_loss,
              m({"logits": _policy,
                 "through_advantages": lambda k, n, d: _policy(
                     k, n, d, stop_target_gradients=False)}),
              _pg_baseline, "jnp", integer_argnums=(1,)),
        Entry("entropy_loss", "reinforcement", jl.entropy_loss, m({"logits": _logits}),
              _entropy_baseline, "optax.softmax_cross_entropy"),
        Entry("ppo_clip_loss", "reinforcement", jl.ppo_clip_loss,
              m({"default": _ppo,
                 "wide_through_advantages": lambda k, n, d: _ppo(
                     k, n, d, epsilon=0.3, stop_target_gradients=False)}),
              _ppo_baseline, "jnp", hyperparameters=m({"epsilon": (0.2, 0.1)}),
              loss_of=_the_loss),
        Entry("ppo_value_loss", "reinforcement", jl.ppo_value_loss,
              m({"plain": _ppo_values,
                 "clipped_huber": lambda k, n, d: _ppo_values(k, n, d, epsilon=0.2,
                                                              huber_delta=1.0)}),
              _ppo_value_baseline, "jnp",
              hyperparameters=m({"epsilon": (0.2, 0.1), "huber_delta": (1.0, 0.5)})),
    )


ENTRIES: tuple[Entry, ...] = _entries()
