"""How one program is timed: trace+lower, XLA compile, first call, steady-state execution.

Compilation is timed from cold caches (`jax.clear_caches()` first, persistent cache off), so the
figure is what a user pays on the first step of a fresh process. A single cold compile of a small
program swings by tens of percent on a shared machine, so programs being compared are compiled
several times, alternately (`recompile`), and the median counts. Steady-state execution is timed
on the compiled executable with `block_until_ready`, in rounds that alternate between the
programs being compared (`interleave`), so a slow moment of a shared machine hits all of them
alike and their ratio stays meaningful.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence

import jax

MIN_SAMPLE_S = 1e-3  # calls per timed sample are batched up to about this long


@dataclasses.dataclass
class Compiled:
    """A program lowered and compiled for fixed inputs, with its cold-start timings."""

    run: Callable[[], object]  # one call with the inputs, blocked until ready
    lower_s: float | None
    compile_s: float | None  # the median of `compiles`
    first_call_s: float
    temp_bytes: int | None
    samples: list[float] = dataclasses.field(default_factory=list)  # seconds per call
    compiles: list[float] = dataclasses.field(default_factory=list)  # cold compiles, seconds
    lowers: list[float] = dataclasses.field(default_factory=list)  # their lowerings, seconds
    relower: Callable[[], tuple[float, float]] | None = None  # one more cold lower + compile

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)


def _block(result):
    return jax.block_until_ready(result)


def _cold(fn: Callable, arrays: Sequence[jax.Array]):
    """`fn` lowered and compiled for `arrays` from cold caches, with both durations."""
    jax.clear_caches()
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(*arrays)
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    return compiled, lowered_at - start, time.perf_counter() - lowered_at


def compile_jax(fn: Callable, arrays: Sequence[jax.Array]) -> Compiled:
    """Lowers and compiles `fn(*arrays)` from cold caches and runs it once; `recompile` adds
    more cold compiles of it."""
    compiled, lower_s, compile_s = _cold(fn, arrays)
    memory = compiled.memory_analysis()
    temp = None if memory is None else int(memory.temp_size_in_bytes)

    def run():
        return _block(compiled(*arrays))

    first = time.perf_counter()
    run()
    first_call = time.perf_counter() - first
    return Compiled(run, lower_s, compile_s, first_call, temp, compiles=[compile_s],
                    lowers=[lower_s], relower=lambda: _cold(fn, arrays)[1:])


def recompile(programs: Sequence[Compiled], times: int) -> None:
    """Compiles each program until it has `times` cold compiles, alternating between them so a
    slow moment hits all alike; `lower_s` and `compile_s` become the medians."""
    for _ in range(times - 1):
        for program in programs:
            if program.relower is None:
                continue
            lower_s, compile_s = program.relower()
            program.lowers.append(lower_s)
            program.compiles.append(compile_s)
    for program in programs:
        if program.compiles:
            program.lower_s = statistics.median(program.lowers)
            program.compile_s = statistics.median(program.compiles)


def eager(run: Callable[[], object]) -> Compiled:
    """A program without a compile step (PyTorch eager): its first call is its cold start."""
    start = time.perf_counter()
    run()
    return Compiled(run, None, None, time.perf_counter() - start, None)


def interleave(programs: Sequence[Compiled], repeats: int) -> None:
    """Appends `repeats` per-call timings to each program, one sample of each per round.

    Sample ``i`` of every program comes from round ``i``, so `paired_ratio` can compare them
    round by round. Odd rounds run the programs in reverse order: whichever runs first after
    another program finds colder caches, and alternating spreads that over all of them.
    """
    calls = []
    for program in programs:  # calls per sample so each sample lasts about MIN_SAMPLE_S
        start = time.perf_counter()
        program.run()
        once = max(time.perf_counter() - start, 1e-7)
        calls.append(max(1, min(1000, round(MIN_SAMPLE_S / once))))
    order = list(zip(programs, calls, strict=True))
    for round_ in range(repeats):
        for program, n in order if round_ % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for _ in range(n):
                program.run()
            program.samples.append((time.perf_counter() - start) / n)


def paired_ratio(a: Compiled, b: Compiled) -> float:
    """The median over rounds of a's time over b's time in the same round of `interleave`.

    A slow moment of a shared machine (another process, a frequency change) slows both
    programs of a round alike and cancels in their ratio, where it would shift one median but
    not the other. On a 2-core machine, two programs with the same optimised HLO measured
    ratios of medians from 0.99 to 1.49 over 12 fresh compiles and paired ratios from 0.98 to
    1.23 (rounds in a fixed order); with alternating rounds, 0.89 to 1.13 and 0.92 to 1.13.
    """
    if len(a.samples) != len(b.samples) or not a.samples:
        raise ValueError(f"paired_ratio needs samples from the same rounds, got "
                         f"{len(a.samples)} and {len(b.samples)}")
    return statistics.median(x / y for x, y in zip(a.samples, b.samples, strict=True))
