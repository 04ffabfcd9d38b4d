"""Activations ``f_i`` with their derivatives ``f_i'``.

Every function takes and returns arrays shaped ``(batch, n_i)`` and keeps their
dtype. At a kink the derivative is the smaller one-sided slope (``relu'(0) = 0``,
``leaky_relu'(0) = 0.01``, ``hard_tanh'(+-1) = 0``); every reference oracle uses
the same convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from manual_backprop._lazy import special

Array = np.ndarray

LEAKY_SLOPE = 0.01
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_CUBIC = 0.044715


@dataclass(frozen=True)
class Kink:
    """A point where ``f`` is continuous but ``f'`` jumps."""

    at: float
    left_slope: float
    right_slope: float


@dataclass(frozen=True)
class Activation:
    """An activation ``f`` and what the harness needs to know about it.

    ``derivative`` is the elementwise ``f'(l)``; it is ``None`` for softmax,
    whose Jacobian is full and which goes through :meth:`backward`.
    ``slope_bound`` bounds ``|f'|`` (for softmax, every Jacobian entry);
    ``output_range`` is the closed hull of the values ``f`` can take.
    """

    name: str
    forward: Callable[[Array], Array]
    derivative: Callable[[Array], Array] | None
    slope_bound: float
    output_range: tuple[float, float] = (-math.inf, math.inf)
    kinks: tuple[Kink, ...] = ()
    output_only: bool = False

    def backward(self, l: Array, f_l: Array, dJ_df: Array) -> Array:
        """Carry ``dJ/df_i(l_i)`` back to ``dJ/dl_i``; all ``(batch, n_i)``."""
        if self.derivative is not None:
            return dJ_df * self.derivative(l)
        # Softmax: the Jacobian-vector product diag(s) g - s (s . g), per sample.
        return f_l * (dJ_df - np.sum(dJ_df * f_l, axis=1, keepdims=True))


def _sigmoid(l: Array) -> Array:
    return special.expit(l)


def _sigmoid_derivative(l: Array) -> Array:
    s = special.expit(l)
    return s * (1 - s)


def _tanh_derivative(l: Array) -> Array:
    return 1 - np.tanh(l) ** 2


def _relu(l: Array) -> Array:
    return np.where(l > 0, l, np.zeros_like(l))


def _step(l: Array, below: float) -> Array:
    """1 where ``l > 0``, ``below`` elsewhere, in the dtype of ``l``."""
    return np.where(l > 0, 1, below).astype(l.dtype)


def _leaky_relu(l: Array) -> Array:
    return np.where(l > 0, l, LEAKY_SLOPE * l).astype(l.dtype)


def _elu(l: Array) -> Array:
    return np.where(l > 0, l, np.expm1(np.minimum(l, 0)))


def _elu_derivative(l: Array) -> Array:
    return np.where(l > 0, 1, np.exp(np.minimum(l, 0))).astype(l.dtype)


def _softplus(l: Array) -> Array:
    return np.logaddexp(l, np.zeros_like(l))


def _gelu(l: Array) -> Array:
    # Phi(l) through ndtr, not 0.5 (1 + erf(l / sqrt 2)): below l = -8 that sum
    # rounds to 0, and gelu(l), tiny but not zero, with it; a relu after it then
    # sits on its kink where the references are off it.
    return l * special.ndtr(l)


def _gelu_derivative(l: Array) -> Array:
    cdf = special.ndtr(l)
    pdf = np.exp(-0.5 * l * l) / math.sqrt(2 * math.pi)
    return (cdf + l * pdf).astype(l.dtype)


def _gelu_tanh(l: Array) -> Array:
    inner = _SQRT_2_OVER_PI * (l + _GELU_TANH_CUBIC * l**3)
    return 0.5 * l * (1 + np.tanh(inner))


def _gelu_tanh_derivative(l: Array) -> Array:
    t = np.tanh(_SQRT_2_OVER_PI * (l + _GELU_TANH_CUBIC * l**3))
    inner_slope = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_CUBIC * l * l)
    return 0.5 * (1 + t) + 0.5 * l * (1 - t * t) * inner_slope


def _silu(l: Array) -> Array:
    return l * special.expit(l)


def _silu_derivative(l: Array) -> Array:
    s = special.expit(l)
    return s * (1 + l * (1 - s))


def _softsign(l: Array) -> Array:
    return l / (1 + np.abs(l))


def _softsign_derivative(l: Array) -> Array:
    return 1 / (1 + np.abs(l)) ** 2


def _hard_tanh(l: Array) -> Array:
    return np.clip(l, -1, 1)


def _hard_tanh_derivative(l: Array) -> Array:
    return (np.abs(l) < 1).astype(l.dtype)


def _softmax(l: Array) -> Array:
    return special.softmax(l, axis=1)


_UNIT_INTERVAL = (0.0, 1.0)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("identity", lambda l: l, np.ones_like, 1.0),
        Activation("sigmoid", _sigmoid, _sigmoid_derivative, 0.25, _UNIT_INTERVAL),
        Activation("tanh", np.tanh, _tanh_derivative, 1.0, (-1.0, 1.0)),
        Activation(
            "relu", _relu, lambda l: _step(l, 0.0), 1.0, (0.0, math.inf),
            kinks=(Kink(0.0, 0.0, 1.0),),
        ),
        Activation(
            "leaky_relu", _leaky_relu, lambda l: _step(l, LEAKY_SLOPE), 1.0,
            kinks=(Kink(0.0, LEAKY_SLOPE, 1.0),),
        ),
        Activation("elu", _elu, _elu_derivative, 1.0, (-1.0, math.inf)),
        Activation("softplus", _softplus, _sigmoid, 1.0, (0.0, math.inf)),
        Activation("gelu", _gelu, _gelu_derivative, 1.13),
        Activation("gelu_tanh", _gelu_tanh, _gelu_tanh_derivative, 1.13),
        Activation("silu", _silu, _silu_derivative, 1.1),
        Activation("softsign", _softsign, _softsign_derivative, 1.0, (-1.0, 1.0)),
        Activation(
            "hard_tanh", _hard_tanh, _hard_tanh_derivative, 1.0, (-1.0, 1.0),
            kinks=(Kink(-1.0, 0.0, 1.0), Kink(1.0, 1.0, 0.0)),
        ),
        Activation(
            "softmax", _softmax, None, 0.25, _UNIT_INTERVAL, output_only=True
        ),
    ]
}

HIDDEN_ACTIVATIONS: tuple[str, ...] = tuple(
    name for name, a in ACTIVATIONS.items() if not a.output_only
)
