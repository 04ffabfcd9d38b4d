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
TOOLS = ("gradproof", "gradcheck_slow")


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
    assert campaign["same_examples"] is True

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

    detection = figures["detection"]
    budget = detection["examples"]
    assert detection["quick"] is True and 1 <= budget <= 100
    assert 1 <= detection["mutants_run"] <= detection["catalogue_size"]
    assert len(detection["mutants"]) == detection["mutants_run"]
    for name, mutant in detection["mutants"].items():
        for tool in TOOLS:
            hunt = mutant[tool]
            assert 1 <= hunt["examples_run"] <= budget, (name, tool)
            assert hunt["seconds"] > 0, (name, tool)
            if hunt["killed"]:
                assert hunt["examples_to_kill"] == hunt["examples_run"], (name, tool)
            else:
                assert hunt["examples_to_kill"] is None, (name, tool)
            assert isinstance(hunt["flags_unmodified_code_there"], bool), (name, tool)
        assert mutant["gradproof"]["killed"], f"gradproof let {name} survive"
        assert not mutant["gradproof"]["flags_unmodified_code_there"], name
    assert detection["controls"], "the unmodified code ran through no configuration"
    for control in detection["controls"]:
        for tool in TOOLS:
            assert control[tool]["examples_run"] == budget, (control["draws"], tool)
            assert 0 <= control[tool]["alarms"] <= budget, (control["draws"], tool)
    totals = detection["totals"]
    assert totals["gradproof"]["killed"] == detection["mutants_run"]
    assert totals["gradproof"]["false_alarms"] == 0
    assert 0 <= totals["gradcheck_slow"]["killed"] <= detection["mutants_run"]
    # One process draws for both tools, so they check the same examples.
    assert detection["same_examples"] is True


# Gradient code that fails, checked by gradcheck in a process of its own: loading
# the benchmark's modules here would mix their constants into the draws of every
# later test (Hypothesis takes constants from the local modules loaded).
_FAILING = {
    "raises": "raise ZeroDivisionError('planted')",
    "returns one layer too few": "return weights[:-1], biases[:-1]",
    "returns the wrong shape": "return [w[..., None] for w in weights], biases",
    "returns integers": "return [w.astype(int) for w in weights], biases",
}
_GRADCHECK_EACH = """
import json
import numpy as np
from gradcheck_mutants import gradcheck_flags
from manual_backprop import Architecture, Example, gradients

example = Example(
    Architecture(d=2, widths=(3, 1), activations=("tanh", "identity"),
                 cost="half_sse"),
    weights=[np.full((3, 2), 0.5), np.full((1, 3), -0.5)],
    biases=[np.zeros(3), np.zeros(1)], X=np.ones((2, 2)), Y=np.zeros((2, 1)))
verdicts = {"unmodified": gradcheck_flags(example, gradients)}
"""


@pytest.fixture(scope="module")
def gradcheck_verdicts() -> dict[str, str | None]:
    code = _GRADCHECK_EACH
    for k, (case, body) in enumerate(_FAILING.items()):
        code += (f"def planted_{k}(weights, biases, activations, cost, X, Y):\n"
                 f"    {body}\n"
                 f"verdicts[{case!r}] = gradcheck_flags(example, planted_{k})\n")
    code += "print(json.dumps(verdicts))\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=SCRIPT.parent,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", list(_FAILING))
def test_gradcheck_side_counts_gradient_code_that_fails_as_caught(
        gradcheck_verdicts, case):
    assert (gradcheck_verdicts[case] or "").startswith("code under test failed"), \
        gradcheck_verdicts[case]


def test_gradcheck_side_passes_the_unmodified_manual_backprop_on_a_smooth_example(
        gradcheck_verdicts):
    assert gradcheck_verdicts["unmodified"] is None
