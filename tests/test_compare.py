"""Verdicts say who is wrong: the code under test, an oracle, or nobody."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from manual_backprop import Architecture, Example, backprop
from oracles import Verdict, judge, make_oracle


@pytest.fixture(scope="module")
def oracles():
    return {name: make_oracle(name) for name in ("torch", "jax", "fd")}


def make_example(activations=("tanh", "sigmoid", "identity"), widths=(4, 4, 3),
                 cost="half_sse", d=4, batch=5, seed=0, X=None, biases=None):
    rng = np.random.default_rng(seed)
    sizes = (d, *widths)
    architecture = Architecture(d, widths, activations, cost)
    weights = [rng.standard_normal((sizes[i + 1], sizes[i]))
               for i in range(len(widths))]
    if biases is None:
        biases = [rng.standard_normal(sizes[i + 1]) for i in range(len(widths))]
    X = rng.standard_normal((batch, d)) if X is None else X
    return Example(architecture, weights, biases, X, rng.standard_normal((batch,
                                                                          sizes[-1])),
                   label="example 7")


def results_for(example, oracles):
    return {name: o.compute(example) for name, o in oracles.items()}


def test_correct_gradients_agree_in_float64_and_float32(oracles):
    example = make_example()
    results = results_for(example, oracles)
    for dtype in ("float64", "float32"):
        verdict = judge(example, backprop(example, dtype), results, dtype).verdict
        assert verdict in (Verdict.AGREE, Verdict.FD_NOISE), dtype


def test_a_doubled_weight_gradient_is_a_discrepancy_named_by_layer_and_index(oracles):
    example = make_example()
    wrong = backprop(example)
    wrong.dJ_dw[1] = wrong.dJ_dw[1] * 2
    judgement = judge(example, wrong, results_for(example, oracles))
    assert judgement.verdict is Verdict.DISCREPANCY
    assert judgement.message.startswith("example 7: dJ/dw_2[")
    assert judgement.first_layer_from_output == 2
    assert set(judgement.disagreeing_oracles) == {"torch", "jax", "fd"}


def test_a_wrong_error_signal_is_located_at_the_layer_closest_to_the_output(oracles):
    example = make_example()
    wrong = backprop(example)
    wrong.dJ_dl[2] = wrong.dJ_dl[2] * -1
    judgement = judge(example, wrong, results_for(example, oracles))
    assert judgement.verdict is Verdict.DISCREPANCY
    assert judgement.first_layer_from_output == 3


def test_nan_in_the_code_under_test_is_a_discrepancy(oracles):
    example = make_example()
    wrong = backprop(example)
    wrong.dJ_db[0] = wrong.dJ_db[0].copy()
    wrong.dJ_db[0][2] = np.nan
    judgement = judge(example, wrong, results_for(example, oracles))
    assert judgement.verdict is Verdict.DISCREPANCY
    assert "dJ/db_1[2]" in judgement.message


def test_a_wrong_oracle_is_an_oracle_disagreement_that_names_it(oracles):
    example = make_example()
    results = results_for(example, oracles)
    results["jax"] = copy.deepcopy(results["jax"])
    results["jax"].dJ_dw[0] = results["jax"].dJ_dw[0] * 1.5
    judgement = judge(example, backprop(example), results)
    assert judgement.verdict is Verdict.ORACLE_DISAGREEMENT
    assert "jax" in judgement.disagreeing_oracles
    assert "torch" in judgement.disagreeing_oracles


def test_a_relu_pre_activation_of_exactly_zero_is_no_false_alarm(oracles):
    example = make_example(activations=("relu", "relu", "identity"),
                           X=np.zeros((5, 4)),
                           biases=[np.zeros(4), np.zeros(4), np.ones(3)])
    judgement = judge(example, backprop(example), results_for(example, oracles))
    assert judgement.verdict is Verdict.NON_DIFFERENTIABLE, judgement.message


def test_references_that_overflow_make_the_example_ill_conditioned(oracles):
    example = make_example()
    results = results_for(example, oracles)
    results["torch"] = copy.deepcopy(results["torch"])
    results["torch"].J = np.inf
    judgement = judge(example, backprop(example), results)
    assert judgement.verdict is Verdict.ILL_CONDITIONED
    assert "torch" in judgement.message


def test_an_output_that_rounds_to_one_in_float32_is_ill_conditioned_not_a_bug(oracles):
    architecture = Architecture(2, (2, 1), ("identity", "sigmoid"),
                                "binary_cross_entropy")
    example = Example(architecture, [np.eye(2), np.array([[1.0, 0.0]])],
                      [np.zeros(2), np.zeros(1)], np.array([[30.0, 0.0]]),
                      np.array([[0.5]]))
    results = results_for(example, oracles)
    with np.errstate(all="ignore"):  # float32 divides by 1 - h = 0 here
        float32 = backprop(example, "float32")
    judgement = judge(example, float32, results, "float32")
    assert judgement.verdict is Verdict.ILL_CONDITIONED
    assert "float32" in judgement.message
    assert not judge(example, backprop(example), results, "float64").verdict.fails
