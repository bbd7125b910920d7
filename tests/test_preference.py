"""Preference losses: DPO (Rafailov et al, 2023, Eq. 7, and its gradient in §4), conservative
DPO, the hinge (SLiC) and IPO (Azar et al, 2023, Eq. 17) forms and SimPO (Meng et al, 2024,
Eq. 6) against NumPy transcriptions in float64; the rewards (values, stop-gradient, masking);
extreme margins; error messages. The generic properties (jit, vmap, where, dtypes, retracing)
are checked for every loss in test_catalog.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss


def _close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _logps(n=8, seed=0):
    rng = np.random.default_rng(seed)
    reference = rng.uniform(-60, -10, (2, n))
    policy = reference + rng.normal(0, 4, (2, n))
    return tuple(np.float32(a) for a in (*policy, *reference))


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _dpo_reference(pc, pr, rc, rr, beta, label_smoothing, loss_type):
    """DPO, Eq. 7: -log sigmoid(beta log(pi(y_w)/ref(y_w)) - beta log(pi(y_l)/ref(y_l)));
    conservative DPO (Mitchell, 2023) mixes in the flipped label with probability eps;
    hinge (TRL's SLiC form): max(0, 1 - beta h); IPO, Eq. 17: (h - 1 / (2 tau))^2."""
    pc, pr, rc, rr = (np.asarray(a, np.float64) for a in (pc, pr, rc, rr))
    h = (pc - rc) - (pr - rr)
    if loss_type == "sigmoid":
        return (-(1 - label_smoothing) * _log_sigmoid(beta * h)
                - label_smoothing * _log_sigmoid(-beta * h))
    if loss_type == "hinge":
        return np.maximum(0.0, 1 - beta * h)
    return (h - 1 / (2 * beta)) ** 2


@pytest.mark.parametrize("loss_type, beta, label_smoothing", [
    ("sigmoid", 0.1, 0.0), ("sigmoid", 0.5, 0.0), ("sigmoid", 0.1, 0.2),
    ("hinge", 0.05, 0.0), ("ipo", 0.5, 0.0), ("ipo", 0.1, 0.0),
])
def test_dpo_matches_the_papers_formulas(loss_type, beta, label_smoothing):
    args = _logps()
    expected = _dpo_reference(*args, beta, label_smoothing, loss_type)
    options = {"beta": beta, "label_smoothing": label_smoothing, "loss_type": loss_type}
    _close(jaxloss.dpo_loss(*args, reduction="none", **options).loss, expected, rtol=1e-5)
    _close(jaxloss.dpo_loss(*args, reduction="sum", **options).loss, expected.sum(), rtol=1e-5)
    _close(jaxloss.dpo_loss(*args, **options).loss, expected.mean(), rtol=1e-5)


def test_dpo_gradient_is_the_papers():
    # §4, "What does the DPO update do?": the gradient is
    # -beta sigmoid(r_l - r_w) (grad log pi(y_w) - grad log pi(y_l)) with the implicit rewards
    # r = beta log(pi / ref): per pair, d/d log pi(y_w) = -beta sigmoid(r_l - r_w) and
    # d/d log pi(y_l) is its opposite; "mean" divides by the number of pairs.
    pc, pr, rc, rr = _logps(seed=1)
    beta = 0.3
    grads = jax.grad(lambda a, b: jaxloss.dpo_loss(a, b, rc, rr, beta=beta).loss,
                     argnums=(0, 1))(pc, pr)
    r_w = beta * (pc.astype(np.float64) - rc)
    r_l = beta * (pr.astype(np.float64) - rr)
    expected = -beta * _sigmoid(r_l - r_w) / len(pc)
    _close(grads[0], expected, rtol=1e-4)
    _close(grads[1], -expected, rtol=1e-4)


def test_dpo_hand_checked():
    out = jaxloss.dpo_loss(jnp.array([-10.0]), jnp.array([-12.0]), jnp.array([-11.0]),
                           jnp.array([-11.0]), beta=0.5, reduction="none")
    _close(out.loss, [np.log1p(np.exp(-1.0))])  # h = 2, -log sigmoid(1)
    _close(out.chosen_rewards, [0.5])  # 0.5 * (-10 + 11)
    _close(out.rejected_rewards, [-0.5])
    ipo = jaxloss.dpo_loss(jnp.array([-10.0]), jnp.array([-12.0]), jnp.array([-11.0]),
                           jnp.array([-11.0]), beta=0.5, loss_type="ipo")
    _close(ipo.loss, (2 - 1) ** 2)  # (h - 1 / (2 * 0.5))^2
    hinge = jaxloss.dpo_loss(jnp.array([-10.0]), jnp.array([-12.0]), jnp.array([-11.0]),
                             jnp.array([-11.0]), beta=0.25, loss_type="hinge")
    _close(hinge.loss, 0.5)  # max(0, 1 - 0.25 * 2)


def test_rewards_are_per_pair_stop_gradient_and_zero_where_masked():
    pc, pr, rc, rr = _logps(n=6, seed=2)
    keep = np.array([True, False, True, True, False, True])
    poisoned = np.where(keep, pc, np.nan)
    out = jaxloss.dpo_loss(poisoned, pr, rc, rr, beta=0.2, where=keep, reduction="sum")
    assert out.loss.shape == () and out.chosen_rewards.shape == (6,)
    _close(out.chosen_rewards, np.where(keep, 0.2 * (pc.astype(np.float64) - rc), 0.0), rtol=1e-5)
    _close(out.rejected_rewards, np.where(keep, 0.2 * (pr.astype(np.float64) - rr), 0.0),
           rtol=1e-5)

    def rewards_only(a):
        result = jaxloss.dpo_loss(a, pr, rc, rr, beta=0.2)
        return jnp.sum(result.chosen_rewards) + jnp.sum(result.rejected_rewards)

    assert not np.any(jax.grad(rewards_only)(pc))
    beta_grad = jax.grad(lambda b: jnp.sum(jaxloss.dpo_loss(pc, pr, rc, rr, beta=b)
                                           .chosen_rewards))(0.2)
    assert float(beta_grad) == 0.0


def test_dpo_is_finite_for_extreme_margins():
    pc = jnp.array([0.0, -1e4])
    pr = jnp.array([-1e4, 0.0])
    zeros = jnp.zeros(2)
    for loss_type in ("sigmoid", "hinge", "ipo"):
        value, grad = jax.value_and_grad(
            lambda a, t=loss_type: jaxloss.dpo_loss(a, pr, zeros, zeros, beta=1.0,
                                                    label_smoothing=0.1, loss_type=t).loss)(pc)
        assert np.isfinite(float(value)) and np.all(np.isfinite(grad))
    value = jaxloss.dpo_loss(pc, pr, zeros, zeros, beta=1.0, reduction="none").loss
    _close(value, [0.0, 1e4])  # -log sigmoid(1e4) = 0 and -log sigmoid(-1e4) = 1e4


def test_infinite_margins_without_smoothing_give_zero_or_inf():
    # -log sigmoid(+inf) = 0 and -log sigmoid(-inf) = inf; the smoothing term eps * z was
    # evaluated at eps = 0 as 0 * inf = NaN. An overflowing beta * margin is the same case.
    chosen = jnp.array([-5.0, -jnp.inf, 0.0])
    rejected = jnp.array([-jnp.inf, -5.0, -1e38])
    zeros = jnp.zeros(3)
    dpo = jaxloss.dpo_loss(chosen, rejected, zeros, zeros, beta=10.0, reduction="none").loss
    simpo = jaxloss.simpo_loss(chosen, rejected, beta=10.0, reduction="none").loss
    for value in (dpo, simpo):
        np.testing.assert_array_equal(value, [0.0, np.inf, 0.0])


def _simpo_reference(chosen, rejected, beta, gamma, label_smoothing=0.0):
    """SimPO, Eq. 6 with average log-probabilities p(y) = log pi(y) / |y|:
    -log sigmoid(beta p(y_w) - beta p(y_l) - gamma) (label smoothing as conservative DPO)."""
    z = beta * np.asarray(chosen, np.float64) - beta * np.asarray(rejected, np.float64) - gamma
    return -(1 - label_smoothing) * _log_sigmoid(z) - label_smoothing * _log_sigmoid(-z)


@pytest.mark.parametrize("beta, gamma, label_smoothing", [(2.0, 1.0, 0.0), (10.0, 3.0, 0.0),
                                                           (2.5, 0.5, 0.1)])
def test_simpo_matches_eq_6(beta, gamma, label_smoothing):
    rng = np.random.default_rng(3)
    sums = rng.uniform(-80, -5, (2, 8))
    lengths = rng.integers(5, 40, (2, 8))
    chosen, rejected = np.float32(sums / lengths)  # the caller length-normalises
    options = {"beta": beta, "gamma": gamma, "label_smoothing": label_smoothing}
    expected = _simpo_reference(chosen, rejected, beta, gamma, label_smoothing)
    out = jaxloss.simpo_loss(chosen, rejected, reduction="none", **options)
    _close(out.loss, expected, rtol=1e-5)
    _close(out.chosen_rewards, beta * chosen.astype(np.float64), rtol=1e-6)
    _close(out.rejected_rewards, beta * rejected.astype(np.float64), rtol=1e-6)
    _close(jaxloss.simpo_loss(chosen, rejected, **options).loss, expected.mean(), rtol=1e-5)


def test_simpo_gradient():
    # d/dp_w -log sigmoid(z) = -beta sigmoid(-z), z = beta (p_w - p_l) - gamma.
    chosen, rejected = np.float32([-1.0, -2.0]), np.float32([-1.5, -0.5])
    grad = jax.grad(lambda c: jaxloss.simpo_loss(c, rejected, beta=2.0, gamma=0.5,
                                                 reduction="sum").loss)(chosen)
    z = 2.0 * (chosen.astype(np.float64) - rejected) - 0.5
    _close(grad, -2.0 * _sigmoid(-z), rtol=1e-5)


def test_error_messages():
    x = jnp.zeros(3)
    with pytest.raises(ValueError, match=r"^dpo_loss: `loss_type` must be one of 'sigmoid', "
                                         r"'hinge' or 'ipo', got 'kto'"):
        jaxloss.dpo_loss(x, x, x, x, loss_type="kto")
    with pytest.raises(ValueError, match=r"^dpo_loss: `policy_chosen_logps` has shape \(3,\) but "
                                         r"`reference_rejected_logps` has shape \(4,\)"):
        jaxloss.dpo_loss(x, x, x, jnp.zeros(4))
    with pytest.raises(ValueError, match=r"^simpo_loss: `policy_chosen_logps` has shape \(3,\) "
                                         r"but `policy_rejected_logps` has shape \(2,\)"):
        jaxloss.simpo_loss(x, jnp.zeros(2))
    with pytest.raises(TypeError, match=r"^simpo_loss: `policy_rejected_logps` must have a "
                                        r"floating dtype, got int32"):
        jaxloss.simpo_loss(x, jnp.zeros(3, jnp.int32))
