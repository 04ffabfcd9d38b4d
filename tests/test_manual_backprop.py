"""The manual backprop on cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from manual_backprop import (
    ACTIVATIONS,
    Architecture,
    Example,
    backprop,
    gradients,
)


def example(widths, activations, cost, batch=4, d=3, reduction="mean", seed=0,
            targets=None):
    rng = np.random.default_rng(seed)
    sizes = (d, *widths)
    weights = [rng.standard_normal((sizes[i + 1], sizes[i]))
               for i in range(len(widths))]
    biases = [rng.standard_normal(sizes[i + 1]) for i in range(len(widths))]
    X = rng.standard_normal((batch, d))
    Y = targets if targets is not None else rng.random((batch, sizes[-1]))
    return Example(Architecture(d, widths, activations, cost), weights, biases, X, Y,
                   reduction=reduction)


def test_a_linear_layer_under_half_sse_has_the_closed_form_gradient():
    e = example((2,), ("identity",), "half_sse", batch=5)
    residual = e.X @ e.weights[0].T + e.biases[0] - e.Y
    result = backprop(e)
    np.testing.assert_allclose(result.dJ_dw[0], residual.T @ e.X / 5, rtol=1e-13)
    np.testing.assert_allclose(result.dJ_db[0], residual.sum(axis=0) / 5, rtol=1e-13)
    np.testing.assert_allclose(result.J, 0.5 * np.sum(residual**2) / 5, rtol=1e-13)


def test_the_bias_gradient_is_the_error_signal_summed_over_the_batch():
    result = backprop(example((4, 3), ("tanh", "sigmoid"), "mse", batch=6))
    for dJ_db, dJ_dl in zip(result.dJ_db, result.dJ_dl, strict=True):
        np.testing.assert_allclose(dJ_db, dJ_dl.sum(axis=0), rtol=1e-14)


def test_the_sum_reduction_is_the_batch_size_times_the_mean():
    mean = backprop(example((3, 2), ("elu", "identity"), "half_sse", batch=7))
    total = backprop(example((3, 2), ("elu", "identity"), "half_sse", batch=7,
                             reduction="sum"))
    for m, s in zip(mean.dJ_dw + mean.dJ_db, total.dJ_dw + total.dJ_db, strict=True):
        np.testing.assert_allclose(s, 7 * m, rtol=1e-13)
    assert total.J == pytest.approx(7 * mean.J, rel=1e-13)


def test_softmax_goes_through_its_full_jacobian():
    rng = np.random.default_rng(1)
    l = rng.standard_normal((1, 4))
    s = ACTIVATIONS["softmax"].forward(l)
    upstream = rng.standard_normal((1, 4))
    jacobian = np.diag(s[0]) - np.outer(s[0], s[0])
    expected = upstream @ jacobian
    np.testing.assert_allclose(ACTIVATIONS["softmax"].backward(l, s, upstream),
                               expected, rtol=1e-13)
    diagonal_only = upstream * s * (1 - s)
    assert not np.allclose(expected, diagonal_only)


def test_softmax_cross_entropy_from_logits_has_error_signal_softmax_minus_y():
    one_hot = np.eye(3)[[0, 2, 1, 1]]
    e = example((3,), ("identity",), "softmax_cross_entropy", targets=one_hot)
    result = backprop(e)
    logits = e.X @ e.weights[0].T + e.biases[0]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.dJ_dl[0], (p - one_hot) / 4, rtol=1e-12)


@pytest.mark.parametrize(("name", "at", "slope"), [
    ("relu", 0.0, 0.0), ("leaky_relu", 0.0, 0.01), ("hard_tanh", 1.0, 0.0),
    ("hard_tanh", -1.0, 0.0),
])
def test_at_a_kink_the_derivative_is_the_smaller_one_sided_slope(name, at, slope):
    assert ACTIVATIONS[name].derivative(np.array([[at]]))[0, 0] == slope


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_network_of_one_unit_one_input_and_one_sample_works_in_each_dtype(dtype):
    e = example((1,), ("sigmoid",), "binary_cross_entropy", batch=1, d=1)
    result = backprop(e, dtype)
    assert result.dJ_dw[0].shape == (1, 1) and result.dJ_dw[0].dtype == dtype
    h = 1 / (1 + np.exp(-(e.X @ e.weights[0].T + e.biases[0])))
    np.testing.assert_allclose(result.dJ_db[0], (h - e.Y).sum(axis=0),
                               rtol=1e-5 if dtype == "float32" else 1e-12)


def test_the_plug_in_entry_point_gives_the_same_gradients_as_backprop():
    e = example((5, 4, 2), ("gelu", "silu", "softmax"), "cross_entropy",
                targets=np.eye(2)[[0, 1, 1, 0]])
    dJ_dw, dJ_db = gradients(e.weights, e.biases, e.architecture.activations,
                             "cross_entropy", e.X, e.Y)
    result = backprop(e)
    for a, b in zip(dJ_dw + dJ_db, result.dJ_dw + result.dJ_db, strict=True):
        np.testing.assert_array_equal(a, b)


def test_backprop_leaves_the_example_arrays_unchanged():
    e = example((4, 2), ("relu", "tanh"), "half_sse")
    before = [a.copy() for a in [*e.weights, *e.biases, e.X, e.Y]]
    backprop(e)
    backprop(e, "float32")
    for a, b in zip(before, [*e.weights, *e.biases, e.X, e.Y], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gelu_keeps_its_digits_in_the_far_negative_tail(dtype):
    import mpmath

    l = np.array([-9.0, -12.0, -20.0], dtype=dtype)
    gelu = ACTIVATIONS["gelu"]
    for x, value, slope in zip(l, gelu.forward(l), gelu.derivative(l)):
        cdf = mpmath.ncdf(float(x))
        exact, exact_slope = x * cdf, cdf + x * mpmath.npdf(float(x))
        if np.asarray(float(exact), dtype=dtype) == 0:  # below the dtype's range
            continue
        assert value != 0 and abs(value - exact) <= 1e-5 * abs(exact), (x, value)
        assert abs(slope - exact_slope) <= 1e-5 * abs(exact_slope), (x, slope)
