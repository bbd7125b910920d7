"""Trace-time validation shared by every loss.

Shapes and dtypes are static under `jax.jit`, so these checks run once per compilation and cost
nothing at run time. Every message names the loss, the argument and what was expected against what
was given, e.g. ``mse_loss: `input` has shape (4, 3) but `target` has shape (4,)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def shape_str(shape: Sequence[int]) -> str:
    return str(tuple(int(d) for d in shape))


def reduction(fn: str, value: object) -> None:
    if value not in REDUCTIONS:
        raise ValueError(
            f"{fn}: `reduction` must be one of 'mean', 'sum' or 'none', got {value!r}"
        )


def concrete_option(fn: str, name: str, value, ok, requirement: str) -> None:
    """A numeric option given as a Python or NumPy number (or NumPy array) must satisfy `ok`;
    anything else (None, a JAX array, a tracer) is not known here and is left alone."""
    if not isinstance(value, int | float | np.ndarray | np.generic):
        return
    if not np.all(ok(np.asarray(value, dtype=np.float64))):
        raise ValueError(f"{fn}: `{name}` must be {requirement}, got {value!r}")


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


def integers(fn: str, name: str, x, what: str, hint: str = "") -> jnp.ndarray:
    """Integer data of any integer dtype (class indices, sequence lengths), as int32."""
    x = jnp.asarray(x)
    if not _is_int(x.dtype):
        raise TypeError(
            f"{fn}: `{name}` holds {what} and must have an integer dtype, got {x.dtype}{hint}"
        )
    return x.astype(jnp.int32)


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


def min_rank(fn: str, name: str, x, rank: int, what: str) -> None:
    if jnp.ndim(x) < rank:
        raise ValueError(
            f"{fn}: `{name}` must have at least {rank} dimension{'s' * (rank != 1)} "
            f"({what}), got shape {shape_str(jnp.shape(x))}"
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
