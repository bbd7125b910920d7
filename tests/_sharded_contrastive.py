"""Sharded clip_loss and siglip_loss against the single-device loss, on 8 CPU devices.

Run by test_contrastive.py in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (the test process has already started
JAX with one device). Exits non-zero, with the first mismatch, if any check fails; prints
``checked N cases`` otherwise. Importing this module (as ``--doctest-modules`` does) runs nothing.
"""

from __future__ import annotations

DEVICES = 8


def main() -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    import jaxloss

    jax.config.update("jax_numpy_rank_promotion", "raise")
    assert jax.device_count() == DEVICES, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    rng = np.random.default_rng(0)
    pairs, features = 4 * DEVICES, 5
    image = jnp.asarray(rng.standard_normal((2, pairs, features)), jnp.float32)
    text = jnp.asarray(image + rng.standard_normal(image.shape), jnp.float32)
    keep = jnp.asarray(rng.random((2, pairs)) > 0.3)
    losses = {
        "clip_loss": (jaxloss.clip_loss, {"log_scale": jnp.float32(1.5)}),
        "siglip_loss": (jaxloss.siglip_loss, {"log_scale": jnp.float32(1.5), "bias": -2.0}),
    }
    pair_spec = P(None, "batch")  # the pair axis, second of (2, pairs, features), is sharded
    argnums = (0, 1, 2)  # both sides' embeddings and the scale (and bias)
    cases = 0

    def close(actual, expected, what):
        for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=2e-5, atol=2e-6,
                                       err_msg=what)

    for name, (fn, scalars) in losses.items():
        for where in (None, keep):
            where_spec = None if where is None else pair_spec
            for reduction in ("mean", "sum", "none"):
                what = f"{name}, where={where is not None}, reduction={reduction}"

                def single(x, y, s, where=where, reduction=reduction, fn=fn):
                    return fn(x, y, where=where, reduction=reduction, **s)

                def local(x, y, s, w, reduction=reduction, fn=fn):
                    return fn(x, y, where=w, reduction=reduction, axis_name="batch", **s)

                out_spec = pair_spec if reduction == "none" else P()
                sharded = jax.shard_map(
                    local, mesh=mesh, in_specs=(pair_spec, pair_spec, P(), where_spec),
                    out_specs=out_spec,
                )
                if reduction == "none":
                    close(jax.jit(sharded)(image, text, scalars, where),
                          single(image, text, scalars), what)
                    cases += 1
                    continue
                expected = jax.value_and_grad(single, argnums)(image, text, scalars)
                outside = jax.jit(jax.value_and_grad(
                    lambda x, y, s, sharded=sharded, where=where: sharded(x, y, s, where),
                    argnums))(image, text, scalars)
                close(outside, expected, what + ", grad of the shard_map")
                cases += 1
                if reduction == "mean":
                    # The gradient taken inside shard_map, per shard: psum's transpose does not
                    # multiply it by the device count, all_gather's sums every device's rows.
                    def inner(x, y, s, w, local=local):
                        return jax.value_and_grad(local, argnums)(x, y, s, w)

                    per_shard = jax.jit(jax.shard_map(
                        inner, mesh=mesh, in_specs=(pair_spec, pair_spec, P(), where_spec),
                        out_specs=(P(), (pair_spec, pair_spec, P())),
                    ))(image, text, scalars, where)
                    close(per_shard, expected, what + ", grad inside shard_map")
                    cases += 1

    # SigLIP passes text chunks around the ring; it never gathers the batch.
    ring = jax.make_jaxpr(jax.shard_map(
        lambda x, y: jaxloss.siglip_loss(x, y, axis_name="batch"), mesh=mesh,
        in_specs=(pair_spec, pair_spec), out_specs=P(),
    ))(image, text)
    assert "ppermute" in str(ring) and "all_gather" not in str(ring), ring
    print(f"checked {cases} cases")


if __name__ == "__main__":
    main()
