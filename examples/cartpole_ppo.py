"""PPO on CartPole: the classic cart-pole written in jax.numpy, trained with `jaxloss.rl`.

    python examples/cartpole_ppo.py     # the full run; writes examples/cartpole_ppo_curve.json
                                        # and, with matplotlib, docs/images/cartpole_ppo.png

Everything runs in one jit-compiled function: `vmap` over environments, a `lax.scan` over
rollout steps, generalised advantage estimates (`jaxloss.rl.generalized_advantage_estimation`),
then epochs of minibatch updates on PPO's clipped surrogate (`jaxloss.ppo_clip_loss`), the value
loss (`jaxloss.ppo_value_loss`) and an entropy bonus (`jaxloss.entropy_loss`) with optax's adam.
Python only calls that function once per chunk of updates to time and print the learning curve.

Episode ends: a fallen pole or a cart off the track is terminal (``discount_t = 0``); the 500-step
time limit is not (Pardo et al, Time Limits in Reinforcement Learning, 2018): there the value
of the last state is folded into the reward, ``r + γ V(s_final)``, with discount 0 because the
environment has already reset to a new episode's first state.
"""

from __future__ import annotations

import json
import math
import pathlib
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import jaxloss
from jaxloss import rl

# Cart-pole dynamics: Barto, Sutton & Anderson, Neuronlike adaptive elements that can solve
# difficult learning control problems, 1983 (as in Gym's CartPole-v1: Euler steps).
GRAVITY = 9.8
CART_MASS = 1.0
POLE_MASS = 0.1
TOTAL_MASS = CART_MASS + POLE_MASS
HALF_LENGTH = 0.5  # half the pole's length
POLE_MASS_LENGTH = POLE_MASS * HALF_LENGTH
FORCE = 10.0
TAU = 0.02  # seconds per step
X_LIMIT = 2.4
THETA_LIMIT = 12 * 2 * math.pi / 360  # 12 degrees
MAX_STEPS = 500

CURVE = pathlib.Path(__file__).with_name("cartpole_ppo_curve.json")
PLOT = pathlib.Path(__file__).parents[1] / "docs" / "images" / "cartpole_ppo.png"
# What tests/test_rl.py runs: a few updates, enough for the return to double.
TEST_SETTINGS = {"total_steps": 40_960, "updates_per_call": 5}


class Env(NamedTuple):
    physics: jax.Array  # (4,): x, x_dot, theta, theta_dot
    steps: jax.Array  # steps taken in this episode
    episode_return: jax.Array  # reward collected in this episode


def reset(key) -> Env:
    return Env(jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05), jnp.int32(0),
               jnp.float32(0))


def step(env: Env, action, key):
    """One step; a finished episode is replaced by a fresh one (auto-reset).

    Returns the next environment, its observation, the reward, whether the episode terminated
    (the pole fell or the cart left the track), was truncated (time limit), the observation
    the step reached before any reset, and the finished episode's return (0 if none)."""
    x, x_dot, theta, theta_dot = env.physics
    force = jnp.where(action == 1, FORCE, -FORCE)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    temp = (force + POLE_MASS_LENGTH * theta_dot**2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (
        HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos**2 / TOTAL_MASS)
    )
    x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS
    physics = jnp.stack([x + TAU * x_dot, x_dot + TAU * x_acc,
                         theta + TAU * theta_dot, theta_dot + TAU * theta_acc])
    steps = env.steps + 1
    reward = jnp.float32(1.0)
    episode_return = env.episode_return + reward
    terminated = (jnp.abs(physics[0]) > X_LIMIT) | (jnp.abs(physics[2]) > THETA_LIMIT)
    truncated = (steps >= MAX_STEPS) & ~terminated
    done = terminated | truncated
    fresh = reset(key)
    following = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh,
                             Env(physics, steps, episode_return))
    finished = jnp.where(done, episode_return, 0.0)
    return following, following.physics, reward, terminated, truncated, physics, finished


# A separate actor and critic, each a 64-64 tanh MLP (orthogonal initialisation, as in the
# PPO implementations of Baselines and CleanRL).


def init_mlp(key, sizes, last_scale):
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        scale = last_scale if i == len(sizes) - 2 else math.sqrt(2)
        w = jax.nn.initializers.orthogonal(scale)(keys[i], (fan_in, fan_out))
        layers.append({"w": w, "b": jnp.zeros(fan_out)})
    return layers


def mlp(layers, x):
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def policy_and_value(params, obs):
    return mlp(params["actor"], obs), mlp(params["critic"], obs)[..., 0]


class Batch(NamedTuple):
    obs: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    values: jax.Array
    advantages: jax.Array
    returns: jax.Array


class Config(NamedTuple):
    num_envs: int = 16
    num_steps: int = 128  # rollout length per environment and update
    epochs: int = 4
    minibatches: int = 8
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_epsilon: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    learning_rate: float = 2.5e-3
    max_grad_norm: float = 0.5


def make_update(config: Config, optimizer):
    """One PPO iteration: a rollout of every environment, then the minibatch epochs."""
    c = config

    def rollout_step(carry, key):
        params, envs, obs = carry
        k_act, k_env = jax.random.split(key)
        logits, value = policy_and_value(params, obs)
        action = jax.random.categorical(k_act, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        envs, next_obs, reward, terminated, truncated, reached, finished = jax.vmap(step)(
            envs, action, jax.random.split(k_env, c.num_envs))
        # Time limit: bootstrap from the state reached, then cut (the env already reset).
        _, reached_value = policy_and_value(params, reached)
        reward = reward + jnp.where(truncated, c.gamma * reached_value, 0.0)
        discount = jnp.where(terminated | truncated, 0.0, c.gamma)
        out = (obs, action, log_prob, value, reward, discount, finished)
        return (params, envs, next_obs), out

    def loss_fn(params, batch: Batch):
        logits, values = policy_and_value(params, batch.obs)
        log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits), batch.actions[:, None],
                                        -1)[:, 0]
        adv = batch.advantages
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy = jaxloss.ppo_clip_loss(log_probs, batch.log_probs, adv,
                                       epsilon=c.clip_epsilon)
        value = jaxloss.ppo_value_loss(values, batch.returns)
        entropy = jaxloss.entropy_loss(logits)
        total = policy.loss + c.value_coef * value + c.entropy_coef * entropy
        return total, {"clip_fraction": policy.clip_fraction, "approx_kl": policy.approx_kl}

    def minibatch_step(carry, batch):
        params, opt_state = carry
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch(carry, key, data: Batch):
        order = jax.random.permutation(key, data.obs.shape[0])
        shuffled = jax.tree.map(lambda x: x[order].reshape(c.minibatches, -1, *x.shape[1:]),
                                data)
        return jax.lax.scan(minibatch_step, carry, shuffled)

    def update(state, _):
        params, opt_state, envs, obs, key = state
        key, k_roll, k_epochs = jax.random.split(key, 3)
        (_, envs, obs), traj = jax.lax.scan(
            rollout_step, (params, envs, obs), jax.random.split(k_roll, c.num_steps))
        observations, actions, log_probs, values, rewards, discounts, finished = traj
        _, last_value = policy_and_value(params, obs)
        all_values = jnp.concatenate([values, last_value[None]])  # (T + 1, envs)
        advantages = rl.generalized_advantage_estimation(rewards, discounts, all_values,
                                                         lambda_=c.gae_lambda)
        data = Batch(observations, actions, log_probs, values, advantages, advantages + values)
        data = jax.tree.map(lambda x: x.reshape(c.num_steps * c.num_envs, *x.shape[2:]), data)
        (params, opt_state), metrics = jax.lax.scan(
            lambda carry, k: epoch(carry, k, data), (params, opt_state),
            jax.random.split(k_epochs, c.epochs))
        stats = {"return_sum": jnp.sum(finished), "episodes": jnp.sum(finished > 0),
                 **jax.tree.map(jnp.mean, metrics)}
        return (params, opt_state, envs, obs, key), stats

    return update


def main(total_steps: int = 307_200, updates_per_call: int = 2, seed: int = 0,
         config: Config | None = None, target: float = 475.0, time_budget: float = 300.0,
         curve_path: pathlib.Path | None = None, verbose: bool = False) -> dict:
    """Trains for `total_steps` environment steps (or until `time_budget` seconds).

    Returns the learning curve (environment steps, average return of the episodes finished
    in each chunk of updates, wall-clock seconds including compilation), the first return
    (episodes of the initial policy), `solved_at`: the first chunk whose average reached
    `target` and whose policy then averaged at least `target` over 100 evaluation episodes
    (evaluation time excluded from the clock), and a final 100-episode evaluation."""
    config = Config() if config is None else config
    steps_per_update = config.num_envs * config.num_steps
    calls = max(1, total_steps // (steps_per_update * updates_per_call))
    key = jax.random.key(seed)
    k_actor, k_critic, k_envs, key = jax.random.split(key, 4)
    params = {"actor": init_mlp(k_actor, [4, 64, 64, 2], 0.01),
              "critic": init_mlp(k_critic, [4, 64, 64, 1], 1.0)}
    # The learning rate decays linearly to 0 over the step budget.
    schedule = optax.linear_schedule(
        config.learning_rate, 0.0,
        calls * updates_per_call * config.epochs * config.minibatches)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                            optax.adam(schedule, eps=1e-5))
    envs = jax.vmap(reset)(jax.random.split(k_envs, config.num_envs))
    state = (params, optimizer.init(params), envs, envs.physics, key)

    update = make_update(config, optimizer)
    train = jax.jit(lambda state: jax.lax.scan(update, state, None, length=updates_per_call))

    curve = {"steps": [], "return": [], "seconds": []}
    first_update_return = None
    solved_at = None
    start = time.perf_counter()
    for call in range(calls):
        state, stats = train(state)
        stats = jax.device_get(stats)
        seconds = time.perf_counter() - start
        if first_update_return is None:
            first_update_return = float(stats["return_sum"][0] / max(stats["episodes"][0], 1))
        episodes = int(stats["episodes"].sum())
        average = float(stats["return_sum"].sum() / max(episodes, 1))
        steps = (call + 1) * updates_per_call * steps_per_update
        curve["steps"].append(steps)
        curve["return"].append(round(average, 2))
        curve["seconds"].append(round(seconds, 2))
        if verbose:
            print(f"{steps:>9} steps  {seconds:6.1f} s  return {average:6.1f} "
                  f"({episodes} episodes)  clip {float(stats['clip_fraction'].mean()):.3f}  "
                  f"kl {float(stats['approx_kl'].mean()):.4f}")
        if average >= target and solved_at is None:
            paused = time.perf_counter()
            evaluation = evaluate(state[0], jax.random.fold_in(key, call))
            start += time.perf_counter() - paused
            if verbose:
                print(f"  evaluation over 100 episodes: {evaluation:.1f}")
            if evaluation >= target:
                solved_at = {"steps": steps, "seconds": seconds, "evaluation": evaluation}
        if seconds > time_budget:
            break

    result = {
        "initial_return": first_update_return,
        "final_return": curve["return"][-1],
        "evaluation_return": evaluate(state[0], jax.random.key(seed + 1)),
        "solved_at": solved_at,
        "steps": curve["steps"][-1],
        "seconds": curve["seconds"][-1],
        "compilations": train._cache_size(),
        "curve": curve,
    }
    if curve_path is not None:
        record = {"description": "PPO on CartPole (examples/cartpole_ppo.py): average return "
                                 "of the episodes finished in each chunk of updates",
                  "device": jax.devices()[0].device_kind, "jax": jax.__version__,
                  "config": config._asdict(), **result}
        pathlib.Path(curve_path).write_text(json.dumps(record, indent=1) + "\n")
    return result


@jax.jit
def _evaluation_returns(params, keys):
    def run(key):
        k_reset, k_steps = jax.random.split(key)

        def body(carry, key):
            env, total, alive = carry
            logits, _ = policy_and_value(params, env.physics)
            k_act, k_env = jax.random.split(key)
            env, _, reward, terminated, truncated, _, _ = step(
                env, jax.random.categorical(k_act, logits), k_env)
            total = total + jnp.where(alive, reward, 0.0)
            return (env, total, alive & ~(terminated | truncated)), None

        start = (reset(k_reset), jnp.float32(0), jnp.bool_(True))
        (_, total, _), _ = jax.lax.scan(body, start, jax.random.split(k_steps, MAX_STEPS))
        return total

    return jax.vmap(run)(keys)


def evaluate(params, key, episodes: int = 100) -> float:
    """The average return of `episodes` fresh episodes under the (sampling) policy."""
    return float(jnp.mean(_evaluation_returns(params, jax.random.split(key, episodes))))


def plot(result: dict, path: pathlib.Path, target: float = 475.0) -> None:
    """The learning curve against environment steps, wall-clock seconds on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    fig, (by_steps, by_time) = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, x, label in ((by_steps, curve["steps"], "environment steps"),
                         (by_time, curve["seconds"], "wall-clock seconds (compilation included)")):
        ax.plot(x, curve["return"], marker=".", lw=1)
        ax.axhline(target, color="grey", ls="--", lw=0.8)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    by_steps.set_ylabel("average episode return")
    fig.suptitle(f"PPO on CartPole with jaxloss ({result['device']}, jax {result['jax']})",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    outcome = main(curve_path=CURVE, verbose=True)
    print({k: v for k, v in outcome.items() if k != "curve"})
    try:
        plot({**json.loads(CURVE.read_text())}, PLOT)
        print(f"wrote {CURVE} and {PLOT}")
    except ImportError:
        print(f"wrote {CURVE} (install matplotlib for the plot)")
