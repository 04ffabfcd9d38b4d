"""Costs ``J``: the per-sample cost of ``h = h(x)`` against ``y``, and its derivative.

Both take ``h`` and ``y`` shaped ``(batch, n_n)``; the per-sample cost is
``(batch,)`` and its derivative ``dJ_sample/dh`` is ``(batch, n_n)``. The batch
reduction (mean or sum) is applied by the caller.

A cost also says what its targets ``y`` are (:data:`TARGETS`): real numbers,
probabilities (each row on the simplex: one-hot or spread) or binary (each entry
in ``[0, 1]``: 0 or 1, or a soft label), which is how the strategies draw ``Y``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from manual_backprop._lazy import special

Array = np.ndarray
TARGETS = ("real", "probabilities", "binary")
_PROBABILITY_OUTPUTS = frozenset({"sigmoid", "softmax"})


@dataclass(frozen=True)
class Cost:
    """A per-sample cost, its derivative, and what it needs of ``h`` and ``y``.

    ``fits`` names the output activations the cost accepts; ``None`` means any.
    ``y_range`` is the closed interval every target must lie in; ``targets``,
    one of :data:`TARGETS`, how targets are drawn. ``slope_terms(h, y)``, where
    given, sizes the terms of ``dJ_sample/dh`` for the tolerances, ``(batch,
    n_n)``; the built-in costs leave it ``None``, since :mod:`oracles.tolerance`
    knows their terms.
    """

    name: str
    per_sample: Callable[[Array, Array], Array]
    derivative: Callable[[Array, Array], Array]
    fits: frozenset[str] | None = None
    y_range: tuple[float, float] = (-np.inf, np.inf)
    description: str = ""
    targets: str = "real"
    slope_terms: Callable[[Array, Array], Array] | None = None

    def fits_output(self, activation: str) -> bool:
        """Whether ``activation`` on the output layer gives ``h`` this cost takes."""
        return self.fits is None or activation in self.fits

    @property
    def on_probabilities(self) -> bool:
        """Whether ``h`` is a probability (a sigmoid or softmax output) and ``y``
        one too, as for the cross-entropies of probabilities."""
        return (self.targets != "real" and self.fits is not None
                and self.fits <= _PROBABILITY_OUTPUTS)


def _half_sse(h: Array, y: Array) -> Array:
    return 0.5 * np.sum((h - y) ** 2, axis=1)


def _mse(h: Array, y: Array) -> Array:
    return np.mean((h - y) ** 2, axis=1)


def _mse_derivative(h: Array, y: Array) -> Array:
    return 2 * (h - y) / h.shape[1]


def _cross_entropy(h: Array, y: Array) -> Array:
    return -np.sum(special.xlogy(y, h), axis=1)


def _ratio(y: Array, h: Array) -> Array:
    """``y / h``, taken as 0 where ``y = 0`` so that an output that underflows
    to 0 where no target weight sits costs nothing, as in ``J`` itself."""
    safe_h = np.where(y != 0, h, np.ones_like(h))
    return np.where(y != 0, y / safe_h, np.zeros_like(h))


def _cross_entropy_derivative(h: Array, y: Array) -> Array:
    return -_ratio(y, h)


def _binary_cross_entropy(h: Array, y: Array) -> Array:
    return -np.sum(special.xlogy(y, h) + special.xlog1py(1 - y, -h), axis=1)


def _binary_cross_entropy_derivative(h: Array, y: Array) -> Array:
    return _ratio(1 - y, 1 - h) - _ratio(y, h)


def _softmax_cross_entropy(h: Array, y: Array) -> Array:
    return -np.sum(y * special.log_softmax(h, axis=1), axis=1)


def _softmax_cross_entropy_derivative(h: Array, y: Array) -> Array:
    return special.softmax(h, axis=1) * np.sum(y, axis=1, keepdims=True) - y


_LOGITS = frozenset(
    {"identity", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
     "gelu_tanh", "silu", "softsign", "hard_tanh", "sigmoid"}
)

COSTS: dict[str, Cost] = {
    c.name: c
    for c in [
        Cost("half_sse", _half_sse, lambda h, y: h - y,
             description="1/2 sum_k (h_k - y_k)^2"),
        Cost("mse", _mse, _mse_derivative,
             description="(1/n_n) sum_k (h_k - y_k)^2"),
        Cost("cross_entropy", _cross_entropy, _cross_entropy_derivative,
             fits=_PROBABILITY_OUTPUTS, y_range=(0.0, np.inf),
             targets="probabilities", description="-sum_k y_k log h_k"),
        Cost("binary_cross_entropy", _binary_cross_entropy,
             _binary_cross_entropy_derivative,
             fits=_PROBABILITY_OUTPUTS, y_range=(0.0, 1.0), targets="binary",
             description="-sum_k [y_k log h_k + (1 - y_k) log(1 - h_k)]"),
        Cost("softmax_cross_entropy", _softmax_cross_entropy,
             _softmax_cross_entropy_derivative,
             fits=_LOGITS, y_range=(0.0, np.inf), targets="probabilities",
             description="-sum_k y_k log softmax(h)_k, from logits"),
    ]
}
