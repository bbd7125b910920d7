"""jaxloss.rl: return estimators and RL losses.

Values and gradients against rlax 0.1.9 (fixtures recorded by tests/golden/make_rlax_golden.py,
replayed here with numpy alone), hand-computed trajectories with terminals in the middle,
padding (``where``) against slicing, gradients that reach the online values only, vmap over
environments, long trajectories compiled once, error messages, and a short CartPole training
run of the example."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import rl

GOLDEN = np.load(pathlib.Path(__file__).parent / "golden" / "rlax_golden.npz")
MANIFEST = json.loads(str(GOLDEN["manifest"]))


def _close(actual, expected, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol)


def _case(name):
    """(inputs, outputs, cotangents, gradients) of one recorded case, as dicts of arrays."""
    parts = {"in": {}, "out": {}, "cot": {}, "grad": {}}
    prefix = name + "/"
    for key in GOLDEN.files:
        if key.startswith(prefix) and key[len(prefix):].split("/")[0] in parts:
            kind, arg = key[len(prefix):].split("/", 1)
            parts[kind][arg] = jnp.asarray(GOLDEN[key])
    assert parts["in"], f"no fixture {name}"
    return parts["in"], parts["out"], parts["cot"], parts["grad"]


def _replay(name, fn, rename=None):
    """Checks ``fn(**inputs)`` (a dict of outputs, or one array ``"out"``) and the VJP of the
    recorded cotangents against rlax's, for every input rlax differentiated."""
    inputs, outputs, cotangents, grads = _case(name)
    rename = rename or {}
    ours = {rename.get(k, k): v for k, v in inputs.items()}
    differentiated = {rename.get(k, k): k for k in grads}

    def f(diff):
        out = fn(**{**ours, **diff})
        return out if isinstance(out, dict) else {"out": out}

    out, vjp = jax.vjp(f, {k: ours[k] for k in differentiated})
    assert set(out) == set(outputs)
    for k in outputs:
        _close(out[k], outputs[k])
    (our_grads,) = vjp({k: cotangents[k] for k in out})
    for ours_name, theirs in differentiated.items():
        _close(our_grads[ours_name], grads[theirs])


def test_fixtures_come_from_rlax_0_1_9():
    assert MANIFEST["rlax"] == "0.1.9"
    assert len(MANIFEST["cases"]) >= 30


# ---- estimators against rlax (rlax's estimators do not stop gradients; ours do by default)

THROUGH = {"stop_target_gradients": False}


@pytest.mark.parametrize("case", ["scalar", "per_step"])
def test_lambda_returns_match_rlax(case):
    lam = {} if case == "per_step" else {"lambda_": 0.7}
    _replay(f"lambda_returns/{case}", lambda **kw: rl.lambda_returns(**kw, **lam, **THROUGH))


def test_discounted_returns_match_rlax():
    _replay("discounted_returns", lambda **kw: rl.discounted_returns(**kw, **THROUGH))


@pytest.mark.parametrize("n,lam", [(1, "1.0"), (3, "1.0"), (3, "0.6"), (4, "per_step"),
                                   (12, "1.0")])
def test_n_step_returns_match_rlax(n, lam):
    options = {} if lam == "per_step" else {"lambda_": float(lam)}
    _replay(f"n_step_returns/{n}/{lam}",
            lambda **kw: rl.n_step_returns(**kw, n=n, **options, **THROUGH),
            rename={"lambda_t": "lambda_"})


@pytest.mark.parametrize("lam", [0.9, 1.0])
def test_gae_matches_rlax(lam):
    _replay(f"gae/{lam}",
            lambda **kw: rl.generalized_advantage_estimation(**kw, lambda_=lam, **THROUGH))


@pytest.mark.parametrize("lam,clip_rho,clip_pg", [(1.0, 1.0, 1.0), (0.8, 1.5, 0.7)])
def test_vtrace_matches_rlax(lam, clip_rho, clip_pg):
    def fn(**kw):
        return rl.vtrace(**kw, lambda_=lam, clip_rho_threshold=clip_rho,
                         clip_pg_rho_threshold=clip_pg, **THROUGH)._asdict()

    _replay(f"vtrace/{lam}/{clip_rho}/{clip_pg}", fn)


# ---- losses against rlax: per-entry values ("none") and gradients. The "stopped" fixtures
# hold rlax's zero gradients for the targets, so these also check that by default only the
# online values (v_tm1, q_tm1, dist_src) receive a gradient.

TAGS = {"stopped": True, "through": False}


def _l2_and_huber(loss, stop, **options):
    def fn(**kw):
        common = dict(reduction="none", stop_target_gradients=stop, **options)
        return {"l2": loss(**kw, **common), "huber": loss(**kw, **common, huber_delta=1.0)}

    return fn


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("loss", [jaxloss.td_loss, jaxloss.q_learning_loss,
                                  jaxloss.double_q_learning_loss, jaxloss.sarsa_loss,
                                  jaxloss.expected_sarsa_loss], ids=lambda f: f.__name__)
def test_transition_losses_match_rlax(loss, tag):
    _replay(f"{loss.__name__}/{tag}", _l2_and_huber(loss, TAGS[tag]))


@pytest.mark.parametrize("tag", TAGS)
def test_td_lambda_loss_matches_rlax(tag):
    _replay(f"td_lambda_loss/{tag}", _l2_and_huber(jaxloss.td_lambda_loss, TAGS[tag],
                                                    lambda_=0.8))


@pytest.mark.parametrize("huber", [0.0, 1.0])
def test_quantile_regression_loss_matches_rlax(huber):
    # rlax's quantile_regression_loss never stops the target's gradient (its flag only
    # concerns the indicator, which has none): compare with ours letting it through, and
    # check that ours stops it by default.
    options = {"huber_delta": huber} if huber else {}
    for tag in TAGS:
        _replay(f"quantile_regression_loss/{tag}/{huber}",
                lambda **kw: jaxloss.quantile_regression_loss(
                    **kw, reduction="none", stop_target_gradients=False, **options))
    inputs, *_ = _case(f"quantile_regression_loss/stopped/{huber}")
    grad = jax.grad(lambda target: jaxloss.quantile_regression_loss(
        inputs["dist_src"], inputs["tau_src"], target, **options))(inputs["dist_target"])
    assert not np.any(grad)


@pytest.mark.parametrize("tag", TAGS)
def test_policy_gradient_loss_matches_rlax(tag):
    # rlax weights the steps with w_t and divides by all T steps: a sum over kept steps / T.
    def fn(logits_t, a_t, adv_t, w_t):
        total = jaxloss.policy_gradient_loss(logits_t, a_t, adv_t, where=w_t > 0,
                                             reduction="sum", stop_target_gradients=TAGS[tag])
        return total / a_t.shape[0]

    _replay(f"policy_gradient_loss/{tag}", fn)


def test_entropy_loss_matches_rlax():
    _replay("entropy_loss", lambda logits_t, w_t: jaxloss.entropy_loss(
        logits_t, where=w_t > 0, reduction="sum") / w_t.shape[0])


@pytest.mark.parametrize("tag", TAGS)
def test_ppo_clip_loss_matches_rlax(tag):
    def fn(log_probs, old_log_probs, adv_t):
        return jaxloss.ppo_clip_loss(log_probs, old_log_probs, adv_t, epsilon=0.2,
                                     stop_target_gradients=TAGS[tag]).loss

    _replay(f"ppo_clip_loss/{tag}", fn)


# ---- hand-computed trajectories (terminals in the middle)

R = jnp.array([1.0, 2.0, 3.0, 4.0])
D = jnp.array([0.5, 0.0, 0.5, 0.5])  # the first episode ends at step 1
V = jnp.array([10.0, 20.0, 30.0, 40.0])  # V(s_{i+1})


def test_discounted_returns_by_hand():
    # G3 = 4 + .5*40 = 24; G2 = 3 + .5*24 = 15; G1 = 2 (terminal); G0 = 1 + .5*2 = 2
    _close(rl.discounted_returns(R, D, V), [2.0, 2.0, 15.0, 24.0])


@pytest.mark.parametrize("bad", [jnp.inf, jnp.nan])
def test_discounted_returns_read_only_the_bootstrap_values_of_last_steps(bad):
    # As documented: v at a step whose trajectory goes on is not read, so a non-finite one
    # there changes nothing (a (1 - lambda) v term with lambda = 1 would give 0 * inf = NaN).
    _close(rl.discounted_returns(R, D, V.at[0].set(bad)), [2.0, 2.0, 15.0, 24.0])
    # The last step's is read.
    assert jnp.isnan(rl.discounted_returns(R, D, V.at[3].set(jnp.nan))[3])


def test_lambda_returns_by_hand():
    # G3 = 4 + .5*40 = 24; G2 = 3 + .5*(.5*30 + .5*24) = 16.5; G1 = 2; G0 = 1 + .5*(5 + 1) = 4
    _close(rl.lambda_returns(R, D, V, lambda_=0.5), [4.0, 2.0, 16.5, 24.0])


@pytest.mark.parametrize("steps", [rl._UNROLL_MAX_STEPS, rl._UNROLL_MAX_STEPS + 1])
def test_lambda_returns_unrolled_and_looped_follow_the_recursion(steps):
    # Trajectories up to _UNROLL_MAX_STEPS run unrolled, longer ones as a loop: both must be
    # G_t = r_t + d_t ((1 - lambda) v_t + lambda G_{t+1}), with G past the end = v, in float64.
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    r, v = jax.random.normal(k1, (steps, 2)), jax.random.normal(k2, (steps, 2))
    d = jnp.where(jax.random.bernoulli(k3, 0.8, (steps, 2)), 0.9, 0.0)
    expected, following = np.zeros((steps, 2)), np.asarray(v[-1], np.float64)
    for t in reversed(range(steps)):
        following = r[t] + d[t] * (0.3 * v[t] + 0.7 * following)
        expected[t] = following
    _close(rl.lambda_returns(r, d, v, lambda_=0.7), expected)


def test_n_step_returns_by_hand():
    # n=2: G0 = 1 + .5*2 + 0 = 2; G1 = 2; G2 = 3 + .5*4 + .25*40 = 15; G3 = 4 + .5*40 = 24
    _close(rl.n_step_returns(R, D, V, 2), [2.0, 2.0, 15.0, 24.0])
    # n=1 is the TD target r + γ v
    _close(rl.n_step_returns(R, D, V, 1), R + D * V)


def test_gae_by_hand():
    values = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # δ = r + γ V(s') - V(s) = [1+1-1, 2+0-2, 3+2-3, 4+2.5-4] = [1, 0, 2, 2.5]
    # A3 = 2.5; A2 = 2 + .5*.5*2.5 = 2.625; A1 = 0; A0 = 1 + .25*0 = 1
    _close(rl.generalized_advantage_estimation(R, D, values, lambda_=0.5),
           [1.0, 0.0, 2.625, 2.5])


def test_vtrace_on_policy_is_the_lambda_return():
    # With ρ = 1 and λ = 1, V-trace targets are the discounted returns bootstrapped from v_t
    # (values consistent along the trajectory: v_tm1[s + 1] = v_t[s]).
    v_tm1 = jnp.array([5.0, 10.0, 20.0, 30.0])
    out = rl.vtrace(v_tm1, V, R, D, jnp.ones(4))
    _close(out.targets, rl.discounted_returns(R, D, V))
    # q_s = r_s + γ_s v_{s+1}: [1 + .5*2, 2, 3 + .5*24, 4 + .5*40]
    _close(out.q_estimates, [2.0, 2.0, 15.0, 24.0])
    _close(out.pg_advantages, out.q_estimates - v_tm1)


def test_ppo_value_loss_by_hand():
    values, returns, old = jnp.array([1.0, 0.0]), jnp.array([3.0, 0.5]), jnp.array([0.0, 0.2])
    _close(jaxloss.ppo_value_loss(values, returns, reduction="none"), [2.0, 0.125])
    # clipped values: old + clip(v - old, ±.5) = [0.5, 0.0] (second unchanged)
    # max(½ 2², ½ 2.5²) = 3.125; max(½ .5², ½ .5²) = 0.125
    _close(jaxloss.ppo_value_loss(values, returns, old, epsilon=0.5, reduction="none"),
           [3.125, 0.125])
    # clipping never lowers the loss, and the clipped branch has no gradient to `values`
    grad = jax.grad(lambda v: jaxloss.ppo_value_loss(v, returns, old, epsilon=0.5,
                                                      reduction="sum"))(values)
    _close(grad, [0.0, -0.5])


def test_ppo_clip_metrics_by_hand():
    log_ratio = jnp.log(jnp.array([1.5, 1.1, 0.5, 1.0]))
    old = jnp.full(4, -1.0)
    adv = jnp.array([1.0, -1.0, -2.0, 3.0])
    out = jaxloss.ppo_clip_loss(old + log_ratio, old, adv, reduction="none")
    # min(ρA, clip(ρ)A): [min(1.5, 1.2), min(-1.1, -1.1), min(-1, -1.6), 3]
    _close(out.loss, [-1.2, 1.1, 1.6, -3.0])
    assert float(out.clip_fraction) == 0.5  # |ρ - 1| > .2 at 1.5 and 0.5
    kl = np.mean([0.5 - np.log(1.5), 0.1 - np.log(1.1), -0.5 - np.log(0.5), 0.0])
    _close(out.approx_kl, kl)
    masked = jaxloss.ppo_clip_loss(old + log_ratio, old, adv,
                                   where=jnp.array([True, True, False, False]))
    _close(masked.loss, (-1.2 + 1.1) / 2)
    assert float(masked.clip_fraction) == 0.5
    nothing = jaxloss.ppo_clip_loss(old, old, adv, where=jnp.zeros(4, bool))
    assert float(nothing.loss) == float(nothing.clip_fraction) == float(nothing.approx_kl) == 0


def test_ppo_clip_gradient_vanishes_outside_the_trust_region():
    old = jnp.zeros(2)
    adv = jnp.array([1.0, -1.0])
    log_probs = jnp.log(jnp.array([1.5, 0.5]))  # ρ above 1 + ε with A > 0, below 1 - ε with A < 0
    grad = jax.grad(lambda lp: jaxloss.ppo_clip_loss(lp, old, adv).loss)(log_probs)
    _close(grad, [0.0, 0.0])
    inside = jnp.log(jnp.array([1.1, 0.9]))
    grad = jax.grad(lambda lp: jaxloss.ppo_clip_loss(lp, old, adv).loss)(inside)
    _close(grad, -jnp.exp(inside) * adv / 2)


def test_ppo_clip_gradient_on_the_pessimistic_side_and_at_ratio_one():
    # min(ρA, clip(ρ)A) keeps the unclipped term when it is the smaller: ρ below 1 - ε with
    # A > 0 and above 1 + ε with A < 0 pass the gradient -ρA/n; ρ = 1 (a first epoch) too.
    old = jnp.zeros(4)
    adv = jnp.array([1.0, -1.0, 2.0, -3.0])
    log_probs = jnp.log(jnp.array([0.5, 1.5, 1.0, 1.0]))
    grad = jax.grad(lambda lp: jaxloss.ppo_clip_loss(lp, old, adv).loss)(log_probs)
    _close(grad, -jnp.exp(log_probs) * adv / 4)
    # d/dε of -mean(surrogate): (1 + ε) 2 gives -2/3, (1 - ε)(-3) gives -3/3, the unclipped 0
    clipped = jnp.log(jnp.array([1.5, 0.5, 1.0]))
    d_eps = jax.grad(lambda e: jaxloss.ppo_clip_loss(
        clipped, jnp.zeros(3), jnp.array([2.0, -3.0, 1.0]), epsilon=e).loss)(0.2)
    _close(d_eps, (-2.0 - 3.0) / 3)


def test_policy_gradient_and_entropy_by_hand():
    logits = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    loss = jaxloss.policy_gradient_loss(logits, jnp.array([1, 0]), jnp.array([2.0, -1.0]),
                                        reduction="none")
    _close(loss, [-np.log(0.75) * 2, np.log(0.5)])
    entropy = [0.25 * np.log(0.25) + 0.75 * np.log(0.75), np.log(0.5)]
    _close(jaxloss.entropy_loss(logits, reduction="none"), entropy)
    # forbidden actions (-inf logits) contribute 0 log 0 = 0, with finite gradients
    forbidden = jnp.array([[0.0, 0.0, -jnp.inf]])
    _close(jaxloss.entropy_loss(forbidden), np.log(0.5))
    assert np.all(np.isfinite(jax.grad(jaxloss.entropy_loss)(forbidden)))


def test_out_of_range_actions_give_nan():
    q = jnp.zeros((2, 3))
    loss = jaxloss.q_learning_loss(q, jnp.array([0, 3]), jnp.zeros(2), jnp.zeros(2), q,
                                   reduction="none")
    assert np.isfinite(loss[0]) and np.isnan(loss[1])
    loss = jaxloss.sarsa_loss(q, jnp.array([0, 0]), jnp.zeros(2), jnp.zeros(2), q,
                              jnp.array([-1, 2]), reduction="none")
    assert np.isnan(loss[0]) and np.isfinite(loss[1])


# ---- padding: where=False steps end the trajectory before them


ESTIMATORS = {
    "discounted_returns": lambda r, d, v, values, rho, **kw: rl.discounted_returns(r, d, v, **kw),
    "lambda_returns": lambda r, d, v, values, rho, **kw: rl.lambda_returns(
        r, d, v, lambda_=0.7, **kw),
    "n_step_returns": lambda r, d, v, values, rho, **kw: rl.n_step_returns(r, d, v, 3, **kw),
    "gae": lambda r, d, v, values, rho, **kw: rl.generalized_advantage_estimation(
        r, d, values, lambda_=0.9, **kw),
    "vtrace": lambda r, d, v, values, rho, time_axis=0, **kw: jnp.stack(rl.vtrace(
        jax.lax.slice_in_dim(values, 0, values.shape[time_axis] - 1, axis=time_axis),
        v, r, d, rho, lambda_=0.9, time_axis=time_axis, **kw)),
}


def _trajectory(key, steps=8, batch=()):
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    shape = (steps, *batch)
    d = jnp.where(jax.random.bernoulli(k2, 0.2, shape), 0.0, 0.9)
    values = jax.random.normal(k4, (steps + 1, *batch))
    return (jax.random.normal(k1, shape), d, jax.random.normal(k3, shape), values,
            jnp.exp(0.5 * jax.random.normal(k5, shape)))


def _slice(arrays, stop, start=0):
    r, d, v, values, rho = arrays
    return (r[start:stop], d[start:stop], v[start:stop], values[start:stop + 1],
            rho[start:stop])


@pytest.mark.parametrize("name", ESTIMATORS)
def test_trailing_padding_equals_slicing_and_hides_nan(name):
    fn = ESTIMATORS[name]
    arrays = _trajectory(jax.random.key(0))
    where = jnp.arange(8) < 5
    # the padding holds NaN everywhere except values[5], which bootstraps step 4 in GAE
    r, d, v, values, rho = (jnp.where(jnp.arange(len(x)) >= 5, jnp.nan, x) for x in arrays)
    values = values.at[5].set(arrays[3][5])
    padded = fn(r, d, v, values, rho, where=where, stop_target_gradients=False)
    expected = fn(*_slice(arrays, 5), stop_target_gradients=False)
    _close(padded[..., :5], expected)
    assert not np.any(padded[..., 5:])
    grads = jax.grad(lambda args: jnp.sum(fn(*args, where=where, stop_target_gradients=False)))(
        (r, d, v, values, rho))
    for i, g in enumerate(grads):
        assert np.all(np.isfinite(g))
        assert not np.any(g[6 if i == 3 else 5:])  # values[5] bootstraps step 4 (GAE)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_padded_step_splits_the_trajectory(name):
    fn = ESTIMATORS[name]
    arrays = _trajectory(jax.random.key(1))
    where = jnp.arange(8) != 3
    masked = fn(*arrays, where=where)
    _close(masked[..., :3], fn(*_slice(arrays, 3)))
    _close(masked[..., 4:], fn(*_slice(arrays, 8, start=4)))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_vmap_over_environments_equals_trailing_batch_and_time_axis(name):
    fn = ESTIMATORS[name]
    arrays = _trajectory(jax.random.key(2), batch=(5,))
    batched = fn(*arrays)
    per_env = jax.vmap(fn, in_axes=1, out_axes=-1)(*arrays)
    _close(batched, per_env, rtol=1e-6)
    batch_major = fn(*(jnp.swapaxes(x, 0, 1) for x in arrays), time_axis=-1)
    _close(jnp.swapaxes(batch_major, -1, -2), batched, rtol=1e-6)


def test_td_lambda_loss_padding_and_time_axis():
    arrays = _trajectory(jax.random.key(3), batch=(4,))
    v_tm1 = arrays[3][:-1]
    r, d, v = arrays[:3]
    where = jnp.arange(8)[:, None] < jnp.array([8, 5, 2, 0])[None, :]
    full = jaxloss.td_lambda_loss(v_tm1, r, d, v, lambda_=0.8, where=where, reduction="none")
    for b, length in enumerate([8, 5, 2, 0]):
        one = jaxloss.td_lambda_loss(v_tm1[:length, b], r[:length, b], d[:length, b],
                                     v[:length, b], lambda_=0.8, reduction="none")
        _close(full[:length, b], one)
    swapped = [x.T for x in (v_tm1, r, d, v)]
    _close(jaxloss.td_lambda_loss(*swapped, lambda_=0.8, where=where.T, time_axis=1),
           jaxloss.td_lambda_loss(v_tm1, r, d, v, lambda_=0.8, where=where))


def test_estimators_stop_gradients_by_default():
    r, d, v, values, rho = _trajectory(jax.random.key(4))
    for name, fn in ESTIMATORS.items():
        grads = jax.grad(lambda args, fn=fn: jnp.sum(fn(*args)))((r, d, v, values, rho))
        assert not any(np.any(g) for g in grads), name


def test_half_precision_estimators_compute_in_float32():
    arrays = _trajectory(jax.random.key(5))
    for name, fn in ESTIMATORS.items():
        low = [x.astype(jnp.bfloat16) for x in arrays]
        out = fn(*low)
        assert out.dtype == jnp.float32, name
        _close(out, fn(*(x.astype(jnp.float32) for x in low)), rtol=1e-6)


# ---- long trajectories: one scan, one compilation, a program whose size does not grow with T


def _estimator_calls(steps):
    r, d, v, values, rho = _trajectory(jax.random.key(6), steps=steps, batch=(2,))
    return {
        rl.discounted_returns: ((r, d, v), {}),
        rl.lambda_returns: ((r, d, v), {"lambda_": 0.9}),
        rl.n_step_returns: ((r, d, v), {"n": 5}),
        rl.generalized_advantage_estimation: ((r, d, values), {"lambda_": 0.95}),
        rl.vtrace: ((values[:-1], v, r, d, rho), {}),
        jaxloss.td_lambda_loss: ((values[:-1], r, d, v), {"lambda_": 0.9}),
    }


def _equations(jaxpr):
    """The number of equations of a jaxpr, counting those of nested jaxprs (jit, scan)."""
    count = 0
    for eqn in jaxpr.eqns:
        count += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                sub = getattr(sub, "jaxpr", sub)
                if hasattr(sub, "eqns"):
                    count += _equations(sub)
    return count


def test_long_trajectories_compile_once_into_a_constant_size_program():
    short, long = _estimator_calls(10), _estimator_calls(10_000)
    for fn, (args, kwargs) in long.items():
        before = fn._cache_size()
        first = fn(*args, **kwargs)
        again = fn(*(x * 0.5 if isinstance(x, jax.Array) else x for x in args), **kwargs)
        assert fn._cache_size() == before + 1, fn.__name__
        assert np.all(np.isfinite(np.concatenate([jnp.ravel(x) for x in
                                                  jax.tree.leaves((first, again))])))

        def size(args, kwargs, fn=fn):
            return _equations(jax.make_jaxpr(lambda *a: fn(*a, **kwargs))(*args).jaxpr)

        assert size(*short[fn]) == size(args, kwargs), fn.__name__


# ---- errors


def test_quantile_levels_may_hold_nan_where_masked_also_as_numpy():
    # A NumPy tau_src is checked before the compiled call; NaN in a dropped row is data like
    # any other masked entry, not a level outside [0, 1].
    tau = np.array([[0.25, 0.75], [np.nan, np.nan]])
    src, target, keep = jnp.zeros((2, 2)), jnp.ones((2, 1)), jnp.array([True, False])
    expected = jaxloss.quantile_regression_loss(src[:1], tau[:1], target[:1])
    for levels in (tau, jnp.asarray(tau)):
        _close(jaxloss.quantile_regression_loss(src, levels, target, where=keep), expected)
    with pytest.raises(ValueError, match=r"`tau_src` must be in \[0, 1\], got 1.5"):
        jaxloss.quantile_regression_loss(src, np.array([0.25, 1.5]), target)


def test_shape_and_type_errors_name_the_function_and_arguments():
    r = jnp.ones(4)
    with pytest.raises(ValueError, match=r"^lambda_returns: `r_t` has shape \(4,\) but "
                                         r"`discount_t` has shape \(3,\)"):
        rl.lambda_returns(r, jnp.ones(3), r)
    with pytest.raises(ValueError, match=r"^discounted_returns: `r_t` must have at least 1 "
                                         r"dimension \(a time axis\), got shape \(\)"):
        rl.discounted_returns(jnp.float32(1), jnp.float32(1), jnp.float32(1))
    with pytest.raises(ValueError, match=r"^lambda_returns: `time_axis` must be an int in "
                                         r"\[-1, 1\)"):
        rl.lambda_returns(r, r, r, time_axis=1)
    with pytest.raises(ValueError, match=r"^n_step_returns: `n` must be a Python int >= 1, "
                                         r"got 0"):
        rl.n_step_returns(r, r, r, 0)
    with pytest.raises(ValueError, match=r"^lambda_returns: `lambda_` has shape \(3,\) but "
                                         r"must be a scalar or have the trajectory's shape"):
        rl.lambda_returns(r, r, r, lambda_=jnp.ones(3))
    with pytest.raises(ValueError, match=r"^generalized_advantage_estimation: `values` has "
                                         r"shape \(4,\) but must have shape \(5,\)"):
        rl.generalized_advantage_estimation(r, r, r, lambda_=0.9)
    with pytest.raises(TypeError, match=r"^vtrace: `where` must be a boolean mask"):
        rl.vtrace(r, r, r, r, r, where=r)
    with pytest.raises(ValueError, match=r"^discounted_returns: `where` has shape \(3,\), "
                                         r"which does not broadcast to the trajectory's"):
        rl.discounted_returns(r, r, r, where=jnp.ones(3, bool))
    with pytest.raises(TypeError, match=r"^td_loss: `r_t` must have a floating dtype, got bool"):
        jaxloss.td_loss(r, jnp.ones(4, bool), r, r)
    q = jnp.ones((4, 3))
    with pytest.raises(TypeError, match=r"^q_learning_loss: `a_tm1` holds action indices and "
                                        r"must have an integer dtype, got float32"):
        jaxloss.q_learning_loss(q, r, r, r, q)
    with pytest.raises(ValueError, match=r"^sarsa_loss: `a_t` has shape \(3,\) but must have "
                                         r"shape \(4,\) \(q_tm1.shape\[:-1\]\)"):
        jaxloss.sarsa_loss(q, jnp.zeros(4, int), r, r, q, jnp.zeros(3, int))
    with pytest.raises(ValueError, match=r"^double_q_learning_loss: `q_tm1` has shape \(4, 3\) "
                                         r"but `q_t_selector` has shape \(4, 2\)"):
        jaxloss.double_q_learning_loss(q, jnp.zeros(4, int), r, r, q, jnp.ones((4, 2)))
    with pytest.raises(ValueError, match=r"^quantile_regression_loss: `dist_target` has shape "
                                         r"\(3, 2\) but must have shape \(..., M\)"):
        jaxloss.quantile_regression_loss(q, q, jnp.ones((3, 2)))
    with pytest.raises(ValueError, match=r"^quantile_regression_loss: `tau_src` has shape "
                                         r"\(2,\) but must have shape \(4, 3\)"):
        jaxloss.quantile_regression_loss(q, jnp.ones(2), q)
    with pytest.raises(ValueError, match=r"^ppo_value_loss: `epsilon` clips `values` around "
                                         r"`old_values`, which is None"):
        jaxloss.ppo_value_loss(r, r, epsilon=0.2)
    with pytest.raises(ValueError, match=r"^ppo_clip_loss: `log_probs` has shape \(4,\) but "
                                         r"`advantages` has shape \(3,\)"):
        jaxloss.ppo_clip_loss(r, r, jnp.ones(3))
    with pytest.raises(ValueError, match=r"^policy_gradient_loss: `logits_t` must have at "
                                         r"least 1 dimension \(the action axis is last\)"):
        jaxloss.policy_gradient_loss(jnp.float32(0), jnp.int32(0), jnp.float32(1))


# ---- the CartPole example learns (a short run; the full one is `python examples/...`)


def test_cartpole_ppo_doubles_its_return():
    path = pathlib.Path(__file__).parents[1] / "examples" / "cartpole_ppo.py"
    spec = importlib.util.spec_from_file_location("cartpole_ppo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with jax.numpy_rank_promotion("allow"):
        result = module.main(**module.TEST_SETTINGS)
    assert result["compilations"] == 1
    assert result["final_return"] >= 2 * result["initial_return"], result
