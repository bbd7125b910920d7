"""Draw docs/images/regression_losses.png: common regression losses and their gradients against
the error, computed by jaxloss itself (``reduction="none"`` and ``jax.grad``).

    python docs/scripts/plot_losses.py      # needs matplotlib (the docs extra)
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import matplotlib

import jaxloss

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "images" / "regression_losses.png"

LOSSES = {
    "squared error (mse_loss)": jaxloss.mse_loss,
    "absolute error (l1_loss)": jaxloss.l1_loss,
    "huber_loss, δ = 1": jaxloss.huber_loss,
    "log_cosh_loss": jaxloss.log_cosh_loss,
    "Cauchy (general_robust_loss, α = 0)": functools.partial(jaxloss.general_robust_loss,
                                                             alpha=0.0),
    "Welsch (general_robust_loss, α = -∞)": functools.partial(jaxloss.general_robust_loss,
                                                              alpha=-jnp.inf),
    "quantile_loss, τ = 0.9": functools.partial(jaxloss.quantile_loss, quantile=0.9),
}


def curves(errors):
    """Per-error value and derivative (with respect to the prediction) of each loss."""
    target = jnp.zeros_like(errors)
    out = {}
    for label, loss in LOSSES.items():
        value = loss(errors, target, reduction="none")
        grad = jax.vmap(jax.grad(lambda e, loss=loss: loss(e[None], jnp.zeros(1))))(errors)
        out[label] = (value, grad)
    return out


def main() -> pathlib.Path:
    errors = jnp.linspace(-4.0, 4.0, 801)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    for i, (label, (value, grad)) in enumerate(curves(errors).items()):
        style = dict(color=f"C{i}", lw=1.6, label=label)
        left.plot(errors, value, **style)
        right.plot(errors, grad, **style)
    left.set_ylim(-0.2, 4.2)
    left.set_title("loss ℓ(e), e = prediction − target")
    right.set_ylim(-2.2, 2.2)
    right.set_title("gradient dℓ/de: what one example pushes with")
    for ax in (left, right):
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set_xlabel("error e")
        ax.grid(alpha=0.3)
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
