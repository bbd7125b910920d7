"""ctc_loss against a brute-force sum over every alignment, plus its gradients, infeasible and
out-of-range cases, target layouts and error messages. PyTorch parity is in test_golden.py;
jit, vmap, `where` vs slicing, 16-bit and empty batches are tested for every loss elsewhere."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxloss


def brute_force_nll(log_probs, target, blank):
    """-log of the total probability of the frame-level paths through `log_probs` (T, C) that
    give `target` once repeats are merged and blanks removed; inf if there is none."""
    frames, classes = log_probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == list(target):
            total += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def random_log_probs(rng, shape):
    logits = rng.normal(size=shape) * 1.5
    return logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))


def random_case(rng, n, frames, classes, width):
    """Log-probabilities, padded labels (never the blank, garbage past the length), lengths."""
    blank = int(rng.integers(classes))
    labels = rng.choice([c for c in range(classes) if c != blank], size=(n, width))
    target_lengths = rng.integers(0, width + 1, size=n)
    labels = np.where(np.arange(width) < target_lengths[:, None], labels, -7)
    input_lengths = rng.integers(0, frames + 1, size=n)
    return random_log_probs(rng, (n, frames, classes)), labels, input_lengths, target_lengths, blank


def reference(log_probs, labels, input_lengths, target_lengths, blank):
    return np.array([
        brute_force_nll(lp[:t], row[:s], blank)
        for lp, row, t, s in zip(log_probs, labels, input_lengths, target_lengths, strict=True)
    ])


@pytest.mark.parametrize("shape", [(3, 5, 3, 3), (3, 4, 2, 4), (2, 5, 3, 2)])
def test_matches_brute_force_over_all_alignments(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(12):
        log_probs, labels, input_lengths, target_lengths, blank = random_case(rng, *shape)
        expected = reference(log_probs, labels, input_lengths, target_lengths, blank)
        args = (log_probs.astype(np.float32), labels, input_lengths, target_lengths)
        got = jaxloss.ctc_loss(*args, blank=blank, reduction="none")
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            jaxloss.ctc_loss(*args, blank=blank, reduction="sum"), np.sum(expected), rtol=1e-5
        )
        per_label = expected / np.maximum(target_lengths, 1)
        np.testing.assert_allclose(
            jaxloss.ctc_loss(*args, blank=blank), np.mean(per_label), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    "target, frames, blank",
    [([1, 1], 3, 0), ([1, 1], 5, 0), ([], 4, 0), ([2, 1, 2], 5, 0), ([0, 0], 4, 2), ([1], 1, 2)],
)
def test_hand_picked_cases(target, frames, blank):
    log_probs = random_log_probs(np.random.default_rng(frames), (frames, 3))
    labels = np.array(target + [0] * (3 - len(target)))
    got = jaxloss.ctc_loss(
        log_probs.astype(np.float32)[None], labels[None], np.array([frames]),
        np.array([len(target)]), blank=blank, reduction="none",
    )
    np.testing.assert_allclose(got, [brute_force_nll(log_probs, target, blank)], rtol=1e-5)


def test_uniform_log3():
    # T = 2, C = 3, target [1]: the alignments 11, 01 and 10, each of probability 1/9.
    log_probs = np.log(np.full((2, 3), 1 / 3, np.float32))
    assert jaxloss.ctc_loss(log_probs, np.array([1]), np.array(2), np.array(1)) == (
        pytest.approx(np.log(3), rel=1e-6)
    )


def small_batch(rng):
    logits = rng.normal(size=(3, 6, 4))
    labels = np.array([[1, 1, 2], [3, 2, 0], [2, 0, 0]])
    return logits, labels, np.array([6, 4, 5]), np.array([3, 2, 0])


@pytest.mark.parametrize("blank", [0, 3])
def test_check_grads_through_log_softmax(x64, blank):
    logits, labels, input_lengths, target_lengths = small_batch(np.random.default_rng(0))
    labels = np.where(labels == blank, 1, labels)

    def loss(x):
        log_probs = jax.nn.log_softmax(x)
        return jaxloss.ctc_loss(log_probs, labels, input_lengths, target_lengths, blank=blank)

    check_grads(loss, (jnp.asarray(logits),), order=2, modes=("fwd", "rev"))


def test_gradient_is_minus_the_occupancy_of_each_frame():
    # d(-log P)/d log_probs[t, c] = -P(path emits c at t | target): over c it sums to -1 on
    # every used frame (each path emits one symbol per frame) and is 0 past the input length.
    logits, labels, input_lengths, target_lengths = small_batch(np.random.default_rng(1))
    log_probs = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))
    args = (labels, input_lengths, target_lengths)
    grad = jax.grad(lambda lp: jaxloss.ctc_loss(lp, *args, reduction="sum"))(log_probs)
    used = np.arange(6) < input_lengths[:, None]
    np.testing.assert_allclose(jnp.sum(grad, -1), np.where(used, -1.0, 0.0), atol=1e-5)
    assert np.all(np.asarray(grad)[~used] == 0)
    logit_grad = jax.grad(
        lambda x: jaxloss.ctc_loss(jax.nn.log_softmax(x), *args, reduction="sum")
    )(jnp.asarray(logits, jnp.float32))
    np.testing.assert_allclose(jnp.sum(logit_grad, -1), 0.0, atol=1e-5)
    assert np.all(np.asarray(logit_grad)[~used] == 0)


def test_gradient_at_huge_log_probabilities_is_each_frames_posterior():
    # Log-probabilities near -1e30: log P and alpha + beta are about 1e31, whose float32
    # rounding (1e24) would swamp exp(alpha + beta - log P). The posterior of each used frame
    # is then one state; its gradient is still -1 on one class per frame.
    logits, labels, input_lengths, target_lengths = small_batch(np.random.default_rng(13))
    log_probs = jnp.asarray(-np.abs(logits) * 1e30, jnp.float32)
    args = (labels, input_lengths, target_lengths)
    grad = jax.grad(lambda lp: jaxloss.ctc_loss(lp, *args, reduction="sum"))(log_probs)
    used = np.arange(6) < input_lengths[:, None]
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(jnp.sum(grad, -1), np.where(used, -1.0, 0.0), atol=1e-6)
    assert set(np.unique(np.asarray(grad))) <= {-1.0, 0.0}


def test_long_sequence_gradient_in_float32_agrees_with_float64():
    # 400 frames: log P is about -1e3, so float32 resolves it to 6e-5; the gradient (a
    # probability per frame and class) must stay within a few of those.
    rng = np.random.default_rng(14)
    logits = rng.normal(size=(2, 400, 12)) * 2
    labels = rng.integers(1, 12, size=(2, 50))
    args = (labels, np.array([400, 333]), np.array([50, 41]))

    def grad(dtype):
        log_probs = jax.nn.log_softmax(jnp.asarray(logits, dtype))
        return jax.grad(lambda lp: jaxloss.ctc_loss(lp, *args, reduction="sum"))(log_probs)

    with jax.enable_x64(True):
        wide = np.asarray(grad(jnp.float64))
    np.testing.assert_allclose(grad(jnp.float32), wide, atol=2e-4)


def infeasible_batch():
    log_probs = jax.nn.log_softmax(jnp.asarray(np.random.default_rng(2).normal(size=(3, 4, 4))))
    labels = np.array([[1, 2, 3], [2, 2, 0], [1, 2, 0]])
    # Three labels in two frames; a repeat needing a blank in two frames; feasible.
    return log_probs, (labels, np.array([2, 2, 4]), np.array([3, 2, 2]))


def test_infeasible_is_inf_and_zero_infinity_zeroes_value_and_gradient():
    log_probs, args = infeasible_batch()
    losses = jaxloss.ctc_loss(log_probs, *args, reduction="none")
    assert np.all(np.isinf(losses[:2])) and np.isfinite(losses[2])

    def loss(lp, reduction, rows=slice(None)):
        sliced = [a[rows] for a in args]
        return jaxloss.ctc_loss(lp[rows], *sliced, reduction=reduction, zero_infinity=True)

    zeroed = jaxloss.ctc_loss(log_probs, *args, reduction="none", zero_infinity=True)
    np.testing.assert_array_equal(zeroed, [0.0, 0.0, losses[2]])
    for reduction in ("mean", "sum"):
        grad = jax.grad(loss)(log_probs, reduction)
        assert np.all(np.asarray(grad[:2]) == 0) and np.all(np.isfinite(grad))
        # The feasible example's gradient is its own (the mean divides by 3 examples).
        alone = jax.grad(loss)(log_probs, reduction, slice(2, 3))[2:]
        scale = 3 if reduction == "mean" else 1
        np.testing.assert_allclose(grad[2:] * scale, alone, rtol=1e-6)


def test_no_nan_gradient_with_many_unreachable_states():
    rng = np.random.default_rng(3)
    logits = jnp.asarray(rng.normal(size=(2, 40, 5)), jnp.float32)
    labels = np.array([[1, 1, 1, 2, 2, 3, 3, 3, 4, 4] * 2, [1, 2, 3, 4] * 5])
    args = (labels, np.array([40, 21]), np.array([20, 20]))

    def loss(x):
        return jaxloss.ctc_loss(jax.nn.log_softmax(x), *args)

    value, grad = jax.value_and_grad(loss)(logits)
    _, tangent = jax.jvp(loss, (logits,), (jnp.ones_like(logits),))
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.isfinite(tangent)


def test_concatenated_targets_equal_padded():
    rng = np.random.default_rng(4)
    log_probs, labels, input_lengths, target_lengths, blank = random_case(rng, 5, 6, 4, 4)
    flat = np.concatenate([row[:s] for row, s in zip(labels, target_lengths, strict=True)])
    for reduction in ("none", "mean"):
        padded = jaxloss.ctc_loss(
            log_probs, labels, input_lengths, target_lengths, blank=blank, reduction=reduction
        )
        concatenated = jaxloss.ctc_loss(
            log_probs, flat, input_lengths, target_lengths, blank=blank, reduction=reduction
        )
        np.testing.assert_allclose(concatenated, padded, rtol=1e-6)


def test_concatenated_target_longer_than_input_is_inf():
    # The padded width is min(len(targets), T) = 3 here; the 5-label target needs no room.
    log_probs = random_log_probs(np.random.default_rng(5), (2, 3, 3)).astype(np.float32)
    flat = np.array([1, 2, 1, 2, 1, 2])
    losses = jaxloss.ctc_loss(log_probs, flat, np.array([3, 3]), np.array([5, 1]),
                              reduction="none")
    assert np.isposinf(losses[0])
    np.testing.assert_allclose(losses[1], brute_force_nll(log_probs[1], [2], 0), rtol=1e-5)


def test_unbatched_equals_batched_row():
    log_probs, labels, input_lengths, target_lengths, _ = random_case(
        np.random.default_rng(6), 2, 5, 3, 3
    )
    batched = jaxloss.ctc_loss(log_probs, labels, input_lengths, target_lengths, reduction="none")
    for reduction in ("none", "sum"):
        single = jaxloss.ctc_loss(
            log_probs[1], labels[1], input_lengths[1], target_lengths[1], reduction=reduction
        )
        assert single.shape == ()
        np.testing.assert_allclose(single, batched[1], rtol=1e-6)


def test_masked_example_with_garbage_adds_nothing():
    log_probs, labels, input_lengths, target_lengths, _ = random_case(
        np.random.default_rng(7), 3, 5, 3, 2
    )
    log_probs[1] = np.nan
    labels[1], input_lengths[1], target_lengths[1] = [99, -4], -3, 50
    keep = np.array([True, False, True])
    args = (labels, input_lengths, target_lengths)
    value, grad = jax.value_and_grad(
        lambda lp: jaxloss.ctc_loss(lp, *args, where=keep)
    )(jnp.asarray(log_probs, jnp.float32))
    sliced = jaxloss.ctc_loss(log_probs[keep], labels[keep], input_lengths[keep],
                              target_lengths[keep])
    np.testing.assert_allclose(value, sliced, rtol=1e-6)
    assert np.all(np.asarray(grad[1]) == 0)


def test_frames_past_the_input_length_are_never_read():
    log_probs, labels, _, target_lengths, blank = random_case(np.random.default_rng(11), 2, 5, 3, 2)
    input_lengths = np.array([3, 5])
    padded = log_probs.astype(np.float32)
    padded[0, 3:] = np.nan
    args = (labels, input_lengths, target_lengths)
    value, grad = jax.value_and_grad(
        lambda lp: jaxloss.ctc_loss(lp, *args, blank=blank, reduction="sum")
    )(jnp.asarray(padded))
    np.testing.assert_allclose(value, np.sum(reference(log_probs, *args, blank)), rtol=1e-5)
    assert np.all(np.asarray(grad[0, 3:]) == 0) and np.all(np.isfinite(grad))


def test_nan_input_in_a_used_frame_gives_nan():
    log_probs = random_log_probs(np.random.default_rng(12), (4, 3)).astype(np.float32)
    log_probs[1, 0] = np.nan  # the blank in a used frame: not hidden as an unreachable state
    assert np.isnan(jaxloss.ctc_loss(log_probs, np.array([1]), np.array(4), np.array(1)))


def test_unnormalised_inputs_clamp_at_zero():
    # Every log-probability is 1: the total "probability" is 3 e^2 > 1.
    loss = jaxloss.ctc_loss(np.ones((2, 3), np.float32), np.array([1]), np.array(2), np.array(1))
    assert loss == 0


def test_certain_alignment_is_zero_with_its_full_gradient():
    # Only blanks have probability: the empty target's loss is exactly 0 and its gradient is
    # still minus the occupancy, -1 on the blank of every frame.
    log_probs = jnp.log(jnp.array([[1.0, 0.0]] * 3))
    args = (np.zeros(0, np.int32), np.array(3), np.array(0))
    value, grad = jax.value_and_grad(jaxloss.ctc_loss)(log_probs, *args)
    assert value == 0
    np.testing.assert_array_equal(grad, [[-1.0, 0.0]] * 3)


def test_blank_is_traced():
    log_probs, labels, input_lengths, target_lengths, _ = random_case(
        np.random.default_rng(8), 2, 4, 3, 2
    )
    labels = np.where(labels < 0, 1, labels)
    jaxloss.ctc_loss(log_probs, labels, input_lengths, target_lengths, blank=0)
    before = jaxloss.ctc_loss._cache_size()
    jaxloss.ctc_loss(log_probs, labels, input_lengths, target_lengths, blank=2)
    assert jaxloss.ctc_loss._cache_size() == before


def out_of_range_cases():
    labels = np.array([[1, 2], [2, 1]])
    good = dict(targets=labels, input_lengths=np.array([4, 4]), target_lengths=np.array([2, 1]))
    yield "input longer than T", {**good, "input_lengths": np.array([5, 4])}
    yield "negative input length", {**good, "input_lengths": np.array([-1, 4])}
    yield "target longer than S", {**good, "target_lengths": np.array([3, 1])}
    yield "negative target length", {**good, "target_lengths": np.array([-1, 1])}
    yield "label >= C", {**good, "targets": np.array([[1, 3], [2, 1]])}
    yield "negative label", {**good, "targets": np.array([[-1, 2], [2, 1]])}
    yield "label == blank", {**good, "targets": np.array([[0, 2], [2, 1]])}


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("case", list(out_of_range_cases()), ids=lambda c: c[0])
def test_out_of_range_is_nan(case, zero_infinity):
    _, arrays = case
    log_probs = random_log_probs(np.random.default_rng(9), (2, 4, 3)).astype(np.float32)
    losses = jaxloss.ctc_loss(log_probs, **arrays, reduction="none", zero_infinity=zero_infinity)
    assert np.isnan(losses[0]) and np.isfinite(losses[1])
    assert np.isnan(jaxloss.ctc_loss(log_probs, **arrays, zero_infinity=zero_infinity))


def test_out_of_range_blank_and_bad_concatenation_are_nan():
    log_probs = random_log_probs(np.random.default_rng(10), (2, 4, 3)).astype(np.float32)
    lengths = np.array([4, 4])
    padded = jaxloss.ctc_loss(log_probs, np.array([[1], [2]]), lengths, np.array([1, 1]),
                              blank=3, reduction="none")
    # The lengths must tile the concatenated targets exactly, as torch requires.
    short = jaxloss.ctc_loss(log_probs, np.array([1, 2, 1]), lengths, np.array([1, 1]),
                             reduction="none")
    assert np.all(np.isnan(padded)) and np.all(np.isnan(short))
    # Labels past the target length are never read.
    past = jaxloss.ctc_loss(log_probs, np.array([[1, 77], [2, -5]]), lengths, np.array([1, 1]))
    assert np.isfinite(past)


def test_error_messages():
    log_probs = np.zeros((2, 4, 3), np.float32)
    labels, lengths = np.ones((2, 2), np.int32), np.array([4, 4])
    with pytest.raises(ValueError, match=r"ctc_loss: `log_probs` must have 2 or 3 dim.*\(4,\)"):
        jaxloss.ctc_loss(np.zeros(4), labels[0], np.array(4), np.array(2))
    with pytest.raises(ValueError, match=r"`targets` must have 1 or 2 dim.*\(2, 2, 1\)"):
        jaxloss.ctc_loss(log_probs, labels[..., None], lengths, lengths)
    with pytest.raises(ValueError, match=r"`targets` must have 1 dimension \(.*\(2, 2\)"):
        jaxloss.ctc_loss(log_probs[0], labels, np.array(4), np.array(2))
    with pytest.raises(
        ValueError, match=r"`log_probs` has shape \(2, 4, 3\) but `targets` has shape \(3, 2\)"
    ):
        jaxloss.ctc_loss(log_probs, np.ones((3, 2), np.int32), lengths, lengths)
    with pytest.raises(
        ValueError, match=r"`input_lengths` has shape \(3,\) .* \(2,\).*shape \(2, 4, 3\)"
    ):
        jaxloss.ctc_loss(log_probs, labels, np.array([4, 4, 4]), lengths)
    with pytest.raises(ValueError, match=r"`target_lengths` has shape \(1,\) .* \(\)"):
        jaxloss.ctc_loss(log_probs[0], labels[0], np.array(4), np.array([2]))
    with pytest.raises(TypeError, match="`targets` holds class indices .* got float32"):
        jaxloss.ctc_loss(log_probs, labels.astype(np.float32), lengths, lengths)
    with pytest.raises(TypeError, match="`input_lengths` holds sequence lengths .* got float32"):
        jaxloss.ctc_loss(log_probs, labels, lengths.astype(np.float32), lengths)
    with pytest.raises(TypeError, match="`target_lengths` holds sequence lengths .* got float"):
        jaxloss.ctc_loss(log_probs, labels, lengths, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="ctc_loss: `log_probs` must have a floating dtype"):
        jaxloss.ctc_loss(log_probs.astype(np.int32), labels, lengths, lengths)
