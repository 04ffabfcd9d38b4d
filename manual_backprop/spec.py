"""The architecture spec and one example: parameters and a batch, validated.

Shapes follow the rows layout: ``X`` is ``(batch, d)``, ``weights[i]`` is
``(n_{i+1}, n_i)`` (0-based, so ``weights[0]`` is ``w_1``), ``biases[i]`` is
``(n_{i+1},)`` and ``Y`` is ``(batch, n_n)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from manual_backprop.activations import ACTIVATIONS
from manual_backprop.costs import COSTS
from manual_backprop.errors import check_argument

Array = np.ndarray
REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")


def _names(known: Iterable[str]) -> str:
    return ", ".join(known)


@dataclass(frozen=True)
class Architecture:
    """Depth ``n``, input dimension ``d``, widths ``n_1..n_n``, one ``f_i`` per
    layer and a cost ``J``. Checked on construction."""

    d: int
    widths: tuple[int, ...]
    activations: tuple[str, ...]
    cost: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "activations", tuple(self.activations))
        check_argument(
            isinstance(self.d, int | np.integer) and self.d >= 1,
            f"input dimension d={self.d!r}: expected an integer >= 1",
        )
        check_argument(
            len(self.widths) >= 1,
            "widths=(): expected at least one layer (the output layer n_n)",
        )
        for i, width in enumerate(self.widths, start=1):
            check_argument(
                isinstance(width, int | np.integer) and width >= 1,
                f"width n_{i}={width!r}: expected an integer >= 1 for layer {i}",
            )
        check_argument(
            len(self.activations) == len(self.widths),
            f"activations has {len(self.activations)} names for "
            f"{len(self.widths)} layers: give one activation f_i per layer",
        )
        for i, name in enumerate(self.activations, start=1):
            check_argument(
                name in ACTIVATIONS,
                f"activation f_{i}={name!r} is unknown: expected one of "
                f"{_names(ACTIVATIONS)}",
            )
            check_argument(
                not ACTIVATIONS[name].output_only or i == self.n,
                f"activation f_{i}={name!r} is only allowed on the output layer "
                f"(layer {self.n}); choose another activation for layer {i}",
            )
        check_argument(
            self.cost in COSTS,
            f"cost {self.cost!r} is unknown: expected one of {_names(COSTS)}",
        )
        cost = COSTS[self.cost]
        check_argument(
            cost.fits_output(self.activations[-1]),
            f"cost {self.cost!r} does not fit the output activation "
            f"f_{self.n}={self.activations[-1]!r}: it expects one of "
            f"{_names(sorted(cost.fits or ()))}",
        )

    @property
    def n(self) -> int:
        """Depth: the number of layers; layer ``n`` is the output layer."""
        return len(self.widths)

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(n_0 = d, n_1, ..., n_n)``."""
        return (int(self.d), *map(int, self.widths))

    @property
    def n_parameters(self) -> int:
        """How many weights and biases the network has."""
        s = self.sizes
        return sum(s[i + 1] * (s[i] + 1) for i in range(self.n))

    def describe(self) -> str:
        """A one-line summary: ``d=3 -> 4 tanh -> 2 softmax | cross_entropy``."""
        layers = " -> ".join(
            f"{w} {a}" for w, a in zip(self.widths, self.activations, strict=True)
        )
        return f"d={self.d} -> {layers} | {self.cost}"


def _check_array(value: object, name: str, shape: tuple[int, ...]) -> Array:
    check_argument(
        isinstance(value, np.ndarray),
        f"{name}: expected a numpy array of shape {shape}, "
        f"got {type(value).__name__}",
    )
    assert isinstance(value, np.ndarray)
    check_argument(
        value.shape == shape,
        f"{name} has shape {value.shape}: expected {shape}",
    )
    check_argument(
        np.issubdtype(value.dtype, np.floating),
        f"{name} has dtype {value.dtype}: expected float64 or float32",
    )
    check_argument(
        bool(np.all(np.isfinite(value))),
        f"{name} holds NaN or infinity: expected finite values; "
        "clean the data or draw new parameters",
    )
    return value


@dataclass
class Example:
    """One architecture, one set of parameters and one batch.

    The arrays are kept in float64; the code under test receives them cast to
    the dtype being checked. ``label`` names the example in messages.
    """

    architecture: Architecture
    weights: list[Array]
    biases: list[Array]
    X: Array
    Y: Array
    reduction: str = "mean"
    label: str = field(default="example")

    def __post_init__(self) -> None:
        a = self.architecture
        s = a.sizes
        check_argument(
            self.reduction in REDUCTIONS,
            f"reduction {self.reduction!r}: expected one of {_names(REDUCTIONS)}",
        )
        check_argument(
            len(self.weights) == a.n and len(self.biases) == a.n,
            f"{len(self.weights)} weight and {len(self.biases)} bias arrays for "
            f"{a.n} layers: expected {a.n} of each",
        )
        for i in range(a.n):
            _check_array(self.weights[i], f"w_{i + 1}", (s[i + 1], s[i]))
            _check_array(self.biases[i], f"b_{i + 1}", (s[i + 1],))
        X = self.X
        check_argument(
            isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] >= 1,
            f"X: expected an array of shape (batch, d={a.d}) with batch >= 1, "
            f"got {getattr(X, 'shape', type(X).__name__)}",
        )
        _check_array(X, "X", (X.shape[0], a.d))
        _check_array(self.Y, "Y", (X.shape[0], s[-1]))
        low, high = COSTS[a.cost].y_range
        check_argument(
            bool(np.all((self.Y >= low) & (self.Y <= high))),
            f"Y has values outside [{low}, {high}], which cost {a.cost!r} "
            "expects of its targets",
        )

    @property
    def batch(self) -> int:
        return int(self.X.shape[0])

    def cast(
        self, dtype: str | np.dtype
    ) -> tuple[list[Array], list[Array], Array, Array]:
        """Copies of ``weights``, ``biases``, ``X``, ``Y`` in ``dtype``."""
        return (
            [w.astype(dtype) for w in self.weights],
            [b.astype(dtype) for b in self.biases],
            self.X.astype(dtype),
            self.Y.astype(dtype),
        )
