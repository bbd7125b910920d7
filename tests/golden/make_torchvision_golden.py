"""Records torchvision's values and gradients for the jaxloss losses that torchvision.ops defines:
sigmoid_focal_loss and the generalized, distance and complete box IoU losses.

    python3 -m venv ~/venv-tv
    ~/venv-tv/bin/pip install torch==2.13.0 torchvision==0.28.0 numpy
    ~/venv-tv/bin/python tests/golden/make_torchvision_golden.py

(torchvision's compiled extension needs the torch build it was made for: the CPU-only torch of
the main environment cannot load PyPI's torchvision wheel, whose CUDA pair runs fine on a
CPU.) Writes ``tests/golden/torchvision_golden.npz``: the float32 arrays of every case plus a
JSON ``manifest`` with the versions that produced them.

For every case and reduction the file holds torchvision's value, and for ``"none"`` and
``"mean"`` the vector-Jacobian product of a fixed random cotangent (1 for the mean) with respect
to both arguments. Where torchvision is NaN or infinite (a zero-height or point box in the
complete IoU loss's aspect ratio, the focal loss's modulating factor at a saturated logit with
gamma < 1) the NaN is recorded as it is: tests/test_segmentation_boxes.py compares only where
torchvision is finite and checks that jaxloss is finite everywhere.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import platform
import sys

import numpy as np
import torch
import torchvision
from torchvision import ops

OUT = pathlib.Path(__file__).with_name("torchvision_golden.npz")
REDUCTIONS = ("none", "sum", "mean")
GRADS_FOR = ("none", "mean")
rng = np.random.default_rng(20261207)
arrays: dict[str, np.ndarray] = {}
cases: list[dict] = []


def record(name, fn, args, **kwargs):
    """Runs torchvision.ops.`fn` on the float32 `args` with `kwargs`, for every reduction."""
    for i, a in enumerate(args):
        arrays[f"{name}/arg{i}"] = np.asarray(a, np.float32)
    for reduction in REDUCTIONS:
        leaves = [torch.tensor(np.asarray(a, np.float32), requires_grad=True) for a in args]
        out = getattr(ops, fn)(*leaves, reduction=reduction, **kwargs)
        value = out.detach().numpy()
        arrays[f"{name}/{reduction}/value"] = value
        if reduction not in GRADS_FOR:
            continue
        cot = rng.normal(size=value.shape).astype(np.float32) if value.ndim else np.float32(1)
        arrays[f"{name}/{reduction}/cotangent"] = np.asarray(cot)
        grads = torch.autograd.grad(out, leaves, torch.tensor(cot))
        for i, g in enumerate(grads):
            arrays[f"{name}/{reduction}/grad_arg{i}"] = g.numpy()
    cases.append({"id": name, "fn": fn, "nargs": len(args), "kwargs": kwargs})


def focal():
    logits = (2.0 * rng.normal(size=(6, 5))).astype(np.float32)
    hard = (rng.random((6, 5)) < 0.3).astype(np.float32)
    soft = rng.uniform(0.0, 1.0, size=(6, 5)).astype(np.float32)
    for alpha in (0.25, 0.5, 1.0, -1.0):
        for gamma in (0.0, 0.5, 2.0, 3.5):
            record(f"focal/hard/a{alpha}_g{gamma}", "sigmoid_focal_loss", [logits, hard],
                   alpha=alpha, gamma=gamma)
    for alpha, gamma in ((0.25, 2.0), (-1.0, 1.5), (0.7, 0.3)):
        record(f"focal/soft/a{alpha}_g{gamma}", "sigmoid_focal_loss", [logits, soft],
               alpha=alpha, gamma=gamma)
    # Saturated logits, right and wrong, with hard targets: p_t is exactly 0 or 1 in float32.
    # torchvision's gradient is NaN for gamma < 1 where p_t = 1 ((1 - p_t)^(gamma - 1) = inf).
    extreme = np.array([[100.0, -100.0, 100.0, -100.0, 30.0, -30.0, 0.0, 17.0]], np.float32)
    targets = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]], np.float32)
    for gamma in (0.0, 0.25, 0.5, 1.0, 2.0):
        record(f"focal/saturated/g{gamma}", "sigmoid_focal_loss", [extreme, targets],
               alpha=0.25, gamma=gamma)


def _random_boxes(n, *, low=0.0, high=10.0, min_size=0.5, max_size=5.0):
    corner = rng.uniform(low, high, size=(n, 2))
    size = rng.uniform(min_size, max_size, size=(n, 2))
    return np.concatenate([corner, corner + size], axis=-1).astype(np.float32)


# (name, predicted box, target box): the degenerate pairs every box loss must survive.
DEGENERATE = [
    ("identical", [1.0, 1.0, 3.0, 4.0], [1.0, 1.0, 3.0, 4.0]),
    ("disjoint", [0.0, 0.0, 1.0, 1.0], [2.0, 3.0, 3.0, 5.0]),
    ("touching_edge", [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0]),
    ("touching_corner", [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 2.0, 3.0]),
    ("contained", [0.5, 0.5, 1.5, 1.25], [0.0, 0.0, 2.0, 2.0]),
    ("same_centre", [0.0, 0.5, 2.0, 1.5], [0.5, 0.0, 1.5, 2.0]),
    ("zero_width_input", [1.0, 1.0, 1.0, 3.0], [0.0, 0.0, 2.0, 2.0]),
    ("zero_height_input", [0.0, 1.0, 2.0, 1.0], [0.0, 0.0, 2.0, 2.0]),
    ("zero_height_target", [0.0, 0.0, 2.0, 2.0], [0.5, 1.0, 3.0, 1.0]),
    ("zero_width_both", [1.0, 0.0, 1.0, 2.0], [1.0, 0.5, 1.0, 3.0]),
    ("zero_height_both", [0.0, 1.0, 2.0, 1.0], [1.0, 1.0, 4.0, 1.0]),
    ("point_input", [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]),
    ("point_target", [0.0, 0.0, 2.0, 3.0], [4.0, 4.0, 4.0, 4.0]),
    ("same_point", [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]),
    ("two_points", [1.0, 1.0, 1.0, 1.0], [3.0, 2.0, 3.0, 2.0]),
]


def boxes():
    fns = ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")
    target = _random_boxes(8)
    # Overlapping pairs (targets jittered), and unrelated pairs, often disjoint.
    near = (target + rng.normal(scale=0.6, size=target.shape)).astype(np.float32)
    near[:, 2:] = np.maximum(near[:, 2:], near[:, :2] + 0.1)
    far = _random_boxes(8)
    degenerate_input = np.array([d[1] for d in DEGENERATE], np.float32)
    degenerate_target = np.array([d[2] for d in DEGENERATE], np.float32)
    for fn in fns:
        record(f"{fn}/near", fn, [near, target])
        record(f"{fn}/far", fn, [far, target])
        record(f"{fn}/degenerate", fn, [degenerate_input, degenerate_target])
        record(f"{fn}/unbatched", fn, [near[0], target[0]])
    # A non-default eps; torchvision's complete IoU loss passes it to the trade-off factor
    # only (its distance IoU part keeps 1e-7), so only the other two are recorded here;
    # tests/test_segmentation_boxes.py checks the complete IoU one against its formulas.
    for fn in fns[:2]:
        record(f"{fn}/degenerate/eps1e-3", fn, [degenerate_input, degenerate_target], eps=1e-3)


if __name__ == "__main__":
    focal()
    boxes()
    manifest = {
        "cases": cases,
        "degenerate": [d[0] for d in DEGENERATE],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": datetime.date.today().isoformat(),
    }
    np.savez_compressed(OUT, manifest=np.array(json.dumps(manifest)), **arrays)
    print(f"wrote {len(cases)} cases, {len(arrays)} arrays to {OUT} with torchvision "
          f"{torchvision.__version__}, torch {torch.__version__}")
