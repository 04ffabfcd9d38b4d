"""An extended-precision arbiter: gradients of ``J`` from mpmath, for small
networks, to settle which side of a disagreement is right.

``J`` is evaluated with ``digits`` significant decimal digits (40 by default) and
each entry of ``dJ/dw_i`` and ``dJ/db_i`` is a central difference with step
``10^(-digits/2)``: its truncation and rounding errors are both near
``10^(-digits/2)`` relative, far below float64's rounding, so against float64
code the arbiter is as good as exact. A difference across a kink is the mean of
the one-sided slopes; entries whose step crosses a kink are reported in
``across_kink``. The forward pass is this module's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from manual_backprop import Example, Gradients

Array = np.ndarray
mpf = mpmath.mpf
Mp = Any  # an mpmath number; mpmath ships no type hints


def _sigmoid(x: Mp) -> Mp:
    return 1 / (1 + mpmath.exp(-x))


_ACTIVATIONS: dict[str, Callable[[Mp], Mp]] = {
    "identity": lambda x: x,
    "sigmoid": _sigmoid,
    "tanh": mpmath.tanh,
    "relu": lambda x: x if x > 0 else mpf(0),
    "leaky_relu": lambda x: x if x > 0 else mpf(0.01) * x,
    "elu": lambda x: x if x > 0 else mpmath.expm1(x),
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
    "gelu": lambda x: x * mpmath.ncdf(x),
    "gelu_tanh": lambda x: x / 2 * (1 + mpmath.tanh(
        mpmath.sqrt(2 / mpmath.pi) * (x + mpf(0.044715) * x**3))),
    "silu": lambda x: x * _sigmoid(x),
    "softsign": lambda x: x / (1 + abs(x)),
    "hard_tanh": lambda x: max(mpf(-1), min(mpf(1), x)),
}
_KINKS = {"relu": (0,), "leaky_relu": (0,), "hard_tanh": (-1, 1)}


def _softmax(row: list[Mp]) -> list[Mp]:
    top = max(row)
    e = [mpmath.exp(x - top) for x in row]
    total = mpmath.fsum(e)
    return [x / total for x in e]


_COSTS = ("half_sse", "mse", "cross_entropy", "binary_cross_entropy",
          "softmax_cross_entropy")


def _per_sample_cost(cost: str, h: list[Mp], y: list[Mp]) -> Mp:
    if cost == "half_sse":
        return mpmath.fsum((a - b) ** 2 for a, b in zip(h, y)) / 2
    if cost == "mse":
        return mpmath.fsum((a - b) ** 2 for a, b in zip(h, y)) / len(h)
    if cost == "cross_entropy":
        return -mpmath.fsum(b * mpmath.log(a) for a, b in zip(h, y) if b != 0)
    if cost == "binary_cross_entropy":
        return -mpmath.fsum((b * mpmath.log(a) if b != 0 else 0)
                            + ((1 - b) * mpmath.log(1 - a) if b != 1 else 0)
                            for a, b in zip(h, y))
    top = max(h)
    log_total = top + mpmath.log(mpmath.fsum(mpmath.exp(a - top) for a in h))
    return -mpmath.fsum(b * (a - log_total) for a, b in zip(h, y))


@dataclass
class ArbiterResult(Gradients):
    """Gradients from the arbiter, and which entries' steps crossed a kink."""

    across_kink: list[tuple[str, int, tuple[int, ...]]] | None = None


class ExtendedPrecisionOracle:
    """mpmath gradients for networks of at most ``parameter_limit`` parameters."""

    name = "mpmath"
    version = f"mpmath {mpmath.__version__}"

    def __init__(self, digits: int = 40, parameter_limit: int = 800) -> None:
        self.digits = digits
        self.parameter_limit = parameter_limit

    def can_judge(self, example: Example) -> bool:
        """Whether ``example`` is small enough for the arbiter, and made of the
        activations and cost it has its own definitions of (a user's, under
        check, it has not)."""
        a = example.architecture
        known = all(name in _ACTIVATIONS or name == "softmax"
                    for name in a.activations) and a.cost in _COSTS
        return known and a.n_parameters <= self.parameter_limit

    def compute(self, example: Example) -> ArbiterResult:
        """``J``, ``dJ/dw_i`` and ``dJ/db_i`` of ``example`` to about
        ``digits / 2`` significant digits, returned in float64."""
        with mpmath.workdps(self.digits):
            return self._compute(example)

    def _compute(self, example: Example) -> ArbiterResult:
        a = example.architecture
        weights = [[[mpf(float(v)) for v in row] for row in w] for w in example.weights]
        biases = [[mpf(float(v)) for v in b] for b in example.biases]
        X = [[mpf(float(v)) for v in row] for row in example.X]
        Y = [[mpf(float(v)) for v in row] for row in example.Y]
        scale = mpf(1) / example.batch if example.reduction == "mean" else mpf(1)
        step = mpf(10) ** (-(self.digits // 2))

        def cost() -> tuple[Mp, list[list[int]]]:
            """``J`` and the kink side of every kinked pre-activation."""
            total, sides = mpf(0), []
            for x, y in zip(X, Y):
                f = x
                for w, b, name in zip(weights, biases, a.activations):
                    l = [mpmath.fsum(wj * fj for wj, fj in zip(row, f)) + bi
                         for row, bi in zip(w, b)]
                    for k in _KINKS.get(name, ()):
                        sides.append([int(mpmath.sign(v - k)) for v in l])
                    f = _softmax(l) if name == "softmax" else [
                        _ACTIVATIONS[name](v) for v in l]
                total += _per_sample_cost(a.cost, f, y)
            return total * scale, sides

        def derivative(values: list[Mp], index: int, label: tuple) -> float:
            saved = values[index]
            values[index] = saved + step
            up, up_sides = cost()
            values[index] = saved - step
            down, down_sides = cost()
            values[index] = saved
            if up_sides != down_sides:
                across.append(label)
            return float((up - down) / (2 * step))

        across: list[tuple[str, int, tuple[int, ...]]] = []
        dJ_dw, dJ_db = [], []
        for i, (w, b) in enumerate(zip(weights, biases)):
            grad_w = np.array([[derivative(row, k, ("w", i + 1, (j, k)))
                                for k in range(len(row))] for j, row in enumerate(w)])
            grad_b = np.array([derivative(b, j, ("b", i + 1, (j,)))
                               for j in range(len(b))])
            dJ_dw.append(grad_w.reshape(example.weights[i].shape))
            dJ_db.append(grad_b)
        return ArbiterResult(dJ_dw=dJ_dw, dJ_db=dJ_db, J=float(cost()[0]),
                             across_kink=across)
