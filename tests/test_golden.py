"""jaxloss against PyTorch 2.13: values and vector-Jacobian products recorded by
tests/golden/make_torch_golden.py, replayed for every case and reduction (float32, rtol 1e-5)."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

GOLDEN = np.load(pathlib.Path(__file__).parent / "golden" / "torch_golden.npz")
MANIFEST = json.loads(str(GOLDEN["manifest"]))
CASES = MANIFEST["cases"]

# The distance functions the generator passed to torch, by the name it recorded. |d| is written
# d * sign(d) so that its gradient at 0 is torch's 0 (jnp.abs has gradient 1 there).
DISTANCES = {
    "default": None,
    "l1": lambda u, v: jnp.sum((u - v) * jnp.sign(u - v), axis=-1),
    "squared": lambda u, v: jnp.sum(jnp.square(u - v), axis=-1),
}


def test_fixtures_come_from_the_pinned_torch():
    assert MANIFEST["torch"].startswith("2.13.0")
    assert len(CASES) > 100
    assert all(set(c["grads"]) == {"none", "sum", "mean"} for c in CASES
               if c["fn"] != "kl_div"), "a case is missing a reduction"
    assert {r for c in CASES if c["fn"] == "kl_div" for r in c["grads"]} == set(
        jaxloss.kl_div.reductions)


def test_every_torch_named_loss_has_fixtures():
    from jaxloss import catalog

    torch_named = {e.name for e in catalog.ENTRIES if e.torch}
    assert torch_named == {case["fn"] for case in CASES}


def _inputs(case):
    cid = case["id"]
    args = [jnp.asarray(GOLDEN[f"{cid}/arg{i}"]) for i in range(case["nargs"])]
    kwargs = dict(case["kwargs"])
    if "distance_function" in kwargs:
        kwargs["distance_function"] = DISTANCES[kwargs["distance_function"]]
    for name in case["array_kwargs"]:
        kwargs[name] = jnp.asarray(GOLDEN[f"{cid}/kw_{name}"])
    return args, kwargs


def _loss(case, reduction):
    """The case's loss as a function of (positional args, array kwargs)."""
    fn = getattr(jaxloss, case["fn"])
    _, options = _inputs(case)
    static = {k: v for k, v in options.items() if k not in case["array_kwargs"]}

    def loss(args, arrays):
        args = list(args)
        if case["log_softmax_first"]:
            args[0] = jax.nn.log_softmax(args[0], axis=-1)
        return fn(*args, **static, **arrays, reduction=reduction)

    return loss


@pytest.mark.parametrize(("case", "reduction"),
                         [(c, r) for c in CASES for r in c["grads"]],
                         ids=[f"{c['id']}-{r}" for c in CASES for r in c["grads"]])
def test_matches_torch(case, reduction):
    cid = case["id"]
    args, kwargs = _inputs(case)
    arrays = {k: kwargs[k] for k in case["array_kwargs"]}
    loss = _loss(case, reduction)
    expected = GOLDEN[f"{cid}/{reduction}/value"]
    value, vjp = jax.vjp(loss, args, arrays)
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=f"{cid} value")
    assert value.shape == expected.shape

    wanted = case["grads"][reduction]
    if not wanted:
        return
    cotangent = jnp.asarray(GOLDEN[f"{cid}/{reduction}/cotangent"], value.dtype)
    arg_grads, kw_grads = vjp(cotangent)
    for name in wanted:
        got = arg_grads[int(name[3:])] if name.startswith("arg") else kw_grads[name]
        want = GOLDEN[f"{cid}/{reduction}/grad_{name}"]
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale,
                                   err_msg=f"{cid} gradient of {name}")
