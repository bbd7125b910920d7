"""Elementwise primitives whose gradients at kinks follow PyTorch's conventions.

The values are the textbook ones; only the derivative at the non-differentiable point differs
from JAX's defaults, and PyTorch parity includes those points: a prediction equal to its target is
common (``jax.grad(jnp.abs)(0.)`` is 1, torch's ``sign(0)`` is 0), and so is a hinge exactly at
its margin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def abs_(x):
    """``|x|`` with derivative ``sign(x)``, 0 at 0 (torch's ``abs`` backward)."""
    return x * jnp.sign(x)


def clamp_min(x, low):
    """``max(x, low)`` passing the gradient to `x` where ``x >= low`` (torch's ``clamp_min``).

    torch's margin losses written with ``clamp_min`` (hinge_embedding, margin_ranking,
    cosine_embedding, triplet) therefore have a gradient at the margin; ``jnp.maximum`` would
    split it in halves and ``jax.nn.relu`` would drop it. Losses whose torch kernels test
    ``z > 0`` (multi_margin, multilabel_margin) use ``jax.nn.relu`` instead.

    A NaN `x` stays NaN, with a zero gradient, as in torch: a bare ``where(x >= low, x, low)``
    would turn a NaN loss (an out-of-range label, a NaN distance) into a silent ``low``.
    """
    return jnp.where(x >= low, x, jnp.where(x < low, low, jax.lax.stop_gradient(x)))
