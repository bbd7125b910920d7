"""Segmentation overlap losses and box IoU losses, plus torchvision's sigmoid focal loss.

torchvision.ops 0.28 is the reference for sigmoid_focal_loss and the generalized, distance and
complete box IoU losses: values and gradients recorded by tests/golden/make_torchvision_golden.py
(including degenerate boxes), compared wherever torchvision is finite; where it is not (the
complete IoU loss's aspect ratio at a zero height or a point box, the focal loss's modulating
factor at a saturated logit with gamma < 1) jaxloss must be finite and is checked by hand. Dice,
Tversky and Jaccard are checked against NumPy float64 transcriptions of the papers' formulas.
The generic properties (jit, vmap, where, dtypes, retracing) come from test_catalog.py.
"""

from __future__ import annotations

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

GOLDEN = np.load(pathlib.Path(__file__).parent / "golden" / "torchvision_golden.npz")
MANIFEST = json.loads(str(GOLDEN["manifest"]))
CASES = MANIFEST["cases"]


def _close(actual, expected, rtol=1e-5, atol=1e-6, err_msg=""):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol,
                               err_msg=err_msg)


def _finite(*arrays):
    for a in arrays:
        assert np.all(np.isfinite(np.asarray(a))), a


# --- torchvision golden values -------------------------------------------------------------------


def test_fixtures_come_from_torchvision_0_28():
    assert MANIFEST["torchvision"].startswith("0.28.")
    assert MANIFEST["torch"].startswith("2.13.")
    assert {c["fn"] for c in CASES} == {
        "sigmoid_focal_loss", "generalized_box_iou_loss", "distance_box_iou_loss",
        "complete_box_iou_loss",
    }


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_matches_torchvision_where_it_is_finite(case, reduction):
    cid = case["id"]
    args = [jnp.asarray(GOLDEN[f"{cid}/arg{i}"]) for i in range(case["nargs"])]
    fn = getattr(jaxloss, case["fn"])
    value, vjp = jax.vjp(lambda *a: fn(*a, reduction=reduction, **case["kwargs"]), *args)
    _finite(value)
    expected = GOLDEN[f"{cid}/{reduction}/value"]
    assert value.shape == expected.shape
    finite = np.isfinite(expected)
    _close(np.asarray(value)[finite], expected[finite], err_msg=f"{cid} value")
    if f"{cid}/{reduction}/cotangent" not in GOLDEN:
        return
    grads = vjp(jnp.asarray(GOLDEN[f"{cid}/{reduction}/cotangent"]))
    for i, got in enumerate(grads):
        _finite(got)
        want = GOLDEN[f"{cid}/{reduction}/grad_arg{i}"]
        finite = np.isfinite(want)
        scale = max(1.0, float(np.max(np.abs(want[finite]), initial=0.0)))
        _close(np.asarray(got)[finite], want[finite], atol=1e-6 * scale,
               err_msg=f"{cid} gradient of argument {i}")


def test_the_golden_cases_include_torchvisions_nan_gradients():
    # The cases that document jaxloss's finite gradients where torchvision's are NaN.
    ciou = GOLDEN["complete_box_iou_loss/degenerate/none/grad_arg0"]
    names = MANIFEST["degenerate"]
    nan_rows = {names[i] for i in np.flatnonzero(~np.all(np.isfinite(ciou), axis=-1))}
    assert {"zero_height_input", "point_input", "same_point"} <= nan_rows
    focal = GOLDEN["focal/saturated/g0.5/none/grad_arg0"]
    assert not np.all(np.isfinite(focal))


# --- boxes: degenerate cases by hand -------------------------------------------------------------


_BOX_LOSSES = (jaxloss.generalized_box_iou_loss, jaxloss.distance_box_iou_loss,
               jaxloss.complete_box_iou_loss)


@pytest.mark.parametrize("fn", _BOX_LOSSES, ids=lambda f: f.__name__)
def test_zero_area_and_point_boxes_have_finite_values_and_gradients(fn):
    boxes = jnp.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 1.0],
                       [1.0, 0.0, 1.0, 2.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 3.0]])
    targets = jnp.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [0.0, 1.0, 2.0, 1.0],
                         [0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 3.0, 0.0]])
    value, grads = jax.value_and_grad(
        lambda a, b: fn(a, b, reduction="sum"), argnums=(0, 1))(boxes, targets)
    _finite(value, *grads)
    # Identical degenerate boxes: no overlap area, no centre distance, no aspect gap.
    _close(fn(boxes[:1], targets[:1], reduction="none"), [1.0])


def test_giou_and_diou_by_hand():
    a = jnp.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    b = jnp.array([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    # Pair 0: I = 1, U = 7, C = 9; pair 1: disjoint, U = 2, C = 3; pair 2: identical.
    giou = [1 - 1 / 7 + 2 / 9, 1 - 0 + 1 / 3, 0.0]
    diou = [1 - 1 / 7 + 2 / 18, 1 - 0 + 4 / 10, 0.0]
    _close(jaxloss.generalized_box_iou_loss(a, b, reduction="none"), giou)
    _close(jaxloss.distance_box_iou_loss(a, b, reduction="none"), diou)


def test_ciou_of_point_and_zero_height_boxes_by_hand():
    # A point has aspect angle 0 (torchvision: NaN); a zero height +-pi/2 (torchvision: the same
    # value with a NaN gradient).
    point, square = jnp.array([1.0, 1.0, 1.0, 1.0]), jnp.array([0.0, 0.0, 2.0, 2.0])
    diou = float(jaxloss.distance_box_iou_loss(point, square))
    v = 4 / math.pi**2 * (math.pi / 4) ** 2  # target angle atan(1), point 0
    trade_off = v / (1 - 0 + v + 1e-7)
    _close(jaxloss.complete_box_iou_loss(point, square), diou + trade_off * v)
    flat = jnp.array([0.0, 1.0, 2.0, 1.0])
    v = 4 / math.pi**2 * (math.pi / 4 - math.pi / 2) ** 2
    diou = float(jaxloss.distance_box_iou_loss(flat, square))
    _close(jaxloss.complete_box_iou_loss(flat, square), diou + v / (1 + v + 1e-7) * v)


def _ciou_reference(a, b, eps):
    """torchvision 0.28's complete IoU loss in float64 NumPy, written from its source's
    formulas: its distance IoU part always takes eps = 1e-7, `eps` enters the trade-off only."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w, h, wg, hg = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    iou = inter / (w * h + wg * hg - inter + 1e-7)
    diagonal = (max(a[2], b[2]) - min(a[0], b[0])) ** 2 + (max(a[3], b[3]) - min(a[1], b[1])) ** 2
    centres = ((a[0] + a[2] - b[0] - b[2]) / 2) ** 2 + ((a[1] + a[3] - b[1] - b[3]) / 2) ** 2
    with np.errstate(divide="ignore"):  # w / -0.0 is -inf, as in torch
        v = 4 / math.pi**2 * (np.arctan(wg / hg) - np.arctan(w / h)) ** 2
    return 1 - iou + centres / (diagonal + 1e-7) + v / (1 - iou + v + eps) * v


@pytest.mark.parametrize("eps", [1e-7, 1e-3, 0.1])
def test_ciou_eps_enters_the_trade_off_only_as_in_torchvision(x64, eps):
    pairs = [([0.0, 0.0, 2.0, 3.0], [0.0, 0.0, 2.0, 3.0]),  # identical
             ([0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 7.0]),  # disjoint
             ([0.0, 0.0, 1.0, 2.0], [0.2, 0.1, 1.5, 1.4])]  # overlapping
    for a, b in pairs:
        value = jaxloss.complete_box_iou_loss(jnp.array(a), jnp.array(b), eps=eps)
        _close(value, _ciou_reference(a, b, eps), rtol=1e-12, atol=1e-15)


def test_ciou_of_identical_boxes_with_eps_zero_is_finite():
    # v = 0 and 1 - IoU rounds to 0 in float32: the trade-off is 0 / 0 unless guarded
    # (torchvision: NaN).
    box = jnp.array([0.0, 0.0, 2.0, 3.0])
    value, grad = jax.value_and_grad(jaxloss.complete_box_iou_loss)(box, box, eps=0.0)
    _close(value, 0.0)
    _finite(grad)


def test_ciou_of_a_negative_zero_height_follows_atan_of_minus_infinity(x64):
    # y2 - y1 = -0.0: torchvision's atan(w / h) is atan(-inf) = -pi/2, not +pi/2.
    flat, square = [0.0, 0.0, 2.0, -0.0], [0.0, 0.0, 1.0, 1.0]
    value = jaxloss.complete_box_iou_loss(jnp.array(flat), jnp.array(square))
    _close(value, _ciou_reference(flat, square, 1e-7), rtol=1e-12)
    assert float(value) > 2.6  # +pi/2 would give 1.15


@pytest.mark.parametrize("fn", _BOX_LOSSES, ids=lambda f: f.__name__)
def test_eps_gradient_ignores_dropped_pairs_at_eps_zero(x64, fn):
    a = jnp.array([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]])
    b = jnp.array([[0.5, 0.0, 2.0, 1.0], [5.0, 5.0, 7.0, 7.0]])
    kept = jax.grad(lambda e: fn(a[:1], b[:1], eps=e))(0.0)
    masked = jax.grad(lambda e: fn(a, b, eps=e, where=jnp.array([True, False])))(0.0)
    _finite(kept)
    _close(masked, kept)


def test_ciou_gradient_holds_the_trade_off_factor_constant(x64):
    # d/dw of a v with a held constant, against the same with a differentiated: the recorded
    # torchvision gradients check the values; this checks that the difference is a's own term.
    a = jnp.array([0.0, 0.0, 1.0, 2.0])
    b = jnp.array([0.2, 0.1, 1.5, 1.4])
    ours = jax.grad(jaxloss.complete_box_iou_loss)(a, b)
    diou = jax.grad(jaxloss.distance_box_iou_loss)(a, b)
    inter = (1.0 - 0.2) * (1.4 - 0.1)
    iou = inter / (2.0 + 1.3 * 1.3 - inter + 1e-7)
    gap = math.atan(1.3 / 1.3) - math.atan(1.0 / 2.0)
    v = 4 / math.pi**2 * gap**2
    trade_off = v / (1 - iou + v + 1e-7)
    # v depends on the input box through atan(w / h) only: dv/dw = -8 gap / pi^2 * h/(w^2+h^2).
    w, h = 1.0, 2.0
    dv_dw = -8 * gap / math.pi**2 * h / (w**2 + h**2)
    dv_dh = 8 * gap / math.pi**2 * w / (w**2 + h**2)
    want = np.asarray(diou) + trade_off * np.array([-dv_dw, -dv_dh, dv_dw, dv_dh])
    _close(ours, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fn", _BOX_LOSSES, ids=lambda f: f.__name__)
def test_box_errors(fn):
    name = fn.__name__
    with pytest.raises(ValueError, match=rf"^{name}: `input` must have a last axis of size 4 "
                                         r"\(x1, y1, x2, y2\), got shape \(3, 5\)"):
        fn(jnp.zeros((3, 5)), jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match=rf"^{name}: `input` has shape \(3, 4\) but `target` "
                                         r"has shape \(2, 4\)"):
        fn(jnp.zeros((3, 4)), jnp.zeros((2, 4)))


# --- segmentation: NumPy transcriptions ----------------------------------------------------------


def _softmax_np(z, axis=-1):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _per_class(p, g):
    """(N, H, W, C) -> lists over (n, c) of flattened probabilities and targets."""
    n, c = p.shape[0], p.shape[-1]
    return [[(p[i, ..., k].ravel(), g[i, ..., k].ravel()) for k in range(c)] for i in range(n)]


def _dice_vnet_eq1(p, g, squared, smooth):
    """Milletari et al, V-Net, 2016, Eq. 1: D = 2 sum p g / (sum p^2 + sum g^2); with
    ``squared=False`` the sums of p and g (the soft Sorensen-Dice coefficient); s added to
    numerator and denominator."""
    power = 2 if squared else 1
    return np.array([[1 - (2 * np.sum(pk * gk) + smooth)
                      / (np.sum(pk**power) + np.sum(gk**power) + smooth)
                      for pk, gk in row] for row in _per_class(p, g)])


def _tversky_salehi_eq3(p, g, alpha, beta):
    """Salehi et al, 2017, Eq. 3: T = sum p0 g0 / (sum p0 g0 + alpha sum p0 g1 + beta sum p1 g0),
    with p1 = 1 - p0, g1 = 1 - g0."""
    out = []
    for row in _per_class(p, g):
        out.append([])
        for p0, g0 in row:
            p1, g1 = 1 - p0, 1 - g0
            tp = np.sum(p0 * g0)
            out[-1].append(1 - tp / (tp + alpha * np.sum(p0 * g1) + beta * np.sum(p1 * g0)))
    return np.array(out)


def _jaccard_rahman_wang(p, g, smooth):
    """Rahman & Wang, 2016, Sec. 3: IoU ~ I / U with I = sum p g, U = sum (p + g - p g)."""
    return np.array([[1 - (np.sum(pk * gk) + smooth) / (np.sum(pk + gk - pk * gk) + smooth)
                      for pk, gk in row] for row in _per_class(p, g)])


def _masks(seed, shape=(3, 4, 5, 3)):
    rng = np.random.default_rng(seed)
    logits = (2 * rng.normal(size=shape)).astype(np.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    return logits, labels, np.eye(shape[-1])[labels]


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_is_vnet_eq1_per_example_and_class(squared, smooth):
    logits, labels, one_hot = _masks(0)
    probs = _softmax_np(logits)
    want = _dice_vnet_eq1(probs, one_hot, squared, smooth)
    got = jaxloss.dice_loss(probs.astype(np.float32), one_hot.astype(np.float32),
                            squared=squared, smooth=smooth, reduction="none")
    _close(got, want)
    # Logits with the softmax, and integer labels instead of one-hot masks: the same losses.
    _close(jaxloss.dice_loss(logits, labels, activation="softmax", squared=squared,
                             smooth=smooth, reduction="none"), want)
    _close(jaxloss.dice_loss(probs.astype(np.float32), one_hot.astype(np.float32),
                             squared=squared, smooth=smooth), want.mean())


def test_dice_gradient_is_the_derivative_of_eq1():
    # d/dp_j [1 - 2I / (P + T)] = -(2 g_j (P + T) - 2I) / (P + T)^2, per example and class.
    _, _, one_hot = _masks(1, (2, 3, 4, 2))
    probs = np.random.default_rng(2).uniform(0.05, 0.95, size=one_hot.shape)
    grad = jax.grad(lambda p: jaxloss.dice_loss(p, one_hot.astype(np.float32), smooth=0.0,
                                                reduction="sum"))(probs.astype(np.float32))
    inter = np.sum(probs * one_hot, axis=(1, 2), keepdims=True)
    total = np.sum(probs + one_hot, axis=(1, 2), keepdims=True)
    _close(grad, -(2 * one_hot * total - 2 * inter) / total**2, rtol=2e-5)


@pytest.mark.parametrize("alpha, beta", [(0.3, 0.7), (0.5, 0.5), (1.0, 1.0), (0.9, 0.1)])
def test_tversky_is_salehi_eq3(alpha, beta):
    logits, labels, one_hot = _masks(3)
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))  # independent classes
    want = _tversky_salehi_eq3(probs, one_hot, alpha, beta)
    got = jaxloss.tversky_loss(logits, one_hot.astype(np.float32), activation="sigmoid",
                               alpha=alpha, beta=beta, smooth=0.0, reduction="none")
    _close(got, want)


def test_tversky_special_cases_are_dice_and_jaccard():
    logits, labels, _ = _masks(4)
    common = {"activation": "softmax", "smooth": 0.0, "reduction": "none"}
    _close(jaxloss.tversky_loss(logits, labels, alpha=0.5, beta=0.5, **common),
           jaxloss.dice_loss(logits, labels, **common))
    _close(jaxloss.tversky_loss(logits, labels, alpha=1.0, beta=1.0, **common),
           jaxloss.jaccard_loss(logits, labels, **common))


@pytest.mark.parametrize("smooth", [0.0, 1e-5, 2.0])
def test_jaccard_is_rahman_and_wangs_soft_iou(smooth):
    logits, _, one_hot = _masks(5)
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    want = _jaccard_rahman_wang(probs, one_hot, smooth)
    got = jaxloss.jaccard_loss(probs.astype(np.float32), one_hot.astype(np.float32),
                               smooth=smooth, reduction="none")
    _close(got, want)


def test_class_weights_weight_the_mean():
    logits, labels, one_hot = _masks(6)
    probs = _softmax_np(logits)
    per = _dice_vnet_eq1(probs, one_hot, False, 1e-5)
    weight = np.array([0.2, 1.0, 3.0])
    _close(jaxloss.dice_loss(logits, labels, activation="softmax", weight=weight),
           np.sum(per * weight) / (weight.sum() * per.shape[0]))
    _close(jaxloss.dice_loss(logits, labels, activation="softmax", weight=weight,
                             reduction="sum"), np.sum(per * weight))


@pytest.mark.parametrize("axis, shape", [((-2,), (2, 7, 3)), ((-4, -3, -2), (2, 3, 2, 4, 3))])
def test_spatial_axes_of_sequences_and_volumes(axis, shape):
    rng = np.random.default_rng(7)
    probs = rng.uniform(size=shape).astype(np.float32)
    masks = (rng.random(shape) < 0.5).astype(np.float32)
    flat_p = probs.reshape(shape[0], -1, 1, shape[-1])  # spatial axes folded into (H, W)
    flat_m = masks.reshape(shape[0], -1, 1, shape[-1])
    want = _jaccard_rahman_wang(flat_p.astype(np.float64), flat_m, 0.0)
    _close(jaxloss.jaccard_loss(probs, masks, axis=axis, smooth=0.0, reduction="none"), want)


@pytest.mark.parametrize("fn", [jaxloss.dice_loss, jaxloss.tversky_loss, jaxloss.jaccard_loss],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("smooth", [0.0, 1e-5])
def test_a_class_empty_in_prediction_and_target_scores_zero_loss(fn, smooth):
    # Module docstring: empty in both (a 0/0 with smooth = 0) is a perfect score, loss 0.
    probs = np.zeros((2, 3, 3, 3), np.float32)
    masks = np.zeros((2, 3, 3, 3), np.float32)
    probs[0, :, :, 0], masks[0, :, :, 0] = 0.7, 1.0  # class 0 present in example 0
    probs[1, 0, 0, 1] = 0.4  # class 1 predicted in example 1 but absent from its target
    value, grad = jax.value_and_grad(
        lambda p: fn(p, masks, smooth=smooth, reduction="sum"))(probs)
    _finite(value, grad)
    per = np.asarray(fn(probs, masks, smooth=smooth, reduction="none"))
    _close(per[0, 1:], [0.0, 0.0], atol=1e-12)  # classes 1 and 2 of example 0: empty
    _close(per[1, [0, 2]], [0.0, 0.0], atol=1e-12)
    assert per[1, 1] > 0.99  # predicted mass on an absent class: loss about 1


@pytest.mark.parametrize("fn", [jaxloss.dice_loss, jaxloss.tversky_loss, jaxloss.jaccard_loss],
                         ids=lambda f: f.__name__)
def test_all_zero_inputs_and_targets(fn):
    zeros = jnp.zeros((2, 4, 4, 1))
    for smooth in (0.0, 1e-5):
        value, grad = jax.value_and_grad(lambda p, s=smooth: fn(p, zeros, smooth=s))(zeros)
        _close(value, 0.0, atol=0)
        _finite(grad)
    # Logits with a sigmoid never give exactly zero mass: far from the target, not NaN.
    far = jnp.full((2, 4, 4, 1), -30.0)
    value, grad = jax.value_and_grad(lambda p: fn(p, zeros, activation="sigmoid"))(far)
    _finite(value, grad)


def test_segmentation_where_drops_whole_examples_or_single_classes():
    logits, labels, _ = _masks(8)
    per = np.asarray(jaxloss.dice_loss(logits, labels, activation="softmax", reduction="none"))
    keep_class = np.array([[True, False, True], [True, True, True], [False, False, True]])
    _close(jaxloss.dice_loss(logits, labels, activation="softmax", where=keep_class),
           per[keep_class].mean())
    keep_example = np.array([[True], [False], [True]])
    _close(jaxloss.dice_loss(logits, labels, activation="softmax", where=keep_example),
           per[[0, 2]].mean())


# --- segmentation: error messages ----------------------------------------------------------------


def test_segmentation_target_shape_mismatch():
    with pytest.raises(ValueError, match=r"^dice_loss: `input` has shape \(2, 3, 3, 4\) but "
                                         r"`target` has shape \(2, 3, 4\); it must have "):
        jaxloss.dice_loss(jnp.zeros((2, 3, 3, 4)), jnp.zeros((2, 3, 4), jnp.int32))


def test_segmentation_other_errors():
    x = jnp.zeros((2, 3, 3, 4))
    with pytest.raises(TypeError, match=r"^jaccard_loss: `target`"):
        jaxloss.jaccard_loss(x, jnp.zeros((2, 3, 3)))  # class indices must be integers
    with pytest.raises(ValueError, match=r"^tversky_loss: `weight` has shape \(3,\)"):
        jaxloss.tversky_loss(x, jnp.zeros((2, 3, 3), jnp.int32), weight=jnp.ones(3))
    with pytest.raises(ValueError, match=r"^dice_loss: `activation` must be None, 'sigmoid' or "
                                         r"'softmax', got 'relu'"):
        jaxloss.dice_loss(x, x, activation="relu")
    with pytest.raises(ValueError, match=r"^dice_loss: `axis` \(-2, -1\) must name distinct "
                                         r"spatial axes, not the class axis"):
        jaxloss.dice_loss(x, x, axis=(-2, -1))
    with pytest.raises(ValueError, match=r"^dice_loss: `axis` \(-5,\) is out of range"):
        jaxloss.dice_loss(x, x, axis=(-5,))
