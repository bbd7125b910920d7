"""Fit y = 2x + 1 with `jaxloss.mse_loss` and `optax.sgd`: the textbook training loop, its four
steps in plain sight (define the loss, compute it, backpropagate, update).

    python examples/linear_regression.py
"""

import jax
import jax.numpy as jnp
import optax

import jaxloss


def main(steps: int = 200, seed: int = 0) -> dict:
    x = jax.random.uniform(jax.random.key(seed), (64, 1), minval=-1.0, maxval=1.0)
    y = 2 * x + 1
    params = {"w": jnp.zeros(()), "b": jnp.zeros(())}

    # 1. Define the loss: a function of the parameters.
    def loss_fn(params):
        prediction = params["w"] * x + params["b"]
        return jaxloss.mse_loss(prediction, y)

    optimizer = optax.sgd(learning_rate=0.3)
    opt_state = optimizer.init(params)
    for _ in range(steps):
        loss = loss_fn(params)  # 2. Compute it.
        grads = jax.grad(loss_fn)(params)  # 3. Backpropagate.
        updates, opt_state = optimizer.update(grads, opt_state)  # 4. Update the parameters.
        params = optax.apply_updates(params, updates)
    return {"w": float(params["w"]), "b": float(params["b"]), "loss": float(loss)}


if __name__ == "__main__":
    print(main())
