"""A softmax classifier (a small MLP) on scikit-learn's bundled 8x8 digits, trained with
`jaxloss.cross_entropy` and adam through `make_train_step`.

    pip install -e ".[examples]"   # scikit-learn, for its bundled data set (no download)
    python examples/digits_mlp.py
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

import jaxloss


def init(key, sizes):
    params = []
    for fan_in, fan_out, k in zip(sizes[:-1], sizes[1:], jax.random.split(key, len(sizes) - 1),
                                  strict=True):
        params.append({"w": jax.random.normal(k, (fan_in, fan_out)) / np.sqrt(fan_in),
                       "b": jnp.zeros(fan_out)})
    return params


def mlp(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def main(epochs: int = 60, batch_size: int = 128, seed: int = 0) -> dict:
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:360], order[360:]

    objective = jaxloss.Objective(
        mlp, jaxloss.cross_entropy,
        regularizers={"l2": jaxloss.L2(1e-4, mask=lambda p: [{"w": True, "b": False}] * len(p))},
    )
    params = init(jax.random.key(seed), [64, 128, 10])
    optimizer = optax.adam(3e-3)
    opt_state = optimizer.init(params)
    step = jaxloss.make_train_step(objective, optimizer)
    rng = np.random.default_rng(seed + 1)
    batches = len(train) // batch_size
    for _ in range(epochs):
        shuffled = rng.permutation(train)
        for i in range(batches):
            idx = shuffled[i * batch_size:(i + 1) * batch_size]
            params, opt_state, metrics = step(params, opt_state, (x[idx], y[idx]))
    accuracy = float(np.mean(np.argmax(mlp(params, x[test]), -1) == y[test]))
    return {"test_accuracy": accuracy, "train_loss": float(metrics["loss"]),
            "compilations": step.jitted._cache_size()}


if __name__ == "__main__":
    print(main())
