"""What the plug-in makes of the arrays that gradient code under test returns."""

from __future__ import annotations

import numpy as np
import pytest

from manual_backprop import Architecture, Example, gradients
from reports.api import assert_gradients_agree


def small_example() -> Example:
    rng = np.random.default_rng(5)
    architecture = Architecture(3, (4, 2), ("tanh", "sigmoid"), "half_sse")
    return Example(architecture,
                   [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))],
                   [rng.standard_normal(4), rng.standard_normal(2)],
                   rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))


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
