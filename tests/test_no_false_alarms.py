"""The classic false alarms of gradient checkers, pinned: each must not fail a
correct implementation, and the real bug next to it must still fail."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from manual_backprop import ACTIVATIONS, Architecture, Example, backprop, gradients
from oracles import Verdict, judge, make_oracle
from oracles.arbiter import ExtendedPrecisionOracle
from reports.campaign import check_example
from reports.plugin import ContractCandidate

ACCEPTED = {Verdict.AGREE, Verdict.NON_DIFFERENTIABLE, Verdict.FD_NOISE}


@pytest.fixture(scope="module")
def oracles():
    return {name: make_oracle(name) for name in ("torch", "jax", "fd")}


class Manual:
    name = "manual"

    def __call__(self, example, dtype):
        return backprop(example, dtype)


def relu_on_its_kink(seed=0) -> Example:
    """Zero inputs and zero first-layer biases: every ``l_1`` is exactly 0."""
    rng = np.random.default_rng(seed)
    architecture = Architecture(3, (4, 4, 2), ("relu", "relu", "identity"),
                                "half_sse")
    return Example(architecture,
                   [rng.standard_normal((4, 3)), rng.standard_normal((4, 4)),
                    rng.standard_normal((2, 4))],
                   [np.zeros(4), rng.standard_normal(4), rng.standard_normal(2)],
                   np.zeros((5, 3)), rng.standard_normal((5, 2)))


def with_relu_derivative(derivative):
    """The manual backprop's contract function with another ``relu'``."""
    def function(weights, biases, activations, cost, X, Y):
        saved = ACTIVATIONS["relu"]
        ACTIVATIONS["relu"] = dataclasses.replace(saved, derivative=derivative)
        try:
            return gradients(weights, biases, activations, cost, X, Y)
        finally:
            ACTIVATIONS["relu"] = saved
    return ContractCandidate(function, "relu variant")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_with_a_pre_activation_of_exactly_zero_is_no_false_alarm(oracles, dtype):
    judgement = check_example(relu_on_its_kink(), Manual(), oracles, dtype)
    assert judgement.verdict in ACCEPTED, judgement.message


def test_the_convention_relu_prime_of_zero_is_one_is_a_non_differentiable_point(
    oracles
):
    candidate = with_relu_derivative(lambda l: (l >= 0).astype(l.dtype))
    judgement = check_example(relu_on_its_kink(), candidate, oracles, "float64")
    assert judgement.verdict is Verdict.NON_DIFFERENTIABLE, judgement.message
    assert "sit on a kink (20 of relu)" in judgement.message


def test_strict_kinks_call_the_other_convention_a_discrepancy(oracles):
    candidate = with_relu_derivative(lambda l: (l >= 0).astype(l.dtype))
    judgement = check_example(relu_on_its_kink(), candidate, oracles, "float64",
                              strict_kinks=True)
    assert judgement.verdict is Verdict.DISCREPANCY


def test_a_wrong_relu_derivative_is_still_a_discrepancy_on_a_kink(oracles):
    candidate = with_relu_derivative(lambda l: np.ones_like(l))
    judgement = check_example(relu_on_its_kink(), candidate, oracles, "float64")
    assert judgement.verdict is Verdict.DISCREPANCY


@pytest.mark.parametrize("seed", range(20))
def test_a_float32_linear_layer_checked_by_finite_differences_alone_passes(seed):
    rng = np.random.default_rng(seed)
    d, width, batch = rng.integers(1, 12, size=3)
    architecture = Architecture(int(d), (int(width),), ("identity",), "half_sse")
    example = Example(architecture,
                      [rng.standard_normal((width, d)) * 3],
                      [rng.standard_normal(width)], rng.standard_normal((batch, d)) * 3,
                      rng.standard_normal((batch, width)))
    fd = make_oracle("fd")
    judgement = judge(example, backprop(example, "float32"),
                      {"fd": fd.compute(example)}, "float32")
    assert judgement.verdict in ACCEPTED, judgement.message


def saturated(activation: str, at: float) -> Example:
    architecture = Architecture(1, (2, 1), (activation, "identity"), "half_sse")
    return Example(architecture, [np.array([[1.0], [-1.0]]), np.array([[0.5, -0.25]])],
                   [np.zeros(2), np.zeros(1)], np.array([[at], [at / 2]]),
                   np.array([[0.3], [-0.2]]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("at", [800.0, -800.0])
@pytest.mark.parametrize("activation", ["sigmoid", "softplus"])
def test_sigmoid_and_softplus_at_plus_or_minus_800_are_no_false_alarm(
    oracles, activation, at, dtype
):
    judgement = check_example(saturated(activation, at), Manual(), oracles, dtype)
    assert judgement.verdict in ACCEPTED, judgement.message


def test_a_naive_softplus_that_overflows_at_800_is_a_discrepancy(oracles):
    def naive(weights, biases, activations, cost, X, Y):
        saved = ACTIVATIONS["softplus"]
        ACTIVATIONS["softplus"] = dataclasses.replace(
            saved, forward=lambda l: np.log(1 + np.exp(l)),
            derivative=lambda l: np.exp(l) / (1 + np.exp(l)))
        try:
            with np.errstate(all="ignore"):
                return gradients(weights, biases, activations, cost, X, Y)
        finally:
            ACTIVATIONS["softplus"] = saved

    judgement = check_example(saturated("softplus", 800.0),
                              ContractCandidate(naive, "naive softplus"), oracles,
                              "float64")
    assert judgement.verdict is Verdict.DISCREPANCY


def test_exact_gelu_against_the_tanh_form_is_an_oracle_disagreement_naming_both(
    oracles
):
    rng = np.random.default_rng(5)
    architecture = Architecture(3, (4, 2), ("gelu", "identity"), "half_sse")
    example = Example(architecture,
                      [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))],
                      [rng.standard_normal(4), rng.standard_normal(2)],
                      rng.standard_normal((6, 3)), rng.standard_normal((6, 2)))
    results = {name: o.compute(example) for name, o in oracles.items()}
    tanh_form = copy.copy(example)
    tanh_form.architecture = Architecture(3, (4, 2), ("gelu_tanh", "identity"),
                                          "half_sse")
    results["jax"] = oracles["jax"].compute(tanh_form)
    judgement = judge(example, backprop(example), results)
    assert judgement.verdict is Verdict.ORACLE_DISAGREEMENT
    assert "torch" in judgement.message and "jax" in judgement.message

    results["mpmath"] = ExtendedPrecisionOracle().compute(example)
    settled = judge(example, backprop(example), results)
    assert settled.verdict is Verdict.ORACLE_DISAGREEMENT
    assert settled.disagreeing_oracles == ("jax",)
    assert "arbiter sides with the code under test against jax" in settled.message


def test_the_arbiter_settles_against_code_that_only_one_oracle_agrees_with(oracles):
    rng = np.random.default_rng(6)
    architecture = Architecture(2, (3, 1), ("tanh", "sigmoid"), "binary_cross_entropy")
    example = Example(architecture,
                      [rng.standard_normal((3, 2)), rng.standard_normal((1, 3))],
                      [rng.standard_normal(3), rng.standard_normal(1)],
                      rng.standard_normal((4, 2)), rng.random((4, 1)))
    results = {name: o.compute(example) for name, o in oracles.items()}
    wrong = backprop(example)
    wrong.dJ_dw[0] = wrong.dJ_dw[0] * 1.01
    results["jax"] = copy.deepcopy(results["jax"])
    results["jax"].dJ_dw[0] = wrong.dJ_dw[0]
    results["mpmath"] = ExtendedPrecisionOracle().compute(example)
    judgement = judge(example, wrong, results)
    assert judgement.verdict is Verdict.DISCREPANCY
    assert "arbiter settles it against the code under test" in judgement.message


def test_a_relu_pre_activation_within_float32_rounding_of_its_kink_is_no_alarm(oracles):
    # l = 1e-9 in float64 (slope 1), but 0 in float32 (slope 0)
    architecture = Architecture(2, (1, 1), ("relu", "identity"), "half_sse")
    example = Example(architecture, [np.array([[0.3 + 1e-9, -0.3]]), np.array([[2.0]])],
                      [np.zeros(1), np.zeros(1)], np.array([[1.0, 1.0]]),
                      np.array([[1.0]]))
    with np.errstate(all="ignore"):
        float32 = Manual()(example, "float32")
    assert float32.dJ_dl[0][0, 0] == 0
    for strict in (False, True):
        judgement = check_example(example, Manual(), oracles, "float32", strict)
        assert judgement.verdict is Verdict.NON_DIFFERENTIABLE, judgement.message


def test_a_relu_after_a_gelu_far_below_zero_is_no_alarm_whichever_gelu_rounds(oracles):
    # gelu(-10) is -7.6e-23 in the manual backprop and JAX; PyTorch's
    # 0.5 l (1 + erf(l / sqrt 2)) rounds it to -0, so the relu after it sees
    # l_2 = 7.6e-23 here and exactly 0 in PyTorch, and takes the other slope.
    architecture = Architecture(1, (2, 1, 1), ("gelu", "relu", "identity"), "half_sse")
    example = Example(architecture,
                      [np.array([[1.0], [0.5]]), np.array([[-1.0, 0.0]]),
                       np.array([[2.0]])],
                      [np.array([-11.0, 0.3]), np.zeros(1), np.array([0.5])],
                      np.array([[1.0]]), np.array([[0.2]]))
    torch_l_2 = oracles["torch"].compute(example).outputs[1] @ example.weights[1].T
    assert torch_l_2[0, 0] == 0
    for dtype in ("float64", "float32"):
        for chosen in (oracles, {"torch": oracles["torch"]}):
            judgement = check_example(example, Manual(), chosen, dtype)
            assert judgement.verdict is Verdict.NON_DIFFERENTIABLE, judgement.message


def test_tolerances_that_overflow_make_the_example_ill_conditioned_not_a_discrepancy():
    # Outputs of 1e160: the bound on their rounding squares them, past float64.
    example = Example(Architecture(1, (1,), ("identity",), "half_sse"),
                      [np.array([[1e160]])], [np.zeros(1)], np.ones((1, 1)),
                      np.full((1, 1), 1e160))
    torch_only = {"torch": make_oracle("torch")}
    with np.errstate(all="ignore"):
        judgement = check_example(example, Manual(), torch_only, "float64")
    assert judgement.verdict is Verdict.ILL_CONDITIONED
    assert "tolerances overflow" in judgement.message
