"""Records PyTorch's values and gradients for every torch-named jaxloss loss.

    pip install -e ".[test,torch]"        # torch==2.13.0, CPU build
    python tests/golden/make_torch_golden.py

writes ``tests/golden/torch_golden.npz``: the arrays of every case plus a JSON ``manifest`` with the
versions that produced them. Inputs are stored in jaxloss's layout (class axis last, CTC batch
first); this script moves axes for torch, so the test replays each case with a plain call.

For every case and reduction the file holds torch's value and the vector-Jacobian product of a
fixed random cotangent (1 for reduced values) with respect to each differentiated argument.
Cases where torch returns NaN by design (a mean over nothing) are not recorded: jaxloss returns 0
there, a documented difference tested in the family test files.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import platform
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).with_name("torch_golden.npz")
REDUCTIONS = ("none", "sum", "mean")
rng = np.random.default_rng(20261124)
arrays: dict[str, np.ndarray] = {}
cases: list[dict] = []


def normal(*shape, scale=1.0):
    return (scale * rng.normal(size=shape)).astype(np.float32)


def uniform(*shape, low=0.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def labels(*shape, classes):
    return rng.integers(0, classes, size=shape).astype(np.int64)


def signs(*shape):
    return np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int64)


def class_last_to_torch(x):
    """(N, d1, ..., C) -> (N, C, d1, ...), torch's class dim 1."""
    return x.movedim(-1, 1).contiguous() if x.ndim > 2 else x  # nll_loss2d needs contiguous


def record(name, fn, args, *, kwargs=None, array_kwargs=None, grads=None, torch_call=None,
           reductions=REDUCTIONS, grads_for=REDUCTIONS, log_softmax_first=False):
    """Runs torch on one case and stores it.

    Args:
      name: case id (unique).
      fn: the jaxloss / torch.nn.functional name.
      args: positional numpy arrays in jaxloss layout.
      kwargs: JSON-able options passed to both libraries.
      array_kwargs: array options (weights) passed to both.
      grads: names of differentiated arguments: "argI" for positional I, or an array kwarg name.
      torch_call: maps (torch positional args, torch kwargs) to torch's result, for losses whose
        layout or calling convention differs; default ``getattr(F, fn)(*args, **kwargs)``.
      log_softmax_first: the first argument holds logits and both sides apply log_softmax over
        the last axis before calling (CTC: torch's log_probs gradient is really the logits').
    """
    kwargs = dict(kwargs or {})
    array_kwargs = dict(array_kwargs or {})
    grads = list(grads if grads is not None else ["arg0"])
    for i, a in enumerate(args):
        arrays[f"{name}/arg{i}"] = np.asarray(a)
    for k, a in array_kwargs.items():
        arrays[f"{name}/kw_{k}"] = np.asarray(a)
    results = {}
    for reduction in reductions:
        t_args = [torch.tensor(a) for a in args]
        t_kw = {k: torch.tensor(a) for k, a in array_kwargs.items()}
        wanted = grads if reduction in grads_for else []
        leaves = {}
        for g in wanted:
            t = t_args[int(g[3:])] if g.startswith("arg") else t_kw[g]
            t.requires_grad_(True)
            leaves[g] = t
        call_args = list(t_args)
        if log_softmax_first:
            call_args[0] = call_args[0].log_softmax(-1)
        call = torch_call or (lambda a, k: getattr(F, fn)(*a, **k))
        out = call(call_args, {**kwargs, **t_kw, "reduction": reduction})
        value = out.detach().numpy()
        assert np.all(np.isfinite(value)) or not wanted, (name, reduction, value)
        cot = normal(*value.shape) if value.ndim else np.float32(1.0)
        arrays[f"{name}/{reduction}/value"] = value
        arrays[f"{name}/{reduction}/cotangent"] = np.asarray(cot)
        if wanted:
            got = torch.autograd.grad(out, list(leaves.values()), torch.tensor(cot))
            for g, v in zip(leaves, got, strict=True):
                arrays[f"{name}/{reduction}/grad_{g}"] = v.numpy()
        results[reduction] = wanted
    cases.append({
        "id": name, "fn": fn, "nargs": len(args), "kwargs": kwargs,
        "array_kwargs": sorted(array_kwargs), "grads": results,
        "log_softmax_first": log_softmax_first,
    })


def regression():
    shapes = [(6,), (4, 3), (2, 3, 4)]
    for shape in shapes:
        x, y = normal(*shape, scale=2.0), normal(*shape)
        w = uniform(*shape, low=0.5, high=2.0)
        tag = "x".join(map(str, shape))
        for fn in ("l1_loss", "mse_loss"):
            record(f"{fn}/{tag}", fn, [x, y], grads=["arg0", "arg1"])
            record(f"{fn}/{tag}/weight", fn, [x, y], array_kwargs={"weight": w},
                   grads=["arg0", "arg1", "weight"])
        for delta in (1.0, 0.3, 2.5):
            record(f"huber_loss/{tag}/delta{delta}", "huber_loss", [x, y],
                   kwargs={"delta": delta}, grads=["arg0", "arg1"])
        record(f"huber_loss/{tag}/weight", "huber_loss", [x, y], kwargs={"delta": 0.7},
               array_kwargs={"weight": w}, grads=["arg0", "arg1", "weight"])
        for beta in (1.0, 0.3, 0.0):
            record(f"smooth_l1_loss/{tag}/beta{beta}", "smooth_l1_loss", [x, y],
                   kwargs={"beta": beta}, grads=["arg0", "arg1"])
    # Predictions equal to targets: torch's sign(0) = 0 gradient.
    x = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    y = np.array([1.0, -1.0, 0.5, 3.0], np.float32)
    for fn in ("l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss"):
        record(f"{fn}/exact", fn, [x, y], grads=["arg0", "arg1"])
    record("smooth_l1_loss/exact/beta0", "smooth_l1_loss", [x, y], kwargs={"beta": 0.0},
           grads=["arg0", "arg1"])

    counts = rng.poisson(3.0, size=(5, 4)).astype(np.float32)
    log_rate, rate = normal(5, 4), uniform(5, 4, low=0.1, high=6.0)
    for full in (False, True):
        record(f"poisson_nll_loss/log/full{full}", "poisson_nll_loss", [log_rate, counts],
               kwargs={"log_input": True, "full": full}, grads=["arg0"])
        record(f"poisson_nll_loss/rate/full{full}", "poisson_nll_loss", [rate, counts],
               kwargs={"log_input": False, "full": full, "eps": 1e-6}, grads=["arg0"])

    x, y = normal(4, 3, 5), normal(4, 3, 5)
    variances = {
        "same": uniform(4, 3, 5, low=0.1, high=3.0),
        "no_last": uniform(4, 3, low=0.1, high=3.0),
        "one_dim": uniform(4, 1, 5, low=0.1, high=3.0),
        "clamped": uniform(4, 3, 5, low=0.0, high=2e-6),  # partly below eps
    }
    for tag, var in variances.items():
        for full in (False, True):
            record(f"gaussian_nll_loss/{tag}/full{full}", "gaussian_nll_loss", [x, y, var],
                   kwargs={"full": full}, grads=["arg0", "arg1", "arg2"])
    record("gaussian_nll_loss/scalar", "gaussian_nll_loss", [x, y], kwargs={"var": 0.7},
           torch_call=lambda a, k: F.gaussian_nll_loss(a[0], a[1], k.pop("var"), **k),
           grads=["arg0", "arg1"])


def classification():
    for shape in [(7,), (6, 7), (3, 2, 4, 7)]:  # extra dims, class axis last
        tag = "x".join(map(str, shape))
        x = normal(*shape, scale=3.0)
        y = labels(*shape[:-1], classes=7)
        w = uniform(7, low=0.2, high=2.0)
        ignored = np.where(rng.random(y.shape) < 0.3, -100, y)
        if ignored.size and np.all(ignored == -100):
            ignored.flat[0] = 1
        probs = rng.dirichlet(np.ones(7), size=shape[:-1]).astype(np.float32).reshape(shape)
        probs_call = lambda a, k: F.cross_entropy(  # noqa: E731
            class_last_to_torch(a[0]), class_last_to_torch(a[1]), **k)
        index_call = lambda fn: lambda a, k: getattr(F, fn)(class_last_to_torch(a[0]), a[1], **k)  # noqa: E731
        for eps in (0.0, 0.15):
            record(f"cross_entropy/{tag}/eps{eps}", "cross_entropy", [x, y],
                   kwargs={"label_smoothing": eps}, torch_call=index_call("cross_entropy"))
            record(f"cross_entropy/{tag}/weight_ignore_eps{eps}", "cross_entropy", [x, ignored],
                   kwargs={"label_smoothing": eps, "ignore_index": -100},
                   array_kwargs={"weight": w}, torch_call=index_call("cross_entropy"))
            record(f"cross_entropy/{tag}/probs_eps{eps}", "cross_entropy", [x, probs],
                   kwargs={"label_smoothing": eps}, grads=["arg0", "arg1"],
                   torch_call=probs_call)
            record(f"cross_entropy/{tag}/probs_weight_eps{eps}", "cross_entropy", [x, probs],
                   kwargs={"label_smoothing": eps}, array_kwargs={"weight": w},
                   grads=["arg0", "arg1"], torch_call=probs_call)
        custom = np.where(y == 3, 3, y)  # ignore_index = 3: a real class, ignored
        record(f"cross_entropy/{tag}/ignore3", "cross_entropy", [x, custom],
               kwargs={"ignore_index": 3, "label_smoothing": 0.1}, array_kwargs={"weight": w},
               torch_call=index_call("cross_entropy"))
        logp = torch.tensor(x).log_softmax(-1).numpy()
        record(f"nll_loss/{tag}", "nll_loss", [logp, y], torch_call=index_call("nll_loss"))
        record(f"nll_loss/{tag}/weight_ignore", "nll_loss", [logp, ignored],
               array_kwargs={"weight": w}, torch_call=index_call("nll_loss"))

    # Extreme logits, and a -inf logit on a non-target class (finite with eps = 0).
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [3.0, -np.inf, 1.0]], np.float32)
    y = np.array([0, 0, 2])
    record("cross_entropy/extreme", "cross_entropy", [x, y])
    onehot = np.eye(3, dtype=np.float32)[y]
    record("cross_entropy/extreme_probs", "cross_entropy", [x[:2], onehot[:2]])

    p, t = uniform(5, 4, low=0.01, high=0.99), uniform(5, 4)
    w = uniform(5, 4, low=0.5, high=2.0)
    record("binary_cross_entropy/plain", "binary_cross_entropy", [p, t], grads=["arg0", "arg1"])
    record("binary_cross_entropy/weight", "binary_cross_entropy", [p, t],
           array_kwargs={"weight": w}, grads=["arg0", "arg1"])
    record("binary_cross_entropy/weight_row", "binary_cross_entropy", [p, t],
           array_kwargs={"weight": w[0]}, grads=["arg0", "arg1"])
    edge_p = np.array([0.0, 1.0, 0.0, 1.0, 1e-20, 1 - 1e-7, 0.5], np.float32)
    edge_t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.3], np.float32)
    record("binary_cross_entropy/edges", "binary_cross_entropy", [edge_p, edge_t])

    x, t = normal(5, 4, scale=3.0), uniform(5, 4)
    pos = uniform(4, low=0.5, high=3.0)
    record("bce_logits/plain", "binary_cross_entropy_with_logits", [x, t],
           grads=["arg0", "arg1"])
    record("bce_logits/weights", "binary_cross_entropy_with_logits", [x, t],
           array_kwargs={"weight": w, "pos_weight": pos}, grads=["arg0", "arg1"])
    big = np.array([1e4, -1e4, 80.0, -80.0, 0.0], np.float32)
    record("bce_logits/extreme", "binary_cross_entropy_with_logits",
           [big, np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)], grads=["arg0", "arg1"])

    logq = torch.tensor(normal(4, 6)).log_softmax(-1).numpy()
    t = torch.tensor(normal(4, 6)).softmax(-1).numpy()
    t[0, :2] = 0.0
    record("kl_div/probs", "kl_div", [logq, t], grads=["arg0"])
    record("kl_div/log_target", "kl_div", [logq, np.log(t + 1e-3)],
           kwargs={"log_target": True}, grads=["arg0", "arg1"])


def margin():
    x, y = normal(5, 3, scale=2.0), signs(5, 3)
    for m in (1.0, 0.4):
        record(f"hinge_embedding_loss/m{m}", "hinge_embedding_loss", [x, y], kwargs={"margin": m})
    record("hinge_embedding_loss/kink", "hinge_embedding_loss",
           [np.array([1.0, 0.0, 2.0], np.float32), np.array([-1, 1, -1])], kwargs={"margin": 1.0})
    record("hinge_embedding_loss/float_other_targets", "hinge_embedding_loss",
           [x[0], np.array([1.0, 0.0, -1.0], np.float32)])
    record("soft_margin_loss/int", "soft_margin_loss", [x, y])
    record("soft_margin_loss/float", "soft_margin_loss", [x, y.astype(np.float32)])
    record("soft_margin_loss/large", "soft_margin_loss",
           [np.array([60.0, -60.0, 85.0], np.float32), np.array([-1, 1, -1])])

    x = normal(6, 5, scale=2.0)
    t = (rng.random((6, 5)) < 0.4).astype(np.float32)
    wc = uniform(5, low=0.3, high=2.0)
    record("multilabel_soft_margin_loss/plain", "multilabel_soft_margin_loss", [x, t],
           grads=["arg0", "arg1"])
    record("multilabel_soft_margin_loss/weight", "multilabel_soft_margin_loss", [x, t],
           array_kwargs={"weight": wc}, grads=["arg0", "arg1"])
    record("multilabel_soft_margin_loss/int_targets", "multilabel_soft_margin_loss",
           [x, t.astype(np.int64)])

    targets = np.array([
        [3, 0, -1, 1, 2],  # stops at the first -1: 1 and 2 ignored
        [1, 1, 4, -1, 0],  # duplicate index counts twice
        [-1, 2, 3, 0, 1],  # empty
        [0, 1, 2, 3, 4],  # every class a target: nothing to compare
        [4, 2, -1, -1, -1],
        [2, -1, 0, 0, 0],
    ])
    record("multilabel_margin_loss/mixed", "multilabel_margin_loss", [x, targets])
    record("multilabel_margin_loss/unbatched", "multilabel_margin_loss", [x[0], targets[0]])

    y = labels(6, classes=5)
    for p in (1, 2):
        record(f"multi_margin_loss/p{p}", "multi_margin_loss", [x, y], kwargs={"p": p})
        record(f"multi_margin_loss/p{p}_weight_margin", "multi_margin_loss", [x, y],
               kwargs={"p": p, "margin": 0.6}, array_kwargs={"weight": wc})
    record("multi_margin_loss/kink", "multi_margin_loss",
           [np.array([[1.0, 0.0, 0.5]], np.float32), np.array([0])])

    x1, x2, y = normal(7), normal(7), signs(7)
    for m in (0.0, 0.5):
        record(f"margin_ranking_loss/m{m}", "margin_ranking_loss", [x1, x2, y],
               kwargs={"margin": m}, grads=["arg0", "arg1"])
    record("margin_ranking_loss/kink", "margin_ranking_loss",
           [np.array([1.0, 2.0], np.float32), np.array([1.0, 1.0], np.float32),
            np.array([1, -1])], grads=["arg0", "arg1"])

    a, b, y = normal(6, 4), normal(6, 4), signs(6)
    a[0] = 0.0  # a zero vector: finite value and gradient
    y[0] = -1
    for m in (0.0, -0.3, 0.4):
        record(f"cosine_embedding_loss/m{m}", "cosine_embedding_loss", [a, b, y],
               kwargs={"margin": m}, grads=["arg0", "arg1"])
    record("cosine_embedding_loss/unbatched", "cosine_embedding_loss",
           [a[1], b[1], np.array(1)], grads=["arg0", "arg1"])

    anchor = normal(6, 4)
    positive = anchor + normal(6, 4, scale=0.6)
    negative = normal(6, 4)
    anchor[0] = positive[0] = negative[0] = 0.0  # all equal: distance |eps| * sqrt(D)
    for p in (2.0, 1.0, 3.0):
        for swap in (False, True):
            record(f"triplet_margin_loss/p{p}_swap{swap}", "triplet_margin_loss",
                   [anchor, positive, negative],
                   kwargs={"p": p, "swap": swap, "margin": 0.8, "eps": 1e-6},
                   grads=["arg0", "arg1", "arg2"])
    record("triplet_margin_loss/unbatched", "triplet_margin_loss",
           [anchor[1], positive[1], negative[1]], grads=["arg0", "arg1", "arg2"])
    distances = {
        "default": None,
        "l1": lambda u, v: (u - v).abs().sum(-1),
        "squared": lambda u, v: ((u - v) ** 2).sum(-1),
    }
    for tag, dist in distances.items():
        for swap in (False, True):
            record(f"triplet_margin_with_distance_loss/{tag}_swap{swap}",
                   "triplet_margin_with_distance_loss", [anchor, positive, negative],
                   kwargs={"distance_function": tag, "swap": swap, "margin": 0.9},
                   grads=["arg0", "arg1", "arg2"],
                   torch_call=lambda a, k, dist=dist: F.triplet_margin_with_distance_loss(
                       *a, **{**k, "distance_function": dist}))


def ctc():
    def torch_ctc(a, k):
        log_probs, targets, input_lengths, target_lengths = a
        return F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths,
                          **k)

    n, time, classes, width = 4, 10, 5, 4
    logits = normal(n, time, classes, scale=2.0)
    targets = rng.integers(1, classes, size=(n, width))
    targets[1, :2] = 3  # a repeated label needs a blank between
    input_lengths = np.array([10, 9, 6, 10])
    target_lengths = np.array([4, 2, 3, 0])
    record("ctc_loss/padded", "ctc_loss", [logits, targets, input_lengths, target_lengths],
           log_softmax_first=True, torch_call=torch_ctc)
    logits_b0 = normal(n, time, classes, scale=2.0)
    targets_b = np.where(targets == 2, 0, targets)  # blank = 2 may not appear as a label
    record("ctc_loss/blank2", "ctc_loss",
           [logits_b0, targets_b, input_lengths, target_lengths], kwargs={"blank": 2},
           log_softmax_first=True, torch_call=torch_ctc)
    # Infeasible: three labels with a repeat in two frames.
    bad_inputs = np.array([10, 2, 6, 10])
    bad_targets = np.array([[1, 2, 3, 4], [2, 2, 1, 1], [1, 2, 1, 2], [1, 1, 1, 1]])
    bad_lengths = np.array([4, 3, 3, 0])
    record("ctc_loss/zero_infinity", "ctc_loss",
           [logits, bad_targets, bad_inputs, bad_lengths], kwargs={"zero_infinity": True},
           log_softmax_first=True, torch_call=torch_ctc)
    record("ctc_loss/infinite", "ctc_loss", [logits, bad_targets, bad_inputs, bad_lengths],
           log_softmax_first=True, torch_call=torch_ctc, grads_for=())
    flat = np.concatenate([targets[i, :target_lengths[i]] for i in range(n)])
    record("ctc_loss/concatenated", "ctc_loss", [logits, flat, input_lengths, target_lengths],
           log_softmax_first=True, torch_call=torch_ctc)
    record("ctc_loss/unbatched", "ctc_loss",
           [logits[0], targets[0], np.array(10), np.array(4)], log_softmax_first=True,
           torch_call=lambda a, k: F.ctc_loss(a[0], a[1], a[2], a[3], **k))


def torch_linear_cross_entropy(args, kwargs):
    """torch's linear_cross_entropy takes (N, D) rows (a 3-d input would put time at the class
    dim) and calls the bias `linear_bias`: flatten, call, restore the per-token shape."""
    hidden, weight, target = args
    kwargs = dict(kwargs)
    bias = kwargs.pop("bias", None)
    out = F.linear_cross_entropy(hidden.reshape(-1, hidden.shape[-1]), weight,
                                 target.reshape(-1), linear_bias=bias, **kwargs)
    return out.reshape(target.shape) if kwargs["reduction"] == "none" else out


def linear():
    for shape in [(9,), (2, 5)]:
        tag = "x".join(map(str, shape))
        h, w, b = normal(*shape, 6), normal(11, 6, scale=0.5), normal(11)
        y = labels(*shape, classes=11)
        ignored = np.where(rng.random(shape) < 0.3, -100, y)
        ignored.flat[0] = 4
        record(f"linear_cross_entropy/{tag}", "linear_cross_entropy", [h, w, y],
               grads=["arg0", "arg1"], torch_call=torch_linear_cross_entropy)
        record(f"linear_cross_entropy/{tag}/bias_ignore_eps", "linear_cross_entropy",
               [h, w, ignored], kwargs={"label_smoothing": 0.2}, array_kwargs={"bias": b},
               grads=["arg0", "arg1", "bias"], torch_call=torch_linear_cross_entropy)


def batchmean():
    """kl_div's "batchmean", recorded after the other cases so that their random draws stay
    as they were: the sum over the leading axis's length, for (C,) inputs too."""
    for shape in [(7,), (4, 6), (2, 3, 5)]:
        tag = "x".join(map(str, shape))
        logq = torch.tensor(normal(*shape)).log_softmax(-1).numpy()
        t = torch.tensor(normal(*shape)).softmax(-1).numpy()
        t.flat[0] = 0.0
        record(f"kl_div/batchmean/{tag}", "kl_div", [logq, t], grads=["arg0"],
               reductions=("batchmean",), grads_for=("batchmean",))
        record(f"kl_div/batchmean/{tag}/log_target", "kl_div", [logq, np.log(t + 1e-3)],
               kwargs={"log_target": True}, grads=["arg0", "arg1"],
               reductions=("batchmean",), grads_for=("batchmean",))


def main():
    torch.manual_seed(0)
    regression()
    classification()
    margin()
    ctc()
    linear()
    batchmean()
    manifest = {
        "made_by": "tests/golden/make_torch_golden.py",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cases": cases,
    }
    np.savez_compressed(OUT, manifest=np.array(json.dumps(manifest)), **arrays)
    print(f"wrote {len(cases)} cases, {len(arrays)} arrays to {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
