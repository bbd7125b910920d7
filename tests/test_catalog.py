"""Properties every public loss must have (DESIGN §3, §4), checked for each catalogue entry and
each of its sample variants, so a loss is covered as soon as it is registered: the catalogue
itself, the baselines, integer label dtypes, jacrev and float64 finite-difference gradients.

The robustness properties (jit == eager, vmap == loop, where == slicing, masked NaN never
leaks, mean over nothing, empty batch, 16-bit inputs, no retrace on a hyperparameter change,
extreme magnitudes) are drawn by hypothesis in tests/test_properties.py, and the error messages
are in tests/test_errors.py."""

from __future__ import annotations

import dataclasses
import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxloss
from jaxloss import catalog

ENTRIES = catalog.ENTRIES
VARIANTS = [(e, v) for e in ENTRIES for v in e.variants]


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


def _close(actual, expected, rtol=1e-6, atol=1e-6):
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64),
                                   rtol=rtol, atol=atol)


def test_catalogue_lists_every_public_loss():
    # A loss is what `loss_function` made (it declares its `indices`); every other export is
    # a class (result types such as LinearCrossEntropyStats) or a utility of the training or
    # checking modules.
    exported = {n: getattr(jaxloss, n) for n in jaxloss.__all__}
    losses = {n for n, f in exported.items() if hasattr(f, "indices")}
    others = {n for n, f in exported.items() if n not in losses and not isinstance(f, type)}
    assert {exported[n].__module__ for n in others} <= {"jaxloss.objective", "jaxloss._checked"}
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


# The benchmarks' inner-axis sizes (benchmarks/cases.py): losses and baselines must agree at
# those too, not only at the small defaults that the other tests use.
WIDE = {"width": 128, "classes": 32, "features": 64}


@by_entry
def test_baseline_computes_the_same_value_with_wide_samples(entry):
    with catalog.sample_dims(**WIDE):
        _, sample = _make((entry, entry.variants[0]), batch=3)
    _close(entry(*sample.args, **sample.kwargs),
           entry.baseline(*sample.args, **sample.kwargs), rtol=1e-4)


def test_sample_dims_set_the_inner_axes_and_are_restored():
    key = jax.random.key(0)
    mse, ce = catalog.get("mse_loss"), catalog.get("cross_entropy")
    triplet = catalog.get("triplet_margin_loss")
    with catalog.sample_dims(width=7, classes=9):
        assert catalog.dims() == catalog.Dims(classes=9, features=4, width=7)
        assert mse.sample(key, 2).args[0].shape == (2, 7)
        logits, labels = ce.sample(key, 50).args
        assert logits.shape == (50, 9) and int(labels.max()) < 9
        with catalog.sample_dims(features=5):  # nested: the other axes are kept
            assert triplet.sample(key, 2).args[0].shape == (2, 5)
            assert mse.sample(key, 2).args[0].shape == (2, 7)
    with catalog.sample_dims(vocab=300):
        hidden, weight, labels = catalog.get("linear_cross_entropy").sample(key, 400).args
        assert weight.shape == (300, 4) and int(labels.max()) < 300 < 2 * int(labels.max())
    with catalog.sample_dims(items=32):
        image, text = catalog.get("clip_loss").sample(key, 2).args
        scores, grades = catalog.get("ranking_softmax_loss").sample(key, 2).args
        assert image.shape == text.shape == (2, 32, 4) and scores.shape == grades.shape == (2, 32)
    with pytest.raises(RuntimeError), catalog.sample_dims(width=11):
        raise RuntimeError
    assert catalog.dims() == catalog.Dims()
    assert mse.sample(key, 2).args[0].shape == (2, 3)


@pytest.mark.parametrize("sizes, error, message", [
    ({"rows": 3}, TypeError, "sample_dims: unknown axis name(s) rows; known: classes"),
    ({"width": -1}, ValueError, "sample_dims: sizes must be non-negative integers"),
    ({"classes": 2.5}, ValueError, "sample_dims: sizes must be non-negative integers"),
    ({"features": True}, ValueError, "sample_dims: sizes must be non-negative integers"),
])
def test_sample_dims_refuse_unknown_axes_and_bad_sizes(sizes, error, message):
    with pytest.raises(error, match=re.escape(message)), catalog.sample_dims(**sizes):
        pass
    assert catalog.dims() == catalog.Dims()


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
def test_jacrev_of_unreduced_loss(entry):
    _, sample = _make((entry, entry.variants[0]), batch=3)
    f = lambda x: entry(x, *sample.args[1:], **sample.kwargs, reduction="none")  # noqa: E731
    jac = jax.jacrev(f)(sample.args[0])
    assert jac.shape == f(sample.args[0]).shape + sample.args[0].shape
    assert np.all(np.isfinite(jac))


# The (loss, inner axis) pairs whose axis may not be empty, with the argument, the axis and
# the kind of entry that the error names (`_checks.nonempty`): integer targets index that axis,
# or the loss normalises over it. Every other inner axis of a sample may be empty.
NEEDS_ONE = {
    ("cross_entropy", "classes"): ("input", -1, "class"),
    ("nll_loss", "classes"): ("input", -1, "class"),
    ("multilabel_soft_margin_loss", "classes"): ("input", -1, "class"),
    ("multilabel_margin_loss", "classes"): ("input", -1, "class"),
    ("multi_margin_loss", "classes"): ("input", -1, "class"),
    ("linear_cross_entropy", "vocab"): ("weight", 0, "vocabulary entry"),
    ("ctc_loss", "classes"): ("log_probs", -1, "class"),
    ("softmax_focal_loss", "classes"): ("input", -1, "class"),
    ("poly1_cross_entropy", "classes"): ("input", -1, "class"),
    ("multiclass_hinge_loss", "classes"): ("input", -1, "class"),
}


def _shapes(sample):
    leaves = jax.tree.leaves((sample.args, dict(sample.kwargs)))
    return [np.shape(x) for x in leaves if not callable(x)]


@by_entry
def test_an_empty_inner_axis_is_refused_or_gives_finite_values(entry):
    """An empty class axis raises an error naming the loss, the argument and its shape; an
    empty feature, width or item axis gives a finite loss and gradient (no raw JAX error from
    a maximum over nothing, no NaN from a mean over nothing)."""
    key = jax.random.key(0)
    refused = set()
    for variant in entry.variants:
        usual = entry.sample(key, 4, jnp.float32, variant)
        for axis in (field.name for field in dataclasses.fields(catalog.Dims)):
            with catalog.sample_dims(**{axis: 0}):
                sample = entry.sample(key, 4, jnp.float32, variant)
            if _shapes(sample) == _shapes(usual):
                continue  # this maker does not use the axis
            if not _valid_with_one(entry, variant, axis):
                continue  # hyperparameter arrays made for the default size (`sample_dims`)
            need = NEEDS_ONE.get((entry.name, axis))
            if need is not None:
                name, index, what = need
                shape = jnp.shape(sample.args[_names(entry).index(name)])
                with pytest.raises(ValueError, match=re.escape(
                    f"{entry.name}: `{name}` has shape {shape}, with no {what} on axis "
                    f"{index}; the loss needs at least one"
                )):
                    entry(*sample.args, **sample.kwargs)
                refused.add(axis)
                continue
            argnums = _argnums(entry, sample)

            def f(*differentiated, sample=sample, argnums=argnums):
                args = list(sample.args)
                for i, x in zip(argnums, differentiated, strict=True):
                    args[i] = x
                return entry(*args, **sample.kwargs)

            value, grads = jax.value_and_grad(f, argnums=tuple(range(len(argnums))))(
                *(sample.args[i] for i in argnums))
            assert np.isfinite(value), (variant, axis, value)
            for g in grads:
                assert np.all(np.isfinite(g)), (variant, axis)
    assert refused == {axis for (name, axis) in NEEDS_ONE if name == entry.name}


def _valid_with_one(entry, variant, axis):
    with catalog.sample_dims(**{axis: 1}):
        sample = entry.sample(jax.random.key(0), 4, jnp.float32, variant)
    try:
        jax.eval_shape(lambda: entry(*sample.args, **sample.kwargs))
    except ValueError:
        return False
    return True


def _names(entry):
    return list(inspect.signature(entry.fn).parameters)


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
