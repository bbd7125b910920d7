"""What a catalogue entry is, and the sample-making helpers shared by every family's entries."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Dims:
    """Sizes of the samples' inner axes; the batch axis is each maker's `n`.

    The defaults are small, so the tests run fast and see every class in a few rows.
    Benchmarks use `sample_dims` with wider ones: XLA:CPU runs arrays whose last axis has
    3 to 5 entries several times slower than the same number of elements in wider rows,
    which would make the benchmarks measure that rather than the losses.
    """

    classes: int = 5  # class axis (logits, multi-label targets)
    features: int = 4  # embedding axis
    width: int = 3  # trailing axis of elementwise samples
    vocab: int = 7  # vocabulary of `linear_cross_entropy` (not `classes`: tells them apart)
    items: int = 6  # items (image/text pairs) per contrastive batch, and items per ranked list


_DIMS = [Dims()]


def dims() -> Dims:
    """The inner-axis sizes that makers use now (`Dims()` outside `sample_dims`)."""
    return _DIMS[-1]


@contextlib.contextmanager
def sample_dims(**sizes: int):
    """Makers called inside this context use these inner-axis sizes, e.g.
    ``with catalog.sample_dims(width=128): entry.sample(key, 8)``. Hyperparameter arrays
    (class weights) are made for the default sizes, once, and do not follow. A size of 0
    makes an empty axis, for the tests of degenerate inputs."""
    unknown = sorted(set(sizes) - {f.name for f in dataclasses.fields(Dims)})
    if unknown:
        raise TypeError(f"sample_dims: unknown axis name(s) {', '.join(unknown)}; known: "
                        f"{', '.join(f.name for f in dataclasses.fields(Dims))}")
    bad = {k: v for k, v in sizes.items()
           if isinstance(v, bool) or not isinstance(v, int) or v < 0}
    if bad:
        raise ValueError(f"sample_dims: sizes must be non-negative integers, got {bad}")
    _DIMS.append(dataclasses.replace(dims(), **sizes))
    try:
        yield dims()
    finally:
        _DIMS.pop()


@dataclasses.dataclass(frozen=True)
class Sample:
    """Inputs for one call: ``fn(*args, **kwargs)``."""

    args: tuple
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    batched: frozenset[str] = frozenset()  # keyword arrays that share the batch axis
    shared: frozenset[int] = frozenset()  # positional arrays without it (a weight matrix)


Maker = Callable[[jax.Array, int, Any], Sample]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One public loss.

    Calling the entry calls the loss and returns the loss value alone: losses that also return
    quantities for logging (preference and policy losses) name how to pick the loss out of their
    result with `loss_of`, so generic code never needs to know which ones do.
    """

    name: str
    family: str
    fn: Callable
    makers: Mapping[str, Maker]  # variant name -> maker(key, batch, dtype); the first is default
    baseline: Callable | None  # fn's default-reduced value from the same args/kwargs
    baseline_name: str | None
    torch: str | None = None  # the torch.nn.functional equivalent
    grad_argnums: tuple[int, ...] = (0,)  # positional arrays that gradients are taken for
    integer_argnums: tuple[int, ...] = ()  # positional arrays that must be integer (labels)
    hyperparameters: Mapping[str, tuple] = dataclasses.field(default_factory=dict)
    smooth: bool = True  # twice differentiable almost everywhere (hessian tests)
    loss_of: Callable[[Any], jax.Array] | None = None  # picks the loss from fn's result
    reverse_only: frozenset[str] = frozenset()  # variants on a custom VJP: no forward-mode AD
    # False where the gradient is by design not the value's derivative (a factor held constant,
    # as complete IoU's trade-off): finite differences cannot check it, its own tests do.
    exact_gradient: bool = True
    # The loss's domain, for the property tests (tests/test_properties.py), which scale every
    # other floating positional array by factors from 1e-30 up to `max_scale`:
    probabilities: tuple[int, ...] = ()  # arrays in [0, 1]: scaled down only, tried at 0 and 1
    fixed: tuple[int, ...] = ()  # floating arrays of labels (+-1, 0/1): never scaled
    max_scale: float = 1e30
    # The smallest scale at which float64 computes the same function as float32 (the property
    # tests' oracle): below it, only finiteness is checked (an epsilon of the dtype's own).
    float64_oracle_from: float = 0.0
    # Variants whose "mean" is not the kept entries' sum over their number, each with what it
    # divides by instead (class weights, pairs); the other variants are checked to be.
    weighted_mean: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.makers)

    def sample(self, key, batch: int = 8, dtype=jnp.float32, variant: str | None = None):
        return self.makers[variant or self.variants[0]](key, batch, dtype)

    def __call__(self, *args, **kwargs) -> jax.Array:
        result = self.fn(*args, **kwargs)
        return result if self.loss_of is None else self.loss_of(result)


def keys(key, n):
    return jax.random.split(key, n)


def normal(key, shape, dtype, scale=1.0):
    return scale * jax.random.normal(key, shape, dtype)


def uniform(key, shape, dtype, low=0.0, high=1.0):
    return jax.random.uniform(key, shape, dtype, low, high)


def labels(key, shape, num_classes=None):
    return jax.random.randint(key, shape, 0, num_classes or dims().classes)


def signs(key, shape, dtype=jnp.int32):
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(dtype)
