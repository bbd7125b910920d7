"""The benchmark harness runs end to end as the README says (`python -m benchmarks`), on tiny
cases, and writes every file and field the issue names. No timing is asserted: figures are only
checked to be measured (positive and finite)."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REQUIRED = ("loss", "size", "dtype", "mode", "lower_s", "compile_s", "first_call_s",
            "exec_median_s", "exec_min_s", "temp_bytes", "baseline", "baseline_compile_s",
            "baseline_exec_median_s", "exec_ratio", "compile_ratio", "floor_exec_median_s",
            "floor_ratio")


def _run(*args, out=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-m", "benchmarks", *args] + (["--out", str(out)] if out else [])
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_two_tiny_cases_write_json_markdown_and_plots(tmp_path):
    result = _run("--losses", "mse_loss,cross_entropy", "--sizes", "64,512", "--repeats", "2",
                  out=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "bars:" in result.stdout
    files = sorted(p.name for p in tmp_path.iterdir())
    stems = {name.split(".")[0].removesuffix("-exec").removesuffix("-compile") for name in files}
    assert len(stems) == 1 and next(iter(stems)).startswith("cpu-"), files
    stem = next(iter(stems))
    assert files == sorted([f"{stem}.json", f"{stem}.md", f"{stem}-exec.png",
                            f"{stem}-compile.png"])

    payload = json.loads((tmp_path / f"{stem}.json").read_text())
    env = payload["environment"]
    for key in ("backend", "device_kind", "device_name", "jax", "jaxlib", "optax", "torch",
                "date"):
        assert key in env
    assert env["backend"] == "cpu"
    assert env["dims"] == {"width": 128, "classes": 32, "features": 64, "vocab": 256}
    cases = payload["cases"]
    assert {(c["loss"], c["size"], c["mode"]) for c in cases} == {
        (loss, size, mode) for loss in ("mse_loss", "cross_entropy") for size in (64, 512)
        for mode in ("value", "value_and_grad")}
    for case in cases:
        for key in REQUIRED:
            assert key in case, key
        assert case["dtype"] == "f32"
        assert case["baseline"].startswith("optax.")
        for key in ("lower_s", "compile_s", "first_call_s", "exec_median_s", "exec_min_s",
                    "baseline_exec_median_s", "floor_exec_median_s", "exec_ratio",
                    "floor_ratio"):
            assert case[key] > 0 and math.isfinite(case[key]), (key, case[key])
        assert case["exec_min_s"] <= case["exec_median_s"]
        assert case["temp_bytes"] >= 0
    assert {s["loss"] for s in payload["slopes"]} == {"mse_loss", "cross_entropy"}
    markdown = (tmp_path / f"{stem}.md").read_text()
    assert "## Bars" in markdown and "| mse_loss |" in markdown
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (("--backend", "tpu"), "benchmarks: backend 'tpu' is not available here"),
    (("--losses", "mse_loss,no_such_loss"), "benchmarks: unknown loss(es) no_such_loss"),
])
def test_refusals_are_one_line_with_exit_code_2(args, message, tmp_path):
    result = _run(*args, out=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dims, message", [
    ("width=64,rows=3", "unknown axis name(s) rows"),
    ("width=64,classes=0", "dims must be at least 1, got 0 for classes"),
])
def test_bad_sample_axes_are_refused_before_running(tmp_path, dims, message):
    result = _run("--dims", dims, out=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())
