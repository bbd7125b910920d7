"""linear_cross_entropy against the loss it must equal: `cross_entropy` of the materialised
(soft-capped) logits plus the PaLM z-loss, written here with plain jax.numpy and jaxloss's
already-tested `cross_entropy`; both implementations, awkward block sizes, every option."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

N, D, V = 37, 8, 53  # deliberately not multiples of the block sizes below
BLOCKS = {"block_size": 8, "vocab_block_size": 16}
IMPLEMENTATIONS = [("blocked", BLOCKS), ("blocked", {}), ("reference", {})]
IDS = ["blocked-small-blocks", "blocked-one-block", "reference"]


def _data(seed=0, shape=(N,), dtype=jnp.float32, ignored=(3, 10)):
    k = jax.random.split(jax.random.key(seed), 4)
    h = jax.random.normal(k[0], (*shape, D), dtype)
    w = (0.7 * jax.random.normal(k[1], (V, D))).astype(dtype)
    b = jax.random.normal(k[2], (V,)).astype(dtype)
    y = jax.random.randint(k[3], shape, 0, V)
    flat = y.reshape(-1)
    for i in ignored:
        flat = flat.at[i].set(-100)
    return h, w, b, flat.reshape(shape)


def _expected(h, w, b, y, eps=0.0, z=0.0, cap=None, reduction="mean", where=None):
    """The definition: cross_entropy over the full logits, plus z * logsumexp**2 per token."""
    logits = jnp.einsum("...d,vd->...v", h.astype(jnp.float32), w.astype(jnp.float32))
    if b is not None:
        logits = logits + b.astype(jnp.float32).reshape((1,) * (logits.ndim - 1) + (-1,))
    if cap is not None:
        logits = cap * jnp.tanh(logits / cap)
    ce = jaxloss.cross_entropy(logits, y, label_smoothing=eps, reduction="none")
    keep = y != -100
    if where is not None:
        keep = keep & where
    per_token = jnp.where(keep, ce + z * jax.nn.logsumexp(logits, axis=-1) ** 2, 0.0)
    if reduction == "none":
        return per_token
    if reduction == "sum":
        return jnp.sum(per_token)
    return jnp.sum(per_token) / jnp.maximum(jnp.sum(keep), 1)


def _both(fn_kwargs, impl, blocks, args, argnums, reduction="mean", cotangent=None):
    """Value and gradients of jaxloss and of the definition, as a scalar objective."""

    def ours(h, w, b, eps, z, cap):
        out = jaxloss.linear_cross_entropy(h, w, args[3], bias=b, label_smoothing=eps,
                                           z_loss=z, logit_softcap=cap, reduction=reduction,
                                           implementation=impl, **blocks, **fn_kwargs)
        return out if cotangent is None else jnp.sum(out * cotangent)

    def theirs(h, w, b, eps, z, cap):
        out = _expected(h, w, b, args[3], eps, z, cap, reduction, fn_kwargs.get("where"))
        return out if cotangent is None else jnp.sum(out * cotangent)

    params = args[:3] + args[4:]
    return (jax.value_and_grad(ours, argnums)(*params),
            jax.value_and_grad(theirs, argnums)(*params))


def _close(a, b, rtol=2e-5, atol=2e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=rtol, atol=atol)


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [(0.0, 0.0, None), (0.1, 1e-3, 5.0), (0.3, 0.0, None),
                                     (0.0, 1e-2, 2.0)],
                         ids=["plain", "smooth-z-cap", "smooth", "z-cap"])
def test_value_and_every_gradient_match_the_definition(impl, blocks, reduction, options):
    h, w, b, y = _data()
    eps, z, cap = options
    cotangent = None
    if reduction == "none":
        cotangent = jax.random.normal(jax.random.key(9), (N,))
    # At eps = 0 exactly, cross_entropy skips the smoothing term, so the definition has no
    # eps-gradient there; eps-gradients are compared where eps > 0.
    argnums = (0, 1, 2) + ((3,) if eps else ()) + (4,) + ((5,) if cap is not None else ())
    ours, theirs = _both({}, impl, blocks, (h, w, b, y, eps, z, cap), argnums, reduction,
                         cotangent)
    # The hyperparameters' gradients are sums over all N x V logits, summed in another order.
    _close(ours, theirs, rtol=5e-5)


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
def test_without_bias_and_with_leading_dimensions(impl, blocks):
    h, w, _, y = _data(shape=(3, 13))
    loss = lambda h, w: jaxloss.linear_cross_entropy(  # noqa: E731
        h, w, y, implementation=impl, **blocks)
    _close(jax.value_and_grad(loss, (0, 1))(h, w),
           jax.value_and_grad(lambda h, w: _expected(h, w, None, y), (0, 1))(h, w))
    per_token = jaxloss.linear_cross_entropy(h, w, y, reduction="none", implementation=impl)
    assert per_token.shape == (3, 13)


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
def test_hidden_states_without_features_leave_the_bias_alone(impl, blocks):
    # D = 0: every logit is its bias (a reshape to (-1, 0) had raised ZeroDivisionError).
    _, _, b, y = _data()
    h, w = jnp.zeros((N, 0)), jnp.zeros((V, 0))
    loss = lambda b: jaxloss.linear_cross_entropy(  # noqa: E731
        h, w, y, bias=b, implementation=impl, **blocks)
    logits = jnp.broadcast_to(b, (N, V))
    _close(jax.value_and_grad(loss)(b),
           jax.value_and_grad(lambda b: _expected(h, w, b, y))(b))
    # Written out once, so the definition's own reading of D = 0 is checked too.
    picked = logits[jnp.arange(N), jnp.maximum(y, 0)]
    kept = y != -100
    by_hand = jnp.sum(jnp.where(kept, jax.nn.logsumexp(logits, axis=-1) - picked, 0))
    _close(loss(b), by_hand / jnp.sum(kept))


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
def test_all_tokens_ignored_give_zero_and_zero_gradients(impl, blocks):
    h, w, b, y = _data()
    y = jnp.full_like(y, -100)
    value, grads = jax.value_and_grad(
        lambda h, w, b, eps, z, cap: jaxloss.linear_cross_entropy(
            h, w, y, bias=b, label_smoothing=eps, z_loss=z, logit_softcap=cap,
            implementation=impl, **blocks), tuple(range(6)))(h, w, b, 0.1, 1e-3, 5.0)
    assert float(value) == 0.0
    for g in grads:
        assert not np.any(np.asarray(g))


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
def test_a_block_of_padding_tokens_adds_nothing_to_any_gradient(impl, blocks):
    # Tokens 8 to 15 fill one token block of the small blocks: the backward pass skips it.
    h, w, b, y = _data(ignored=range(8, 16))
    ours, theirs = _both({}, impl, blocks, (h, w, b, y, 0.1, 1e-2, 5.0), tuple(range(6)))
    _close(ours, theirs, rtol=5e-5)


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
def test_where_drops_tokens_even_when_they_hold_nan(impl, blocks):
    h, w, b, y = _data()
    where = jnp.arange(N) % 3 != 0
    poisoned = jnp.where(where[:, None], h, jnp.nan)
    kw = {"where": where}
    ours, theirs = _both(kw, impl, blocks, (poisoned, w, b, y, 0.1, 1e-3, 5.0), (0, 1, 2, 3, 4))
    clean_ours, _ = _both(kw, impl, blocks, (h, w, b, y, 0.1, 1e-3, 5.0), (0, 1, 2, 3, 4))
    _close(ours, clean_ours, rtol=0, atol=0)
    _, theirs = _both(kw, impl, blocks, (h, w, b, y, 0.1, 1e-3, 5.0), (0, 1, 2, 3, 4))
    _close(ours, theirs)
    assert not np.any(np.asarray(ours[1][0])[~np.asarray(where)])


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
@pytest.mark.parametrize("argnums", [(0,), (1,), (2,), (1, 2), (1, 3)])
def test_ignored_tokens_holding_nan_reach_no_derivative(impl, blocks, argnums):
    # Whatever is differentiated: the weight alone (the hidden states are constants), the
    # bias, the smoothing. The weight's gradient sums hidden states times their logits'
    # cotangents; an ignored token's cotangent is 0 but its state is NaN.
    h, w, b, y = _data()
    poisoned = h.at[3].set(jnp.nan).at[10, 0].set(jnp.inf)  # tokens 3 and 10 are ignored
    args = (w, b, y, 0.1, 1e-3, 5.0)
    ours, _ = _both({}, impl, blocks, (poisoned, *args), argnums)
    clean, theirs = _both({}, impl, blocks, (h, *args), argnums)
    _close(ours, clean, rtol=0, atol=0)
    _close(ours, theirs, rtol=5e-5)


def test_ignored_tokens_holding_nan_reach_no_forward_derivative():
    # Forward mode along the weight, the hidden states being constants, through the
    # reference path's custom JVP rule (the blocked path's custom VJP has no forward mode).
    h, w, b, y = _data()
    poisoned = h.at[3].set(jnp.nan)  # token 3 is ignored

    def forward(w):
        return jaxloss.linear_cross_entropy(poisoned, w, y, bias=b, implementation="reference")

    tangent = jax.random.normal(jax.random.key(5), w.shape)
    value, derivative = jax.jvp(forward, (w,), (tangent,))
    expected = jax.jvp(lambda w: _expected(h, w, b, y), (w,), (tangent,))
    _close((value, derivative), expected)


@pytest.mark.parametrize("impl, blocks", IMPLEMENTATIONS, ids=IDS)
def test_bfloat16_inputs_accumulate_in_float32(impl, blocks):
    h, w, b, y = _data(dtype=jnp.bfloat16)
    value, grads = jax.value_and_grad(
        lambda h, w, b: jaxloss.linear_cross_entropy(h, w, y, bias=b, implementation=impl,
                                                     **blocks), (0, 1, 2))(h, w, b)
    assert value.dtype == jnp.float32
    assert [g.dtype for g in grads] == [jnp.bfloat16] * 3
    up = [x.astype(jnp.float32) for x in (h, w, b)]
    expected_value, expected_grads = jax.value_and_grad(
        lambda h, w, b: _expected(h, w, b, y), (0, 1, 2))(*up)
    np.testing.assert_allclose(float(value), float(expected_value), rtol=1e-5)
    for g, e in zip(grads, expected_grads, strict=True):  # bf16 gradients: 8 mantissa bits
        np.testing.assert_allclose(np.asarray(g, np.float32), e, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("impl,blocks", IMPLEMENTATIONS, ids=IDS)
@pytest.mark.parametrize("eps,z", [(0, 0), (0.1, 0), (0, 1e-3), (0.1, 1e-3)])
def test_python_number_options(impl, blocks, eps, z):
    # Options given as Python numbers (not traced): at 0 the reference path leaves their terms
    # out of the program, which must not change the value or the gradients.
    h, w, b, y = _data()
    ours = jax.value_and_grad(
        lambda h, w, b: jaxloss.linear_cross_entropy(h, w, y, bias=b, label_smoothing=eps,
                                                     z_loss=z, implementation=impl, **blocks),
        (0, 1, 2))(h, w, b)
    theirs = jax.value_and_grad(lambda h, w, b: _expected(h, w, b, y, eps, z), (0, 1, 2))(h, w, b)
    _close(ours, theirs)


def test_label_outside_the_vocabulary_gives_nan():
    h, w, _, y = _data(ignored=())
    for impl in ("blocked", "reference"):
        per_token = jaxloss.linear_cross_entropy(h, w, y.at[5].set(V), reduction="none",
                                                 implementation=impl)
        assert np.isnan(per_token[5]) and np.all(np.isfinite(np.delete(per_token, 5)))


def test_stats_from_the_same_pass():
    h, w, b, y = _data()
    logits = h @ w.T + b[None, :]
    lse = jax.nn.logsumexp(logits, axis=-1)
    p = jax.nn.softmax(logits)
    for impl, blocks in IMPLEMENTATIONS:
        loss, stats = jaxloss.linear_cross_entropy(h, w, y, bias=b, return_stats=True,
                                                   implementation=impl, **blocks)
        keep = np.asarray(y != -100)
        entropy = -jnp.sum(p * jnp.log(p), -1)
        np.testing.assert_allclose(stats.logsumexp, np.where(keep, lse, 0), rtol=1e-6)
        np.testing.assert_allclose(stats.entropy, np.where(keep, entropy, 0), rtol=1e-5,
                                   atol=1e-6)
        hits = np.asarray(jnp.argmax(logits, -1) == y)
        np.testing.assert_array_equal(stats.accuracy, hits & keep)
        # The stats are for logging: they carry no gradient.
        grad = jax.grad(lambda h, impl=impl: jnp.sum(jaxloss.linear_cross_entropy(
            h, w, y, return_stats=True, implementation=impl)[1].logsumexp))(h)
        assert not np.any(np.asarray(grad))


def test_jit_and_vmap_compose():
    h, w, b, y = _data(shape=(4, 9), ignored=(2,))

    def one(h, y):
        return jaxloss.linear_cross_entropy(h, w, y, bias=b, implementation="blocked",
                                            block_size=4, vocab_block_size=16)

    mapped = jax.jit(jax.vmap(jax.value_and_grad(one)))(h, y)
    for i in range(4):
        _close(jax.tree.map(lambda x, i=i: x[i], mapped), jax.value_and_grad(one)(h[i], y[i]))


def test_reference_supports_forward_mode_and_blocked_refuses_it():
    h, w, b, y = _data()
    tangent = jnp.ones_like(h)
    f = lambda impl: lambda h: jaxloss.linear_cross_entropy(  # noqa: E731
        h, w, y, bias=b, implementation=impl)
    _, jvp = jax.jvp(f("reference"), (h,), (tangent,))
    np.testing.assert_allclose(jvp, jnp.sum(jax.grad(f("blocked"))(h) * tangent), rtol=1e-5)
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(f("blocked"), (h,), (tangent,))


def _temp_bytes(impl, n, d, v, dtype=jnp.float32, **blocks):
    shapes = (jax.ShapeDtypeStruct((n, d), dtype), jax.ShapeDtypeStruct((v, d), dtype),
              jax.ShapeDtypeStruct((n,), jnp.int32))

    def step(h, w, y):
        return jax.value_and_grad(lambda h, w: jaxloss.linear_cross_entropy(
            h, w, y, implementation=impl, **blocks), (0, 1))(h, w)

    return jax.jit(step).lower(*shapes).compile().memory_analysis().temp_size_in_bytes


def test_temporary_memory_does_not_grow_with_the_logits():
    """Compiled, never run: XLA's own accounting of temporaries for value_and_grad."""
    n, d, v = 2048, 64, 32768
    blocks = {"block_size": 256, "vocab_block_size": 2048}  # 2 MiB of float32 logits a block
    reference = _temp_bytes("reference", n, d, v)
    blocked = _temp_bytes("blocked", n, d, v, **blocks)
    assert reference >= n * v * 4  # at least the float32 logits
    # A few blocks, the float32 input gradient and the weight gradient's buffer.
    assert blocked < 8 * 256 * 2048 * 4 + 4 * (n * d + v * d), (blocked, reference)
    assert blocked < 0.05 * reference, (blocked, reference)
    # "auto" picks the blocked path at this size.
    assert _temp_bytes("auto", n, d, v, **blocks) == blocked


@pytest.mark.parametrize("call, error, message", [
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w[:, :3], y), ValueError,
     r"^linear_cross_entropy: `input` has shape \(37, 8\) but `weight` has shape \(53, 3\)"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y[:5]), ValueError,
     r"^linear_cross_entropy: `input` has shape \(37, 8\) but `target` has shape \(5,\)"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y, bias=jnp.ones(4)), ValueError,
     r"^linear_cross_entropy: `bias` has shape \(4,\) but must have shape \(53,\)"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w[None], y), ValueError,
     r"^linear_cross_entropy: `weight` must have 2 dimensions"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y.astype(jnp.float32)), TypeError,
     r"^linear_cross_entropy: `target` holds class indices and must have an integer dtype"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h.astype(jnp.int32), w, y), TypeError,
     r"^linear_cross_entropy: `input` must have a floating dtype, got int32"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y, implementation="fast"), ValueError,
     r"^linear_cross_entropy: `implementation` must be one of 'auto', 'blocked' or "
     r"'reference', got 'fast'"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y, block_size=0), ValueError,
     r"^linear_cross_entropy: `block_size` must be a positive int or None, got 0"),
    (lambda h, w, y: jaxloss.linear_cross_entropy(h, w, y, reduction="batchmean"), ValueError,
     r"^linear_cross_entropy: `reduction` must be one of"),
])
def test_errors_name_the_function_argument_and_shapes(call, error, message):
    h, w, _, y = _data()
    with pytest.raises(error, match=message):
        call(h, w, y)


SHARDED = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, jax.numpy as jnp, numpy as np, jaxloss
    from jax.sharding import NamedSharding, PartitionSpec as P
    jax.config.update("jax_numpy_rank_promotion", "raise")
    assert jax.device_count() == 8
    k = jax.random.split(jax.random.key(0), 4)
    n, d, v = 24, 8, 64
    h = jax.random.normal(k[0], (n, d))
    w = jax.random.normal(k[1], (v, d))
    b = jax.random.normal(k[2], (v,))
    y = jax.random.randint(k[3], (n,), 0, v).at[3].set(-100).at[17].set(-100)
    opts = dict(label_smoothing=0.1, z_loss=1e-3, logit_softcap=5.0)
    single = jax.value_and_grad(
        lambda h, w, b: jaxloss.linear_cross_entropy(h, w, y, bias=b, **opts), (0, 1, 2))
    expected = single(h, w, b)
    for shape, names, batch in (((8,), ("model",), None), ((2, 4), ("data", "model"), "data")):
        explicit = (jax.sharding.AxisType.Explicit,) * len(shape)
        mesh = jax.make_mesh(shape, names, axis_types=explicit)
        put = lambda x, spec: jax.device_put(x, NamedSharding(mesh, spec))
        tokens = P(batch)
        args = put(h, tokens), put(w, P("model")), put(b, P("model"))
        ys = put(y, tokens)
        for impl in ("blocked", "reference"):
            def body(h, w, b, y):
                return jaxloss.linear_cross_entropy(
                    h, w, y, bias=b, axis_name="model", batch_axis_name=batch,
                    implementation=impl, block_size=5, vocab_block_size=3, **opts)
            sharded = jax.shard_map(body, mesh=mesh, in_specs=(tokens, P("model"), P("model"),
                                    tokens), out_specs=P())
            f = jax.jit(jax.value_and_grad(lambda h, w, b: sharded(h, w, b, ys), (0, 1, 2)))
            got = f(*args)
            for a, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
                np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=2e-5, atol=2e-6)
            hlo = f.lower(*args).compile().as_text()
            if impl == "blocked":
                # Only per-token scalars and the input gradient travel: no gather at all.
                assert "all-gather" not in hlo, impl
                assert "all-to-all" not in hlo, impl
            print("ok", names, impl)
""")


def test_vocabulary_sharded_on_8_devices_equals_single_device():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True,
                            env=env, cwd=pathlib.Path(__file__).parent, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("ok") == 4


def test_sharded_example_runs_on_8_devices():
    example = pathlib.Path(__file__).parents[1] / "examples" / "sharded_linear_cross_entropy.py"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert out["mesh"] == "{'data': 2, 'model': 4}"
    assert abs(float(out["loss"]) - float(out["single_device_loss"])) < 1e-5
    assert float(out["max_gradient_difference"]) < 1e-6
    assert out["gathers"] == "0"
