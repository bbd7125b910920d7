"""Measures every case: jaxloss, its catalogue baseline, the floor and PyTorch, in one run."""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time

import jax
import jaxlib
import optax

from . import cases as cases_lib
from . import report, timing, torch_baseline


def device_name(device) -> str:
    """A person's name for the device: the GPU/TPU kind, or the CPU model."""
    if device.platform != "cpu":
        return device.device_kind
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def environment(device, args) -> dict:
    return {
        "backend": device.platform,
        "device_kind": device.device_kind,
        "device_name": device_name(device),
        "device_count": jax.device_count(device.platform),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "optax": optax.__version__,
        "torch": torch_baseline.version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "dtype": args.dtype,
        "dims": getattr(args, "dims", None),  # inner-axis sizes of the samples
        "repeats": args.repeats,
        "compiles": args.compiles,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),  # they change XLA:CPU's fusions a lot
    }


def memory_limit(device) -> int | None:
    """Bytes the device can hold, when known."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


# A case is skipped, with a reason in the output, when its inputs times this factor (inputs,
# gradients, temporaries of jaxloss and the baselines) exceed what the device holds.
MEMORY_FACTOR = 8


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def measure(case: cases_lib.Case, backend: str, repeats: int, compiles: int = 1) -> list[dict]:
    """One record per mode for `case`; jaxloss and its baseline are compiled `compiles` times."""
    records = []
    floor = timing.compile_jax(case.program("floor", "value"), case.arrays)
    for mode in cases_lib.MODES:
        ours = timing.compile_jax(case.program("jaxloss", mode), case.arrays)
        base = None
        if case.entry.baseline is not None:
            base = timing.compile_jax(case.program("baseline", mode), case.arrays)
        torch_error = None
        torch_run = None
        try:
            run = torch_baseline.program(case, mode, backend)
            torch_run = None if run is None else timing.eager(run)
        except (RuntimeError, TypeError, ValueError) as error:
            torch_error = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        timing.recompile([p for p in (ours, base) if p is not None], compiles)
        floor.samples = []
        timing.interleave([p for p in (ours, base, floor, torch_run) if p is not None], repeats)
        record = {
            "loss": case.entry.name,
            "family": case.entry.family,
            "size": case.size,
            "elements": case.elements,
            "batch": case.batch,
            "dtype": case.dtype,
            "mode": mode,
            "elementwise": case.elementwise,
            "lower_s": ours.lower_s,
            "compile_s": ours.compile_s,
            "compile_min_s": min(ours.compiles),
            "compiles": len(ours.compiles),
            "first_call_s": ours.first_call_s,
            "exec_median_s": ours.median,
            "exec_min_s": ours.min,
            "temp_bytes": ours.temp_bytes,
            "input_bytes": case.input_bytes,
            "gb_per_s": case.input_bytes / ours.median / 1e9,
            "baseline": case.entry.baseline_name,
            "baseline_lower_s": base and base.lower_s,
            "baseline_compile_s": base and base.compile_s,
            "baseline_compile_min_s": base and min(base.compiles),
            "baseline_first_call_s": base and base.first_call_s,
            "baseline_exec_median_s": base and base.median,
            "baseline_exec_min_s": base and base.min,
            "baseline_temp_bytes": base and base.temp_bytes,
            "exec_ratio": base and timing.paired_ratio(ours, base),
            "compile_ratio": _ratio(ours.compile_s, base and base.compile_s),
            "floor_exec_median_s": floor.median,
            "floor_ratio": timing.paired_ratio(ours, floor),
            "torch": case.entry.torch if (torch_run or torch_error) else None,
            "torch_first_call_s": torch_run and torch_run.first_call_s,
            "torch_exec_median_s": torch_run and torch_run.median,
            "torch_exec_min_s": torch_run and torch_run.min,
            "torch_ratio": torch_run and timing.paired_ratio(ours, torch_run),
            "torch_error": torch_error,
        }
        records.append(record)
    return records


class Progress:
    """A one-line progress bar on stderr (a plain line per step when stderr is not a terminal)."""

    def __init__(self, total: int, width: int = 30):
        self.total, self.width, self.done = total, width, 0
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self, label: str):
        self.done += 1
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        line = f"[{bar}] {self.done}/{self.total} {elapsed:5.0f}s {label}"
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


# Inputs are made with eager jax.random calls, each compiled for its shape, and every cold
# compile clears those caches too: making the inputs of a case just after the previous case's
# compiles took 40% of the default run. Cases up to this many elements (the default sweep's,
# about 1 GB in all) are therefore made before any is timed.
PREMADE_MAX_SIZE = 2_000_000


def sweep(entries, sizes, dtype, backend, device, repeats,
          compiles=3, dims=None) -> tuple[list[dict], list[dict]]:
    """Records of every (entry, size, mode), and the cases skipped with their reason."""
    records, skipped = [], []
    limit = memory_limit(device)
    progress = Progress(len(entries) * len(sizes))
    with jax.default_device(device):
        premade = {(entry.name, size): cases_lib.make(entry, size, dtype, dims=dims)
                   for entry in entries for size in sizes if size <= PREMADE_MAX_SIZE}
        for entry in entries:
            for size in sizes:
                case = (premade.pop((entry.name, size), None)
                        or cases_lib.make(entry, size, dtype, dims=dims))
                if limit is not None and case.input_bytes * MEMORY_FACTOR > limit:
                    skipped.append({"loss": entry.name, "size": size,
                                    "reason": f"inputs of {case.input_bytes / 2**20:.0f} MiB "
                                              f"need more than the {limit / 2**30:.1f} GiB free"})
                else:
                    try:
                        # bars apply from BAR_MIN_SIZE: there compile times are medians
                        times = compiles if size >= report.BAR_MIN_SIZE else 1
                        records += measure(case, backend, repeats, times)
                    except Exception as error:  # out of memory, mostly: report and go on
                        if "RESOURCE_EXHAUSTED" not in str(error):
                            raise
                        skipped.append({"loss": entry.name, "size": size,
                                        "reason": str(error).splitlines()[0][:200]})
                progress.step(f"{entry.name} {size:.0e}")
    return records, skipped
