"""The forward pass and the layer-by-layer backward pass.

The recursion, with ``delta_i = dJ/dl_i`` shaped ``(batch, n_i)``:

- output layer: ``delta_n = J'(h(x)) f_n'(l_n)`` (for softmax, the product with
  the full Jacobian of ``f_n``);
- hidden layers: ``delta_i = (delta_{i+1} w_{i+1}) f_i'(l_i)``;
- parameters: ``dJ/dw_i = delta_i^T f_{i-1}(l_{i-1})`` and ``dJ/db_i = delta_i``
  summed over the batch.

``J`` is the mean (or, with ``reduction="sum"``, the sum) of the per-sample cost
over the batch, so every ``delta_i`` carries the factor ``1/batch`` for the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from manual_backprop.activations import ACTIVATIONS
from manual_backprop.costs import COSTS
from manual_backprop.spec import Architecture, Example

Array = np.ndarray


@dataclass
class ForwardPass:
    """Everything the forward pass computed.

    ``l[i]`` is ``l_{i+1}``, ``(batch, n_{i+1})``; ``f[i]`` is ``f_i(l_i)``, so
    ``f[0]`` is ``X`` and ``f[n]`` is ``h(x)``; ``J`` is the cost.
    """

    l: list[Array]
    f: list[Array]
    J: float


@dataclass
class Gradients:
    """Gradients of ``J`` as one implementation computed them.

    ``dJ_dw[i]`` is shaped like ``w_{i+1}``, ``dJ_db[i]`` like ``b_{i+1}`` and
    ``dJ_dl[i]`` like ``l_{i+1}``; ``J`` and ``dJ_dl`` are ``None`` where the
    implementation does not give them. ``outputs``, where given, are the layer
    outputs ``f_0(l_0) = X, ..., f_n(l_n) = h(x)``.
    """

    dJ_dw: list[Array]
    dJ_db: list[Array]
    dJ_dl: list[Array] | None = None
    J: float | None = None
    outputs: list[Array] | None = None


def _batch_scale(reduction: str, batch: int) -> float:
    return 1.0 / batch if reduction == "mean" else 1.0


def forward(
    architecture: Architecture,
    weights: Sequence[Array],
    biases: Sequence[Array],
    X: Array,
    Y: Array,
    reduction: str = "mean",
) -> ForwardPass:
    """Run ``X`` through the network, keeping every ``l_i`` and ``f_i(l_i)``."""
    l: list[Array] = []
    f: list[Array] = [X]
    for w, b, name in zip(weights, biases, architecture.activations, strict=True):
        l.append(f[-1] @ w.T + b)
        f.append(ACTIVATIONS[name].forward(l[-1]))

    per_sample = COSTS[architecture.cost].per_sample(f[-1], Y)
    J = float(np.sum(per_sample)) * _batch_scale(reduction, X.shape[0])
    return ForwardPass(l=l, f=f, J=J)


def backward(
    architecture: Architecture,
    weights: Sequence[Array],
    Y: Array,
    passed: ForwardPass,
    reduction: str = "mean",
) -> Gradients:
    """Carry ``dJ/dl_i`` from the output layer back to layer 1."""
    n = architecture.n
    scale = _batch_scale(reduction, Y.shape[0])
    h = passed.f[n]
    dJ_dh = COSTS[architecture.cost].derivative(h, Y) * scale

    dJ_dl: list[Array] = [np.empty(0)] * n
    dJ_df = dJ_dh
    for i in reversed(range(n)):
        activation = ACTIVATIONS[architecture.activations[i]]
        dJ_dl[i] = activation.backward(passed.l[i], passed.f[i + 1], dJ_df)
        dJ_df = dJ_dl[i] @ weights[i]

    dJ_dw = [dJ_dl[i].T @ passed.f[i] for i in range(n)]
    dJ_db = [np.sum(dJ_dl[i], axis=0) for i in range(n)]
    return Gradients(dJ_dw=dJ_dw, dJ_db=dJ_db, dJ_dl=dJ_dl, J=passed.J,
                     outputs=passed.f)


def backprop(example: Example, dtype: str | np.dtype = "float64") -> Gradients:
    """The manual gradients of ``example``, computed in ``dtype``."""
    weights, biases, X, Y = example.cast(dtype)
    a = example.architecture
    passed = forward(a, weights, biases, X, Y, example.reduction)
    return backward(a, weights, Y, passed, example.reduction)


def gradients(
    weights: Sequence[Array],
    biases: Sequence[Array],
    activations: Sequence[str],
    cost: str,
    X: Array,
    Y: Array,
    reduction: str = "mean",
) -> tuple[list[Array], list[Array]]:
    """The manual backprop behind the plug-in contract: ``(dJ_dw, dJ_db)``.

    ``weights[i]`` is ``(n_{i+1}, n_i)``, ``biases[i]`` is ``(n_{i+1},)``,
    ``X`` is ``(batch, d)`` and ``Y`` is ``(batch, n_n)``; the gradients come
    back shaped like the parameters and in their dtype.
    """
    architecture = Architecture(
        d=X.shape[1],
        widths=tuple(w.shape[0] for w in weights),
        activations=tuple(activations),
        cost=cost,
    )
    passed = forward(architecture, weights, biases, X, Y, reduction)
    result = backward(architecture, weights, Y, passed, reduction)
    return result.dJ_dw, result.dJ_db
