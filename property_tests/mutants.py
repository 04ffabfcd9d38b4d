"""A catalogue of gradient faults: the harness checks itself.

Each mutant is the manual recursion with one fault planted, behind the plug-in
contract ``gradients(weights, biases, activations, cost, X, Y) -> (dJ_dw,
dJ_db)``, so it runs through the harness exactly as a user's code does.
:class:`Backprop` is a copy of the recursion with one method per step:

- forward: ``l_i = f_{i-1}(l_{i-1}) w_i^T + b_i``, ``f_i(l_i)``, ``(batch, n_i)``;
- output layer: ``dJ/dl_n = J'(h(x)) f_n'(l_n) / batch`` (softmax: the product
  with its full Jacobian);
- hidden layers: ``dJ/dl_i = (dJ/dl_{i+1} w_{i+1}) f_i'(l_i)``;
- parameters: ``dJ/dw_i = dJ/dl_i^T f_{i-1}(l_{i-1})``, ``dJ/db_i`` the sum of
  ``dJ/dl_i`` over the batch.

A mutant overrides one step. Some faults hide from some draws (a transposed
weight gradient has the right shape only on a square layer); such a mutant
returns the correct gradient where its fault would change a shape, says in
``needs`` what an example must have to show the fault, and names in ``draws``
the architectures, activations and costs its campaign should draw from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from manual_backprop import ACTIVATIONS, COSTS

Array = np.ndarray
GradientFunction = Callable[..., tuple[list[Array], list[Array]]]


class Backprop:
    """The manual backprop, one overridable method per step of the recursion.

    Calling an instance is the plug-in contract: ``weights[i]`` is
    ``(n_{i+1}, n_i)``, ``biases[i]`` is ``(n_{i+1},)``, ``X`` is ``(batch, d)``
    and ``Y`` is ``(batch, n_n)``; ``J`` is the mean of the per-sample cost.
    Indices are 0-based: ``l[i]`` is ``l_{i+1}`` and ``f[i]`` is ``f_i(l_i)``,
    so ``f[0]`` is ``X``.
    """

    def __call__(self, weights: Sequence[Array], biases: Sequence[Array],
                 activations: Sequence[str], cost: str, X: Array, Y: Array
                 ) -> tuple[list[Array], list[Array]]:
        l, f = self.forward(weights, biases, activations, X)
        dJ_dl = self.backward(weights, activations, cost, l, f, Y)

        dJ_dw, dJ_db = [], []
        for i, w in enumerate(weights):
            dJ_dw_i, dJ_db_i = self.parameter_gradients(i, w, dJ_dl[i], f[i])
            dJ_dw.append(dJ_dw_i)
            dJ_db.append(dJ_db_i)
        return dJ_dw, dJ_db

    # The forward pass.

    def forward(self, weights: Sequence[Array], biases: Sequence[Array],
                activations: Sequence[str], X: Array
                ) -> tuple[list[Array], list[Array]]:
        """Every ``l_i`` and every ``f_i(l_i)``, ``f_0(l_0) = X`` first."""
        l: list[Array] = []
        f: list[Array] = [X]
        for w, b, name in zip(weights, biases, activations, strict=True):
            l.append(f[-1] @ w.T + b)
            f.append(ACTIVATIONS[name].forward(l[-1]))
        return l, f

    # The backward pass: the error signals dJ/dl_i.

    def backward(self, weights: Sequence[Array], activations: Sequence[str],
                 cost: str, l: list[Array], f: list[Array], Y: Array
                 ) -> list[Array]:
        """``dJ/dl_i`` for every layer, from the output layer back to layer 1."""
        n = len(weights)
        dJ_dl: list[Array] = [np.empty(0)] * n
        dJ_dl[n - 1] = self.output_error(activations[n - 1], cost, l[n - 1], f[n], Y)
        for i in reversed(range(n - 1)):
            dJ_df = dJ_dl[i + 1] @ self.next_weights(weights, i)
            dJ_dl[i] = self.hidden_error(activations[i], l[i], f[i + 1], dJ_df)
        return dJ_dl

    def batch_scale(self, batch: int) -> float:
        """The factor of the batch mean in every ``dJ/dl_i``."""
        return 1.0 / batch

    def cost_derivative(self, cost: str, h: Array, Y: Array) -> Array:
        """``J'(h)`` per sample, ``(batch, n_n)``."""
        return COSTS[cost].derivative(h, Y)

    def output_error(self, activation: str, cost: str, l_n: Array, h: Array,
                     Y: Array) -> Array:
        """``dJ/dl_n = J'(h) f_n'(l_n)`` with the batch mean, ``(batch, n_n)``."""
        dJ_dh = self.cost_derivative(cost, h, Y) * self.batch_scale(len(Y))
        return self.activation_backward(activation, l_n, h, dJ_dh)

    def next_weights(self, weights: Sequence[Array], i: int) -> Array:
        """The weights ``w_{i+1}`` that carry ``dJ/dl_{i+1}`` back to layer ``i``
        (0-based: ``weights[i + 1]``)."""
        return weights[i + 1]

    def hidden_error(self, activation: str, l_i: Array, f_i: Array,
                     dJ_df: Array) -> Array:
        """``dJ/dl_i = (dJ/dl_{i+1} w_{i+1}) f_i'(l_i)``, ``(batch, n_i)``."""
        return self.activation_backward(activation, l_i, f_i, dJ_df)

    def activation_backward(self, activation: str, l: Array, f_l: Array,
                            dJ_df: Array) -> Array:
        """Carry ``dJ/df_i(l_i)`` back to ``dJ/dl_i``; all ``(batch, n_i)``."""
        if activation == "softmax":
            return self.softmax_backward(f_l, dJ_df)
        return self.times_derivative(dJ_df, self.derivative(activation, l, f_l))

    def softmax_backward(self, s: Array, dJ_ds: Array) -> Array:
        """The product with the softmax Jacobian ``diag(s) - s s^T``, per sample."""
        return s * (dJ_ds - np.sum(dJ_ds * s, axis=1, keepdims=True))

    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        """The elementwise ``f_i'(l_i)``; ``f_l`` is the layer output ``f_i(l_i)``."""
        derivative = ACTIVATIONS[activation].derivative
        assert derivative is not None
        return derivative(l)

    def times_derivative(self, dJ_df: Array, slope: Array) -> Array:
        """``dJ/df_i(l_i)`` times ``f_i'(l_i)``, elementwise."""
        return dJ_df * slope

    # The parameter gradients.

    def parameter_gradients(self, i: int, w: Array, dJ_dl: Array, f_prev: Array
                            ) -> tuple[Array, Array]:
        """``dJ/dw_{i+1}`` and ``dJ/db_{i+1}`` from ``dJ/dl_{i+1}`` and the
        layer's input ``f_prev``, ``(batch, n_i)``."""
        return self.weight_gradient(w, dJ_dl, f_prev), self.bias_gradient(dJ_dl)

    def weight_gradient(self, w: Array, dJ_dl: Array, f_prev: Array) -> Array:
        """``dJ/dw_i = dJ/dl_i^T f_{i-1}(l_{i-1})``, shaped like ``w``."""
        return dJ_dl.T @ f_prev

    def bias_gradient(self, dJ_dl: Array) -> Array:
        """``dJ/db_i``: ``dJ/dl_i`` summed over the batch, ``(n_i,)``."""
        return np.sum(dJ_dl, axis=0)


def _square(a: Array) -> bool:
    return a.ndim == 2 and a.shape[0] == a.shape[1]


# The batch mean.

class BatchMeanMissing(Backprop):
    def batch_scale(self, batch: int) -> float:
        return 1.0


class BatchMeanTwice(Backprop):
    def batch_scale(self, batch: int) -> float:
        return 1.0 / batch**2


class LastSampleLeftOut(Backprop):
    def parameter_gradients(self, i: int, w: Array, dJ_dl: Array, f_prev: Array
                            ) -> tuple[Array, Array]:
        if len(dJ_dl) > 1:
            dJ_dl, f_prev = dJ_dl[:-1], f_prev[:-1]
        return super().parameter_gradients(i, w, dJ_dl, f_prev)


# The bias gradient.

class BiasGradientAveraged(Backprop):
    def bias_gradient(self, dJ_dl: Array) -> Array:
        return np.mean(dJ_dl, axis=0)


class BiasGradientSummedOverUnits(Backprop):
    def bias_gradient(self, dJ_dl: Array) -> Array:
        return np.sum(dJ_dl, axis=1 if _square(dJ_dl) else 0)


class BiasGradientFromOneSample(Backprop):
    def bias_gradient(self, dJ_dl: Array) -> Array:
        return dJ_dl[0].copy()


# The weight gradient.

class WeightGradientTransposed(Backprop):
    def weight_gradient(self, w: Array, dJ_dl: Array, f_prev: Array) -> Array:
        g = dJ_dl.T @ f_prev
        return g.T if _square(g) else g


class WeightDecayLeaks(Backprop):
    def weight_gradient(self, w: Array, dJ_dl: Array, f_prev: Array) -> Array:
        return dJ_dl.T @ f_prev + 1e-4 * w


class SignFlippedInLayer1(Backprop):
    def parameter_gradients(self, i: int, w: Array, dJ_dl: Array, f_prev: Array
                            ) -> tuple[Array, Array]:
        dJ_dw, dJ_db = super().parameter_gradients(i, w, dJ_dl, f_prev)
        return (-dJ_dw, -dJ_db) if i == 0 else (dJ_dw, dJ_db)


class WeightGradientWrittenIntoWeights(Backprop):
    def weight_gradient(self, w: Array, dJ_dl: Array, f_prev: Array) -> Array:
        return np.matmul(dJ_dl.T, f_prev, out=w)


# The error signals.

class OutputDerivativeDropped(Backprop):
    def output_error(self, activation: str, cost: str, l_n: Array, h: Array,
                     Y: Array) -> Array:
        return self.cost_derivative(cost, h, Y) * self.batch_scale(len(Y))


class HiddenDerivativeDropped(Backprop):
    def hidden_error(self, activation: str, l_i: Array, f_i: Array,
                     dJ_df: Array) -> Array:
        return dJ_df


class NextWeightsFromWrongLayer(Backprop):
    def next_weights(self, weights: Sequence[Array], i: int) -> Array:
        same_shape = weights[i].shape == weights[i + 1].shape
        return weights[i] if same_shape else weights[i + 1]


class MatrixProductForElementwise(Backprop):
    def times_derivative(self, dJ_df: Array, slope: Array) -> Array:
        return dJ_df @ slope if _square(dJ_df) else dJ_df * slope


class ErrorSignalAccumulated(Backprop):
    """Keeps a buffer for ``dJ/dl_n`` per shape and adds to it on every call."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[int, ...], Array] = {}

    def output_error(self, activation: str, cost: str, l_n: Array, h: Array,
                     Y: Array) -> Array:
        dJ_dl = super().output_error(activation, cost, l_n, h, Y)
        buffer = self.buffers.setdefault(dJ_dl.shape, np.zeros_like(dJ_dl))
        buffer += dJ_dl
        return buffer.copy()


class StaleCachedForwardPass(Backprop):
    """Caches the forward pass under the shapes of ``X`` and the weights."""

    def __init__(self) -> None:
        self.cache: dict[tuple[object, ...], tuple[list[Array], list[Array]]] = {}

    def forward(self, weights: Sequence[Array], biases: Sequence[Array],
                activations: Sequence[str], X: Array
                ) -> tuple[list[Array], list[Array]]:
        key = (X.shape, *(w.shape for w in weights))
        if key not in self.cache:
            self.cache[key] = super().forward(weights, biases, activations, X)
        return self.cache[key]


# Activation derivatives.

class DerivativeAtLayerOutput(Backprop):
    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        return super().derivative(activation, f_l, f_l)


class DerivativeAppliedTwice(Backprop):
    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        slope = super().derivative(activation, l, f_l)
        return slope * slope


class SigmoidDerivativeOnPreActivation(Backprop):
    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        if activation == "sigmoid":
            return l * (1 - l)
        return super().derivative(activation, l, f_l)


class TanhDerivativeNotSquared(Backprop):
    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        if activation == "tanh":
            return 1 - np.tanh(l)
        return super().derivative(activation, l, f_l)


class LeakyReluWrongSlope(Backprop):
    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        if activation == "leaky_relu":
            return np.where(l > 0, 1.0, 0.1).astype(l.dtype)
        return super().derivative(activation, l, f_l)


class EluBranchesSwapped(Backprop):
    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        if activation == "elu":
            return np.where(l > 0, np.exp(l), 1.0).astype(l.dtype)
        return super().derivative(activation, l, f_l)


class GeluExactAndTanhMixed(Backprop):
    _OTHER = {"gelu": "gelu_tanh", "gelu_tanh": "gelu"}

    def derivative(self, activation: str, l: Array, f_l: Array) -> Array:
        other = self._OTHER.get(activation, activation)
        return super().derivative(other, l, f_l)


class SoftmaxJacobianDiagonal(Backprop):
    def softmax_backward(self, s: Array, dJ_ds: Array) -> Array:
        return s * (1 - s) * dJ_ds


# Cost derivatives.

class HalfSseHalfDropped(Backprop):
    def cost_derivative(self, cost: str, h: Array, Y: Array) -> Array:
        if cost == "half_sse":
            return 2 * (h - Y)
        return super().cost_derivative(cost, h, Y)


class MseDividedByBatch(Backprop):
    def cost_derivative(self, cost: str, h: Array, Y: Array) -> Array:
        if cost == "mse":
            return 2 * (h - Y) / len(Y)
        return super().cost_derivative(cost, h, Y)


class BinaryCrossEntropySignFlipped(Backprop):
    def cost_derivative(self, cost: str, h: Array, Y: Array) -> Array:
        if cost == "binary_cross_entropy":
            return -Y / h - (1 - Y) / (1 - h)
        return super().cost_derivative(cost, h, Y)


class SoftmaxCrossEntropyCountedTwice(Backprop):
    def output_error(self, activation: str, cost: str, l_n: Array, h: Array,
                     Y: Array) -> Array:
        if activation == "softmax" and cost == "cross_entropy":
            fused = (h - Y) * self.batch_scale(len(Y))  # already dJ/dl_n
            return self.softmax_backward(h, fused)
        return super().output_error(activation, cost, l_n, h, Y)


# The catalogue.

@dataclass(frozen=True)
class Draws:
    """What a mutant's campaign draws from: activations, costs and size limits
    (the options of ``gradproof check`` of the same names)."""

    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    costs: tuple[str, ...] = tuple(COSTS)
    max_depth: int = 5
    max_width: int = 16
    max_batch: int = 8

    def describe(self) -> str:
        """One line: ``activations sigmoid, tanh; every cost; n <= 5, ...``."""
        activations = ("every activation" if set(self.activations) == set(ACTIVATIONS)
                       else "activations " + ", ".join(self.activations))
        costs = ("every cost" if set(self.costs) == set(COSTS)
                 else "costs " + ", ".join(self.costs))
        return (f"{activations}; {costs}; n <= {self.max_depth}, "
                f"widths <= {self.max_width}, batch <= {self.max_batch}")


@dataclass
class Mutant:
    """One planted fault.

    ``gradients`` is the contract function (an instance of ``fault``);
    :meth:`fresh` gives a new one, with no state from earlier calls, for a
    campaign of its own. ``needs`` says what an example must have for the fault
    to show; ``caught_as`` is the verdict that should catch it.
    """

    name: str
    description: str
    fault: type[Backprop]
    needs: str = "any example"
    draws: Draws = Draws()
    caught_as: str = "discrepancy"
    gradients: GradientFunction = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.gradients = self.fault()

    def fresh(self) -> GradientFunction:
        """A new contract function with this fault and no state kept."""
        return self.fault()


_SIGMOID = Draws(activations=("sigmoid", "tanh"))
_SOFTMAX_CROSS_ENTROPY = Draws(activations=("tanh", "softmax"),
                               costs=("cross_entropy",))
# Small shapes, so that two examples of the same shapes come up within the budget.
_REPEATED_SHAPES = Draws(max_depth=2, max_width=3, max_batch=3)

MUTANTS: tuple[Mutant, ...] = (
    Mutant("batch_mean_missing",
           "dJ/dl_n is not divided by the batch size: the sum, not the mean",
           BatchMeanMissing, needs="batch > 1"),
    Mutant("batch_mean_twice",
           "dJ/dl_n is divided by the batch size twice",
           BatchMeanTwice, needs="batch > 1"),
    Mutant("last_sample_left_out",
           "the parameter gradients sum over the batch but the last sample",
           LastSampleLeftOut, needs="batch > 1"),
    Mutant("bias_gradient_averaged",
           "dJ/db_i is the mean of dJ/dl_i over the batch, not the sum",
           BiasGradientAveraged, needs="batch > 1"),
    Mutant("bias_gradient_summed_over_units",
           "dJ/db_i sums dJ/dl_i over the units, not the batch (where the "
           "shapes allow it)",
           BiasGradientSummedOverUnits, needs="batch = n_i on some layer i"),
    Mutant("bias_gradient_from_one_sample",
           "dJ/db_i is dJ/dl_i of the first sample only",
           BiasGradientFromOneSample, needs="batch > 1"),
    Mutant("weight_gradient_transposed",
           "dJ/dw_i is transposed on square layers",
           WeightGradientTransposed, needs="a square layer, n_i = n_{i-1}"),
    Mutant("weight_decay_leaks",
           "dJ/dw_i has a weight-decay term 1e-4 w_i added",
           WeightDecayLeaks, needs="nonzero weights"),
    Mutant("sign_flipped_in_layer_1",
           "dJ/dw_1 and dJ/db_1 have the wrong sign",
           SignFlippedInLayer1),
    Mutant("weight_gradient_written_into_weights",
           "dJ/dw_i is computed into the array of w_i, changing the input in place",
           WeightGradientWrittenIntoWeights, caught_as="code under test failed"),
    Mutant("output_derivative_dropped",
           "dJ/dl_n = J'(h) without the factor f_n'(l_n)",
           OutputDerivativeDropped, needs="an output activation other than identity"),
    Mutant("hidden_derivative_dropped",
           "dJ/dl_i = dJ/dl_{i+1} w_{i+1} without the factor f_i'(l_i)",
           HiddenDerivativeDropped,
           needs="depth >= 2, a hidden activation other than identity"),
    Mutant("next_weights_from_wrong_layer",
           "dJ/dl_i is carried back through w_i instead of w_{i+1} (where the "
           "shapes allow it)",
           NextWeightsFromWrongLayer,
           needs="two square layers in a row, n_{i-1} = n_i = n_{i+1}"),
    Mutant("matrix_product_for_elementwise",
           "dJ/df_i and f_i'(l_i) are multiplied as matrices (where the shapes "
           "allow it)",
           MatrixProductForElementwise, needs="batch = n_i on some layer i"),
    Mutant("error_signal_accumulated",
           "dJ/dl_n is added to a buffer kept between calls, never reset",
           ErrorSignalAccumulated, needs="two calls with the same batch and n_n",
           draws=_REPEATED_SHAPES),
    Mutant("stale_cached_forward_pass",
           "the forward pass is cached under the shapes alone and reused across "
           "calls",
           StaleCachedForwardPass, needs="two calls with the same shapes",
           draws=_REPEATED_SHAPES),
    Mutant("derivative_at_layer_output",
           "f_i' is evaluated at the layer output f_i(l_i), not at l_i",
           DerivativeAtLayerOutput, needs="a curved activation"),
    Mutant("derivative_applied_twice",
           "dJ/dl_i carries the factor f_i'(l_i) twice",
           DerivativeAppliedTwice,
           needs="an activation whose slope is not 0 or 1"),
    Mutant("sigmoid_derivative_on_pre_activation",
           "sigmoid'(l) is taken as l (1 - l), as if l were the sigmoid's output",
           SigmoidDerivativeOnPreActivation, needs="a sigmoid layer", draws=_SIGMOID),
    Mutant("tanh_derivative_not_squared",
           "tanh'(l) is taken as 1 - tanh(l), not 1 - tanh(l)^2",
           TanhDerivativeNotSquared, needs="a tanh layer",
           draws=Draws(activations=("tanh", "sigmoid"))),
    Mutant("leaky_relu_wrong_slope",
           "leaky_relu' is 0.1 below 0, not 0.01",
           LeakyReluWrongSlope, needs="a negative pre-activation of leaky_relu",
           draws=Draws(activations=("leaky_relu",))),
    Mutant("elu_branches_swapped",
           "elu' is exp(l) above 0 and 1 below, the branches swapped",
           EluBranchesSwapped, needs="an elu layer",
           draws=Draws(activations=("elu",))),
    Mutant("gelu_exact_and_tanh_mixed",
           "gelu takes the derivative of gelu_tanh, and gelu_tanh that of gelu",
           GeluExactAndTanhMixed, needs="a gelu or gelu_tanh layer",
           draws=Draws(activations=("gelu", "gelu_tanh"))),
    Mutant("softmax_jacobian_diagonal",
           "the softmax Jacobian is cut to its diagonal s (1 - s)",
           SoftmaxJacobianDiagonal, needs="a softmax output with n_n >= 2",
           draws=_SOFTMAX_CROSS_ENTROPY),
    Mutant("softmax_cross_entropy_counted_twice",
           "the fused softmax + cross_entropy derivative h - y is multiplied by the "
           "softmax Jacobian again",
           SoftmaxCrossEntropyCountedTwice, needs="a softmax output with n_n >= 2",
           draws=_SOFTMAX_CROSS_ENTROPY),
    Mutant("half_sse_half_dropped",
           "half_sse' is 2 (h - y): the 1/2 is dropped",
           HalfSseHalfDropped, needs="the half_sse cost",
           draws=Draws(costs=("half_sse",))),
    Mutant("mse_divided_by_batch",
           "mse' is divided by the batch size where n_n belongs",
           MseDividedByBatch, needs="the mse cost, batch != n_n",
           draws=Draws(costs=("mse",))),
    Mutant("binary_cross_entropy_sign_flipped",
           "binary_cross_entropy' has the (1 - y) / (1 - h) term with the wrong sign",
           BinaryCrossEntropySignFlipped, needs="the binary_cross_entropy cost",
           draws=Draws(costs=("binary_cross_entropy",))),
)


def mutant_named(name: str) -> Mutant:
    """The mutant called ``name``; ``KeyError`` if there is none."""
    return {m.name: m for m in MUTANTS}[name]
