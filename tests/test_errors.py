"""Bad input raises clear errors at trace time (issue 8; DESIGN §3.3, §3.7): every message names
the function, the argument and the offending values or shapes.

The first tests are generic, driven by the catalogue (every entry, its default sample, one
argument spoiled at a time); the table at the end spells out each message of each loss. None of
these calls compiles anything: the errors are raised while tracing, or before it for option
values given as Python or NumPy numbers (traced values cannot be checked, see the last test).
"""

from __future__ import annotations

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import catalog

ENTRIES = catalog.ENTRIES
BATCH = 6


def _ids(entry):
    return entry.name


by_entry = pytest.mark.parametrize("entry", ENTRIES, ids=_ids)


def _sample(entry):
    return entry.sample(jax.random.key(0), BATCH, jnp.float32)


def _names(entry):
    return list(inspect.signature(entry.fn).parameters)


def _where_for(entry, sample, keep):
    shape = jax.eval_shape(lambda: entry(*sample.args, **sample.kwargs, reduction="none")).shape
    return jnp.asarray(keep).reshape((keep.shape[0],) + (1,) * (len(shape) - 1))


def _shape(shape):
    return re.escape(str(tuple(shape)))


@by_entry
def test_invalid_reduction_is_refused(entry):
    # "batchmean" is kl_div's alone, as in PyTorch; "elementwise_mean" is PyTorch's old name
    # for "mean", which no loss takes.
    sample = _sample(entry)
    if entry.name == "kl_div":
        valid, bad = "'mean', 'sum', 'none' or 'batchmean'", ["elementwise_mean"]
    else:
        valid, bad = "'mean', 'sum' or 'none'", ["elementwise_mean", "batchmean"]
    for reduction in bad:
        with pytest.raises(ValueError, match=rf"^{entry.name}: `reduction` must be one of "
                                             rf"{valid}, got '{reduction}'"):
            entry(*sample.args, **sample.kwargs, reduction=reduction)


@by_entry
def test_where_must_broadcast_to_the_loss(entry):
    sample = _sample(entry)
    with pytest.raises(ValueError, match=rf"^{entry.name}: `where` has shape \(7,\), which does "
                                         r"not broadcast to the unreduced loss shape \(6"):
        entry(*sample.args, **sample.kwargs, where=jnp.ones(7, bool))


@by_entry
def test_where_must_be_boolean(entry):
    sample = _sample(entry)
    where = _where_for(entry, sample, np.ones(BATCH, bool)).astype(jnp.float32)
    with pytest.raises(TypeError, match=rf"^{entry.name}: `where` must be a boolean mask, got "
                                        r"dtype float32"):
        entry(*sample.args, **sample.kwargs, where=where)


@by_entry
def test_float_labels_are_refused(entry):
    if not entry.integer_argnums:
        pytest.skip("no integer-only arguments")
    sample = _sample(entry)
    for i in entry.integer_argnums:
        args = list(sample.args)
        args[i] = args[i].astype(jnp.float32)
        with pytest.raises(TypeError, match=rf"^{entry.name}: `\w+` .*integer dtype, got float32"):
            entry(*args, **sample.kwargs)


def _spoiled_calls(entry, spoil):
    """For each positional array of the default sample (weight matrices shared across the batch
    aside), the call with that one array replaced by ``spoil(array)``."""
    sample = _sample(entry)
    names = _names(entry)
    for i, x in enumerate(sample.args):
        if i in sample.shared:
            continue
        args = list(sample.args)
        args[i] = spoil(x)
        yield names[i], args[i].shape, lambda args=args: entry(*args, **sample.kwargs)


def _assert_names(entry, call, name, shape):
    """The message names the loss, the spoiled argument and shapes (that argument's, or the
    one it must have)."""
    with pytest.raises((ValueError, TypeError)) as error:
        call()
    message = str(error.value)
    assert message.startswith(f"{entry.name}: "), message
    assert re.search(rf"\b{name}\b", message), message
    assert re.search(r"shape \(\d", message), message


@by_entry
def test_a_batch_of_another_size_is_refused(entry):
    """No argument's batch may differ from the others' (no silent broadcasting)."""
    if sum(1 for i in range(len(_sample(entry).args)) if i not in _sample(entry).shared) < 2:
        pytest.skip("one batched argument")
    for name, shape, call in _spoiled_calls(entry, lambda x: x[: BATCH - 1]):
        _assert_names(entry, call, name, shape)


@by_entry
def test_an_extra_axis_is_refused(entry):
    """One argument with an axis more than the others (a wrong rank) is refused."""
    if sum(1 for i in range(len(_sample(entry).args)) if i not in _sample(entry).shared) < 2:
        pytest.skip("one batched argument")
    for name, shape, call in _spoiled_calls(
        entry, lambda x: jnp.broadcast_to(x[..., None], x.shape + (2,))
    ):
        _assert_names(entry, call, name, shape)


# Values tried for each checked option: those its predicate refuses must raise.
CANDIDATES = (-1.0, -1e-6, 0.0, 0.6, 1.0, 1.5, np.inf, -np.inf)


@by_entry
def test_invalid_option_values_are_refused(entry):
    valid = getattr(entry.fn, "valid", {})
    if not valid:
        pytest.skip("no checked options")
    sample = _sample(entry)
    names = _names(entry)
    for option, (ok, requirement) in valid.items():
        good = [v for v in CANDIDATES if ok(np.float64(v))]
        bad = [v for v in CANDIDATES if not ok(np.float64(v))]
        assert good and bad, f"{option}: the candidates do not cover both sides"
        for value in (*bad, np.array([good[0], bad[0]])):
            args, kwargs = list(sample.args), {**sample.kwargs}
            if option in names[: len(args)]:
                args[names.index(option)] = value
            else:
                kwargs[option] = value
            shown = (repr(value) if np.ndim(value) == 0 else
                     rf"{bad[0]!r} at index (1,) of an array of shape (2,)")
            message = rf"^{entry.name}: `{option}` must be {re.escape(requirement)}, got "
            with pytest.raises(ValueError, match=message + re.escape(shown) + r"(\n|$)"):
                entry(*args, **kwargs)


def test_traced_option_values_are_not_checked():
    """A JAX array's value is not known at trace time: the loss documents what it gives."""
    x = jnp.array([0.0, 3.0])
    assert np.isfinite(jaxloss.huber_loss(x, jnp.zeros(2), delta=jnp.array(-1.0)))
    with pytest.raises(ValueError, match=r"`delta` must be positive, got -1.0(\n|$)"):
        jaxloss.huber_loss(x, jnp.zeros(2), delta=-1.0)
    with pytest.raises(ValueError, match=r"`delta` must be positive, got -1.0(\n|$)"):
        jax.jit(lambda x: jaxloss.huber_loss(x, jnp.zeros(2), delta=-1.0))(x)


# -- every message, spelled out ---------------------------------------------------------------

z = jnp.zeros
f32 = jnp.float32
i32 = jnp.int32
L = jnp.log(jnp.full((2, 6, 4), 0.25))  # CTC log-probabilities (N, T, C)
BOXES = jnp.array([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 2.0, 3.0]])
SEG = z((2, 3, 4, 3))  # (N, H, W, C)
QUANTILES = jnp.array([0.25, 0.75])


def _case(fn, args, kwargs, error, message):
    return pytest.param(fn, args, kwargs, error, message, id=f"{fn.__name__}: {message[:50]}")


ERRORS = [
    # Shapes of the data arguments.
    _case(jaxloss.mse_loss, (z((4, 3)), z(4)), {}, ValueError,
          "mse_loss: `input` has shape (4, 3) but `target` has shape (4,)"),
    _case(jaxloss.l1_loss, (z((4, 3)), z((4, 3))), {"weight": z(3)}, ValueError,
          "l1_loss: `weight` has shape (3,) but must have shape (4, 3) (the shape of `input`)"),
    _case(jaxloss.binary_cross_entropy, (z((4, 3)), z((4, 3))), {"weight": z(4)}, ValueError,
          "binary_cross_entropy: `weight` has shape (4,), which does not broadcast to "
          "`input`'s shape (4, 3)"),
    _case(jaxloss.cross_entropy, (z((4, 3)), z(5, i32)), {}, ValueError,
          "cross_entropy: `input` has shape (4, 3) but `target` has shape (5,); class-index "
          "targets must have shape input.shape[:-1] = (4,)"),
    _case(jaxloss.cross_entropy, (z(()), z((), i32)), {}, ValueError,
          "cross_entropy: `input` must have at least 1 dimension (the class axis is last), got "
          "shape ()"),
    _case(jaxloss.cross_entropy, (z((4, 3)), z(4, i32)), {"weight": z(4)}, ValueError,
          "cross_entropy: `weight` has shape (4,) but must have shape (3,) (one weight per "
          "class)"),
    _case(jaxloss.cross_entropy, (z((4, 3)), z((4, 3), i32)), {}, TypeError,
          "cross_entropy: `target` has the shape of `input` (4, 3), so it must hold class "
          "probabilities with a floating dtype, got int32"),
    _case(jaxloss.cross_entropy, (z((4, 3)), z(4)), {}, TypeError,
          "cross_entropy: `target` holds class indices and must have an integer dtype, got "
          "float32; probability targets must have `input`'s shape (4, 3)"),
    _case(jaxloss.nll_loss, (z((4, 3), i32), z(4, i32)), {}, TypeError,
          "nll_loss: `input` must have a floating dtype, got int32"),
    _case(jaxloss.mse_loss, (z(3, bool), z(3)), {}, TypeError,
          "mse_loss: `input` must have a floating dtype, got bool"),
    _case(jaxloss.mse_loss, (z(3), z(3, bool)), {}, TypeError,
          "mse_loss: `target` must have a floating or integer dtype, got bool"),
    _case(jaxloss.gaussian_nll_loss, (z((4, 3)), z((4, 3)), z((4, 2))), {}, ValueError,
          "gaussian_nll_loss: `var` has shape (4, 2) but must have `input`'s shape (4, 3), that "
          "shape without its last dimension, that shape with one dimension of size 1, or be a "
          "scalar"),
    _case(jaxloss.cosine_embedding_loss, (z((4, 3)), z((4, 3)), z(3, i32)), {}, ValueError,
          "cosine_embedding_loss: `target` has shape (3,) but must have shape (4,) (`input1`'s "
          "shape without its last axis)"),
    _case(jaxloss.multilabel_margin_loss, (z((4, 3)), z((4, 2), i32)), {}, ValueError,
          "multilabel_margin_loss: `input` has shape (4, 3) but `target` has shape (4, 2)"),
    _case(jaxloss.triplet_margin_loss, (z((4, 3)), z((4, 3)), z((4, 2))), {}, ValueError,
          "triplet_margin_loss: `anchor` has shape (4, 3) but `negative` has shape (4, 2)"),
    _case(jaxloss.triplet_margin_with_distance_loss, (z((4, 3)),) * 3,
          {"distance_function": jnp.subtract}, ValueError,
          "triplet_margin_with_distance_loss: `distance_function` returned shape (4, 3) for "
          "inputs of shape (4, 3); it must reduce the last axis, returning shape (4,)"),
    _case(jaxloss.generalized_box_iou_loss, (z((2, 3)), z((2, 3))), {}, ValueError,
          "generalized_box_iou_loss: `input` must have a last axis of size 4 (x1, y1, x2, y2), "
          "got shape (2, 3)"),
    _case(jaxloss.dice_loss, (SEG, z((2, 3, 4, 2))), {}, ValueError,
          "dice_loss: `input` has shape (2, 3, 4, 3) but `target` has shape (2, 3, 4, 2); it "
          "must have `input`'s shape (masks) or `input`'s shape without the class axis "
          "(2, 3, 4) (class indices)"),
    _case(jaxloss.dice_loss, (z(3), z(3)), {}, ValueError,
          "dice_loss: `input` must have at least 2 dimensions (spatial axes, then the class "
          "axis), got shape (3,)"),
    _case(jaxloss.jaccard_loss, (SEG, z((2, 3, 4))), {}, TypeError,
          "jaccard_loss: `target` holds class indices and must have an integer dtype, got "
          "float32; masks must have `input`'s shape (2, 3, 4, 3)"),
    _case(jaxloss.ranking_softmax_loss, (z((2, 5)), z((2, 5))), {"weights": z(5)}, ValueError,
          "ranking_softmax_loss: `weights` has shape (5,) but must have shape (2, 5) (one weight "
          "per item, `scores`' shape)"),
    _case(jaxloss.info_nce_loss, (z((5, 3)), z(4, i32)), {}, ValueError,
          "info_nce_loss: `labels` has shape (4,) but must have shape (5,) (`embeddings`' shape "
          "without its last axis)"),
    _case(jaxloss.info_nce_loss, (z(3), z((), i32)), {}, ValueError,
          "info_nce_loss: `embeddings` must have at least 2 dimensions (items, then the feature "
          "axis), got shape (3,)"),
    _case(jaxloss.clip_loss, (z((4, 3)), z((4, 2))), {}, ValueError,
          "clip_loss: `image_embeddings` has shape (4, 3) but `text_embeddings` has shape (4, 2)"),
    # Scalar options are not broadcast against the loss's own axes.
    _case(jaxloss.info_nce_loss, (z((4, 3)), z(4, i32)), {"temperature": z(4) + 1}, ValueError,
          "info_nce_loss: `temperature` must be a scalar, got shape (4,)"),
    _case(jaxloss.clip_loss, (z((4, 3)), z((4, 3))), {"log_scale": z(4)}, ValueError,
          "clip_loss: `log_scale` must be a scalar, got shape (4,)"),
    _case(jaxloss.siglip_loss, (z((4, 3)), z((4, 3))), {"bias": z(4)}, ValueError,
          "siglip_loss: `bias` must be a scalar, got shape (4,)"),
    _case(jaxloss.dpo_loss, (z(3),) * 4, {"beta": z((5, 3)) + 1}, ValueError,
          "dpo_loss: `beta` must be a scalar, got shape (5, 3)"),
    _case(jaxloss.simpo_loss, (z(3),) * 2, {"gamma": z(3)}, ValueError,
          "simpo_loss: `gamma` must be a scalar, got shape (3,)"),
    _case(jaxloss.dpo_loss, (z(3), z(3), z(3), z(2)), {}, ValueError,
          "dpo_loss: `policy_chosen_logps` has shape (3,) but `reference_rejected_logps` has "
          "shape (2,)"),
    _case(jaxloss.ctc_loss, (z((2, 2, 6, 4)), z((2, 3), i32), z(2, i32), z(2, i32)), {},
          ValueError, "ctc_loss: `log_probs` must have 2 or 3 dimensions ((N, T, C) "
          "batch-first, or (T, C)), got shape (2, 2, 6, 4)"),
    _case(jaxloss.ctc_loss, (L, z((3, 3), i32), z(2, i32), z(2, i32)), {}, ValueError,
          "ctc_loss: `log_probs` has shape (2, 6, 4) but `targets` has shape (3, 3); padded "
          "targets must have shape (N, S) with N = 2"),
    _case(jaxloss.ctc_loss, (L, z((2, 3), i32), z(3, i32), z(2, i32)), {}, ValueError,
          "ctc_loss: `input_lengths` has shape (3,) but must have shape (2,) (one per example: "
          "`log_probs` has shape (2, 6, 4))"),
    _case(jaxloss.ctc_loss, (L, z((2, 3), i32), z(2), z(2, i32)), {}, TypeError,
          "ctc_loss: `input_lengths` holds sequence lengths and must have an integer dtype, "
          "got float32"),
    _case(jaxloss.ctc_loss, (L[0], z((2, 3), i32), z((), i32), z((), i32)), {}, ValueError,
          "ctc_loss: `targets` must have 1 dimension ((S,) with (T, C) `log_probs`), got shape "
          "(2, 3)"),
    _case(jaxloss.ctc_loss, (L, z((2, 3), i32), z(2, i32), z(2, i32)), {"blank": z(2, i32)},
          ValueError, "ctc_loss: `blank` has shape (2,) but must have shape () (one class "
          "index)"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z((5, 2)), z(4, i32)), {}, ValueError,
          "linear_cross_entropy: `input` has shape (4, 3) but `weight` has shape (5, 2); weight "
          "must be (V, 3), one row per vocabulary entry"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z((5, 3)), z(3, i32)), {}, ValueError,
          "linear_cross_entropy: `input` has shape (4, 3) but `target` has shape (3,); it must "
          "be input.shape[:-1] = (4,)"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z((5, 3)), z(4, i32)), {"bias": z(4)},
          ValueError, "linear_cross_entropy: `bias` has shape (4,) but must have shape (5,) "
          "(one bias per vocabulary entry)"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z(3), z(4, i32)), {}, ValueError,
          "linear_cross_entropy: `weight` must have 2 dimensions ((vocabulary, features)), got "
          "shape (3,)"),
    _case(jaxloss.quantile_regression_loss, (z((4, 2)), z(3), z((4, 3))), {}, ValueError,
          "quantile_regression_loss: `tau_src` has shape (3,) but must have shape (4, 2) "
          "(dist_src's shape, or (2,) for shared levels)"),
    _case(jaxloss.quantile_regression_loss, (z((4, 2)), QUANTILES, z((4, 0))), {}, ValueError,
          "quantile_regression_loss: `dist_target` has shape (4, 0) but must have shape (..., M) "
          "with M >= 1 and (...) = dist_src.shape[:-1] = (4,)"),
    _case(jaxloss.q_learning_loss, (z((4, 3)), z(4, i32), z(4), z(5), z((4, 3))), {},
          ValueError, "q_learning_loss: `discount_t` has shape (5,) but must have shape (4,) "
          "(q_tm1.shape[:-1])"),
    _case(jaxloss.q_learning_loss, (z((4, 0)), z(4, i32), z(4), z(4), z((4, 0))), {},
          ValueError, "q_learning_loss: `q_tm1` has shape (4, 0), with no action on axis -1; "
          "the loss needs at least one"),
    _case(jaxloss.entropy_loss, (z((4, 0)),), {}, ValueError,
          "entropy_loss: `logits_t` has shape (4, 0), with no action on axis -1; the loss "
          "needs at least one"),
    _case(jaxloss.policy_gradient_loss, (z((4, 3)), z(4), z(4)), {}, TypeError,
          "policy_gradient_loss: `a_t` holds action indices and must have an integer dtype, "
          "got float32"),
    _case(jaxloss.td_lambda_loss, (z((4, 5)),) * 4, {"lambda_": z(5)}, ValueError,
          "td_lambda_loss: `lambda_` has shape (5,) but must be a scalar or have the "
          "trajectory's shape (4, 5)"),
    _case(jaxloss.td_lambda_loss, (z((4, 5)),) * 4, {"lambda_": 0.5, "time_axis": 2},
          ValueError, "td_lambda_loss: `time_axis` must be an int in [-2, 2) for "
          "2-dimensional trajectories, got 2"),
    _case(jaxloss.td_lambda_loss, (z((4, 5)),) * 4, {"lambda_": z(()).astype(bool)},
          TypeError, "td_lambda_loss: `lambda_` must be a real number or array, got dtype "
          "bool"),
    # Structural options.
    _case(jaxloss.multi_margin_loss, (z((4, 3)), z(4, i32)), {"p": 3}, ValueError,
          "multi_margin_loss: `p` must be 1 or 2, got 3"),
    _case(jaxloss.dpo_loss, (z(3),) * 4, {"loss_type": "kto"}, ValueError,
          "dpo_loss: `loss_type` must be one of 'sigmoid', 'hinge' or 'ipo', got 'kto'"),
    _case(jaxloss.dice_loss, (SEG, SEG), {"activation": "relu"}, ValueError,
          "dice_loss: `activation` must be None, 'sigmoid' or 'softmax', got 'relu'"),
    _case(jaxloss.dice_loss, (SEG, SEG), {"axis": ()}, ValueError,
          "dice_loss: `axis` must be a non-empty tuple of ints, got ()"),
    _case(jaxloss.dice_loss, (SEG, SEG), {"axis": (-5,)}, ValueError,
          "dice_loss: `axis` (-5,) is out of range for `input` of rank 4"),
    _case(jaxloss.tversky_loss, (SEG, SEG), {"axis": (-2, -1)}, ValueError,
          "tversky_loss: `axis` (-2, -1) must name distinct spatial axes, not the class axis "
          "(the last one)"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z((5, 3)), z(4, i32)),
          {"implementation": "fast"}, ValueError,
          "linear_cross_entropy: `implementation` must be one of 'auto', 'blocked' or "
          "'reference', got 'fast'"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z((5, 3)), z(4, i32)),
          {"block_size": 0}, ValueError,
          "linear_cross_entropy: `block_size` must be a positive int or None, got 0"),
    _case(jaxloss.ppo_value_loss, (z(3), z(3)), {"epsilon": 0.2}, ValueError,
          "ppo_value_loss: `epsilon` clips `values` around `old_values`, which is None"),
    # Option values given as Python or NumPy numbers (the examples first).
    _case(jaxloss.huber_loss, (z(3), z(3)), {"delta": -1.0}, ValueError,
          "huber_loss: `delta` must be positive, got -1.0"),
    _case(jaxloss.poisson_nll_loss, (z(3), z(3)), {"eps": -1e-8}, ValueError,
          "poisson_nll_loss: `eps` must be non-negative, got -1e-08"),
    _case(jaxloss.gaussian_nll_loss, (z(3), z(3), np.array([1.0, -0.5, 2.0])), {}, ValueError,
          "gaussian_nll_loss: `var` must be non-negative, got -0.5 at index (1,) of an array of "
          "shape (3,)"),
    _case(jaxloss.gaussian_nll_loss, (z(3), z(3), -1.0), {}, ValueError,
          "gaussian_nll_loss: `var` must be non-negative, got -1.0"),
    _case(jaxloss.gaussian_nll_loss, (z(3), z(3), 1.0), {"eps": 0.0}, ValueError,
          "gaussian_nll_loss: `eps` must be positive, got 0.0"),
    _case(jaxloss.cross_entropy, (z((4, 3)), z(4, i32)), {"label_smoothing": 1.5}, ValueError,
          "cross_entropy: `label_smoothing` must be in [0, 1], got 1.5"),
    _case(jaxloss.cross_entropy, (z((4, 3)), z(4, i32)), {"label_smoothing": np.float32(-0.25)},
          ValueError, "cross_entropy: `label_smoothing` must be in [0, 1], got -0.25"),
    _case(jaxloss.quantile_loss, (z(3), z(3)), {"quantile": 1.0}, ValueError,
          "quantile_loss: `quantile` must be in (0, 1), got 1.0"),
    _case(jaxloss.quantile_loss, (z((2, 3)), z((2, 3))), {"quantile": np.array([0.1, 0.5, 0.0])},
          ValueError, "quantile_loss: `quantile` must be in (0, 1), got 0.0 at index (2,) of an "
          "array of shape (3,)"),
    _case(jaxloss.smooth_l1_loss, (z(3), z(3)), {"beta": -0.5}, ValueError,
          "smooth_l1_loss: `beta` must be non-negative, got -0.5"),
    _case(jaxloss.triplet_margin_loss, (z((4, 3)),) * 3, {"p": 0.0}, ValueError,
          "triplet_margin_loss: `p` must be positive (or inf), got 0.0"),
    _case(jaxloss.triplet_margin_loss, (z((4, 3)),) * 3, {"margin": -1.0}, ValueError,
          "triplet_margin_loss: `margin` must be positive, got -1.0"),
    _case(jaxloss.triplet_margin_with_distance_loss, (z((4, 3)),) * 3, {"margin": 0.0},
          ValueError, "triplet_margin_with_distance_loss: `margin` must be positive, got 0.0"),
    _case(jaxloss.info_nce_loss, (z((5, 3)), z(5, i32)), {"temperature": 0.0}, ValueError,
          "info_nce_loss: `temperature` must be positive, got 0.0"),
    _case(jaxloss.dpo_loss, (z(3),) * 4, {"beta": 0.0}, ValueError,
          "dpo_loss: `beta` must be positive, got 0.0"),
    _case(jaxloss.simpo_loss, (z(3),) * 2, {"label_smoothing": 0.7}, ValueError,
          "simpo_loss: `label_smoothing` must be in [0, 0.5], got 0.7"),
    _case(jaxloss.tversky_loss, (SEG, SEG), {"alpha": -0.1}, ValueError,
          "tversky_loss: `alpha` must be non-negative, got -0.1"),
    _case(jaxloss.jaccard_loss, (SEG, SEG), {"smooth": -1.0}, ValueError,
          "jaccard_loss: `smooth` must be non-negative, got -1.0"),
    _case(jaxloss.complete_box_iou_loss, (BOXES, BOXES), {"eps": -1e-7}, ValueError,
          "complete_box_iou_loss: `eps` must be non-negative, got -1e-07"),
    _case(jaxloss.sigmoid_focal_loss, (z(3), z(3)), {"alpha": 2.0}, ValueError,
          "sigmoid_focal_loss: `alpha` must be at most 1 (or negative, or None, to disable it), "
          "got 2.0"),
    _case(jaxloss.softmax_focal_loss, (z((4, 3)), z(4, i32)), {"gamma": -1.0}, ValueError,
          "softmax_focal_loss: `gamma` must be non-negative, got -1.0"),
    _case(jaxloss.general_robust_loss, (z(3), z(3)), {"scale": 0.0}, ValueError,
          "general_robust_loss: `scale` must be positive, got 0.0"),
    _case(jaxloss.linear_cross_entropy, (z((4, 3)), z((5, 3)), z(4, i32)),
          {"logit_softcap": 0.0}, ValueError,
          "linear_cross_entropy: `logit_softcap` must be positive (or None), got 0.0"),
    _case(jaxloss.td_loss, (z(3),) * 4, {"huber_delta": 0.0}, ValueError,
          "td_loss: `huber_delta` must be positive (or None), got 0.0"),
    _case(jaxloss.td_lambda_loss, (z((4, 5)),) * 4, {"lambda_": 1.5}, ValueError,
          "td_lambda_loss: `lambda_` must be in [0, 1], got 1.5"),
    _case(jaxloss.quantile_regression_loss, (z((4, 2)), np.array([0.5, 1.5]), z((4, 3))), {},
          ValueError, "quantile_regression_loss: `tau_src` must be in [0, 1], got 1.5 at index "
          "(1,) of an array of shape (2,)"),
    _case(jaxloss.ppo_clip_loss, (z(3),) * 3, {"epsilon": -0.2}, ValueError,
          "ppo_clip_loss: `epsilon` must be non-negative, got -0.2"),
    _case(jaxloss.kl_div, (z(3), z(3)), {"reduction": "batch_mean"}, ValueError,
          "kl_div: `reduction` must be one of 'mean', 'sum', 'none' or 'batchmean', got "
          "'batch_mean'"),
    _case(jaxloss.kl_div, (z(3), z(3)), {"where": z(3)}, TypeError,
          "kl_div: `where` must be a boolean mask, got dtype float32"),
    _case(jaxloss.kl_div, (z((2, 3)), z((2, 3))), {"where": z((3, 2), bool)}, ValueError,
          "kl_div: `where` has shape (3, 2), which does not broadcast to the unreduced loss "
          "shape (2, 3)"),
    _case(jaxloss.checked, (jnp.sum,), {}, TypeError,
          "checked: 'sum' is not a jaxloss loss (it declares no `indices`)"),
]


@pytest.mark.parametrize(("fn", "args", "kwargs", "error", "message"), ERRORS)
def test_error_message(fn, args, kwargs, error, message):
    # JAX appends a note on its traceback filtering to errors raised while tracing.
    with pytest.raises(error, match="^" + re.escape(message) + r"(\n|$)"):
        fn(*args, **kwargs)
