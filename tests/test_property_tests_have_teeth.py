"""Break the manual backprop on purpose: the checks must notice.

Each test plants one fault (a wrong activation derivative, a wrong cost
derivative, a softmax Jacobian cut to its diagonal, a bias gradient not summed
over the batch) and asks Hypothesis for an example on which the verdict fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, settings

from manual_backprop import ACTIVATIONS, COSTS, HIDDEN_ACTIVATIONS, backprop, network
from manual_backprop.activations import Activation
from oracles import make_oracle
from property_tests.strategies import architectures, examples
from reports.campaign import ManualBackprop, check_example

SEARCH = settings(max_examples=300, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def oracles() -> dict:
    return {name: make_oracle(name) for name in ("torch", "jax", "fd")}


def find_failure(oracle, activations, costs, max_depth=3, dtype="float64"):
    """The first drawn example whose verdict fails against ``oracle``, judged as
    the property tests judge."""
    strategy = examples(architectures(max_depth=max_depth, max_width=6,
                                      activations=activations, costs=costs))

    def fails(example) -> bool:
        with np.errstate(all="ignore"):
            judgement = check_example(example, ManualBackprop(), {oracle.name: oracle},
                                      dtype)
            return judgement.verdict.fails

    return find(strategy, fails, settings=SEARCH)


def break_derivative(monkeypatch, name: str, factor: float = 1.05) -> None:
    activation = ACTIVATIONS[name]
    original = activation.derivative
    broken = dataclasses.replace(activation, derivative=lambda l: original(l) * factor)
    monkeypatch.setitem(ACTIVATIONS, name, broken)


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_a_wrong_activation_derivative_is_caught_by_torch(monkeypatch, oracles, name):
    break_derivative(monkeypatch, name)
    example = find_failure(oracles["torch"], (name,), ("half_sse",))
    assert name in example.architecture.activations


@pytest.mark.parametrize("oracle", ["jax", "fd"])
@pytest.mark.parametrize("name", ["tanh", "relu", "gelu", "softsign"])
def test_a_wrong_activation_derivative_is_caught_by_each_other_oracle(
    monkeypatch, oracles, oracle, name
):
    break_derivative(monkeypatch, name)
    find_failure(oracles[oracle], (name,), ("half_sse",))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu"])
def test_a_wrong_derivative_is_caught_in_float32_too(monkeypatch, oracles, name):
    break_derivative(monkeypatch, name)
    find_failure(oracles["torch"], (name,), ("half_sse",), dtype="float32")


@pytest.mark.parametrize("cost", list(COSTS))
def test_a_wrong_cost_derivative_is_caught(monkeypatch, oracles, cost):
    original = COSTS[cost]
    wrong = dataclasses.replace(
        original, derivative=lambda h, y: original.derivative(h, y) * 1.05)
    monkeypatch.setitem(COSTS, cost, wrong)
    find_failure(oracles["torch"], tuple(ACTIVATIONS), (cost,))


def test_a_softmax_jacobian_cut_to_its_diagonal_is_caught(monkeypatch, oracles):
    def diagonal(l):
        s = np.exp(l - l.max(axis=1, keepdims=True))
        s /= s.sum(axis=1, keepdims=True)
        return s * (1 - s)

    softmax: Activation = ACTIVATIONS["softmax"]
    monkeypatch.setitem(ACTIVATIONS, "softmax",
                        dataclasses.replace(softmax, derivative=diagonal))
    example = find_failure(oracles["torch"], ("tanh", "softmax"), ("cross_entropy",))
    assert example.architecture.activations[-1] == "softmax"


def test_a_bias_gradient_averaged_instead_of_summed_over_the_batch_is_caught(
    monkeypatch, oracles
):
    original = network.backward

    def averaged(*args, **kwargs):
        result = original(*args, **kwargs)
        result.dJ_db = [dl.mean(axis=0) for dl in result.dJ_dl]
        return result

    monkeypatch.setattr(network, "backward", averaged)
    example = find_failure(oracles["torch"], ("tanh",), ("half_sse",))
    assert example.batch > 1


def test_a_bias_gradient_taken_from_one_sample_is_caught_by_finite_differences(
    monkeypatch, oracles
):
    original = network.backward

    def first_sample(*args, **kwargs):
        result = original(*args, **kwargs)
        result.dJ_db = [dl[0].copy() for dl in result.dJ_dl]
        return result

    monkeypatch.setattr(network, "backward", first_sample)
    find_failure(oracles["fd"], ("sigmoid",), ("mse",))


def test_most_draws_give_the_first_layer_a_gradient_that_is_not_all_zero():
    # A layer with no weights, or a batch with no inputs, zeroes every gradient
    # before it, where no fault can show; such draws must stay the exception.
    from reports.campaign import CampaignConfig, for_each_example

    first_layer_dead = []
    config = CampaignConfig(examples=200, activations=("sigmoid", "tanh"),
                            costs=("half_sse",), seed=0)
    for_each_example(config, lambda i, example: first_layer_dead.append(
        bool(np.all(backprop(example).dJ_dw[0] == 0))))
    assert sum(first_layer_dead) <= 0.25 * len(first_layer_dead)
