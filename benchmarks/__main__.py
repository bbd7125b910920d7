"""``python -m benchmarks``: time every catalogue loss against its baselines and the floor.

Run from the repository root. With no arguments it sweeps every loss over sizes 1e3 and 1e6 on
the default backend and writes ``benchmarks/results/<backend>-<device>.{json,md}`` and its plots.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

# The default run must finish in under 3 minutes on 2 CPU cores with every loss (2 min 44 s
# measured): two sizes span the sweep; the committed CPU results are a default run.
DEFAULT_SIZES = (1_000, 1_000_000)
DEFAULT_REPEATS = 9
DEFAULT_COMPILES = 3
QUICK_SIZES = (1_000, 100_000)
RESULTS = pathlib.Path(__file__).with_name("results")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(part)) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes must be numbers such as 1e3,1e6, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sorted(set(sizes))


def _dims(text: str) -> dict[str, int]:
    dims = {}
    for part in _csv(text):
        name, _, value = part.partition("=")
        try:
            dims[name.strip()] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"dims must look like width=128,classes=32, got {text!r}") from None
    from jaxloss import catalog

    try:  # unknown names and bad sizes are errors here, not in the middle of the run
        with catalog.sample_dims(**dims):
            pass
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    empty = sorted(name for name, size in dims.items() if size == 0)
    if empty:  # the catalogue allows them for tests of degenerate inputs; nothing to time
        raise argparse.ArgumentTypeError(f"dims must be at least 1, got 0 for {', '.join(empty)}")
    return dims


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("cpu", "gpu", "tpu"),
                   help="JAX backend to run on (default: JAX's default backend)")
    p.add_argument("--losses", type=_csv, help="comma-separated loss names (default: all)")
    p.add_argument("--families", type=_csv, help="comma-separated families (default: all)")
    p.add_argument("--sizes", type=_sizes,
                   help="comma-separated element counts of the first input, e.g. 1e3,1e5,1e7 "
                        f"(default: {','.join(f'{s:.0e}' for s in DEFAULT_SIZES)})")
    p.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32")
    p.add_argument("--dims", type=_dims,
                   help="inner-axis sizes of the samples, e.g. width=3,classes=5,features=4,"
                        "vocab=7 for the catalogue's own (default: the benchmarks' "
                        "width=128,classes=32,features=64,vocab=256 and the catalogue's "
                        "items=6; unnamed axes keep it)")
    p.add_argument("--repeats", type=int,
                   help=f"timed samples per program (default: {DEFAULT_REPEATS}, --quick: 3)")
    p.add_argument("--compiles", type=int, default=DEFAULT_COMPILES,
                   help="cold compiles of jaxloss and of the baseline per program, at sizes "
                        "where the bars apply (their median counts; one below; default: "
                        f"{DEFAULT_COMPILES})")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS,
                   help=f"directory for the result files (default: {RESULTS})")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: sizes {','.join(f'{s:.0e}' for s in QUICK_SIZES)} and 3 "
                        "repeats unless given")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.repeats = args.repeats or (3 if args.quick else DEFAULT_REPEATS)
    if args.repeats < 1:
        parser().error("--repeats must be at least 1")
    if args.compiles < 1:
        parser().error("--compiles must be at least 1")

    import jax

    # Compile times are measured from cold caches; a persistent cache would hide them.
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        device = jax.devices(args.backend)[0] if args.backend else jax.devices()[0]
    except RuntimeError:
        available = sorted({d.platform for d in jax.devices()})
        print(f"benchmarks: backend {args.backend!r} is not available here (available: "
              f"{', '.join(available)})", file=sys.stderr)
        return 2

    from . import cases, report, run

    args.dims = {**cases.DIMS, **(args.dims or {})}

    try:
        entries = cases.select(args.losses, args.families)
    except ValueError as error:
        print(f"benchmarks: {error}", file=sys.stderr)
        return 2
    if not entries:
        print("benchmarks: no loss matches --losses and --families together", file=sys.stderr)
        return 2
    env = run.environment(device, args)
    print(f"benchmarks: {len(entries)} losses x {len(args.sizes)} sizes x 2 modes on "
          f"{env['backend']} ({env['device_name']}), {args.dtype}", file=sys.stderr)
    records, skipped = run.sweep(entries, args.sizes, args.dtype, device.platform, device,
                                 args.repeats, args.compiles, args.dims)
    if not records:
        print("benchmarks: every case was skipped:", file=sys.stderr)
        for s in skipped:
            print(f"  {s['loss']} {s['size']:.0e}: {s['reason']}", file=sys.stderr)
        return 1

    print(report.terminal_table(records))
    checks = report.bars(records)
    held = sum(c["holds"] for c in checks)
    print(f"\nbars: {held} of {len(checks)} hold")
    for c in checks:
        if not c["holds"]:
            print(f"  FAILS {c['case']}: {c['bar']} = {report.fmt(c['value'])} > {c['limit']}")

    args.out.mkdir(parents=True, exist_ok=True)
    prefix = args.out / (report.stem(env) + ("" if args.dtype == "f32" else f"-{args.dtype}"))
    written = [prefix.with_suffix(".json"), prefix.with_suffix(".md")]
    report.write_json(written[0], env, records, skipped)
    written[1].write_text(report.markdown(env, records, skipped))
    if not args.no_plots:
        try:
            written += report.plots(prefix, env, records)
        except ImportError:
            print("benchmarks: no plots, matplotlib is not installed "
                  "(pip install -e \".[bench]\")", file=sys.stderr)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
