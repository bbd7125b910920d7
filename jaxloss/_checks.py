"""Trace-time validation shared by every loss.

Shapes and dtypes are static under `jax.jit`, so these checks run once per compilation and cost
nothing at run time. Every message names the loss, the argument and what was expected against what
was given, e.g. ``mse_loss: `input` has shape (4, 3) but `target` has shape (4,)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def shape_str(shape: Sequence[int]) -> str:
    return str(tuple(int(d) for d in shape))


def reduction(fn: str, value: object, allowed: Sequence[str] = REDUCTIONS) -> None:
    if value not in allowed:
        *first, last = (repr(r) for r in allowed)
        raise ValueError(
            f"{fn}: `reduction` must be one of {', '.join(first)} or {last}, got {value!r}"
        )


def concrete_option(fn: str, name: str, value, ok, requirement: str) -> None:
    """A numeric option given as a Python or NumPy number (or NumPy array) must satisfy `ok`;
    anything else (None, a JAX array, a tracer) is not known here and is left alone."""
    if not isinstance(value, int | float | np.ndarray | np.generic):
        return
    good = np.asarray(ok(np.asarray(value, dtype=np.float64)))
    if np.all(good):
        return
    if np.ndim(value) == 0:
        raise ValueError(f"{fn}: `{name}` must be {requirement}, got {np.asarray(value).item()!r}")
    index = np.unravel_index(np.argmin(np.broadcast_to(good, np.shape(value))), np.shape(value))
    raise ValueError(
        f"{fn}: `{name}` must be {requirement}, got {np.asarray(value)[index].item()!r} at index "
        f"{tuple(int(i) for i in index)} of an array of shape {shape_str(np.shape(value))}"
    )


@dataclasses.dataclass(frozen=True)
class Indices:
    """Declares an integer argument of a loss whose values index an axis of another argument
    (class labels, actions, blank) or count along it (sequence lengths).

    Shapes are checked at trace time; values cannot be, under ``jit``. A loss lists its
    declarations with ``loss_function(indices=...)``, which exposes them as ``loss.indices``:
    `jaxloss.checked` checks the values from them at run time, and the property tests draw
    indices at both ends of each range from them.
    """

    arg: str  # the integer argument
    size_of: str  # the argument whose `axis` bounds it
    axis: int = -1
    what: str = "class indices"
    inclusive: bool = False  # the axis length itself is allowed (a count, not an index)
    ignore: str | None = None  # an option whose value is allowed anywhere (ignore_index)
    exclude: str | None = None  # an option whose value is not allowed (CTC's blank)
    end: int | None = None  # a value that ends a row: it and what follows are not indices
    lengths: str | None = None  # per-row counts: only the first lengths[i] entries of row i
    # Only when `arg` has `size_of`'s shape without `axis` (otherwise it holds probabilities or
    # masks, not indices).
    only_without_axis: bool = False
    # Trailing axes of the unreduced loss that `arg` does not have (a segmentation loss's class
    # axis): `where` drops an entry of `arg` when it drops every entry of those axes.
    extra_loss_axes: int = 0
    # Lengths of the rows laid end to end in `size_of` when both are 1-D (CTC's concatenated
    # targets): they must sum to its length.
    tiles: bool = False


def unused(value) -> bool:
    """An option left at a Python-number 0 (its default, not passed to the compiled function):
    the term it scales can be left out of the program. A passed value is traced, never unused,
    so passing 0 explicitly still computes (and differentiates) the term."""
    return isinstance(value, int | float) and value == 0


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating)


def _is_int(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.integer) and dtype != np.bool_


def floats(fn: str, *, numeric: Sequence[str] = (), **arrays) -> tuple[jnp.ndarray, ...]:
    """Casts `arrays` to one computation dtype: their floating dtype promoted to at least float32.

    16-bit inputs are therefore computed (and reduced) in float32, and float64 stays float64 when
    x64 is enabled. Each array must be floating, or, if its name is in `numeric`, integer (torch
    accepts integer regression targets and integer ±1 labels). Booleans and complex are refused.
    """
    arrays = {name: jnp.asarray(x) for name, x in arrays.items()}
    dtype = jnp.result_type(floating_dtype(fn, numeric=numeric, **arrays) or jnp.float32,
                            jnp.float32)
    return tuple(x.astype(dtype) for x in arrays.values())


def floating_dtype(fn: str, *, numeric: Sequence[str] = (), **arrays):
    """The promoted floating dtype of `arrays` (None if all are integer), which must be floating
    (or integer, if named in `numeric`). Nothing is cast: for losses that keep large 16-bit
    inputs as they are."""
    for name, x in arrays.items():
        dtype = jnp.result_type(x)
        if _is_float(dtype) or (name in numeric and _is_int(dtype)):
            continue
        kind = "a floating or integer" if name in numeric else "a floating"
        raise TypeError(f"{fn}: `{name}` must have {kind} dtype, got {dtype}")
    floating = [d for d in map(jnp.result_type, arrays.values()) if _is_float(d)]
    return jnp.result_type(*floating) if floating else None


def labels(fn: str, name: str, x, hint: str = "") -> jnp.ndarray:
    """Integer class indices of any integer dtype, as int32.

    Casting first matters: comparing a uint8 label with a traced ``ignore_index=-100`` would
    otherwise wrap -100 to 156 in uint8 arithmetic.
    """
    return integers(fn, name, x, "class indices", hint)


def integers(fn: str, name: str, x, what: str, hint: str = "", *, cast: bool = True
             ) -> jnp.ndarray:
    """Integer data of any integer dtype (class indices, sequence lengths), as int32 unless
    not `cast` (labels only compared for equality keep their dtype: int64 labels that differ
    by 2**32 must stay different)."""
    x = jnp.asarray(x)
    if not _is_int(x.dtype):
        raise TypeError(
            f"{fn}: `{name}` holds {what} and must have an integer dtype, got {x.dtype}{hint}"
        )
    return x.astype(jnp.int32) if cast else x


def boolean(fn: str, name: str, x) -> jnp.ndarray:
    x = jnp.asarray(x)
    if x.dtype != np.bool_:
        raise TypeError(f"{fn}: `{name}` must be a boolean mask, got dtype {x.dtype}")
    return x


def same_shape(fn: str, **arrays) -> None:
    (first, a), *rest = arrays.items()
    for name, b in rest:
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"{fn}: `{first}` has shape {shape_str(jnp.shape(a))} "
                f"but `{name}` has shape {shape_str(jnp.shape(b))}"
            )


def shape_is(fn: str, name: str, x, expected: Sequence[int], what: str) -> None:
    """`x` must have exactly `expected` shape; `what` says where that shape comes from."""
    if jnp.shape(x) != tuple(expected):
        raise ValueError(
            f"{fn}: `{name}` has shape {shape_str(jnp.shape(x))} but must have shape "
            f"{shape_str(expected)} ({what})"
        )


def scalars(fn: str, **options) -> None:
    """Each numeric option (a number, array or tracer; None is left alone) must be a scalar:
    broadcast against the loss's inner axes it would silently mean something else."""
    for name, value in options.items():
        if value is not None and jnp.ndim(value) != 0:
            raise ValueError(
                f"{fn}: `{name}` must be a scalar, got shape {shape_str(jnp.shape(value))}"
            )


def min_rank(fn: str, name: str, x, rank: int, what: str) -> None:
    if jnp.ndim(x) < rank:
        raise ValueError(
            f"{fn}: `{name}` must have at least {rank} dimension{'s' * (rank != 1)} "
            f"({what}), got shape {shape_str(jnp.shape(x))}"
        )


def nonempty(fn: str, name: str, x, axis: int, what: str) -> None:
    """Refuses an empty `axis` of `x`, whose entries are each a `what` (a class, an action),
    where the loss has no value without one: integer targets would index nothing, and a
    softmax, a maximum or a mean over the axis is undefined. (PyTorch raises for class
    indices, and returns NaN for probabilities.) Axes that are only summed over, or whose
    items may all be left out, stay allowed: their loss is 0, like a mean over nothing."""
    shape = jnp.shape(x)
    if not shape[axis]:
        raise ValueError(
            f"{fn}: `{name}` has shape {shape_str(shape)}, with no {what} on axis {axis}; the "
            "loss needs at least one"
        )


def rank_in(fn: str, name: str, x, ranks: Sequence[int], what: str) -> None:
    if jnp.ndim(x) not in ranks:
        allowed = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{fn}: `{name}` must have {allowed} dimension{'s' * (tuple(ranks) != (1,))} "
            f"({what}), got shape {shape_str(jnp.shape(x))}"
        )


def broadcastable(fn: str, name: str, x, shape: Sequence[int], to: str) -> None:
    """`x` must broadcast to `shape` without enlarging it (weights against the loss, masks)."""
    try:
        ok = np.broadcast_shapes(jnp.shape(x), tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: `{name}` has shape {shape_str(jnp.shape(x))}, which does not broadcast "
            f"to {to} {shape_str(shape)}"
        )
