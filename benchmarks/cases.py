"""Benchmark cases: a catalogue entry at one size and dtype, as the programs to time.

A case holds three jitted-to-be functions over the same flat tuple of input arrays (the loss's
positional arrays followed by its keyword arrays): jaxloss's loss, the catalogue baseline, and the
floor, a program that merely reads every input once. Each exists as ``value`` and as
``value_and_grad`` with respect to the entry's floating `grad_argnums`. Keyword options that are
not arrays (a margin, a flag) are closed over, identically for jaxloss and the baseline, so both
compile the same problem.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxloss import catalog

MODES = ("value", "value_and_grad")

# Inner-axis sizes of the benchmark samples (`catalog.sample_dims`): rows of 128 elementwise
# values, 32 classes, 64-wide embeddings. The catalogue's defaults (3 to 5 entries, for fast
# tests) are far from real models, and XLA:CPU runs such narrow rows several times slower per
# element: summing `1 - x * y` over 1e6 elements took 1.76 ms as (333333, 3) and 0.31-0.38 ms
# as (31250, 32), (7813, 128), (1000, 1000) or flat (jax 0.10.2, 2 cores), so narrow samples
# would measure XLA:CPU's narrow-row code rather than the losses. `linear_cross_entropy` gets a
# byte-level vocabulary of 256 words (the catalogue's 7 made its logits rows of 7); its own
# benchmark (`benchmarks.linear_cross_entropy`) covers language-model vocabularies.
DIMS = {"width": 128, "classes": 32, "features": 64, "vocab": 256}


@dataclasses.dataclass(frozen=True)
class Case:
    entry: catalog.Entry
    size: int  # requested number of elements of the first input
    dtype: str  # "f32", "bf16", ...
    batch: int
    arrays: tuple[jax.Array, ...]
    positional: int  # arrays[:positional] are fn's positional arguments
    keyword_names: tuple[str, ...]  # names of the keyword arrays, in order
    static_kwargs: dict
    argnums: tuple[int, ...]  # differentiated arrays, indices into `arrays`

    @property
    def elements(self) -> int:
        return int(self.arrays[0].size)

    @property
    def input_bytes(self) -> int:
        return sum(int(x.nbytes) for x in self.arrays)

    @property
    def elementwise(self) -> bool:
        """The unreduced loss has the first input's shape: one loss per element."""
        shape = jax.eval_shape(lambda *a: self._call(self.entry, a, reduction="none"),
                               *self.arrays).shape
        return tuple(shape) == tuple(self.arrays[0].shape)

    def _call(self, fn, arrays, **options):
        kwargs = dict(zip(self.keyword_names, arrays[self.positional:], strict=True))
        return fn(*arrays[:self.positional], **kwargs, **self.static_kwargs, **options)

    def program(self, which: str, mode: str) -> Callable:
        """The function of `arrays` to time: which in {"jaxloss", "baseline", "floor"}."""
        if which == "floor":
            return _floor
        fn = self.entry if which == "jaxloss" else self.entry.baseline

        def value(*arrays):
            return self._call(fn, arrays)

        if mode == "value":
            return value
        return jax.value_and_grad(value, argnums=self.argnums)


def _floor(*arrays):
    """Reads every input once: the cheapest program that depends on all of them."""
    return sum(jnp.sum(x, dtype=jnp.float32) for x in arrays)


DTYPES = {"f32": jnp.float32, "bf16": jnp.bfloat16, "f16": jnp.float16, "f64": jnp.float64}


def make(entry: catalog.Entry, size: int, dtype: str = "f32", seed: int = 0,
         dims: dict | None = None) -> Case:
    """The entry's default sample at the batch whose first input has about `size` elements,
    with inner axes of sizes `dims` (default `DIMS`)."""
    key = jax.random.key(seed)
    with catalog.sample_dims(**(DIMS if dims is None else dims)):
        # The shape of one row, traced abstractly: running the maker for it would compile
        # every random op of the maker for one more shape (a third of making the inputs).
        row = jax.eval_shape(lambda k: entry.sample(k, 1, DTYPES[dtype]).args[0], key)
        per_row = math.prod(row.shape[1:])
        batch = max(1, round(size / per_row))
        sample = entry.sample(key, batch, DTYPES[dtype])
    keyword_arrays = {k: v for k, v in sample.kwargs.items() if isinstance(v, jax.Array)}
    static = {k: v for k, v in sample.kwargs.items() if k not in keyword_arrays}
    arrays = tuple(sample.args) + tuple(keyword_arrays.values())
    floating = [jnp.issubdtype(a.dtype, jnp.floating) for a in sample.args]
    argnums = tuple(i for i in entry.grad_argnums if floating[i])
    return Case(entry, size, dtype, batch, arrays, len(sample.args), tuple(keyword_arrays),
                static, argnums)


def select(losses: list[str] | None, families: list[str] | None) -> list[catalog.Entry]:
    """Catalogue entries by name and/or family, in catalogue order; unknown names are errors."""
    entries = list(catalog.ENTRIES)
    if losses:
        unknown = sorted(set(losses) - set(catalog.names()))
        if unknown:
            raise ValueError(f"unknown loss(es) {', '.join(unknown)}; known: "
                             f"{', '.join(catalog.names())}")
        entries = [e for e in entries if e.name in losses]
    if families:
        unknown = sorted(set(families) - set(catalog.families()))
        if unknown:
            raise ValueError(f"unknown famil(y/ies) {', '.join(unknown)}; known: "
                             f"{', '.join(catalog.families())}")
        entries = [e for e in entries if e.family in families]
    return entries
