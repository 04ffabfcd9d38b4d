"""The fault catalogue and ``gradproof mutants``: every planted fault is caught
within the default budget, the unmodified manual backprop is not, and the
command reports both."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from manual_backprop import Architecture, Example, gradients
from oracles import make_oracle
from property_tests.mutants import MUTANTS, mutant_named
from reports.mutants import (
    DEFAULT_EXAMPLES,
    KillReport,
    MutantResult,
    OracleOutcome,
    configurations,
    control,
    kill,
    render_html,
)


@pytest.fixture(scope="module")
def torch_oracle():
    return make_oracle("torch")


def by_name(mutant) -> str:
    return mutant.name


# The catalogue.

def test_the_catalogue_has_at_least_25_faults_with_unique_names():
    names = [m.name for m in MUTANTS]
    assert len(names) >= 25
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("mutant", MUTANTS, ids=by_name)
def test_each_description_is_one_line(mutant):
    assert mutant.description.strip()
    assert "\n" not in mutant.description and len(mutant.description) <= 100
    assert "\n" not in mutant.needs


def example(widths: tuple[int, ...], d: int, batch: int, seed: int = 0,
            activations: tuple[str, ...] | None = None) -> Example:
    rng = np.random.default_rng(seed)
    sizes = (d, *widths)
    activations = activations or ("tanh",) * len(widths)
    return Example(
        Architecture(d, widths, activations, "half_sse"),
        [rng.standard_normal((sizes[i + 1], sizes[i])) for i in range(len(widths))],
        [rng.standard_normal(w) for w in widths],
        rng.standard_normal((batch, d)), rng.standard_normal((batch, widths[-1])),
    )


def contract_call(function, e: Example):
    return function(*e.cast("float64")[:2], list(e.architecture.activations),
                    e.architecture.cost, *e.cast("float64")[2:])


@pytest.mark.parametrize("name", [
    "weight_gradient_transposed", "bias_gradient_summed_over_units",
    "matrix_product_for_elementwise", "next_weights_from_wrong_layer",
])
def test_a_shape_guarded_fault_returns_the_correct_gradient_where_no_shape_matches(
    name
):
    e = example(widths=(4, 2), d=3, batch=5)
    expected = contract_call(gradients, e)
    returned = contract_call(mutant_named(name).fresh(), e)
    for got, want in zip([*returned[0], *returned[1]], [*expected[0], *expected[1]]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", [
    "weight_gradient_transposed", "bias_gradient_summed_over_units",
    "matrix_product_for_elementwise", "next_weights_from_wrong_layer",
])
def test_a_shape_guarded_fault_shows_where_the_shapes_match(name):
    e = example(widths=(3, 3), d=3, batch=3)
    expected = contract_call(gradients, e)
    returned = contract_call(mutant_named(name).fresh(), e)
    assert not all(np.allclose(got, want) for got, want in
                   zip([*returned[0], *returned[1]], [*expected[0], *expected[1]]))


@pytest.mark.parametrize("name", ["error_signal_accumulated",
                                  "stale_cached_forward_pass"])
def test_a_stateful_fault_shows_on_the_second_call_and_fresh_forgets_it(name):
    first, second = example((2,), 2, 2, seed=1), example((2,), 2, 2, seed=2)
    mutant = mutant_named(name)
    function = mutant.fresh()
    np.testing.assert_array_equal(contract_call(function, first)[0][0],
                                  contract_call(gradients, first)[0][0])
    assert not np.allclose(contract_call(function, second)[0][0],
                           contract_call(gradients, second)[0][0])
    np.testing.assert_array_equal(contract_call(mutant.fresh(), second)[0][0],
                                  contract_call(gradients, second)[0][0])


# Every mutant is killed; the unmodified code raises no alarm.

@pytest.mark.parametrize("mutant", MUTANTS, ids=by_name)
def test_every_mutant_is_killed_by_torch_within_the_default_budget(mutant,
                                                                   torch_oracle):
    outcome = kill(mutant, "torch", torch_oracle, DEFAULT_EXAMPLES, seed=0)
    assert outcome.killed, (f"{mutant.name} survived {outcome.examples_run} "
                            f"examples; it needs {mutant.needs}")
    assert outcome.verdict == mutant.caught_as, outcome.message


@pytest.mark.parametrize("draws", list(configurations(MUTANTS)),
                         ids=lambda draws: draws.describe())
def test_the_unmodified_backprop_raises_no_alarm_in_each_mutant_configuration(
    draws, torch_oracle
):
    result = control(draws, "torch", torch_oracle, DEFAULT_EXAMPLES, seed=0)
    assert result.examples_run == DEFAULT_EXAMPLES
    assert result.alarms == 0, result.first_alarm


# The report.

def outcome(killed: bool, examples: int | None) -> OracleOutcome:
    return OracleOutcome("torch", killed, examples, examples or 100,
                         "discrepancy" if killed else None, "", 0.1)


def report_of(*outcomes: OracleOutcome) -> KillReport:
    report = KillReport(started="2026-01-01T00:00:00", examples=100, seed=0,
                        oracles=[])
    for k, o in enumerate(outcomes):
        report.mutants.append(MutantResult(f"m{k}", "<b>a fault</b>", "batch > 1",
                                           "every activation", "discrepancy",
                                           {"torch": o}))
    return report


def test_a_survivor_makes_the_exit_code_1_and_lowers_the_kill_rate():
    report = report_of(outcome(True, 3), outcome(False, None), outcome(True, 6))
    assert report.exit_code == 1
    assert report.survivors == ["m1"]
    assert report.kill_rate == pytest.approx(2 / 3)
    assert report.median_examples_to_kill == 4.5


def test_the_html_page_escapes_what_it_shows():
    page = render_html(report_of(outcome(True, 3)))
    HTMLParser().feed(page)
    assert "<b>a fault</b>" not in page and "&lt;b&gt;a fault&lt;/b&gt;" in page
    assert "<script" not in page


# The command line.

@pytest.mark.slow
def test_the_command_runs_two_mutants_and_writes_the_json(tmp_path: Path):
    names = ["batch_mean_missing", "weight_gradient_transposed"]
    result = subprocess.run(
        [sys.executable, "-m", "reports", "mutants", "--mutants", ",".join(names),
         "--oracles", "torch", "--json", "out.json", "--report", "out.html", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kill rate: 2 of 2" in result.stdout

    data = json.loads((tmp_path / "out.json").read_text())
    assert [m["name"] for m in data["mutants"]] == names
    for m in data["mutants"]:
        assert m["killed"] is True
        assert m["outcomes"]["torch"]["verdict"] == "discrepancy"
        assert 1 <= m["examples_to_kill"]["torch"] <= DEFAULT_EXAMPLES
    assert data["kill_rate"] == 1.0 and data["exit_code"] == 0
    assert data["unmodified_alarms"] == 0
    assert [c["examples_run"] for c in data["controls"]] == [DEFAULT_EXAMPLES]
    assert (tmp_path / "out.html").read_text().count('data-killed="true"') == 2
    assert not (tmp_path / ".hypothesis").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--mutants", "no_such_fault"], "no_such_fault", id="unknown-mutant"),
    pytest.param(["--oracles", "tensorflow"], "tensorflow", id="unknown-oracle"),
    pytest.param(["--examples", "0"], "--examples", id="no-examples"),
])
def test_bad_arguments_exit_2_with_a_short_message(tmp_path: Path, args, message):
    result = subprocess.run([sys.executable, "-m", "reports", "mutants", *args],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
