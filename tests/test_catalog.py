"""Properties every public loss must have (DESIGN §3, §4 c-f), checked for each catalogue entry
and each of its sample variants, so a loss is covered as soon as it is registered."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxloss
from jaxloss import catalog

ENTRIES = catalog.ENTRIES
VARIANTS = [(e, v) for e in ENTRIES for v in e.variants]
REDUCTIONS = ("mean", "sum", "none")


def _ids(case):
    return f"{case[0].name}-{case[1]}" if isinstance(case, tuple) else case.name


by_entry = pytest.mark.parametrize("entry", ENTRIES, ids=_ids)
by_variant = pytest.mark.parametrize("case", VARIANTS, ids=_ids)


def _is_float(x):
    return jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)


def _make(case, batch=6, dtype=jnp.float32, seed=0):
    entry, variant = case
    return entry, entry.sample(jax.random.key(seed), batch, dtype, variant)


def _argnums(entry, sample):
    return tuple(i for i in entry.grad_argnums if _is_float(sample.args[i]))


def _value_and_grads(entry, sample, args=None, **options):
    args = sample.args if args is None else args
    kwargs = {**sample.kwargs, **options}
    f = lambda *a: entry(*a, **kwargs)  # noqa: E731
    return jax.value_and_grad(f, argnums=_argnums(entry, sample))(*args)


def _split(sample):
    """The arrays with a batch axis: (positional args, with None for the shared ones, batched
    keyword arrays); and a function making a whole call's (args, kwargs) from such arrays."""
    args = tuple(None if i in sample.shared else a for i, a in enumerate(sample.args))
    batched = {k: sample.kwargs[k] for k in sample.batched}

    def full(args, batched):
        args = tuple(sample.args[i] if i in sample.shared else a for i, a in enumerate(args))
        return args, {**sample.kwargs, **batched}

    return (args, batched), full


def _map_batched(sample, fn):
    """Applies `fn` to every array with a batch axis."""
    data, full = _split(sample)
    args, kwargs = full(*jax.tree.map(fn, data))
    return dataclasses.replace(sample, args=args, kwargs=kwargs)


def _map_arrays(sample, fn):
    """Applies `fn` to every array of the sample, batched or not."""
    conv = lambda x: fn(x) if isinstance(x, jax.Array) else x  # noqa: E731
    kwargs = {k: conv(v) for k, v in sample.kwargs.items()}
    return dataclasses.replace(sample, args=tuple(map(conv, sample.args)), kwargs=kwargs)


def _close(actual, expected, rtol=1e-6, atol=1e-6):
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64),
                                   rtol=rtol, atol=atol)


def _where_for(entry, sample, keep):
    """`keep` over the batch, shaped to broadcast against the unreduced loss."""
    shape = jax.eval_shape(lambda: entry(*sample.args, **sample.kwargs, reduction="none")).shape
    return jnp.asarray(keep).reshape((keep.shape[0],) + (1,) * (len(shape) - 1))


KEEP = np.array([True, False, True, True, False, True])


def test_catalogue_lists_every_public_loss():
    # Every exported function outside the training utilities is a loss; classes (result
    # types such as LinearCrossEntropyStats) are not.
    losses = {n for n in jaxloss.__all__ if not isinstance(getattr(jaxloss, n), type)
              and getattr(jaxloss, n).__module__ != "jaxloss.objective"}
    assert sorted(catalog.names()) == sorted(losses)
    for entry in ENTRIES:
        assert entry.fn is getattr(jaxloss, entry.name)
        assert entry.fn.__doc__ and "$$" in entry.fn.__doc__, f"{entry.name}: no formula"
        assert ">>>" in entry.fn.__doc__, f"{entry.name}: no example"


@by_entry
def test_baseline_computes_the_same_value(entry):
    _, sample = _make((entry, entry.variants[0]), batch=16)
    _close(entry(*sample.args, **sample.kwargs),
           entry.baseline(*sample.args, **sample.kwargs), rtol=1e-4)


@by_variant
def test_jit_matches_eager(case):
    entry, sample = _make(case)
    compiled = _value_and_grads(entry, sample)
    with jax.disable_jit():
        eager = _value_and_grads(entry, sample)
    _close(compiled, eager, rtol=1e-5)


@by_variant
def test_vmap_of_unbatched_call_matches_batched_call(case):
    entry, sample = _make(case)
    data, full = _split(sample)

    def one(args, batched):
        args, kwargs = full(args, batched)
        return entry(*args, **kwargs, reduction="none")

    _close(jax.vmap(one)(*data), entry(*sample.args, **sample.kwargs, reduction="none"))


@by_variant
def test_vmap_over_batches_matches_loop(case):
    entry, sample = _make(case, batch=12)
    stacked = _map_batched(sample, lambda x: x.reshape((3, 4) + x.shape[1:]))
    (args, batched), full = _split(stacked)

    def loss(x, others, kw):  # differentiated with respect to the first (floating) argument
        call_args, call_kwargs = full((x, *others), kw)
        return entry(*call_args, **call_kwargs)

    mapped = jax.vmap(jax.value_and_grad(loss))(args[0], args[1:], batched)
    for b in range(3):
        one = jax.tree.map(lambda x, b=b: x[b], (args, batched))
        _close(jax.tree.map(lambda x, b=b: x[b], mapped),
               jax.value_and_grad(loss)(one[0][0], one[0][1:], one[1]), rtol=1e-5)


@by_variant
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_where_equals_slicing(case, reduction):
    entry, sample = _make(case)
    where = _where_for(entry, sample, KEEP)
    masked = entry(*sample.args, **sample.kwargs, where=where, reduction=reduction)
    kept = _map_batched(sample, lambda x: x[KEEP])
    sliced = entry(*kept.args, **kept.kwargs, reduction=reduction)
    if reduction == "none":
        assert not np.any(np.asarray(masked)[~KEEP])
        masked = masked[KEEP]
    _close(masked, sliced, rtol=1e-5)


def _poison(x):
    """NaN in floats, an out-of-range -7 in integers, on the rows KEEP drops."""
    bad = jnp.nan if _is_float(x) else -7
    drop = jnp.asarray(~KEEP).reshape((-1,) + (1,) * (x.ndim - 1))
    return jnp.where(drop, jnp.asarray(bad, x.dtype), x)


def _value_and_all_grads(entry, sample, where):
    """Value and gradients with respect to the floating data arguments, the floating keyword
    arrays (weights) and the numeric hyperparameters (at their second catalogue value)."""
    argnums = _argnums(entry, sample)
    options = {k: v for k, v in sample.kwargs.items() if isinstance(v, jax.Array) and _is_float(v)}
    for name, (_, value) in entry.hyperparameters.items():
        if name not in options and _is_float(value):
            options[name] = jnp.asarray(value, jnp.float32)
    fixed = {k: v for k, v in sample.kwargs.items() if k not in options}

    def loss(data, options):
        args = list(sample.args)
        for i, x in zip(argnums, data, strict=True):
            args[i] = x
        return entry(*args, **fixed, **options, where=where)

    data = tuple(sample.args[i] for i in argnums)
    return jax.value_and_grad(loss, argnums=(0, 1))(data, options)


@by_variant
def test_masked_nan_and_garbage_change_neither_value_nor_any_gradient(case):
    entry, sample = _make(case)
    where = _where_for(entry, sample, KEEP)
    clean = _value_and_all_grads(entry, sample, where)
    dirty = _value_and_all_grads(entry, _map_batched(sample, _poison), where)
    assert np.isfinite(float(dirty[0]))
    data_grads, option_grads = dirty[1]
    for i, g in zip(_argnums(entry, sample), data_grads, strict=True):
        if i not in sample.shared:
            assert not np.any(np.asarray(g)[~KEEP])
    for g in jax.tree.leaves(dirty[1]):
        assert np.all(np.isfinite(g))
    _close(dirty, clean, rtol=0, atol=0)


@by_variant
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mean_over_nothing_is_zero_with_zero_gradient(case, reduction):
    entry, sample = _make(case)
    where = _where_for(entry, sample, np.zeros(6, bool))
    value, grads = _value_and_grads(entry, sample, where=where, reduction=reduction)
    assert float(value) == 0.0
    for g in jax.tree.leaves(grads):
        assert not np.any(g)


@by_variant
def test_empty_batch(case):
    entry, sample = _make(case, batch=0)
    for reduction in ("mean", "sum"):
        value, grads = _value_and_grads(entry, sample, reduction=reduction)
        assert float(value) == 0.0
        for g, i in zip(grads, _argnums(entry, sample), strict=True):
            assert g.shape == sample.args[i].shape
    none = entry(*sample.args, **sample.kwargs, reduction="none")
    assert none.shape[0] == 0


@by_variant
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
def test_half_precision_computes_in_float32(case, dtype):
    entry, sample = _make(case)
    low = _map_arrays(sample, lambda x: x.astype(dtype) if _is_float(x) else x)
    up = _map_arrays(low, lambda x: x.astype(jnp.float32) if _is_float(x) else x)
    for reduction in REDUCTIONS:
        result = entry(*low.args, **low.kwargs, reduction=reduction)
        assert result.dtype == jnp.float32
        _close(result, entry(*up.args, **up.kwargs, reduction=reduction), rtol=1e-6)
    _, grads = _value_and_grads(entry, low)
    assert all(g.dtype == dtype for g in grads)


@by_entry
def test_any_integer_label_dtype(entry):
    _, sample = _make((entry, entry.variants[0]))
    expected = entry(*sample.args, **sample.kwargs)
    integer = [i for i, a in enumerate(sample.args) if not _is_float(a)]
    if not integer:
        pytest.skip("no integer arguments")
    for dtype in (jnp.int8, jnp.int16, jnp.uint8, jnp.uint32):
        args = list(sample.args)
        if jnp.issubdtype(dtype, jnp.unsignedinteger) and any(
            np.any(np.asarray(args[i]) < 0) for i in integer
        ):
            continue
        for i in integer:
            args[i] = args[i].astype(dtype)
        _close(entry(*args, **sample.kwargs), expected, rtol=0, atol=0)


@by_entry
def test_int64_labels(entry, x64):
    _, sample = _make((entry, entry.variants[0]))
    integer = [i for i, a in enumerate(sample.args) if not _is_float(a)]
    if not integer:
        pytest.skip("no integer arguments")
    args = list(sample.args)
    for i in integer:
        args[i] = args[i].astype(jnp.int64)
    assert args[integer[0]].dtype == jnp.int64
    _close(entry(*args, **sample.kwargs), entry(*sample.args, **sample.kwargs), 0, 0)


@by_entry
def test_numeric_hyperparameters_do_not_recompile(entry):
    if not entry.hyperparameters:
        pytest.skip("no numeric hyperparameters")
    for name, (first, second) in entry.hyperparameters.items():
        changed = False
        for variant in entry.variants:
            _, sample = _make((entry, variant))
            a = entry(*sample.args, **{**sample.kwargs, name: first})
            compiled = entry.fn._cache_size()
            b = entry(*sample.args, **{**sample.kwargs, name: second})
            assert entry.fn._cache_size() == compiled, f"changing {name} recompiled ({variant})"
            changed |= not np.allclose(a, b)
        assert changed, f"{name} has no effect on any sample"


@by_entry
def test_invalid_reduction_is_refused(entry):
    _, sample = _make((entry, entry.variants[0]))
    with pytest.raises(ValueError, match=rf"^{entry.name}: `reduction` must be one of 'mean', "
                                         r"'sum' or 'none', got 'batchmean'"):
        entry(*sample.args, **sample.kwargs, reduction="batchmean")


@by_entry
def test_where_must_broadcast_to_the_loss(entry):
    _, sample = _make((entry, entry.variants[0]))
    with pytest.raises(ValueError, match=rf"^{entry.name}: `where` has shape \(7,\), which does "
                                         r"not broadcast to the unreduced loss shape \(6"):
        entry(*sample.args, **sample.kwargs, where=jnp.ones(7, bool))


@by_entry
def test_where_must_be_boolean(entry):
    _, sample = _make((entry, entry.variants[0]))
    where = _where_for(entry, sample, KEEP).astype(jnp.float32)
    with pytest.raises(TypeError, match=rf"^{entry.name}: `where` must be a boolean mask"):
        entry(*sample.args, **sample.kwargs, where=where)


@by_entry
def test_float_labels_are_refused(entry):
    if not entry.integer_argnums:
        pytest.skip("no integer-only arguments")
    _, sample = _make((entry, entry.variants[0]))
    for i in entry.integer_argnums:
        args = list(sample.args)
        args[i] = args[i].astype(jnp.float32)
        with pytest.raises(TypeError, match=rf"^{entry.name}: `\w+` .*integer dtype, got float32"):
            entry(*args, **sample.kwargs)


@by_entry
def test_jacrev_of_unreduced_loss(entry):
    _, sample = _make((entry, entry.variants[0]), batch=3)
    f = lambda x: entry(x, *sample.args[1:], **sample.kwargs, reduction="none")  # noqa: E731
    jac = jax.jacrev(f)(sample.args[0])
    assert jac.shape == f(sample.args[0]).shape + sample.args[0].shape
    assert np.all(np.isfinite(jac))


def _check_grads(entry, sample, order, modes):
    argnums = _argnums(entry, sample)

    def f(*differentiated):
        args = list(sample.args)
        for i, x in zip(argnums, differentiated, strict=True):
            args[i] = x
        return entry(*args, **sample.kwargs, reduction="sum")

    check_grads(f, tuple(sample.args[i] for i in argnums), order=order, modes=modes,
                eps=1e-6, atol=1e-5, rtol=1e-5)


@by_variant
def test_gradients_match_finite_differences_in_float64(case, x64):
    if not case[0].exact_gradient:
        pytest.skip("gradient holds a factor constant by design")
    entry, sample = _make(case, batch=4, dtype=jnp.float64, seed=1)
    _check_grads(entry, sample, order=1,
                 modes=("rev",) if case[1] in entry.reverse_only else ("fwd", "rev"))


@by_entry
def test_second_derivatives_match_finite_differences_in_float64(entry, x64):
    if not entry.smooth or not entry.exact_gradient:
        pytest.skip("not twice differentiable, or not the value's derivative")
    _, sample = _make((entry, entry.variants[0]), batch=3, dtype=jnp.float64, seed=2)
    _check_grads(entry, sample, order=2, modes=("rev",))
