"""L2-regularised logistic regression trained with `optax.lbfgs` through `make_train_step`,
checked against SciPy's L-BFGS-B on the same objective written in NumPy (float64).

    python examples/logistic_lbfgs.py
"""

import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize

import jaxloss

STRENGTH = 1e-2  # L2 strength on the weights (not the bias): a unique, finite optimum


def data(seed: int = 0, n: int = 200, d: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    true_w = rng.normal(size=d)
    p = 1 / (1 + np.exp(-(x @ true_w + 0.3)))
    y = (rng.random(n) < p).astype(np.float32)
    return x, y


def scipy_optimum(x, y) -> float:
    """The minimum of the same objective by an independent solver, in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)

    def objective(theta):
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * STRENGTH * w @ w
        sigma = 1 / (1 + np.exp(-z))
        grad_z = (sigma - y) / len(y)
        return loss, np.append(x.T @ grad_z + STRENGTH * w, grad_z.sum())

    result = scipy.optimize.minimize(objective, np.zeros(x.shape[1] + 1), jac=True,
                                     method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-14})
    return float(result.fun)


def main(steps: int = 30, seed: int = 0) -> dict:
    x, y = data(seed)
    objective = jaxloss.Objective(
        lambda params, x: x @ params["w"] + params["b"],
        jaxloss.binary_cross_entropy_with_logits,
        regularizers={"l2": jaxloss.L2(STRENGTH, mask={"w": True, "b": False})},
    )
    params = {"w": jnp.zeros(x.shape[1]), "b": jnp.zeros(())}
    optimizer = optax.lbfgs()
    opt_state = optimizer.init(params)
    step = jaxloss.make_train_step(objective, optimizer)
    batch = (jnp.asarray(x), jnp.asarray(y))
    for _ in range(steps):
        params, opt_state, metrics = step(params, opt_state, batch)
    loss = float(objective.value(params, batch))
    compilations = step.jitted._cache_size()
    return {"loss": loss, "scipy_loss": scipy_optimum(x, y), "compilations": compilations}


if __name__ == "__main__":
    print(main())
