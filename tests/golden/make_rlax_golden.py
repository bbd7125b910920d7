"""Records rlax 0.1.9's values and gradients for every jaxloss.rl function that rlax defines.

rlax pins its own jax, so run this in a separate virtual environment, never the project's:

    python3 -m venv /tmp/venv-rlax && /tmp/venv-rlax/bin/pip install rlax==0.1.9 numpy
    /tmp/venv-rlax/bin/python tests/golden/make_rlax_golden.py

writes ``tests/golden/rlax_golden.npz``: the inputs, rlax's outputs and vector-Jacobian products
(a fixed random cotangent pulled back to every floating input), and a JSON ``manifest`` with the
versions that produced them. tests/test_rl.py replays it with numpy alone.

rlax works on one trajectory (``[T]``) or one transition (scalars and ``[A]`` vectors); the
script vmaps it over batches laid out the way jaxloss takes them: trajectories time-major
``[T, B]``, transitions ``[N, ...]``. Terminal transitions (discount 0) sit in the middle of
every trajectory. Losses are rlax's TD errors passed through ``rlax.l2_loss`` (½ δ²) or
``rlax.huber_loss`` per transition.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import platform
import sys

import jax
import jax.numpy as jnp
import numpy as np
import rlax

OUT = pathlib.Path(__file__).with_name("rlax_golden.npz")
T, B, N, A, QUANTILES, SAMPLES = 9, 3, 12, 4, 5, 6
rng = np.random.default_rng(20261201)
arrays: dict[str, np.ndarray] = {}


def normal(*shape, scale=1.0):
    return (scale * rng.normal(size=shape)).astype(np.float32)


def discounts(*shape, gamma=0.95):
    """gamma, or 0 at terminal transitions: random ones and, in trajectories ``[T, B]``, step 3
    of every trajectory and step 6 of every other one."""
    d = np.full(shape, gamma, np.float32)
    if len(shape) == 2:
        d[3] = 0.0
        d[6, ::2] = 0.0
    d[rng.random(shape) < 0.15] = 0.0
    return d


def record(name, fn, inputs, differentiate):
    """Stores `inputs`, fn(**inputs) and the VJP of a random cotangent per output with respect
    to each input named in `differentiate`."""
    inputs = {k: jnp.asarray(v) for k, v in inputs.items()}
    for k, v in inputs.items():
        arrays[f"{name}/in/{k}"] = np.asarray(v)

    def f(diff):
        return fn(**{**inputs, **diff})

    out, vjp = jax.vjp(f, {k: inputs[k] for k in differentiate})
    outs = out if isinstance(out, dict) else {"out": out}
    cot = {k: jnp.asarray(normal(*np.shape(v))) for k, v in outs.items()}
    (grads,) = vjp(cot if isinstance(out, dict) else cot["out"])
    for k, v in outs.items():
        arrays[f"{name}/out/{k}"] = np.asarray(v)
        arrays[f"{name}/cot/{k}"] = np.asarray(cot[k])
    for k, v in grads.items():
        arrays[f"{name}/grad/{k}"] = np.asarray(v)


def over_trajectories(fn, **static):
    """fn of one trajectory ``[T]`` mapped over time-major ``[T, B]`` arrays (keyword args)."""

    def mapped(**kw):
        names = list(kw)
        one = lambda *xs: fn(**dict(zip(names, xs, strict=True)), **static)  # noqa: E731
        return jax.vmap(one, in_axes=1, out_axes=-1)(*kw.values())

    return mapped


def over_transitions(fn, **static):
    def mapped(**kw):
        names = list(kw)
        one = lambda *xs: fn(**dict(zip(names, xs, strict=True)), **static)  # noqa: E731
        return jax.vmap(one)(*kw.values())

    return mapped


def trajectory_inputs():
    return {"r_t": normal(T, B), "discount_t": discounts(T, B), "v_t": normal(T, B, scale=2.0)}


# ---- return estimators (rlax's stop_target_gradients=False, so the gradients are real)

for lam in (0.7, "per_step"):
    inputs = trajectory_inputs()
    if lam == "per_step":
        inputs["lambda_"] = rng.uniform(0.2, 1.0, (T, B)).astype(np.float32)
        record("lambda_returns/per_step", over_trajectories(rlax.lambda_returns), inputs,
               ["r_t", "discount_t", "v_t", "lambda_"])
    else:
        record("lambda_returns/scalar",
               over_trajectories(rlax.lambda_returns, lambda_=lam), inputs,
               ["r_t", "discount_t", "v_t"])

record("discounted_returns", over_trajectories(rlax.discounted_returns), trajectory_inputs(),
       ["r_t", "discount_t", "v_t"])

for n, lam in ((1, 1.0), (3, 1.0), (3, 0.6), (4, "per_step"), (12, 1.0)):
    inputs = trajectory_inputs()
    if lam == "per_step":
        inputs["lambda_t"] = rng.uniform(0.2, 1.0, (T, B)).astype(np.float32)
        fn = over_trajectories(rlax.n_step_bootstrapped_returns, n=n)
    else:
        fn = over_trajectories(rlax.n_step_bootstrapped_returns, n=n, lambda_t=lam)
    record(f"n_step_returns/{n}/{lam}", fn, inputs, ["r_t", "discount_t", "v_t"])

for lam in (0.9, 1.0):
    inputs = {"r_t": normal(T, B), "discount_t": discounts(T, B),
              "values": normal(T + 1, B, scale=2.0)}
    record(f"gae/{lam}",
           over_trajectories(rlax.truncated_generalized_advantage_estimation, lambda_=lam),
           inputs, ["r_t", "discount_t", "values"])


def vtrace_all(**kw):
    out = rlax.vtrace_td_error_and_advantage(**kw)
    return {"targets": out.errors + kw["v_tm1"], "pg_advantages": out.pg_advantage,
            "q_estimates": out.q_estimate}


for lam, clip_rho, clip_pg in ((1.0, 1.0, 1.0), (0.8, 1.5, 0.7)):
    inputs = {"v_tm1": normal(T, B, scale=2.0), "v_t": normal(T, B, scale=2.0),
              "r_t": normal(T, B), "discount_t": discounts(T, B),
              "rho_tm1": np.exp(normal(T, B, scale=0.7))}
    fn = over_trajectories(vtrace_all, lambda_=lam, clip_rho_threshold=clip_rho,
                           clip_pg_rho_threshold=clip_pg, stop_target_gradients=False)
    record(f"vtrace/{lam}/{clip_rho}/{clip_pg}", fn, inputs,
           ["v_tm1", "v_t", "r_t", "discount_t", "rho_tm1"])


# ---- value losses: ½ δ² (rlax.l2_loss) and Huber(δ, 1) per transition


def losses_of(td_error_fn):
    def fn(**kw):
        error = td_error_fn(**kw)
        return {"l2": rlax.l2_loss(error), "huber": rlax.huber_loss(error, 1.0)}

    return fn


for stop in (True, False):
    tag = "stopped" if stop else "through"
    inputs = {"v_tm1": normal(N, scale=2.0), "r_t": normal(N), "discount_t": discounts(N),
              "v_t": normal(N, scale=2.0)}
    record(f"td_loss/{tag}",
           over_transitions(losses_of(rlax.td_learning), stop_target_gradients=stop),
           inputs, ["v_tm1", "r_t", "discount_t", "v_t"])

    inputs = {"v_tm1": normal(T, B, scale=2.0), **trajectory_inputs()}
    record(f"td_lambda_loss/{tag}",
           over_trajectories(losses_of(rlax.td_lambda), lambda_=0.8,
                             stop_target_gradients=stop),
           inputs, ["v_tm1", "r_t", "discount_t", "v_t"])

    head = {"q_tm1": normal(N, A, scale=2.0), "a_tm1": rng.integers(0, A, N).astype(np.int32),
            "r_t": normal(N), "discount_t": discounts(N)}
    q_cases = {
        "q_learning_loss": (rlax.q_learning, {"q_t": normal(N, A, scale=2.0)}),
        "double_q_learning_loss": (rlax.double_q_learning,
                                   {"q_t_value": normal(N, A, scale=2.0),
                                    "q_t_selector": normal(N, A)}),
        "sarsa_loss": (rlax.sarsa, {"q_t": normal(N, A, scale=2.0),
                                    "a_t": rng.integers(0, A, N).astype(np.int32)}),
        "expected_sarsa_loss": (rlax.expected_sarsa,
                                {"q_t": normal(N, A, scale=2.0),
                                 "probs_a_t": np.asarray(jax.nn.softmax(normal(N, A)))}),
    }
    for name, (fn, following) in q_cases.items():
        inputs = {**head, **following}
        floats = [k for k, v in inputs.items() if v.dtype == np.float32]
        record(f"{name}/{tag}", over_transitions(losses_of(fn), stop_target_gradients=stop),
               inputs, floats)

    for huber in (0.0, 1.0):
        inputs = {"dist_src": normal(N, QUANTILES, scale=2.0),
                  "tau_src": np.sort(rng.uniform(0.02, 0.98, (N, QUANTILES)), -1).astype(
                      np.float32),
                  "dist_target": normal(N, SAMPLES, scale=2.0)}
        record(f"quantile_regression_loss/{tag}/{huber}",
               over_transitions(rlax.quantile_regression_loss, huber_param=huber,
                                stop_target_gradients=stop),
               inputs, ["dist_src", "tau_src", "dist_target"])


# ---- policy losses (one [T, ...] sequence each, as rlax defines them)

for stop in (True, False):
    tag = "stopped" if stop else "through"
    inputs = {"logits_t": normal(T, A, scale=2.0), "a_t": rng.integers(0, A, T).astype(np.int32),
              "adv_t": normal(T), "w_t": (rng.random(T) < 0.7).astype(np.float32)}

    def pg(stop=stop, **kw):
        return rlax.policy_gradient_loss(**kw, use_stop_gradient=stop)

    record(f"policy_gradient_loss/{tag}", pg, inputs, ["logits_t", "adv_t"])

    inputs = {"log_probs": np.log(rng.uniform(0.05, 0.95, T)).astype(np.float32),
              "old_log_probs": np.log(rng.uniform(0.05, 0.95, T)).astype(np.float32),
              "adv_t": normal(T)}

    def ppo(log_probs, old_log_probs, adv_t, stop=stop):
        ratios = jnp.exp(log_probs - old_log_probs)
        return rlax.clipped_surrogate_pg_loss(ratios, adv_t, 0.2, use_stop_gradient=stop)

    record(f"ppo_clip_loss/{tag}", ppo, inputs, ["log_probs", "adv_t"])

inputs = {"logits_t": normal(T, A, scale=2.0), "w_t": (rng.random(T) < 0.7).astype(np.float32)}
record("entropy_loss", rlax.entropy_loss, inputs, ["logits_t"])

arrays["manifest"] = np.asarray(json.dumps({
    "rlax": rlax.__version__,
    "jax": jax.__version__,
    "numpy": np.__version__,
    "python": sys.version.split()[0],
    "platform": platform.platform(),
    "date": datetime.date.today().isoformat(),
    "cases": sorted({k.split("/in/")[0] for k in arrays if "/in/" in k}),
}))
np.savez_compressed(OUT, **arrays)
print(f"wrote {OUT} ({len(arrays)} arrays)")
