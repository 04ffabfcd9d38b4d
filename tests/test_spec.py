"""Bad architectures and arrays are refused with a message naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from manual_backprop import Architecture, Example, InvalidArgument


def good_arrays(sizes=(3, 4, 2), batch=5):
    rng = np.random.default_rng(0)
    layers = range(len(sizes) - 1)
    weights = [rng.standard_normal((sizes[i + 1], sizes[i])) for i in layers]
    biases = [rng.standard_normal(sizes[i + 1]) for i in range(len(sizes) - 1)]
    X = rng.standard_normal((batch, sizes[0]))
    Y = rng.random((batch, sizes[-1]))
    return weights, biases, X, Y


BAD_ARCHITECTURES = [
    pytest.param(dict(d=0, widths=(2,), activations=("tanh",), cost="half_sse"),
                 "input dimension d=0", id="d-of-zero"),
    pytest.param(dict(d=3, widths=(4, 0), activations=("tanh", "tanh"),
                      cost="half_sse"), "width n_2=0", id="width-of-zero"),
    pytest.param(dict(d=3, widths=(), activations=(), cost="half_sse"),
                 "at least one layer", id="no-layers"),
    pytest.param(dict(d=3, widths=(4,), activations=("swish",), cost="half_sse"),
                 "activation f_1='swish' is unknown", id="unknown-activation"),
    pytest.param(dict(d=3, widths=(4, 2), activations=("softmax", "tanh"),
                      cost="half_sse"), "f_1='softmax' is only allowed on the output",
                 id="softmax-on-a-hidden-layer"),
    pytest.param(dict(d=3, widths=(4, 2), activations=("tanh",), cost="half_sse"),
                 "1 names for 2 layers", id="too-few-activations"),
    pytest.param(dict(d=3, widths=(2,), activations=("tanh",), cost="hinge"),
                 "cost 'hinge' is unknown", id="unknown-cost"),
    pytest.param(dict(d=3, widths=(2,), activations=("tanh",), cost="cross_entropy"),
                 "does not fit the output activation f_1='tanh'",
                 id="cross-entropy-after-tanh"),
    pytest.param(dict(d=3, widths=(2,), activations=("softmax",),
                      cost="softmax_cross_entropy"),
                 "does not fit the output activation f_1='softmax'",
                 id="softmax-twice"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_ARCHITECTURES)
def test_a_bad_architecture_is_refused_naming_the_field(fields, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        Architecture(**fields)


def _replace(index, value):
    def change(arrays):
        arrays = list(arrays)
        arrays[index] = value(arrays[index])
        return arrays
    return change


def _with_nan(x):
    x = x.copy()
    x.flat[0] = np.nan
    return x


BAD_ARRAYS = [
    pytest.param(lambda a: [a[0][:1], *a[1:]], "1 weight and 2 bias arrays",
                 id="missing-weights"),
    pytest.param(lambda a: [[a[0][0].T, a[0][1]], *a[1:]], r"w_1 has shape \(3, 4\)",
                 id="transposed-weights"),
    pytest.param(lambda a: [a[0], [a[1][0][:2], a[1][1]], *a[2:]],
                 r"b_1 has shape \(2,\)", id="short-bias"),
    pytest.param(_replace(2, lambda X: X[:, :2]), r"X has shape \(5, 2\)",
                 id="inputs-of-the-wrong-width"),
    pytest.param(_replace(3, lambda Y: Y[:3]), r"Y has shape \(3, 2\)",
                 id="targets-for-another-batch"),
    pytest.param(_replace(2, _with_nan), "X holds NaN", id="nan-in-inputs"),
    pytest.param(lambda a: [[_with_nan(a[0][0]), a[0][1]], *a[1:]], "w_1 holds NaN",
                 id="nan-in-weights"),
    pytest.param(_replace(2, lambda X: X.astype(int)), "X has dtype int64",
                 id="integer-inputs"),
    pytest.param(_replace(2, lambda X: X[:0]), "batch >= 1", id="empty-batch"),
]


@pytest.mark.parametrize(("damage", "message"), BAD_ARRAYS)
def test_bad_parameters_or_inputs_are_refused_naming_the_array(damage, message):
    architecture = Architecture(3, (4, 2), ("tanh", "sigmoid"), "half_sse")
    weights, biases, X, Y = damage(good_arrays())
    with pytest.raises(InvalidArgument, match=message):
        Example(architecture, weights, biases, X, Y)


def test_targets_outside_what_the_cost_takes_are_refused():
    architecture = Architecture(3, (4, 2), ("tanh", "sigmoid"), "binary_cross_entropy")
    weights, biases, X, Y = good_arrays()
    with pytest.raises(InvalidArgument, match="binary_cross_entropy"):
        Example(architecture, weights, biases, X, Y + 2)


def test_an_unknown_reduction_is_refused():
    architecture = Architecture(3, (4, 2), ("tanh", "sigmoid"), "half_sse")
    with pytest.raises(InvalidArgument, match="reduction 'median'"):
        Example(architecture, *good_arrays(), reduction="median")


def test_the_architecture_counts_its_parameters_and_describes_itself():
    architecture = Architecture(3, (4, 2), ("tanh", "softmax"), "cross_entropy")
    assert architecture.n == 2
    assert architecture.sizes == (3, 4, 2)
    assert architecture.n_parameters == 4 * 3 + 4 + 2 * 4 + 2
    assert architecture.describe() == "d=3 -> 4 tanh -> 2 softmax | cross_entropy"


@pytest.mark.parametrize(("activations", "costs", "says"), [
    (("softmax",), ("softmax_cross_entropy",),
     "softmax_cross_entropy takes any output activation but softmax"),
    (("tanh", "relu"), ("cross_entropy",), "cross_entropy takes sigmoid or softmax"),
])
def test_costs_that_no_allowed_output_fits_are_refused_saying_what_each_takes(
    activations, costs, says
):
    from property_tests.strategies import architectures

    with pytest.raises(InvalidArgument, match=says):
        architectures(activations=activations, costs=costs)
