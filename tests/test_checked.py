"""`jaxloss.checked`: out-of-range integer indices raise an error naming the loss, the argument,
the range, the value and its index (issue 8; DESIGN §3.7). Without it they make the loss NaN.

The generic test spoils one index of each declared index argument of each catalogue entry's
default sample; the others spell out the exemptions (``ignore_index``, ``where``, the entries a
loss ignores by design) and the use under ``jit``, ``vmap`` and ``grad``.
"""

from __future__ import annotations

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxloss
from jaxloss import catalog

BATCH = 6


def _indexed(entry):
    """(entry, spec) for each declared index argument passed positionally by the sample."""
    names = list(inspect.signature(entry.fn).parameters)
    sample = entry.sample(jax.random.key(0), BATCH, jnp.float32)
    return [(entry, spec) for spec in entry.fn.indices
            if spec.arg in names[: len(sample.args)]
            and not jnp.issubdtype(sample.args[names.index(spec.arg)].dtype, jnp.floating)]


CASES = [case for entry in catalog.ENTRIES for case in _indexed(entry)]


def _where_counted(sample, names, spec, x):
    """An entry of `x` that the loss reads as an index: the first position of the first row
    that is not ended at once (multilabel's -1) or empty (CTC's zero target lengths)."""
    if x.ndim == 1:
        return (0,)
    for row in range(x.shape[0]):
        if spec.end is not None and x[row, 0] == spec.end:
            continue
        if spec.lengths is not None and sample.args[names.index(spec.lengths)][row] == 0:
            continue
        return (row,) + (0,) * (x.ndim - 1)
    raise AssertionError("no counted entry in the sample")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].name}-{c[1].arg}")
def test_an_out_of_range_index_is_named(case):
    entry, spec = case
    names = list(inspect.signature(entry.fn).parameters)
    sample = entry.sample(jax.random.key(0), BATCH, jnp.float32)
    position = names.index(spec.arg)
    x = np.array(sample.args[position])
    size = np.shape(sample.args[names.index(spec.size_of)])[spec.axis]
    loss = jaxloss.checked(entry.fn)
    expected = entry.fn(*sample.args, **sample.kwargs)
    for a, e in zip(jax.tree.leaves(loss(*sample.args, **sample.kwargs)),
                    jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, e)  # valid indices: the loss itself

    index = _where_counted(sample, names, spec, x)
    for bad in (size + 1 if spec.inclusive else size, -3):
        spoiled = x.copy()
        spoiled[index] = bad
        args = list(sample.args)
        args[position] = jnp.asarray(spoiled)
        unchecked = entry(*args, **sample.kwargs)
        assert not np.isfinite(unchecked) or spec.inclusive, "the documented NaN"
        allowed = rf"\[0, {size}\]" if spec.inclusive else rf"\[0, {size}\)"
        message = (rf"^{entry.name}: `{spec.arg}` holds {spec.what}, which must be in {allowed} "
                   rf"\(the size of axis {spec.axis} of `{spec.size_of}`\).*; got {bad} at index "
                   + re.escape(str(index)))
        with pytest.raises(checkify.JaxRuntimeError, match=message):
            loss(*args, **sample.kwargs)


def test_ignored_and_masked_labels_are_allowed():
    logits = jnp.zeros((4, 3))
    loss = jaxloss.checked(jaxloss.cross_entropy)
    labels = jnp.array([0, -100, 2, 9])
    keep = jnp.array([True, True, True, False])
    assert float(loss(logits, labels, where=keep)) == pytest.approx(np.log(3))
    own_ignored = jnp.array([0, 7, 2, 1])
    assert float(loss(logits, own_ignored, ignore_index=7)) == pytest.approx(np.log(3))
    with pytest.raises(checkify.JaxRuntimeError, match=r"or equal `ignore_index` = 7; got -100 "
                                                       r"at index \(1,\)"):
        loss(logits, labels.at[3].set(7), ignore_index=7)
    # ignore_index=None ignores no label: -100 is out of range like any other.
    assert float(loss(logits, jnp.array([0, 1, 2, 1]), ignore_index=None)) == pytest.approx(
        np.log(3))
    message = r"must be in \[0, 3\) \(the size of axis -1 of `input`\); got -100 at index \(1,\)"
    with pytest.raises(checkify.JaxRuntimeError, match=message):
        loss(logits, labels.at[3].set(1), ignore_index=None)
    # Probability targets hold no indices.
    assert np.isfinite(loss(logits, jnp.full((4, 3), 1 / 3)))


def test_entries_a_loss_ignores_by_design_are_not_checked():
    scores = jnp.zeros((2, 4))
    rows = jnp.array([[3, 0, -1, 99], [-1, -7, 5, 5]])  # after the first -1: not indices
    assert np.isfinite(jaxloss.checked(jaxloss.multilabel_margin_loss)(scores, rows))
    log_probs = jax.nn.log_softmax(jnp.zeros((2, 6, 4)))
    ctc = jaxloss.checked(jaxloss.ctc_loss)
    padded = jnp.array([[1, 2, -1], [3, 99, 99]])  # past each target length: padding
    assert np.all(np.isfinite(ctc(log_probs, padded, jnp.array([6, 5]), jnp.array([2, 1]),
                                  reduction="none")))
    with pytest.raises(checkify.JaxRuntimeError, match=r"and differ from `blank` = 0; got 0 at "
                                                       r"index \(1, 0\)"):
        ctc(log_probs, padded.at[1, 0].set(0), jnp.array([6, 5]), jnp.array([2, 1]))
    with pytest.raises(checkify.JaxRuntimeError, match=r"^ctc_loss: `blank` holds the blank "
                                                       r"class index, which must be in \[0, 4\)"
                                                       r".*; got 4 at index \(\)"):
        ctc(log_probs, padded, jnp.array([6, 5]), jnp.array([2, 1]), blank=4)
    # Concatenated targets must be exactly as long as the lengths add up to (unchecked: NaN).
    flat, lengths = jnp.array([1, 2, 1, 3]), jnp.array([2, 1])
    assert np.all(np.isnan(jaxloss.ctc_loss(log_probs, flat, jnp.array([6, 5]), lengths,
                                            reduction="none")))
    with pytest.raises(checkify.JaxRuntimeError, match=r"^ctc_loss: `target_lengths` must sum "
                                                       r"to the length of the concatenated "
                                                       r"`targets`, 4; they sum to 3"):
        ctc(log_probs, flat, jnp.array([6, 5]), lengths)
    assert np.all(np.isfinite(ctc(log_probs, flat, jnp.array([6, 5]), jnp.array([2, 2]),
                                  reduction="none")))
    segmentation = jaxloss.checked(jaxloss.dice_loss)
    labels = jnp.zeros((2, 3, 4), jnp.int32).at[1, 2, 3].set(3)
    example = jnp.array([[True, True], [False, False]])  # (N, C): example 1 dropped
    assert np.isfinite(segmentation(jnp.zeros((2, 3, 4, 2)), labels, activation="softmax",
                                    where=example))


def test_under_jit_vmap_and_grad():
    """Inside a transformation the check is staged: functionalise it with checkify."""
    loss = jaxloss.checked(jaxloss.nll_loss)
    log_probs = jax.nn.log_softmax(jnp.zeros((2, 4, 3)))
    labels = jnp.array([[0, 1, 2, 0], [2, 2, 3, 1]])

    @jax.jit
    @checkify.checkify
    def per_batch_grads(x, y):
        return jax.vmap(jax.grad(loss))(x, y)

    error, grads = per_batch_grads(log_probs, labels.at[1, 2].set(1))
    error.throw()
    assert grads.shape == log_probs.shape and np.all(np.isfinite(grads))
    error, _ = per_batch_grads(log_probs, labels)
    with pytest.raises(checkify.JaxRuntimeError, match=r"^nll_loss: .* got 3 at index \(2,\)"):
        error.throw()
    with pytest.raises(ValueError, match="checkify"):  # not functionalised: JAX refuses
        jax.jit(loss)(log_probs[0], labels[0])


def test_option_values_are_still_checked():
    with pytest.raises(ValueError, match=r"^cross_entropy: `label_smoothing` must be in \[0, 1\], "
                                         r"got 1.5 at index \(1,\)"):
        jaxloss.checked(jaxloss.cross_entropy)(jnp.zeros((2, 3)), jnp.array([0, 1]),
                                               label_smoothing=np.array([0.0, 1.5]))


def test_losses_without_indices_are_returned_unchanged():
    assert jaxloss.checked(jaxloss.mse_loss) is jaxloss.mse_loss
    assert jaxloss.checked(jaxloss.info_nce_loss) is jaxloss.info_nce_loss
