"""The Python API for users' own test suites: assert_gradients_agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from manual_backprop import Architecture, Example, InvalidArgument, gradients
from oracles import Judgement, Verdict
from reports.api import (
    COLLECTED,
    DETAILED_FAILURES,
    Collector,
    architectures,
    assert_gradients_agree,
    collected_report,
    combined,
    examples,
)
from reports.model import HeatMap


def small_example() -> Example:
    rng = np.random.default_rng(3)
    architecture = Architecture(3, (4, 2), ("tanh", "sigmoid"), "half_sse")
    return Example(architecture,
                   [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))],
                   [rng.standard_normal(4), rng.standard_normal(2)],
                   rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))


def weight_gradient_doubled(weights, biases, activations, cost, X, Y):
    dJ_dw, dJ_db = gradients(weights, biases, activations, cost, X, Y)
    return [2 * g for g in dJ_dw], dJ_db


def summed_over_the_batch(weights, biases, activations, cost, X, Y):
    dJ_dw, dJ_db = gradients(weights, biases, activations, cost, X, Y,
                             reduction="sum")
    return dJ_dw, dJ_db


def test_correct_gradients_pass_and_return_the_judgement():
    judgement = assert_gradients_agree(gradients, small_example())

    assert isinstance(judgement, Judgement)
    assert judgement.verdict is Verdict.AGREE


def test_a_doubled_weight_gradient_raises_an_assertion_naming_the_weights():
    with pytest.raises(AssertionError, match=r"dJ/dw_\d\[\d+, \d+\]") as raised:
        assert_gradients_agree(weight_gradient_doubled, small_example())

    assert "likely fault: a factor of 2" in str(raised.value)


def test_float32_code_is_judged_against_float64_references():
    judgement = assert_gradients_agree(gradients, small_example(), dtype="float32")

    assert not judgement.verdict.fails


def test_the_reduction_says_what_the_code_under_test_takes_as_J():
    example = small_example()

    assert_gradients_agree(summed_over_the_batch, example, reduction="sum")
    with pytest.raises(AssertionError, match="dJ/dw_"):
        assert_gradients_agree(summed_over_the_batch, example)


@pytest.mark.parametrize("arguments, message", [
    ({"dtype": "float16"}, "dtype 'float16'"),
    ({"oracles": ("torch", "sympy")}, "oracles"),
    ({"oracles": ()}, "oracles"),
    ({"reduction": "max"}, "reduction 'max'"),
], ids=["unknown dtype", "unknown oracle", "no oracle", "unknown reduction"])
def test_bad_arguments_are_refused_before_anything_runs(arguments, message):
    with pytest.raises(InvalidArgument, match=message):
        assert_gradients_agree(gradients, small_example(), **arguments)


def test_an_example_that_is_not_an_example_is_refused():
    with pytest.raises(InvalidArgument, match="expected a manual_backprop.Example"):
        assert_gradients_agree(gradients, "example 0")


@settings(max_examples=5, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(examples(architectures(max_depth=3, max_width=5,
                              activations=("tanh", "sigmoid", "identity"),
                              costs=("half_sse", "mse"))))
def test_correct_gradients_agree_on_examples_hypothesis_draws(example):
    assert_gradients_agree(gradients, example)


def test_a_wrong_gradient_fails_under_hypothesis_too():
    @settings(max_examples=5, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(examples(architectures(max_depth=2, max_width=4,
                                  activations=("tanh", "identity"),
                                  costs=("half_sse",))))
    def check(example):
        assert_gradients_agree(weight_gradient_doubled, example)

    with pytest.raises(AssertionError, match=r"dJ/dw_\d"):
        check()


def test_every_judgement_is_collected_with_the_test_that_made_it():
    start = len(COLLECTED.judged)

    assert_gradients_agree(gradients, small_example())
    with pytest.raises(AssertionError):
        assert_gradients_agree(weight_gradient_doubled, small_example())

    passed, failed = COLLECTED.records[start:]
    assert passed.verdict == "agree" and passed.details is None
    assert failed.verdict == "discrepancy" and failed.details is not None
    assert "test_every_judgement_is_collected" in failed.label
    assert failed.details.reproducer.startswith("pytest ")


def test_only_the_last_failures_of_a_test_keep_their_details():
    start = len(COLLECTED.judged)

    for _ in range(DETAILED_FAILURES + 2):
        with pytest.raises(AssertionError):
            assert_gradients_agree(weight_gradient_doubled, small_example())

    detailed = [r.details is not None for r in COLLECTED.records[start:]]
    assert detailed == [False] * 2 + [True] * DETAILED_FAILURES


def test_the_collected_report_counts_the_session_s_examples():
    start = len(COLLECTED.judged)
    assert_gradients_agree(gradients, small_example())
    with pytest.raises(AssertionError):
        assert_gradients_agree(weight_gradient_doubled, small_example())

    report = collected_report(COLLECTED.since(start), "pytest", "now", 1.0)

    assert len(report.examples) == 2
    assert report.counts["agree"] == 1 and report.counts["discrepancy"] == 1
    assert report.exit_code == 1
    assert "weight_gradient_doubled" in report.code_under_test
    assert [o.name for o in report.oracles] == ["torch", "fd"]


def test_a_failing_example_keeps_a_heat_map_of_each_weight_gradient():
    with pytest.raises(AssertionError):
        assert_gradients_agree(weight_gradient_doubled, small_example())

    details = COLLECTED.records[-1].details
    assert [(m.layer, m.against, m.shape) for m in details.heat_maps] == [
        (1, "torch", (4, 3)), (2, "torch", (2, 4))]
    assert all(m.worst_excess > 1 for m in details.heat_maps)


def test_judged_examples_come_back_unchanged_from_their_json_text():
    start = len(COLLECTED.judged)
    assert_gradients_agree(gradients, small_example())
    with pytest.raises(AssertionError):
        assert_gradients_agree(weight_gradient_doubled, small_example())
    judged = COLLECTED.since(start)

    again = Collector.from_json(judged.to_json())

    assert again == judged
    assert isinstance(again.judged[1].record.details.heat_maps[0], HeatMap)


def test_combined_examples_are_numbered_again_from_0_without_changing_the_parts():
    start = len(COLLECTED.judged)
    assert_gradients_agree(gradients, small_example())
    part = COLLECTED.since(start)

    both = combined([part, Collector.from_json(part.to_json())])

    assert [r.index for r in both.records] == [0, 1]
    assert part.records[0].index == start


# What the plug-in makes of the arrays that gradient code under test returns.

class Unconvertible:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("this array lives on another machine")


def with_first_weight_gradient(replace):
    def gradient_code(weights, biases, activations, cost, X, Y):
        dJ_dw, dJ_db = gradients(weights, biases, activations, cost, X, Y)
        return [replace(dJ_dw[0]), *dJ_dw[1:]], dJ_db
    return gradient_code


def ragged(g):
    rows = g.tolist()
    rows[0] = rows[0][:-1]
    return rows


@pytest.mark.parametrize(("replace", "reason"), [
    pytest.param(ragged, "inhomogeneous shape", id="ragged-nested-list"),
    pytest.param(lambda g: Unconvertible(), "lives on another machine",
                 id="array-conversion-raises"),
])
def test_a_return_that_is_no_array_names_the_entry_without_the_harness_traceback(
        replace, reason):
    with pytest.raises(AssertionError) as raised:
        assert_gradients_agree(with_first_weight_gradient(replace), small_example())

    message = str(raised.value)
    assert "returned dJ/dw_1 that is not a rectangular array of numbers" in message
    assert reason in message
    assert "return a numpy array shaped (4, 3)" in message
    assert "Traceback" not in message and "plugin.py" not in message


@pytest.mark.parametrize(("replace", "said"), [
    pytest.param(lambda g: "hello", "as a str (<U5)", id="a-string"),
    pytest.param(lambda g: {"w": g}, "as a dict (object)", id="a-dict"),
])
def test_a_return_that_holds_no_numbers_is_named_by_its_type_not_its_shape(
        replace, said):
    with pytest.raises(AssertionError) as raised:
        assert_gradients_agree(with_first_weight_gradient(replace), small_example())
    assert f"returned dJ/dw_1 {said}: expected a float array shaped (4, 3)" in \
        str(raised.value)


def test_a_torch_tensor_that_still_requires_grad_is_detached_and_judged():
    torch = pytest.importorskip("torch", reason="needs PyTorch to make the tensor")

    def as_tensor(g):
        return torch.tensor(g, requires_grad=True)

    judgement = assert_gradients_agree(with_first_weight_gradient(as_tensor),
                                       small_example())

    assert not judgement.verdict.fails


def test_float32_gradients_under_a_float64_check_say_to_compute_in_float64():
    def in_float32(weights, biases, activations, cost, X, Y):
        dJ_dw, dJ_db = gradients(weights, biases, activations, cost, X, Y)
        return ([g.astype(np.float32) for g in dJ_dw],
                [g.astype(np.float32) for g in dJ_db])

    with pytest.raises(AssertionError) as raised:
        assert_gradients_agree(in_float32, small_example())

    assert str(raised.value).endswith(
        "the code under test returned float32 while float64 is checked: compute in "
        "float64, or check with --dtype float32")


def test_a_wrong_float64_gradient_gets_no_precision_hint():
    def doubled(weights, biases, activations, cost, X, Y):
        dJ_dw, dJ_db = gradients(weights, biases, activations, cost, X, Y)
        return [2 * g for g in dJ_dw], dJ_db

    with pytest.raises(AssertionError) as raised:
        assert_gradients_agree(doubled, small_example())

    assert "returned float" not in str(raised.value)
