"""PyTorch's ``torch.nn.functional`` twin of a case, when torch is installed (an optional extra).

Inputs are the case's own arrays, copied once into torch tensors on the matching device; only the
layout differs where torch's does (CTC is time-major there). `value_and_grad` is the loss and
`torch.autograd.grad` with respect to the same arguments jaxloss differentiates.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .cases import Case

# PyTorch's OpenMP threads otherwise spin for a while after each call, on the same cores as the
# XLA program timed next: on 2 cores that made identical XLA programs differ by 40%. Sleeping
# threads cost torch a wake-up per call, which its figures then include.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the benchmark runs without it and says so in its output
    torch = None


def version() -> str | None:
    return None if torch is None else torch.__version__


def _tensor(x, device):
    array = np.asarray(x.astype("float32") if x.dtype.name == "bfloat16" else x)
    tensor = torch.from_numpy(array.copy()).to(device)
    if x.dtype.name == "bfloat16":
        tensor = tensor.to(torch.bfloat16)
    elif np.issubdtype(array.dtype, np.integer):
        tensor = tensor.long()
    return tensor


# Layout changes, by loss: (positional tensors, keyword tensors) -> torch's positional tensors.
_LAYOUT: dict[str, Callable] = {
    "ctc_loss": lambda args: (args[0].transpose(0, 1), *args[1:]),  # (N, T, C) -> (T, N, C)
}


def program(case: Case, mode: str, backend: str) -> Callable[[], object] | None:
    """A no-argument function running torch's loss (and gradient) on the case's inputs, or None
    when torch is missing, has no such loss, or cannot run on `backend`. Errors torch raises when
    called are the caller's to record."""
    name = case.entry.torch
    if torch is None or name is None or not hasattr(F, name):
        return None
    if backend == "gpu" and not torch.cuda.is_available():
        return None
    if backend == "tpu":
        return None
    device = "cuda" if backend == "gpu" else "cpu"
    tensors = [_tensor(x, device) for x in case.arrays]
    positional = tensors[:case.positional]
    keywords = dict(zip(case.keyword_names, tensors[case.positional:], strict=True))
    positional = list(_LAYOUT.get(name, tuple)(tuple(positional)))
    for i in case.argnums:
        positional[i].requires_grad_(mode == "value_and_grad")
    loss_fn = getattr(F, name)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def value():
        loss = loss_fn(*positional, **keywords, **case.static_kwargs)
        sync()
        return loss

    def value_and_grad():
        loss = loss_fn(*positional, **keywords, **case.static_kwargs)
        grads = torch.autograd.grad(loss, [positional[i] for i in case.argnums])
        sync()
        return loss, grads

    return value if mode == "value" else value_and_grad
