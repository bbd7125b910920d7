"""Regression losses: l1, mse, huber, smooth_l1, Poisson and Gaussian negative log-likelihoods.

Each matches ``torch.nn.functional`` of the same name (PyTorch 2.13) in value and gradient, with
the two documented differences of every jaxloss loss: a ``where`` mask, and a ``"mean"`` over no
kept entries that is 0 rather than NaN. Results are float32 for 16-bit inputs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from . import _checks, _ops
from ._reduction import elementwise, fill_dropped, keep_mask, loss_function, reduce


@loss_function()
def l1_loss(input, target, *, reduction="mean", where=None, weight=None):
    r"""Mean absolute error.

    $$\ell_i = w_i\,\lvert x_i - y_i\rvert$$

    Args:
      input: predictions $x$, any shape.
      target: targets $y$, the shape of `input`; integer targets are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      weight: optional per-element weights $w$ of `input`'s shape. With weights, ``"mean"`` is
        $\sum_i w_i \ell_i / \sum_i w_i$ over kept entries (as PyTorch 2.13).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    The gradient at $x_i = y_i$ is 0 (``sign(0)``), as in PyTorch.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> float(jaxloss.l1_loss(jnp.array([1.5, 2.0]), jnp.array([1.0, 3.0])))
      0.75

    Equivalents: ``torch.nn.functional.l1_loss``; ``optax.l1_loss`` (unreduced).
    """
    return elementwise(
        "l1_loss", lambda x, y: _ops.abs_(x - y), {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",), weight=weight, weighted_mean=True,
    )


@loss_function()
def mse_loss(input, target, *, reduction="mean", where=None, weight=None):
    r"""Mean squared error.

    $$\ell_i = w_i\,(x_i - y_i)^2$$

    Args:
      input: predictions $x$, any shape.
      target: targets $y$, the shape of `input`; integer targets are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      weight: optional per-element weights $w$ of `input`'s shape. With weights, ``"mean"`` is
        $\sum_i w_i \ell_i / \sum_i w_i$ over kept entries (as PyTorch 2.13).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> x, y = jnp.array([1.1, 2.1, 3.1]), jnp.array([1.0, 2.0, 3.0])
      >>> float(jaxloss.mse_loss(x, y))
      0.01
      >>> jax.grad(jaxloss.mse_loss)(x, y).round(4)  # 2 (x - y) / 3
      Array([0.0667, 0.0667, 0.0667], dtype=float32)

    Equivalents: ``torch.nn.functional.mse_loss``; ``optax.squared_error`` (unreduced;
    ``optax.l2_loss`` is half of it).
    """
    return elementwise(
        "mse_loss", lambda x, y: jnp.square(x - y), {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",), weight=weight, weighted_mean=True,
    )


def _huber(error, delta):
    """``0.5 e²`` for ``|e| < delta``, ``delta (|e| - delta / 2)`` beyond."""
    size = _ops.abs_(error)
    return jnp.where(size < delta, 0.5 * error * error, delta * (size - 0.5 * delta))


@loss_function()
def huber_loss(input, target, *, reduction="mean", where=None, delta=1.0, weight=None):
    r"""Huber loss: quadratic for small errors, linear for large ones.

    $$\ell_i = w_i \begin{cases} \tfrac12 (x_i - y_i)^2 & \lvert x_i - y_i\rvert < \delta \\
      \delta\,(\lvert x_i - y_i\rvert - \tfrac12\delta) & \text{otherwise} \end{cases}$$

    Args:
      input: predictions $x$, any shape.
      target: targets $y$, the shape of `input`; integer targets are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      delta: the threshold $\delta > 0$ between the two regimes (traced: changing it does
        not recompile). PyTorch raises for $\delta \le 0$; here such values are not checked.
      weight: optional per-element weights $w$ of `input`'s shape. Unlike `mse_loss`,
        ``"mean"`` is the plain mean of $w_i \ell_i$ (as PyTorch 2.13).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.huber_loss(jnp.array([0.5, 3.0]), jnp.zeros(2), reduction="none")
      Array([0.125, 2.5  ], dtype=float32)

    Equivalents: ``torch.nn.functional.huber_loss``; ``optax.huber_loss`` (unreduced).
    Reference: Huber, Robust Estimation of a Location Parameter
    <https://doi.org/10.1214/aoms/1177703732>, 1964.
    """
    return elementwise(
        "huber_loss", lambda x, y: _huber(x - y, delta), {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",), weight=weight,
    )


@loss_function()
def smooth_l1_loss(input, target, *, reduction="mean", where=None, beta=1.0):
    r"""Smooth L1 loss: Huber loss divided by its threshold.

    $$\ell_i = \begin{cases} \tfrac{1}{2\beta} (x_i - y_i)^2 & \lvert x_i - y_i\rvert < \beta \\
      \lvert x_i - y_i\rvert - \tfrac12\beta & \text{otherwise} \end{cases}$$

    Args:
      input: predictions $x$, any shape.
      target: targets $y$, the shape of `input`; integer targets are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      beta: the threshold $\beta \ge 0$ (traced). $\beta = 0$ gives `l1_loss`, as in PyTorch.

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.smooth_l1_loss(jnp.array([0.5, 3.0]), jnp.zeros(2), reduction="none")
      Array([0.125, 2.5  ], dtype=float32)

    Equivalents: ``torch.nn.functional.smooth_l1_loss`` (which has no ``weight``).
    Reference: Girshick, Fast R-CNN <https://arxiv.org/abs/1504.08083>, 2015.
    """

    def pointwise(x, y):
        error = x - y
        # beta = 0 is the L1 loss (as in torch); the unused division must not see 0/0.
        safe_beta = jnp.where(beta > 0, beta, 1.0)
        return jnp.where(beta > 0, _huber(error, beta) / safe_beta, _ops.abs_(error))

    return elementwise(
        "smooth_l1_loss", pointwise, {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


@loss_function(static=("log_input", "full"))
def poisson_nll_loss(
    input, target, *, reduction="mean", where=None, log_input=True, full=False, eps=1e-8
):
    r"""Negative log-likelihood of a Poisson-distributed target.

    $$\ell_i = \begin{cases} e^{x_i} - y_i x_i & \text{log\_input} \\
      x_i - y_i \log(x_i + \epsilon) & \text{otherwise} \end{cases}
      \;+\; [\text{full},\, y_i > 1]\,\bigl(y_i \log y_i - y_i + \tfrac12 \log(2\pi y_i)\bigr)$$

    The constant $\log(y_i!)$ is dropped; ``full=True`` adds its Stirling approximation where
    $y_i > 1$ (where it is accurate), as PyTorch does.

    Args:
      input: the predicted rate $x$ (its log when `log_input`), any shape.
      target: observed counts $y$, the shape of `input`; integer targets are cast.
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      log_input: whether `input` is the log-rate (static).
      full: whether to add the Stirling term (static).
      eps: added to the rate before its log when ``log_input=False`` (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> float(jaxloss.poisson_nll_loss(jnp.array([0.0]), jnp.array([2.0])))  # e^0 - 2 * 0
      1.0

    Equivalents: ``torch.nn.functional.poisson_nll_loss``.
    """

    def pointwise(x, y):
        loss = jnp.exp(x) - y * x if log_input else x - y * jnp.log(x + eps)
        if full:
            big = y > 1
            safe_y = jnp.where(big, y, 2.0)  # the log of y <= 1 is never used; keep it finite
            stirling = safe_y * jnp.log(safe_y) - safe_y + 0.5 * jnp.log(2 * math.pi * safe_y)
            loss = loss + jnp.where(big, stirling, 0.0)
        return loss

    return elementwise(
        "poisson_nll_loss", pointwise, {"input": input, "target": target},
        reduction=reduction, where=where, numeric=("target",),
    )


def _expand_var(var, input_shape):
    """PyTorch's accepted shapes for `var`, broadcast to `input_shape`, or None if refused."""
    shape = jnp.shape(var)
    if shape == tuple(input_shape) or not shape:
        return jnp.broadcast_to(var, input_shape)
    if shape == tuple(input_shape[:-1]):
        return jnp.broadcast_to(var[..., None], input_shape)
    mismatched = [v for i, v in zip(input_shape, shape, strict=False) if i != v]
    if len(shape) == len(input_shape) and mismatched == [1]:
        return jnp.broadcast_to(var, input_shape)
    return None


@loss_function(static=("full",))
def gaussian_nll_loss(input, target, var, *, reduction="mean", where=None, full=False, eps=1e-6):
    r"""Negative log-likelihood of a Gaussian target with predicted mean and variance.

    $$\ell_i = \tfrac12\Bigl(\log \max(\sigma^2_i, \epsilon)
      + \frac{(x_i - y_i)^2}{\max(\sigma^2_i, \epsilon)}\Bigr)
      \;+\; [\text{full}]\,\tfrac12\log 2\pi$$

    As in PyTorch, the clamp to $\epsilon$ changes the value but not the gradient's path: the
    gradient with respect to $\sigma^2$ is that of the formula at the clamped value.

    Args:
      input: predicted means $x$, any shape ``(..., D)``.
      target: targets $y$, the shape of `input`; integer targets are cast.
      var: predicted variances $\sigma^2$: the shape of `input`; or that shape without its last
        dimension (one variance per row); or the shape of `input` with exactly one dimension of
        size 1; or a scalar. Other shapes raise ``ValueError`` as in PyTorch. Negative variances
        are clamped to $\epsilon$ (PyTorch raises; values cannot be checked under ``jit``).
      reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses).
      where: optional boolean mask broadcastable to `input`'s shape; only True entries count.
      full: whether to add the constant $\tfrac12\log 2\pi$ (static).
      eps: the lower clamp of the variance (traced).

    Returns:
      A scalar (a mean over no kept entries is 0; PyTorch gives NaN), or the
      per-element losses (shape of `input`) for ``reduction="none"``.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> float(jaxloss.gaussian_nll_loss(jnp.array([1.0]), jnp.array([3.0]), 2.0))
      1.3466

    Equivalents: ``torch.nn.functional.gaussian_nll_loss``.
    Reference: Nix & Weigend, Estimating the mean and variance of the target probability
    distribution <https://doi.org/10.1109/ICNN.1994.374138>, 1994.
    """
    fn = "gaussian_nll_loss"
    input, target, var = _checks.floats(
        fn, input=input, target=target, var=var, numeric=("target", "var")
    )
    _checks.same_shape(fn, input=input, target=target)
    expanded = _expand_var(var, input.shape)
    if expanded is None:
        raise ValueError(
            f"{fn}: `var` has shape {_checks.shape_str(var.shape)} but must have `input`'s "
            f"shape {_checks.shape_str(input.shape)}, that shape without its last dimension, "
            "that shape with one dimension of size 1, or be a scalar"
        )
    keep = keep_mask(fn, where, input.shape)
    input, target, var = fill_dropped(keep, input, target, expanded)
    # The clamp moves the value only; the gradient flows to `var` as if unclamped (torch clamps
    # a clone under no_grad).
    var = var + jax.lax.stop_gradient(jnp.maximum(var, eps) - var)
    loss = 0.5 * (jnp.log(var) + jnp.square(input - target) / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduce(loss, reduction, mask=keep)
