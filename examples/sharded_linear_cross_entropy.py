"""A language-model head on a (data, model) mesh: tokens sharded over "data", the vocabulary of
the output embedding sharded over "model", and `linear_cross_entropy` computing the global mean
loss and its gradients without gathering logits or weights.

    python examples/sharded_linear_cross_entropy.py    # on 8 simulated CPU devices

Run as a script it asks XLA for 8 host devices; imported (as the tests do) it uses whatever
devices JAX already has.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # must precede JAX's initialisation
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jaxloss


def mesh_shape(devices: int) -> tuple[int, int]:
    """(data, model): as square as the device count allows, model axis first to grow."""
    data = 1
    while data * data * 4 <= devices and devices % (data * 2) == 0:
        data *= 2
    return data, devices // data


def main(tokens: int = 512, features: int = 64, vocabulary: int = 4096) -> dict:
    data, model = mesh_shape(jax.device_count())
    mesh = jax.make_mesh((data, model), ("data", "model"),
                         axis_types=(jax.sharding.AxisType.Explicit,) * 2)
    k = jax.random.split(jax.random.key(0), 3)
    hidden = jax.random.normal(k[0], (tokens, features))
    embedding = jax.random.normal(k[1], (vocabulary, features)) / features**0.5
    target = jax.random.randint(k[2], (tokens,), 0, vocabulary).at[::7].set(-100)  # padding

    def local_loss(hidden, embedding, target):
        # Runs on each device with its block of tokens and of the vocabulary.
        return jaxloss.linear_cross_entropy(hidden, embedding, target, axis_name="model",
                                            batch_axis_name="data", z_loss=1e-4)

    loss_fn = jax.shard_map(local_loss, mesh=mesh,
                            in_specs=(P("data"), P("model"), P("data")), out_specs=P())

    @jax.jit
    def step(hidden, embedding, target):
        return jax.value_and_grad(loss_fn, argnums=(0, 1))(hidden, embedding, target)

    placed = (jax.device_put(hidden, NamedSharding(mesh, P("data"))),
              jax.device_put(embedding, NamedSharding(mesh, P("model"))),
              jax.device_put(target, NamedSharding(mesh, P("data"))))
    loss, (d_hidden, d_embedding) = step(*placed)

    # The same loss on one device, materialising the logits.
    single_loss, (single_dh, single_de) = jax.value_and_grad(
        lambda h, e: jaxloss.linear_cross_entropy(h, e, target, z_loss=1e-4,
                                                  implementation="reference"),
        argnums=(0, 1))(hidden, embedding)
    hlo = step.lower(*placed).compile().as_text()
    return {
        "mesh": {"data": data, "model": model},
        "loss": float(loss),
        "single_device_loss": float(single_loss),
        "max_gradient_difference": float(max(jnp.max(jnp.abs(d_hidden - single_dh)),
                                             jnp.max(jnp.abs(d_embedding - single_de)))),
        "embedding_gradient_sharding": str(d_embedding.sharding.spec),
        "gathers": hlo.count("all-gather"),
    }


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key}: {value}")
