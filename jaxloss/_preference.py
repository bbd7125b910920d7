"""Preference-optimisation losses for language models: DPO (with its conservative, hinge and IPO
forms) and SimPO.

Inputs are sequence log-probabilities, one per preference pair, any shape ``(...)``; the
unreduced loss has that shape. Each loss returns a `PreferenceLoss`: the (reduced) loss and the
per-pair implicit rewards of the chosen and rejected responses, which training loops log (their
mean, their difference as the reward margin, ``chosen > rejected`` as the reward accuracy).
The rewards are ``stop_gradient``-ed, so differentiating a function that returns them (with
``has_aux``) or uses them adds nothing to any gradient, and are 0 where ``where`` is False.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from . import _checks, _ops
from ._reduction import fill_dropped, keep_mask, loss_function, reduce

DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo")


class PreferenceLoss(NamedTuple):
    """What the preference losses return: ``loss, chosen_rewards, rejected_rewards = ...``."""

    loss: jax.Array  # reduced as requested
    chosen_rewards: jax.Array  # (...), stop-gradient, 0 where `where` is False
    rejected_rewards: jax.Array  # (...), likewise


def _pairs(fn, where, **arrays):
    """The log-probabilities validated, in one computation dtype, masked, and the keep mask."""
    values = _checks.floats(fn, **arrays)
    _checks.same_shape(fn, **dict(zip(arrays, values, strict=True)))
    keep = keep_mask(fn, where, values[0].shape)
    return *fill_dropped(keep, *values), keep


def _smoothed_logistic(z, label_smoothing):
    """``-(1 - eps) log sigmoid(z) - eps log sigmoid(-z)``: the logistic loss of a preference
    that is flipped with probability eps (conservative DPO).

    Evaluated as ``softplus(-z) + eps z`` (``log sigmoid(-z) = log sigmoid(z) - z``): one
    softplus instead of two log-sigmoids, and no cancellation, as ``eps <= 1/2``. The mean
    over 1e6 pairs took 0.83 ms against 1.03 ms, with the gradient 1.7 ms against 2.9 ms.
    Left at its default 0, eps is left out rather than multiplied: an infinite margin (a
    log-probability of -inf, or beta times a huge one) gives 0 or inf, not 0 * inf = NaN.
    """
    if _checks.unused(label_smoothing):
        return _ops.softplus(-z)
    return _ops.softplus(-z) + label_smoothing * z


def _result(loss, chosen, rejected, reduction, keep):
    rewards = jax.lax.stop_gradient((chosen, rejected))
    return PreferenceLoss(reduce(loss, reduction, mask=keep), *rewards)


# Option values checked when given as Python or NumPy numbers (traced ones cannot be): a
# preference flipped with probability above 1/2 is the opposite preference.
_OPTIONS_OK = {
    "beta": (lambda b: b > 0, "positive"),
    "label_smoothing": (lambda e: (e >= 0) & (e <= 0.5), "in [0, 0.5]"),
}


@loss_function(static=("loss_type",), valid=_OPTIONS_OK)
def dpo_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    *,
    reduction="mean",
    where=None,
    beta=0.1,
    label_smoothing=0.0,
    loss_type="sigmoid",
):
    r"""Direct preference optimisation: the policy should raise the likelihood of the chosen
    response relative to the rejected one, more than the reference model does.

    With the log-ratio margin
    $h = \log\frac{\pi(y_w)}{\pi_{\text{ref}}(y_w)} - \log\frac{\pi(y_l)}{\pi_{\text{ref}}(y_l)}$
    (sequence log-probabilities of the chosen $y_w$ and rejected $y_l$ responses):

    $$\ell = \begin{cases}
      -(1 - \varepsilon) \log \sigma(\beta h) - \varepsilon \log \sigma(-\beta h)
        & \texttt{"sigmoid"} \text{ (DPO; conservative DPO for } \varepsilon > 0) \\
      \max(0,\, 1 - \beta h) & \texttt{"hinge"} \text{ (SLiC)} \\
      \bigl(h - \tfrac{1}{2\beta}\bigr)^2 & \texttt{"ipo"} \end{cases}$$

    and the rewards $\beta \log\frac{\pi(y_w)}{\pi_{\text{ref}}(y_w)}$,
    $\beta \log\frac{\pi(y_l)}{\pi_{\text{ref}}(y_l)}$ (DPO's implicit rewards). These are the
    definitions of TRL's ``DPOTrainer`` for the same ``loss_type`` names; ``label_smoothing``
    only enters ``"sigmoid"``. For ``"ipo"`` $\beta$ is the paper's $\tau$, and IPO's authors
    use log-probabilities averaged over tokens (pass those).

    Args:
      policy_chosen_logps: $\log \pi(y_w \mid x)$ under the trained policy, shape ``(...)``.
      policy_rejected_logps: $\log \pi(y_l \mid x)$, the same shape.
      reference_chosen_logps: $\log \pi_{\text{ref}}(y_w \mid x)$ under the frozen reference
        model, the same shape (differentiable too; usually a constant).
      reference_rejected_logps: $\log \pi_{\text{ref}}(y_l \mid x)$, the same shape.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per pair, ``(...)``); the
        rewards are never reduced.
      where: optional boolean mask broadcastable to ``(...)``; only True pairs count.
      beta: $\beta > 0$ (traced), the strength of the implicit KL regularisation.
      label_smoothing: $\varepsilon \in [0, 0.5]$ (traced), the assumed probability that a
        preference label is flipped (``"sigmoid"`` only). Python or NumPy values of `beta` or
        `label_smoothing` outside their ranges raise ``ValueError``.
      loss_type: ``"sigmoid"`` (default), ``"hinge"`` or ``"ipo"`` (static).

    Returns:
      A `PreferenceLoss` ``(loss, chosen_rewards, rejected_rewards)``: the loss, a scalar (a
      mean over no kept pair is 0) or ``(...)`` for ``reduction="none"``; the rewards,
      ``(...)``, stop-gradient, 0 at masked pairs.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> out = jaxloss.dpo_loss(jnp.array([-10.0]), jnp.array([-12.0]),
      ...                        jnp.array([-11.0]), jnp.array([-11.0]), beta=0.5)
      >>> round(float(out.loss), 4)  # -log sigmoid(0.5 * 2)
      0.3133
      >>> out.chosen_rewards, out.rejected_rewards
      (Array([0.5], dtype=float32), Array([-0.5], dtype=float32))

    Equivalents: ``trl.DPOTrainer`` losses with ``loss_type`` "sigmoid", "hinge", "ipo".
    References: Rafailov et al, Direct Preference Optimization: Your Language Model is Secretly
    a Reward Model <https://arxiv.org/abs/2305.18290>, 2023 (Eq. 7); Mitchell, A note on DPO
    with noisy preferences and relationship to IPO <https://ericmitchell.ai/cdpo.pdf>, 2023
    (conservative DPO); Zhao et al, SLiC-HF: Sequence Likelihood Calibration with Human
    Feedback <https://arxiv.org/abs/2305.10425>, 2023; Azar et al, A General Theoretical
    Paradigm to Understand Learning from Human Preferences <https://arxiv.org/abs/2310.12036>,
    2023 (IPO, Eq. 17).
    """
    fn = "dpo_loss"
    if loss_type not in DPO_LOSS_TYPES:
        raise ValueError(
            f"{fn}: `loss_type` must be one of 'sigmoid', 'hinge' or 'ipo', got {loss_type!r}"
        )
    _checks.scalars(fn, beta=beta, label_smoothing=label_smoothing)
    policy_chosen, policy_rejected, reference_chosen, reference_rejected, keep = _pairs(
        fn,
        where,
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )
    chosen = policy_chosen - reference_chosen
    rejected = policy_rejected - reference_rejected
    margin = chosen - rejected
    if loss_type == "sigmoid":
        loss = _smoothed_logistic(beta * margin, label_smoothing)
    elif loss_type == "hinge":
        loss = _ops.relu(1 - beta * margin)
    else:
        loss = (margin - 1 / (2 * beta)) ** 2
    return _result(loss, beta * chosen, beta * rejected, reduction, keep)


@loss_function(valid=_OPTIONS_OK)
def simpo_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    *,
    reduction="mean",
    where=None,
    beta=2.0,
    gamma=1.0,
    label_smoothing=0.0,
):
    r"""Simple preference optimisation: DPO without a reference model, on length-normalised
    log-probabilities, with a target reward margin.

    The inputs are **average per-token** log-probabilities
    $\bar p(y) = \frac{1}{|y|} \log \pi(y \mid x)$ (divide the summed token log-probabilities
    by the response lengths first, counting only the response's own tokens); the rewards are
    $\beta \bar p(y_w)$, $\beta \bar p(y_l)$ and

    $$\ell = -(1 - \varepsilon) \log \sigma\bigl(\beta \bar p(y_w) - \beta \bar p(y_l)
      - \gamma\bigr) - \varepsilon \log \sigma\bigl(\gamma - \beta \bar p(y_w)
      + \beta \bar p(y_l)\bigr)$$

    which for $\varepsilon = 0$ is the paper's objective.

    Args:
      policy_chosen_logps: $\bar p(y_w)$, average log-probabilities of the chosen responses,
        shape ``(...)``.
      policy_rejected_logps: $\bar p(y_l)$ of the rejected responses, the same shape.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per pair, ``(...)``); the
        rewards are never reduced.
      where: optional boolean mask broadcastable to ``(...)``; only True pairs count.
      beta: the reward scale $\beta > 0$ (traced; the paper uses 2 to 10).
      gamma: the target reward margin $\gamma$ (traced), in reward units (TRL's
        ``simpo_gamma``; the SimPO repository's ``gamma_beta_ratio`` is $\gamma / \beta$).
      label_smoothing: $\varepsilon \in [0, 0.5]$ (traced), as in conservative DPO. Python or
        NumPy values of `beta` or `label_smoothing` outside their ranges raise ``ValueError``.

    Returns:
      A `PreferenceLoss` ``(loss, chosen_rewards, rejected_rewards)``: the loss, a scalar (a
      mean over no kept pair is 0) or ``(...)`` for ``reduction="none"``; the rewards,
      ``(...)``, stop-gradient, 0 at masked pairs.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> out = jaxloss.simpo_loss(jnp.array([-1.0]), jnp.array([-1.5]), beta=2.0, gamma=0.0)
      >>> round(float(out.loss), 4), out.chosen_rewards  # -log sigmoid(2 * 0.5)
      (0.3133, Array([-2.], dtype=float32))

    Equivalents: ``trl.CPOTrainer`` with ``loss_type="simpo"`` and ``cpo_alpha=0``.
    Reference: Meng et al, SimPO: Simple Preference Optimization with a Reference-Free Reward
    <https://arxiv.org/abs/2405.14734>, 2024 (Eq. 6).
    """
    _checks.scalars("simpo_loss", beta=beta, gamma=gamma, label_smoothing=label_smoothing)
    chosen, rejected, keep = _pairs(
        "simpo_loss",
        where,
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
    )
    chosen, rejected = beta * chosen, beta * rejected
    loss = _smoothed_logistic(chosen - rejected - gamma, label_smoothing)
    return _result(loss, chosen, rejected, reduction, keep)
