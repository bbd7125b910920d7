"""`checked`: a loss whose integer indices (class labels, actions, lengths) are range-checked.

Shapes and dtypes are checked when a loss is traced; values are not known then, so ``jit``
cannot check them. Every loss documents what an out-of-range index does without the check: it
makes the loss of its entry NaN, never silently reading another class (a negative index
wrapping around, as ``jnp.take`` would). `checked` adds the check with
``jax.experimental.checkify``, from the declarations each loss makes of its index arguments
(`_checks.Indices`, the loss's ``indices`` attribute).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from . import _checks


def checked(loss: Callable) -> Callable:
    """The loss `loss`, raising an error that names the first out-of-range integer index.

    Each integer index argument of the loss (class labels and ``ignore_index``, actions, CTC's
    targets, lengths and ``blank``) must lie in its range, e.g. ``[0, C)`` for class labels of
    logits ``(..., C)``; ``ignore_index`` (where the loss has it) is allowed anywhere, entries
    that ``where`` drops are not checked, and neither are the entries a loss ignores by design
    (`multilabel_margin_loss`'s entries after the first -1, CTC's padding past each target
    length). CTC's concatenated targets must also be exactly as long as the target lengths
    add up to. A violation raises ``jax.experimental.checkify.JaxRuntimeError`` naming the loss,
    the argument, the allowed range, the first offending value and its index, e.g.

    ``cross_entropy: `target` holds class indices, which must be in [0, 5) (the size of axis
    -1 of `input`) or equal `ignore_index` = -100; got 7 at index (3,)``

    Called with concrete arrays, the checks and the loss run as one compiled program (checkify
    under ``jit``) and the error is raised afterwards, outside it. Called inside a
    transformation (``jax.jit``, ``jax.vmap``, ``jax.grad``: the arguments are tracers), the
    checks are staged into the caller's program: functionalise it with
    ``jax.experimental.checkify.checkify`` and call ``error.throw()`` on the result (without
    that, JAX refuses to stage the check). Losses without integer index arguments are returned
    unchanged.

    Without `checked`, an out-of-range index is not detected under ``jit``: the loss of its
    entry is NaN (so a reduced loss is NaN); with `zero_infinity`, CTC keeps such NaNs. Under
    ``shard_map`` with a sharded vocabulary, `linear_cross_entropy`'s labels are checked
    against the local shard's size.

    Args:
      loss: a jaxloss loss.

    Returns:
      A function with the loss's signature and results.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits, labels = jnp.zeros((2, 3)), jnp.array([0, 3])
      >>> float(jaxloss.cross_entropy(logits, labels))  # label 3 of 3 classes: NaN
      nan
      >>> try:
      ...     jaxloss.checked(jaxloss.cross_entropy)(logits, labels)
      ... except Exception as error:
      ...     print(str(error).split(" (`check` failed)")[0])
      cross_entropy: `target` holds class indices, which must be in [0, 3) (the size of axis -1 of `input`) or equal `ignore_index` = -100; got 3 at index (1,)
    """  # noqa: E501
    indices = getattr(loss, "indices", None)
    if indices is None:
        raise TypeError(
            f"checked: {getattr(loss, '__name__', loss)!r} is not a jaxloss loss (it declares no "
            "`indices`)"
        )
    if not indices:
        return loss
    name = loss.__name__
    signature = inspect.signature(loss)

    def check_then_call(arguments: dict):
        where = arguments.get("where")
        loss_shape = None
        if where is not None:
            unreduced = jax.eval_shape(functools.partial(loss, **{**arguments,
                                                                  "reduction": "none"}))
            loss_shape = jax.tree.leaves(unreduced)[0].shape
        for spec in indices:
            _check(name, spec, arguments, where, loss_shape)
        return loss(**arguments)

    def run(dynamic: dict, static: tuple):
        return check_then_call({**dict(static), **dynamic})

    compiled = jax.jit(checkify.checkify(run), static_argnums=1)

    @functools.wraps(loss)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(arguments)):
            return check_then_call(arguments)
        # NumPy arrays are passed to the compiled checks as traced values: check their option
        # values here, as the loss itself would.
        for option, (ok, requirement) in getattr(loss, "valid", {}).items():
            _checks.concrete_option(name, option, arguments.get(option), ok, requirement)
        dynamic = {k: v for k, v in arguments.items() if isinstance(v, jax.Array | np.ndarray)}
        static = tuple((k, v) for k, v in arguments.items() if k not in dynamic)
        try:
            hash(static)
        except TypeError:  # an unhashable option: checked without compiling the whole
            error, result = checkify.checkify(run)(dynamic, static)
        else:
            error, result = compiled(dynamic, static)
        error.throw()
        return result

    return wrapper


def _check(fn: str, spec: _checks.Indices, arguments: dict, where, loss_shape) -> None:
    x = arguments.get(spec.arg)
    if x is None or not jnp.issubdtype(jnp.result_type(x), jnp.integer):
        return
    x = jnp.asarray(x)
    if not x.size:
        return
    bounding_shape = jnp.shape(arguments[spec.size_of])
    if spec.only_without_axis:
        without = list(bounding_shape)
        del without[spec.axis]
        if x.shape != tuple(without):
            return
    size = bounding_shape[spec.axis]
    counted = jnp.ones(x.shape, bool)
    if where is not None:
        counted = counted & _kept(where, loss_shape, x.shape, spec.extra_loss_axes)
    allowed = f"[0, {size}]" if spec.inclusive else f"[0, {size})"
    requirement = (f"`{spec.arg}` holds {spec.what}, which must be in {allowed} (the size of "
                   f"axis {spec.axis} of `{spec.size_of}`)")
    values = []
    if spec.ignore is not None and arguments[spec.ignore] is not None:  # None ignores none
        counted = counted & (x != arguments[spec.ignore])
        requirement += f" or equal `{spec.ignore}` = {{}}"
        values.append(jnp.asarray(arguments[spec.ignore]))
    if spec.end is not None:  # entries from the first `end` on are not indices
        counted = counted & (jnp.cumsum(x == spec.end, axis=-1) == 0)
    if spec.lengths is not None:
        lengths = jnp.asarray(arguments[spec.lengths])
        if lengths.ndim == x.ndim - 1:  # rows padded past their lengths
            positions = jnp.arange(x.shape[-1]).reshape((1,) * lengths.ndim + (-1,))
            counted = counted & (positions < lengths[..., None])
    bad = (x < 0) | (x > size if spec.inclusive else x >= size)
    if spec.exclude is not None:
        bad = bad | (x == arguments[spec.exclude])
        requirement += f" and differ from `{spec.exclude}` = {{}}"
        values.append(jnp.asarray(arguments[spec.exclude]))
    bad = bad & counted
    if spec.tiles and x.ndim == 1 and len(bounding_shape) == 1:
        checkify.check(
            jnp.sum(x) == size,
            f"{fn}: `{spec.arg}` must sum to the length of the concatenated `{spec.size_of}`, "
            f"{size}; they sum to {{}}",
            jnp.sum(x),
        )
    first = jnp.argmax(bad.reshape(-1))
    index = jnp.unravel_index(first, x.shape) if x.ndim else ()
    where_text = "(" + ", ".join("{}" for _ in index) + ("," if len(index) == 1 else "") + ")"
    checkify.check(
        ~jnp.any(bad),
        f"{fn}: {requirement}; got {{}} at index {where_text}",
        *values, x.reshape(-1)[first] if x.ndim else x, *index,
    )


def _kept(where, loss_shape, shape, extra_loss_axes):
    """Which entries of an index array of `shape` are kept by `where`: its leading axes are
    those of the unreduced loss, less the loss's `extra_loss_axes` trailing ones."""
    keep = jnp.broadcast_to(jnp.asarray(where), loss_shape)
    if extra_loss_axes:
        keep = jnp.any(keep, axis=tuple(range(-extra_loss_axes, 0)))
    if tuple(shape[:keep.ndim]) != keep.shape:  # not aligned: check every entry
        return True
    return keep.reshape(keep.shape + (1,) * (len(shape) - keep.ndim))
