"""Robustness properties of every public loss (issue 8; DESIGN §3.4-3.11), drawn by hypothesis
for each catalogue entry and each of its sample variants, with no per-loss code: a loss is
covered the day it is registered.

Each drawn case is a sample from the entry's maker (a seed), its floating inputs scaled by a
factor from 1e-30 to 1e30 (within the entry's domain: probabilities are only scaled down,
floating labels never), optionally pushed to the ends of their ranges (integer indices at 0 and
C - 1 from the loss's `indices` declarations, probabilities at exactly 0 and 1), a ``where`` mask
(random rows, random entries, everything or nothing kept) and a poison (NaN, +-inf or 1e30
floats, out-of-range integers) written into the rows the mask drops. Every case checks:

* float64 is the oracle of the domain: where its value and gradients are finite and within
  float32's range, the float32 ones are finite, and agree with them (`F64_RTOL`, `F64_ATOL`:
  values always, gradients at scale 1); at scale 1 (the maker's own inputs, in the domain by
  construction) float64 must be finite;
* masked rows change neither the value, nor the unreduced loss, nor any gradient (data,
  weights, hyperparameters), whatever they hold, in float32, float64 and 16-bit; they get a
  zero gradient and their unreduced loss is 0;
* ``"sum"`` is the sum of ``"none"``; ``"mean"`` is ``"sum"`` over the number of kept entries
  (less the loss's own ignored labels), except for the catalogue's `weighted_mean` variants;
  with nothing kept the mean is 0 with zero gradients; rows kept by a row mask have the
  unreduced loss they have without a mask;
* bf16 and f16 inputs give float32 results within `HALF_RTOL` of float32 on the same upcast
  values, and gradients in the input dtype;
* ``where`` keeping two rows equals slicing them out, value and gradients (weighted means
  included), and ``vmap`` over two stacked batches equals the loop over them;
* once per variant: ``jit`` equals eager execution, and an empty batch gives 0 (sum and mean)
  with gradients of the inputs' shapes.

All of a variant's cases share its compiled programs (the drawn values never change a shape or
dtype), so compilation, not the number of cases, sets the time. With the environment variable
``JAXLOSS_ROBUSTNESS_DIR`` set, each test writes what it tried to a JSON file there, which
``python -m tests.robustness_report`` turns into ``docs/robustness.md``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jaxloss import catalog

BATCH = 4  # rows of the main sample
HALF = 2  # rows of each of the two batches vmap stacks
SCALES = (1e-30, 1e-8, 1e-3, 1.0, 1e3, 1e8, 1e15, 1e30)
MASKS = ("rows", "entries", "nothing", "everything")  # what `where` keeps
POISONS = ("nan", "inf", "-inf", "huge")  # what dropped rows hold

# Tolerances. 16-bit inputs are computed in float32, so they must agree with float32 on the
# upcast values up to the order of operations. Float32 against the float64 oracle: relative to
# each output's largest magnitude, so that underflowing terms of a sum do not count.
HALF_RTOL = 1e-6
F64_RTOL = 2e-3
# ... plus this absolute error: a loss near 0 is often a difference of terms near 1 (1 - Dice,
# a divergence), which float32 resolves to about 1e-7 only.
F64_ATOL = 1e-6
JIT_RTOL = 1e-5
FLOAT32_RANGE = 1e36  # float64 results beyond this are out of float32's range (max 3.4e38)


@dataclasses.dataclass(frozen=True)
class Draw:
    seed: int  # of the sample maker
    scale: float  # of the floating inputs
    mask: str  # one of MASKS
    bits: int  # of the mask pattern and the extremes
    poison: str  # one of POISONS
    extremes: bool  # indices at both ends of their range, probabilities at 0 and 1


draws = st.builds(
    Draw,
    seed=st.integers(0, 2**16),
    scale=st.sampled_from(SCALES),
    mask=st.sampled_from(MASKS),
    bits=st.integers(0, 2**32 - 1),
    poison=st.sampled_from(POISONS),
    extremes=st.booleans(),
)
# Always tried, whatever the profile draws: the maker's inputs with NaN in dropped rows, the
# largest and smallest scales at the ends of every range, and a fully masked batch.
EXPLICIT = (
    Draw(seed=0, scale=1.0, mask="rows", bits=0b1001, poison="nan", extremes=False),
    Draw(seed=1, scale=1e30, mask="entries", bits=12345, poison="inf", extremes=True),
    Draw(seed=2, scale=1e-30, mask="nothing", bits=0, poison="-inf", extremes=True),
)

VARIANTS = [(e, v) for e in catalog.ENTRIES for v in e.variants]


def _ids(case):
    return f"{case[0].name}-{case[1]}" if isinstance(case, tuple) else case.name


def _is_float(x):
    return jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)


def _leaves(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def _finite(tree):
    return all(np.all(np.isfinite(x)) for x in _leaves(tree))


def _largest(tree):
    return max((float(np.max(np.abs(x))) for x in _leaves(tree) if x.size), default=0.0)


def _close(actual, expected, rtol, scale, what, atol=1e-37):
    """Agreement to `rtol` relative to `scale` (default: the expected array's largest
    magnitude, so that terms which underflow do not count), give or take `atol`."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if scale is None:
        finite = expected[np.isfinite(expected)]
        scale = float(np.max(np.abs(finite), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale + atol,
                               err_msg=what)


def _agree(actual, expected, rtol, what, atol=1e-37):
    """Programs' outputs agree: the unreduced loss and each gradient relative to their own
    largest magnitude, the sum and the mean relative to the unreduced loss's (terms of mixed
    signs may cancel in them)."""
    for name, e in expected.items():
        a = actual[name]
        none = np.abs(np.asarray(e["none"], np.float64))
        scales = {"none": None, "sum": float(np.sum(none)),
                  "mean": float(np.max(none, initial=0.0)) + abs(float(e["mean"]))}
        for key, scale in scales.items():
            _close(a[key], e[key], rtol, scale, f"{what}: {name} {key}", atol)
        for i, (ga, ge) in enumerate(zip(jax.tree.leaves(a["grads"]),
                                         jax.tree.leaves(e["grads"]), strict=True)):
            _close(ga, ge, rtol, None, f"{what}: {name} gradient {i}", atol)


def _identical(actual, expected, what):
    for a, e in zip(_leaves(actual), _leaves(expected), strict=True):
        np.testing.assert_array_equal(a, e, err_msg=what)


def _cast(tree, dtype):
    """Floating leaves to `dtype` (integers to int64 for float64, as x64 code would pass)."""
    def cast(x):
        if _is_float(x):
            return jnp.asarray(x).astype(dtype)
        return jnp.asarray(x).astype(jnp.int64 if dtype == jnp.float64 else x.dtype)

    return jax.tree.map(cast, tree)


class Harness:
    """The compiled programs and the inputs of one catalogue variant.

    The programs take ``(args, float options, other options, where)``: the positional arrays,
    the floating keyword arrays and numeric hyperparameters (differentiated), the other traced
    options, and the mask. `full` gives the mean with its gradients (with respect to the
    floating data arguments and the float options), the sum and the unreduced loss, with
    `where` (``"masked"``) and without (``"plain"``); `masked` the first half; `plain` the
    second; `small` just the masked mean and its gradients with respect to the data. Each is
    compiled for the few shapes and dtypes it is used with.
    """

    def __init__(self, entry, variant):
        self.entry, self.variant = entry, variant
        template = entry.sample(jax.random.key(0), BATCH, jnp.float32, variant)
        self.template = template
        self.argnums = tuple(i for i in entry.grad_argnums if _is_float(template.args[i]))
        hyper = {k: v for k, v in entry.hyperparameters.items() if _is_float(v[1])}
        self.traced = {k for k, v in template.kwargs.items()
                       if isinstance(v, jax.Array) or (k in hyper and isinstance(v, float))}
        self.static = {k: v for k, v in template.kwargs.items() if k not in self.traced}
        # Absent scalar hyperparameters are passed at their second catalogue value (so traced,
        # and differentiated); absent arrays (class weights) would change what "mean" is.
        self.extra = {k: v[1] for k, v in hyper.items()
                      if k not in template.kwargs and np.ndim(v[1]) == 0}
        params = inspect.signature(entry.fn).parameters
        self.positions = {name: i for i, name in enumerate(params)}
        self.defaults = {k: p.default for k, p in params.items()}
        self.loss_shape = self._loss_shape(BATCH)
        self.full = jax.jit(lambda *a: {"masked": self._outputs(*a),
                                        "plain": self._outputs(*a[:3], None)})
        self.masked = jax.jit(self._outputs)
        self.plain = jax.jit(lambda *a: self._outputs(*a, None))
        self.small = jax.jit(self._small)
        self.vmapped = None  # `small` over stacked batches, made by the first `_check_vmap`
        self.stats = {"cases": 0, "in_range": 0, "out_of_range": 0, "classes": set()}
        self.once_done = False

    # -- the programs ------------------------------------------------------------------------

    def _call(self, args, options, where, reduction):
        return self.entry(*args, **self.static, **options, where=where, reduction=reduction)

    def _mean(self, args, others, where):
        def mean(diff, floats):
            full = list(args)
            for i, x in zip(self.argnums, diff, strict=True):
                full[i] = x
            return self._call(full, {**floats, **others}, where, "mean")

        return mean

    def _outputs(self, args, floats, others, where):
        diff = tuple(args[i] for i in self.argnums)
        value, grads = jax.value_and_grad(self._mean(args, others, where), (0, 1))(diff, floats)
        options = {**floats, **others}
        return {"mean": value, "grads": grads, "sum": self._call(args, options, where, "sum"),
                "none": self._call(args, options, where, "none")}

    def _small(self, args, floats, others, where):
        diff = tuple(args[i] for i in self.argnums)
        return jax.value_and_grad(self._mean(args, others, where))(diff, floats)

    def _loss_shape(self, batch):
        sample = self.entry.sample(jax.random.key(0), batch, jnp.float32, self.variant)
        args, floats, others = self._split(sample)
        out = jax.eval_shape(
            lambda: self._call(args, {**floats, **others}, None, "none"))
        return out.shape

    # -- inputs ------------------------------------------------------------------------------

    def _split(self, sample):
        options = {k: v for k, v in sample.kwargs.items() if k in self.traced}
        options |= self.extra
        floats = {k: jnp.asarray(v, jnp.float32) if not isinstance(v, jax.Array) else v
                  for k, v in options.items() if _is_float(v)}
        others = {k: jnp.asarray(v) for k, v in options.items() if not _is_float(v)}
        return tuple(sample.args), floats, others

    def _low(self, sample, dtype):
        """The sample's arrays in `dtype`; hyperparameters stay float32 (they are options,
        not inputs)."""
        args, floats, others = self._split(sample)
        arrays = {k: v for k, v in floats.items()
                  if isinstance(sample.kwargs.get(k), jax.Array)}
        return (_cast(args, dtype), {**floats, **_cast(arrays, dtype)}, others)

    def _sample(self, draw, batch, scale):
        entry = self.entry
        sample = entry.sample(jax.random.key(draw.seed), batch, jnp.float32, self.variant)
        args = list(sample.args)
        for i, x in enumerate(args):
            if not _is_float(x) or i in entry.fixed:
                continue
            if self._is_probability(i, x):
                args[i] = x * min(scale, 1.0)
            else:
                args[i] = x * min(scale, entry.max_scale)
        sample = dataclasses.replace(sample, args=tuple(args))
        if draw.extremes:
            sample = self._extremes(sample, draw.bits)
        return sample

    def _is_probability(self, i, x):
        return i in self.entry.probabilities and bool(jnp.all((x >= 0) & (x <= 1)))

    def _option(self, sample, name):
        return sample.kwargs.get(name, self.defaults.get(name))

    def _extremes(self, sample, bits):
        """Indices at 0 and at C - 1, probabilities at exactly 0 and 1, half of each."""
        rng = np.random.default_rng(bits)
        args = list(sample.args)
        for spec in getattr(self.entry.fn, "indices", ()):
            i, bound = self.positions.get(spec.arg), self.positions.get(spec.size_of)
            if i is None or bound is None or spec.inclusive or i >= len(args):
                continue
            labels, size = np.asarray(args[i]), np.shape(args[bound])[spec.axis]
            if spec.only_without_axis and labels.shape != _without(np.shape(args[bound]),
                                                                    spec.axis):
                continue
            allowed = [v for v in range(size) if v != self._option(sample, spec.exclude)]
            pick = np.where(rng.random(labels.shape) < 0.5, allowed[0], allowed[-1])
            keep = np.zeros(labels.shape, bool)
            if spec.ignore is not None:
                keep |= labels == self._option(sample, spec.ignore)
            if spec.end is not None:
                keep |= labels == spec.end
            args[i] = jnp.asarray(np.where(keep, labels, pick), dtype=args[i].dtype)
            self.stats["classes"].add("indices at 0 and C-1")
        for i, x in enumerate(args):
            if _is_float(x) and self._is_probability(i, x):
                u = rng.random(np.shape(x))
                args[i] = jnp.where(u < 1 / 3, 0.0, jnp.where(u > 2 / 3, 1.0, x)).astype(x.dtype)
                self.stats["classes"].add("probabilities at 0 and 1")
        return dataclasses.replace(sample, args=tuple(args))

    def _where(self, draw, shape):
        rng = np.random.default_rng(draw.bits)
        if draw.mask == "rows":
            rows = rng.random(shape[0]) < 0.5
            return np.broadcast_to(rows.reshape((-1,) + (1,) * (len(shape) - 1)), shape)
        if draw.mask == "entries":
            return rng.random(shape) < 0.5
        return np.full(shape, draw.mask == "everything")

    def _poisoned(self, sample, dropped, poison):
        """The sample with `poison` in every row that `dropped` marks, in every array with a
        batch axis (out-of-range -7 in integer ones)."""
        value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e30}[poison]

        def poison_rows(x):
            x = jnp.asarray(x)
            rows = jnp.asarray(dropped).reshape((-1,) + (1,) * (x.ndim - 1))
            bad = jnp.asarray(value if _is_float(x) else -7, x.dtype)
            return jnp.where(rows, bad, x)

        args = tuple(x if i in sample.shared else poison_rows(x)
                     for i, x in enumerate(sample.args))
        kwargs = {k: poison_rows(v) if k in sample.batched else v
                  for k, v in sample.kwargs.items()}
        return dataclasses.replace(sample, args=args, kwargs=kwargs)

    def _ignored(self, sample, shape):
        """Entries of the unreduced loss that the loss drops itself (ignored labels)."""
        ignored = np.zeros(shape, bool)
        for spec in getattr(self.entry.fn, "indices", ()):
            i = self.positions.get(spec.arg)
            if spec.ignore is None or i is None or i >= len(sample.args):
                continue
            labels = np.asarray(sample.args[i])
            if labels.shape == tuple(shape) and not _is_float(labels):
                ignored |= labels == self._option(sample, spec.ignore)
        return ignored

    # -- the checks --------------------------------------------------------------------------

    def run(self, draw):
        stats = self.stats
        stats["cases"] += 1
        scale = min(draw.scale, self.entry.max_scale)  # as _sample applies it
        stats["classes"] |= {f"mask: {draw.mask}", f"poison: {draw.poison}",
                             f"scale {scale:g}", "f32", "bf16", "f16", "f64"}
        sample = self._sample(draw, BATCH, draw.scale)
        where = self._where(draw, self.loss_shape)
        mask = jnp.asarray(where)
        dropped = ~where.reshape(BATCH, -1).any(axis=1)
        dirty = self._poisoned(sample, dropped, draw.poison)
        args, floats, others = self._split(sample)

        clean = self.full(args, floats, others, mask)
        self._check_masking(clean["masked"], self.full(*self._split(dirty), mask)["masked"],
                            clean["masked"]["grads"][0], dropped, sample, "float32")
        self._check_reductions(clean, where, sample, draw)
        in_range = self._check_against_float64(clean["masked"], sample, dirty, mask, draw)
        for dtype in (jnp.bfloat16, jnp.float16):
            self._check_half(sample, dirty, mask, dropped, dtype, draw)
        if in_range:
            self._check_slicing(sample, draw)
            self._check_vmap(args, floats, others, where)
            if not self.once_done:
                self.once_done = True
                self._check_eager(clean["masked"], args, floats, others, mask)
                self._check_empty_batch(draw)

    def _check_masking(self, clean, dirty, data_grads, dropped, sample, what):
        """Same value and gradients whatever the dropped rows hold, and no gradient there."""
        _identical(dirty, clean, f"{what}: values in masked rows changed the value or a gradient")
        for i, g in zip(self.argnums, data_grads, strict=True):
            if i not in sample.shared:
                assert not np.any(np.asarray(g)[dropped]), f"{what}: masked rows have gradients"

    def _check_reductions(self, clean, where, sample, draw):
        ignored = self._ignored(sample, self.loss_shape)
        for name, kept in (("masked", where), ("plain", np.ones(self.loss_shape, bool))):
            out = clean[name]
            none = np.asarray(out["none"], np.float64)
            assert not np.any(none[~kept]), f"{name}: masked entries of 'none' are not 0"
            if not _finite(out):
                continue
            total = float(np.sum(none))
            np.testing.assert_allclose(float(out["sum"]), total, rtol=1e-5,
                                       atol=1e-5 * float(np.sum(np.abs(none))) + 1e-37,
                                       err_msg=f"{name}: 'sum' is not the sum of 'none'")
            count = int(np.sum(kept & ~ignored))
            if not np.any(kept):
                assert float(out["mean"]) == 0.0, f"{name}: mean over nothing is not 0"
                assert not any(np.any(g) for g in _leaves(out["grads"])), \
                    f"{name}: mean over nothing has a nonzero gradient"
            if self.variant in self.entry.weighted_mean:
                continue
            expected = total / count if count else 0.0
            np.testing.assert_allclose(
                float(out["mean"]), expected, rtol=1e-5,
                atol=1e-5 * float(np.max(np.abs(none), initial=0)) + 1e-37,
                err_msg=f"{name}: 'mean' is not 'sum' over the {count} kept entries")
        if draw.mask in ("rows", "everything"):
            rows = where.reshape(BATCH, -1).any(axis=1)
            _close(np.asarray(clean["masked"]["none"])[rows],
                   np.asarray(clean["plain"]["none"])[rows], 1e-6, None,
                   "rows kept by `where` have another unreduced loss than without it")

    def _check_against_float64(self, clean, sample, dirty, mask, draw):
        """Float64 says what is in the domain; there float32 must be finite and agree."""
        with jax.enable_x64(True):
            wide = self.masked(*_cast(self._split(sample), jnp.float64), mask)
            wide_dirty = self.masked(*_cast(self._split(dirty), jnp.float64), mask)
            _identical(wide_dirty, wide,
                       "float64: values in masked rows changed the value or a gradient")
            assert wide["mean"].dtype == jnp.float64
        if draw.scale == 1.0:
            assert _finite(wide), "float64 is not finite on the maker's (in-domain) inputs"
        in_range = _finite(wide) and _largest(wide) < FLOAT32_RANGE
        self.stats["in_range" if in_range else "out_of_range"] += 1
        if in_range and draw.scale < self.entry.float64_oracle_from:
            assert _finite(clean), "float32 is not finite where float64 is"
        elif in_range:
            assert _finite(clean), "float32 is not finite where float64 is within its range"
            # Values agree. Gradients only at the maker's own scale: with inputs scaled far
            # from 1, a gradient may be a tiny difference of rounding-level terms (the
            # derivative of a log-sigmoid difference at a logit of 1e-30), which neither
            # dtype resolves; there they need only be finite.
            if draw.scale != 1.0:
                clean, wide = (dict(out, grads=()) for out in (clean, wide))
            else:
                clean, wide = (dict(out, grads=out["grads"][0]) for out in (clean, wide))
            _agree({"masked": clean}, {"masked": wide}, F64_RTOL,
                   "float32 disagrees with float64", atol=F64_ATOL)
        return in_range

    def _check_half(self, sample, dirty, mask, dropped, dtype, draw):
        low = self._low(sample, dtype)
        if not _finite(low[:2]):  # the scale overflows the dtype: use the maker's own values
            sample = self._sample(dataclasses.replace(draw, scale=1.0), BATCH, 1.0)
            dirty = self._poisoned(sample, dropped, draw.poison)
            low = self._low(sample, dtype)
        name = jnp.dtype(dtype).name
        value, grads = self.small(*low, mask)
        shapes = jax.eval_shape(lambda: [self._call(low[0], {**low[1], **low[2]}, mask, r)
                                         for r in ("sum", "none")])
        for out in (value, *shapes):
            assert out.dtype == jnp.float32, f"{name}: a result is {out.dtype}, not float32"
        for g in grads:
            assert g.dtype == dtype, f"{name}: a gradient is {g.dtype}"
        upcast = self.full(*_cast(low, jnp.float32), mask)["masked"]
        if _finite(upcast):
            _close(value, upcast["mean"], HALF_RTOL, None,
                   f"{name}: the mean differs from float32's on the same values")
            # The gradients are float32's rounded to the dtype (overflowing to inf there).
            for g, g32 in zip(grads, upcast["grads"][0], strict=True):
                _close(g, jnp.asarray(g32).astype(dtype), float(jnp.finfo(dtype).eps), None,
                       f"{name}: a gradient differs from float32's")
        poisoned = self.small(*self._low(dirty, dtype), mask)
        self._check_masking((value, grads), poisoned, grads, dropped, sample, name)

    def _check_slicing(self, sample, draw):
        """`where` keeping HALF rows equals slicing them out (weighted means included)."""
        rows = np.sort(np.random.default_rng(draw.bits).permutation(BATCH)[:HALF])
        keep = np.zeros(BATCH, bool)
        keep[rows] = True
        shape = self.loss_shape
        where = jnp.asarray(np.broadcast_to(keep.reshape((-1,) + (1,) * (len(shape) - 1)),
                                            shape))
        masked = self.full(*self._split(sample), where)["masked"]
        sliced = dataclasses.replace(
            sample,
            args=tuple(x if i in sample.shared else x[rows] for i, x in enumerate(sample.args)),
            kwargs={k: v[rows] if k in sample.batched else v for k, v in sample.kwargs.items()})
        value, grads = self.small(*self._split(sliced), jnp.ones((HALF,) + shape[1:], bool))
        _close(value, masked["mean"], JIT_RTOL, None, "where differs from slicing")
        for i, g, m in zip(self.argnums, grads, masked["grads"][0], strict=True):
            _close(g, m if i in sample.shared else np.asarray(m)[rows], JIT_RTOL, None,
                   "where's gradient differs from slicing's")
        self.stats["classes"].add("where == slicing")

    def _check_vmap(self, args, floats, others, where):
        """vmap over two stacked batches of HALF rows equals the loop over them."""
        sample = self.template
        batched = set(sample.batched)

        def stack(x):
            return x.reshape((2, HALF) + x.shape[1:])

        arg_axes = tuple(None if i in sample.shared else 0 for i in range(len(args)))
        float_axes = {k: 0 if k in batched else None for k in floats}
        other_axes = {k: 0 if k in batched else None for k in others}
        if self.vmapped is None:  # one program for every draw: the axes never change
            self.vmapped = jax.jit(jax.vmap(self._small,
                                            in_axes=(arg_axes, float_axes, other_axes, 0)))
        stacked = (
            tuple(x if a is None else stack(x) for x, a in zip(args, arg_axes, strict=True)),
            {k: stack(v) if k in batched else v for k, v in floats.items()},
            {k: stack(v) if k in batched else v for k, v in others.items()},
            stack(jnp.asarray(where)),
        )
        mapped = self.vmapped(*stacked)
        for b in range(2):
            part = (
                tuple(x if a is None else x[b] for x, a in zip(stacked[0], arg_axes, strict=True)),
                {k: v[b] if k in batched else v for k, v in stacked[1].items()},
                {k: v[b] if k in batched else v for k, v in stacked[2].items()},
                stacked[3][b],
            )
            for m, e in zip(jax.tree.leaves(mapped), jax.tree.leaves(self.small(*part)),
                            strict=True):
                _close(m[b], e, JIT_RTOL, None, "vmap over stacked batches differs from the "
                       "loop over them")
        self.stats["classes"].add("vmap over 2 stacked batches")

    def _check_eager(self, clean, args, floats, others, mask):
        with jax.disable_jit():
            value, grads = self._small(args, floats, others, mask)
        _close(value, clean["mean"], JIT_RTOL, None, "jit differs from eager execution")
        for g, e in zip(grads, clean["grads"][0], strict=True):
            _close(g, e, JIT_RTOL, None, "jit's gradient differs from eager execution's")
        self.stats["classes"].add("eager == jit")

    def _check_empty_batch(self, draw):
        sample = self.entry.sample(jax.random.key(draw.seed), 0, jnp.float32, self.variant)
        assert self._loss_shape(0)[0] == 0
        out = self.plain(*self._split(sample))
        assert float(out["mean"]) == 0.0 and float(out["sum"]) == 0.0
        assert out["none"].shape[0] == 0
        data_grads, option_grads = out["grads"]
        for i, g in zip(self.argnums, data_grads, strict=True):
            assert g.shape == sample.args[i].shape
        assert not any(np.any(g) for g in _leaves((data_grads, option_grads)))
        self.stats["classes"].add("batch 0")


def _without(shape, axis):
    shape = list(shape)
    del shape[axis]
    return tuple(shape)


def _record(harness, outcome):
    directory = os.environ.get("JAXLOSS_ROBUSTNESS_DIR")
    if not directory:
        return
    stats = dict(harness.stats, classes=sorted(harness.stats["classes"]))
    record = {"loss": harness.entry.name, "variant": harness.variant, "outcome": outcome,
              "weighted_mean": harness.entry.weighted_mean.get(harness.variant), **stats}
    path = pathlib.Path(directory) / f"{harness.entry.name}--{harness.variant}.json"
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("case", VARIANTS, ids=_ids)
def test_drawn_cases(case):
    harness = Harness(*case)

    @given(draw=draws)
    def check(draw):
        harness.run(draw)

    for draw in EXPLICIT:
        check = example(draw=draw)(check)
    outcome = "failed"
    try:
        check()
        outcome = "passed"
    finally:
        _record(harness, outcome)


@pytest.mark.parametrize("entry", catalog.ENTRIES, ids=_ids)
def test_hyperparameters_change_the_value_without_recompiling(entry):
    """DESIGN §3.10: numeric hyperparameters are traced; each one changes the value of some
    variant's sample, and changing it never compiles again."""
    if not entry.hyperparameters:
        pytest.skip("no numeric hyperparameters")
    for name, (first, second) in entry.hyperparameters.items():
        changed = False
        for variant in entry.variants:
            sample = entry.sample(jax.random.key(0), 6, jnp.float32, variant)
            a = entry(*sample.args, **{**sample.kwargs, name: first})
            compiled = entry.fn._cache_size()
            b = entry(*sample.args, **{**sample.kwargs, name: second})
            assert entry.fn._cache_size() == compiled, f"changing {name} recompiled ({variant})"
            changed |= not np.allclose(a, b)
        assert changed, f"{name} has no effect on any sample"
