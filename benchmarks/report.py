"""What a run produces: the terminal table, the JSON of every raw figure, a markdown summary with
the performance bars (issue 4) checked, log-log slopes, and PNG plots."""

from __future__ import annotations

import json
import math
import pathlib
import re
from collections import defaultdict

# Performance bars, checked on every run (ratios from one run, f32).
OPTAX_EXEC_BAR = 1.10  # exec time / optax, sizes >= BAR_MIN_SIZE, value and value_and_grad
OPTAX_COMPILE_BAR = 1.25  # compile time / optax
FLOOR_BAR = 1.5  # elementwise losses, value, sizes >= FLOOR_MIN_SIZE
BAR_MIN_SIZE = 100_000
FLOOR_MIN_SIZE = 1_000_000


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stem(env: dict) -> str:
    """`<backend>-<device>`, the name of a run's files."""
    return f"{env['backend']}-{slug(env['device_name'])}"


def _fit_slope(points):
    """Least-squares slope of log(time) against log(elements)."""
    if len({x for x, _ in points}) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)


def slopes(records) -> list[dict]:
    """Per loss and mode: the slope over the whole sweep and over sizes >= BAR_MIN_SIZE (where
    fixed per-call costs no longer dominate); 1 means time grows linearly with size."""
    groups = defaultdict(list)
    for r in records:
        groups[r["loss"], r["mode"]].append((r["elements"], r["exec_median_s"]))
    out = []
    for (loss, mode), points in groups.items():
        large = [p for p in points if p[0] >= BAR_MIN_SIZE]
        out.append({"loss": loss, "mode": mode, "slope": _fit_slope(points),
                    "slope_large": _fit_slope(large)})
    return out


def bars(records) -> list[dict]:
    """Each checked bar: what, the figure, the limit, and whether it holds."""
    checks = []
    for r in records:
        if r["dtype"] != "f32":
            continue
        where = f"{r['loss']} {r['mode']} size {r['size']:.0e}"
        if (r["baseline"] or "").startswith("optax") and r["size"] >= BAR_MIN_SIZE:
            checks.append({"case": where, "bar": "exec / optax", "value": r["exec_ratio"],
                           "limit": OPTAX_EXEC_BAR})
            checks.append({"case": where, "bar": "compile / optax", "value": r["compile_ratio"],
                           "limit": OPTAX_COMPILE_BAR})
        if r["elementwise"] and r["mode"] == "value" and r["size"] >= FLOOR_MIN_SIZE:
            checks.append({"case": where, "bar": "exec / floor (elementwise)",
                           "value": r["floor_ratio"], "limit": FLOOR_BAR})
    for c in checks:
        c["holds"] = c["value"] is not None and c["value"] <= c["limit"]
    return checks


def write_json(path: pathlib.Path, env, records, skipped):
    payload = {"environment": env, "cases": records, "skipped": skipped,
               "slopes": slopes(records), "bars": bars(records)}
    path.write_text(json.dumps(payload, indent=1) + "\n")


def fmt(value, scale=1.0, digits=2):
    return "-" if value is None else f"{value * scale:.{digits}f}"


def _paired(records):
    """(value record, value_and_grad record) per (loss, size), in run order."""
    rows = {}
    for r in records:
        rows.setdefault((r["loss"], r["size"]), {})[r["mode"]] = r
    return [(v.get("value"), v.get("value_and_grad")) for v in rows.values()]


COLUMNS = ("loss", "size", "compile ms", "exec us", "vs base", "vs floor", "vs torch",
           "vag us", "vag vs base", "vag vs torch", "vag temp MiB", "baseline")


def table_rows(records):
    for value, vag in _paired(records):
        yield (value["loss"], f"{value['size']:.0e}", fmt(value["compile_s"], 1e3, 1),
               fmt(value["exec_median_s"], 1e6, 1), fmt(value["exec_ratio"]),
               fmt(value["floor_ratio"]), fmt(value["torch_ratio"]),
               fmt(vag["exec_median_s"], 1e6, 1), fmt(vag["exec_ratio"]), fmt(vag["torch_ratio"]),
               fmt(vag["temp_bytes"], 2.0**-20), value["baseline"] or "-")


def terminal_table(records) -> str:
    rows = [COLUMNS, *table_rows(records)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(env, records, skipped) -> str:
    checks = bars(records)
    failed = [c for c in checks if not c["holds"]]
    out = [f"# jaxloss benchmarks: {env['backend']}, {env['device_name']}", ""]
    out.append(f"Measured {env['date']} with `{env['command']}` (jax {env['jax']}, jaxlib "
               f"{env['jaxlib']}, optax {env['optax']}, torch {env['torch'] or 'not installed'}, "
               f"{env['cpu_count']} CPU cores, dtype {env['dtype']}, {env['repeats']} repeats, "
               f"compile times the median of {env.get('compiles', 1)} cold compiles from size "
               f"{BAR_MIN_SIZE:.0e}).")
    out.append("Times are medians of interleaved repeats; a ratio is the median over rounds of the "
               "two programs' times in the same round. "
               "`vs floor` divides by a program that only reads the same inputs once; `vag` is "
               "`value_and_grad`.")
    if env.get("dims"):
        out.append("Inner axes of the samples: " + ", ".join(
            f"{name} {size}" for name, size in env["dims"].items()) + " (the batch axis "
            "grows with the size).")
    if env.get("xla_flags"):
        out.append(f"Run with `XLA_FLAGS={env['xla_flags']}`.")
    out += ["", "## Bars", ""]
    out.append(f"{len(checks) - len(failed)} of {len(checks)} checks hold "
               f"(exec / optax <= {OPTAX_EXEC_BAR} and compile / optax <= {OPTAX_COMPILE_BAR} "
               f"at sizes >= {BAR_MIN_SIZE:.0e}; elementwise exec / floor <= {FLOOR_BAR} at "
               f"sizes >= {FLOOR_MIN_SIZE:.0e}).")
    if failed:
        out += ["", _md_table(("case", "bar", "figure", "limit"),
                              [(c["case"], c["bar"], fmt(c["value"]), c["limit"])
                               for c in failed])]
    out += ["", "## All cases", "", _md_table(COLUMNS, list(table_rows(records)))]
    out += ["", "## Growth with size", "",
            "Fitted slope of log(exec time) against log(elements): over the whole sweep, and "
            f"over sizes >= {BAR_MIN_SIZE:.0e}, where fixed per-call costs stop dominating "
            "(1 = linear).",
            "", _md_table(("loss", "mode", "slope", f"slope >= {BAR_MIN_SIZE:.0e}"),
                          [(s["loss"], s["mode"], fmt(s["slope"]), fmt(s["slope_large"]))
                           for s in slopes(records)])]
    if skipped:
        out += ["", "## Skipped", "", _md_table(("loss", "size", "reason"),
                                                [(s["loss"], f"{s['size']:.0e}", s["reason"])
                                                 for s in skipped])]
    return "\n".join(out) + "\n"


def plots(prefix: pathlib.Path, env, records) -> list[pathlib.Path]:
    """Execution and compile time against size, log-log, one panel per (mode, family)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r["family"] for r in records))
    modes = list(dict.fromkeys(r["mode"] for r in records))
    written = []
    for kind, key, base_key, torch_key, label in (
        ("exec", "exec_median_s", "baseline_exec_median_s", "torch_exec_median_s",
         "execution time (s)"),
        ("compile", "compile_s", "baseline_compile_s", None, "XLA compile time (s)"),
    ):
        fig, axes = plt.subplots(len(modes), len(families), squeeze=False,
                                 figsize=(4.2 * len(families), 3.6 * len(modes)))
        for row, mode in enumerate(modes):
            for col, family in enumerate(families):
                ax = axes[row][col]
                mine = [r for r in records if r["mode"] == mode and r["family"] == family]
                for i, loss in enumerate(dict.fromkeys(r["loss"] for r in mine)):
                    rs = sorted((r for r in mine if r["loss"] == loss), key=lambda r: r["size"])
                    xs = [r["elements"] for r in rs]
                    color = f"C{i % 10}"
                    ax.plot(xs, [r[key] for r in rs], "o-", color=color, label=loss, ms=3)
                    if all(r[base_key] is not None for r in rs):
                        ax.plot(xs, [r[base_key] for r in rs], "--", color=color, lw=1)
                    if torch_key and all(r[torch_key] is not None for r in rs):
                        ax.plot(xs, [r[torch_key] for r in rs], ":", color=color, lw=1)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_title(f"{family}, {mode}", fontsize=9)
                ax.set_xlabel("elements of the first input", fontsize=8)
                ax.set_ylabel(label, fontsize=8)
                ax.grid(True, which="both", alpha=0.3)
                ax.legend(fontsize=6)
        styles = "solid: jaxloss, dashed: optax/jnp baseline" + (
            ", dotted: PyTorch" if torch_key else "")
        fig.suptitle(f"jaxloss {kind} time, {env['backend']} {env['device_name']} "
                     f"({env['dtype']}); {styles}", fontsize=10)
        fig.tight_layout()
        path = prefix.with_name(f"{prefix.name}-{kind}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
