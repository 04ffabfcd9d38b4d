"""The benchmark script runs end to end and writes every figure it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "compare_with_gradcheck.py"
METHODS = {"gradcheck_slow", "gradcheck_fast", "jax_check_grads", "gradproof_all",
           "gradproof_torch_fd"}


def test_quick_benchmark_writes_every_figure_with_positive_timings(tmp_path):
    figures_path = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(figures_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(figures_path.read_text())

    assert figures["quick"] is True
    assert figures["networks"], "no network was benchmarked"
    for name, network in figures["networks"].items():
        assert network["n_parameters"] > 0, name
        assert set(network["methods"]) == METHODS, name
        for method, timing in network["methods"].items():
            assert timing["median_seconds"] > 0, (name, method)
            assert timing["cold_seconds"] > 0, (name, method)
            assert network["ratio_to_gradcheck_slow"][method] > 0, (name, method)
        assert network["methods"]["gradproof_all"]["result"] == "agree", name
        backprop = network["backprop_alone"]
        assert backprop["manual_seconds"] > 0 and backprop["torch_eager_seconds"] > 0

    campaign = figures["campaign"]
    for side in ("gradproof", "gradcheck_slow"):
        for key in ("seconds", "startup_seconds", "examples_per_second",
                    "peak_rss_mb", "startup_peak_rss_mb"):
            assert campaign[side][key] > 0, (side, key)
    assert campaign["gradproof"]["exit_code"] == 0
    assert campaign["speedup"] > 0
    # Hypothesis draws may depend on the local modules loaded: not asserted.
    assert isinstance(campaign["same_examples"], bool)

    in_process = figures["in_process_campaign"]
    assert in_process["examples"] == campaign["examples"]
    assert in_process["buckets_compiled"] >= 1
    assert in_process["buckets_per_1000_examples"] > 0
    assert isinstance(in_process["xla_compilations"], int)
    assert all(seconds >= 0 for seconds in in_process["time_by_part"].values())

    memory = figures["memory"]["campaigns"]
    assert [m["examples"] for m in memory] == [10, 40]
    for m in memory:
        assert m["peak_mb"] > 0 and m["retained_kb_per_example"] > 0, m
