"""``python -m benchmarks.linear_cross_entropy``: memory and time of `linear_cross_entropy`.

1. Memory without running: XLA's temporary bytes (`memory_analysis()`) of
   ``jit(value_and_grad)`` for the reference (full logits) and the blocked implementation, at
   (N=8192, D=2048, V=131072, f32) and the Gemma-2 shape (N=8192, D=2304, V=256000, bf16), and
   over a sweep of vocabulary sizes (plotted).
2. Time of ``value_and_grad`` at a shape where the reference fits (default N=2048, D=512,
   V=32768): reference, blocked, and the bare matrix products any implementation must do
   (logits, input gradient, weight gradient), interleaved in one run; and PyTorch's
   ``linear_cross_entropy`` with and without chunking when torch is installed, with its peak
   resident memory measured in a subprocess per variant.

Writes ``benchmarks/results/linear_cross_entropy-<backend>-<device>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp

import jaxloss

from . import report, run, timing

RESULTS = pathlib.Path(__file__).with_name("results")
MEMORY_SHAPES = (
    {"name": "llama-like", "n": 8192, "d": 2048, "v": 131072, "dtype": "float32"},
    {"name": "gemma-2", "n": 8192, "d": 2304, "v": 256000, "dtype": "bfloat16"},
)
MEMORY_BAR = 0.03  # blocked temporaries <= 3% of the reference's
TIME_BAR = 1.3  # blocked value_and_grad <= 1.3 x the reference


def _structs(n, d, v, dtype):
    dtype = jnp.dtype(dtype)
    return (jax.ShapeDtypeStruct((n, d), dtype), jax.ShapeDtypeStruct((v, d), dtype),
            jax.ShapeDtypeStruct((n,), jnp.int32))


def _step(implementation):
    def step(h, w, y):
        return jax.value_and_grad(lambda h, w: jaxloss.linear_cross_entropy(
            h, w, y, implementation=implementation), (0, 1))(h, w)
    return step


def temp_bytes(implementation, n, d, v, dtype) -> int:
    compiled = jax.jit(_step(implementation)).lower(*_structs(n, d, v, dtype)).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def memory(shapes) -> list[dict]:
    out = []
    for shape in shapes:
        args = (shape["n"], shape["d"], shape["v"], shape["dtype"])
        ref, blocked = temp_bytes("reference", *args), temp_bytes("blocked", *args)
        out.append({**shape, "reference_temp_bytes": ref, "blocked_temp_bytes": blocked,
                    "ratio": blocked / ref})
    return out


def _gemms(h, w, y):
    """The matrix products of any value_and_grad: logits, and both gradients from a logits-sized
    cotangent (here the logits themselves, so nothing else is computed)."""
    logits = jnp.dot(h, w.T, preferred_element_type=jnp.float32)
    dlogits = logits.astype(h.dtype)
    return (jnp.dot(dlogits, w, preferred_element_type=jnp.float32),
            jnp.dot(dlogits.T, h, preferred_element_type=jnp.float32))


TORCH_SCRIPT = textwrap.dedent("""
    import resource, sys, time, json
    import torch, torch.nn.functional as F
    n, d, v, chunked, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), \\
        sys.argv[4] == "1", int(sys.argv[5])
    g = torch.Generator().manual_seed(0)
    h = torch.randn(n, d, generator=g, requires_grad=True)
    w = (torch.randn(v, d, generator=g) / d ** 0.5).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g)
    options = torch.nn.LinearCrossEntropyOptions() if chunked else None
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    # Warm up torch's kernels and allocator on a tiny problem, so the baseline excludes them.
    F.linear_cross_entropy(h[:8], w[:64], y[:8].clamp(max=63), options=options).backward()
    h.grad = w.grad = None
    base = rss()
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        loss = F.linear_cross_entropy(h, w, y, options=options)
        torch.autograd.grad(loss, (h, w))
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"first_call_s": times[0], "times": times[1:], "peak_rss_delta": peak - base}))
""")


def torch_run(n, d, v, chunked, repeats) -> dict | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    result = subprocess.run([sys.executable, "-c", TORCH_SCRIPT, str(n), str(d), str(v),
                             "1" if chunked else "0", str(repeats)],
                            capture_output=True, text=True, timeout=1200)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1][:300]}
    figures = json.loads(result.stdout)
    times = sorted(figures.pop("times"))
    return {**figures, "exec_median_s": times[len(times) // 2], "exec_min_s": times[0]}


def timings(n, d, v, repeats, dtype="float32") -> dict:
    k = jax.random.split(jax.random.key(0), 3)
    dt = jnp.dtype(dtype)
    h = jax.random.normal(k[0], (n, d), dt)
    w = (jax.random.normal(k[1], (v, d)) / d**0.5).astype(dt)
    y = jax.random.randint(k[2], (n,), 0, v)
    programs = {"reference": timing.compile_jax(_step("reference"), (h, w, y)),
                "blocked": timing.compile_jax(_step("blocked"), (h, w, y)),
                "gemms": timing.compile_jax(_gemms, (h, w, y))}
    timing.interleave(list(programs.values()), repeats)
    out = {"n": n, "d": d, "v": v, "dtype": dtype}
    for name, p in programs.items():
        out[name] = {"compile_s": p.compile_s, "first_call_s": p.first_call_s,
                     "exec_median_s": p.median, "exec_min_s": p.min, "temp_bytes": p.temp_bytes}
    out["blocked_over_reference"] = out["blocked"]["exec_median_s"] / out["reference"][
        "exec_median_s"]
    out["blocked_over_gemms"] = out["blocked"]["exec_median_s"] / out["gemms"]["exec_median_s"]
    flops = 6 * n * d * v  # forward logits + two gradient products
    out["gemm_flops_per_s"] = flops / out["gemms"]["exec_median_s"]
    out["blocked_flops_per_s"] = flops / out["blocked"]["exec_median_s"]
    for name, chunked in (("torch_reference", False), ("torch_chunked", True)):
        out[name] = torch_run(n, d, v, chunked, max(3, repeats))
    return out


def sweep(n, d, vocabularies, dtype) -> list[dict]:
    return [{"v": v, "reference_temp_bytes": temp_bytes("reference", n, d, v, dtype),
             "blocked_temp_bytes": temp_bytes("blocked", n, d, v, dtype)} for v in vocabularies]


def plot(path, env, rows, n, d, dtype):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    vs = [r["v"] for r in rows]
    ax.plot(vs, [r["reference_temp_bytes"] / 2**30 for r in rows], "o-",
            label="reference (full logits)")
    ax.plot(vs, [r["blocked_temp_bytes"] / 2**30 for r in rows], "o-",
            label="jaxloss blocked")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("vocabulary size V")
    ax.set_ylabel("XLA temporary memory of value_and_grad (GiB)")
    ax.set_title(f"linear_cross_entropy, N={n}, D={d}, {dtype}; {env['backend']} "
                 f"{env['device_name']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _mib(x):
    return f"{x / 2**20:,.1f}"


def markdown(env, payload) -> str:
    out = [f"# linear_cross_entropy: {env['backend']}, {env['device_name']}", "",
           f"Measured {env['date']} with `{env['command']}` (jax {env['jax']}, torch "
           f"{env['torch'] or 'not installed'}).", "", "## Memory (compiled, not run)", "",
           "| shape | N | D | V | dtype | reference temp MiB | jaxloss temp MiB | ratio | "
           f"bar <= {MEMORY_BAR:.0%} |", "|---|---|---|---|---|---|---|---|---|"]
    for m in payload["memory"]:
        out.append(f"| {m['name']} | {m['n']} | {m['d']} | {m['v']} | {m['dtype']} | "
                   f"{_mib(m['reference_temp_bytes'])} | {_mib(m['blocked_temp_bytes'])} | "
                   f"{m['ratio']:.2%} | {'holds' if m['ratio'] <= MEMORY_BAR else 'FAILS'} |")
    t = payload.get("time")
    if t:
        out += ["", f"## Time of value_and_grad, N={t['n']}, D={t['d']}, V={t['v']}, "
                    f"{t['dtype']}", "",
                "| program | compile s | exec median s | exec min s | temp MiB |",
                "|---|---|---|---|---|"]
        for name in ("reference", "blocked", "gemms"):
            p = t[name]
            out.append(f"| jax {name} | {p['compile_s']:.2f} | {p['exec_median_s']:.3f} | "
                       f"{p['exec_min_s']:.3f} | {_mib(p['temp_bytes'])} |")
        for name in ("torch_reference", "torch_chunked"):
            p = t.get(name)
            if p and "error" not in p:
                out.append(f"| {name} | - | {p['exec_median_s']:.3f} | {p['exec_min_s']:.3f} | "
                           f"peak RSS +{_mib(p['peak_rss_delta'])} |")
            elif p:
                out.append(f"| {name} | error: {p['error']} | | | |")
        bar = "holds" if t["blocked_over_reference"] <= TIME_BAR else "FAILS"
        out += ["", f"- blocked / reference: **{t['blocked_over_reference']:.2f}** "
                    f"(bar <= {TIME_BAR}: {bar})",
                f"- blocked / bare matrix products: **{t['blocked_over_gemms']:.2f}** (the blocked "
                "backward recomputes the logits: 8NDV FLOPs against 6NDV)",
                f"- matrix-product rate: {t['gemm_flops_per_s'] / 1e9:,.0f} GFLOP/s bare, "
                f"{t['blocked_flops_per_s'] / 1e9:,.0f} GFLOP/s of useful 6NDV work in blocked"]
        for name in ("torch_reference", "torch_chunked"):
            p = t.get(name)
            if p and "error" not in p:
                out.append(f"- jaxloss blocked / {name}: "
                           f"{t['blocked']['exec_median_s'] / p['exec_median_s']:.2f}")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.linear_cross_entropy",
                                description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("cpu", "gpu", "tpu"))
    p.add_argument("--time-shape", default="2048,512,32768", help="N,D,V of the timed case")
    p.add_argument("--time-dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-time", action="store_true", help="memory only")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = p.parse_args(argv)
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        device = jax.devices(args.backend)[0] if args.backend else jax.devices()[0]
    except RuntimeError:
        print(f"benchmarks.linear_cross_entropy: backend {args.backend!r} is not available "
              "here", file=sys.stderr)
        return 2
    args.dtype = "mixed"
    env = run.environment(device, args)
    env["command"] = " ".join(["python -m benchmarks.linear_cross_entropy", *sys.argv[1:]])
    with jax.default_device(device):
        payload = {"environment": env, "memory": memory(MEMORY_SHAPES)}
        n, d = 8192, 2048
        vocabularies = [8192 * 2**i for i in range(6)]
        payload["memory_sweep"] = {"n": n, "d": d, "dtype": "float32",
                                   "rows": sweep(n, d, vocabularies, "float32")}
        if not args.no_time:
            tn, td, tv = (int(x) for x in args.time_shape.split(","))
            payload["time"] = timings(tn, td, tv, args.repeats, args.time_dtype)
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = args.out / f"linear_cross_entropy-{report.stem(env)}"
    written = [prefix.with_suffix(".json"), prefix.with_suffix(".md"),
               prefix.with_name(prefix.name + "-memory.png")]
    written[0].write_text(json.dumps(payload, indent=1) + "\n")
    written[1].write_text(markdown(env, payload))
    plot(written[2], env, payload["memory_sweep"]["rows"], n, d, "float32")
    print(written[1].read_text())
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
