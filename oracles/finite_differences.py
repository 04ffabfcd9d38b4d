"""Central finite differences of ``J`` as an oracle, in float64, with error estimates.

Each probe is a directional derivative ``dJ/dtheta . v``, estimated from central
differences at steps ``s``, ``s/2`` and ``s/4``. The reported value is the
Richardson extrapolation of the first two; its error estimate is the spread of
the three estimates plus a rounding floor ``c u |J| / s``. A probe along which a
kinked unit (``relu``, ``leaky_relu``, ``hard_tanh``) changes side of its kink
is marked, since a difference quotient across a kink is no derivative.

Small networks get one probe per parameter entry; larger ones, per layer, a
random direction in ``w_i`` and one in ``b_i``, plus random directions over all
parameters. Probes are evaluated in batches, each starting from the layer it
perturbs, with the number of perturbed networks per batch bounded so that the
stacked activations stay within a memory budget.

The forward pass here is this module's own, written with SciPy's special
functions, and shares nothing with the manual backprop; only a user's activation
or cost under check, which has no other definition, is taken as the user wrote
it (see :func:`_activation`).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from manual_backprop import ACTIVATIONS, COSTS, Example
from manual_backprop._lazy import lazy_module

special = lazy_module("scipy.special")  # imported when first used

Array = np.ndarray
# A direction in parameter space: arrays shaped like the weights and the biases,
# None where the direction is zero (a direction confined to one layer).
Direction = tuple[list[Array | None], list[Array | None]]
# The parameters of layer k of a stack of networks: the weights and the biases,
# each with a leading axis of stacked networks or, shared by every network of
# the stack, without it.
LayerParameters = Callable[[int], tuple[Array, Array]]
_U = float(np.finfo(np.float64).eps) / 2
_STEP = float(np.cbrt(_U))
_OFFSETS = np.array([1.0, -1.0, 0.5, -0.5, 0.25, -0.25])
_COMPLEX_STEP = 1e-100


def _softmax(l: Array) -> Array:
    return special.softmax(l, axis=-1)


_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "identity": lambda l: l,
    "sigmoid": lambda l: special.expit(l),
    "tanh": np.tanh,
    "relu": lambda l: np.maximum(l, 0.0),
    "leaky_relu": lambda l: np.where(l > 0, l, 0.01 * l),
    "elu": lambda l: np.where(l > 0, l, np.expm1(np.minimum(l, 0.0))),
    "softplus": lambda l: np.logaddexp(0.0, l),
    "gelu": lambda l: l * special.ndtr(l),
    "gelu_tanh": lambda l: 0.5 * l * (
        1 + np.tanh(np.sqrt(2 / np.pi) * (l + 0.044715 * l**3))
    ),
    "silu": lambda l: l * special.expit(l),
    "softsign": lambda l: l / (1 + np.abs(l)),
    "hard_tanh": lambda l: np.clip(l, -1.0, 1.0),
    "softmax": _softmax,
}

def _sigmoid(z: Array) -> Array:
    """``1 / (1 + exp(-z))`` without overflow, for real or complex ``z``."""
    e = np.exp(-np.abs(z.real) + 1j * np.where(z.real >= 0, -z.imag, z.imag)) \
        if np.iscomplexobj(z) else np.exp(-np.abs(z))
    return np.where(z.real >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z: Array) -> Array:
    """``log(1 + exp(z))`` without overflow, for real or complex ``z``."""
    e = np.exp(-np.abs(z.real) + 1j * np.where(z.real > 0, -z.imag, z.imag)) \
        if np.iscomplexobj(z) else np.exp(-np.abs(z))
    return np.where(z.real > 0, z, 0) + np.log1p(e)


def _complex_softmax(z: Array) -> Array:
    e = np.exp(z - np.max(z.real, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


# The same functions for complex arguments, analytic on each piece, choosing the
# piece by the real part (at a kink, the piece of the smaller slope).
_COMPLEX_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "identity": lambda z: z,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.where(z.real > 0, z, 0),
    "leaky_relu": lambda z: np.where(z.real > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z.real > 0, z, np.expm1(np.where(z.real > 0, 0, z))),
    "softplus": _softplus,
    "gelu": lambda z: 0.5 * z * (1 + special.erf(z / np.sqrt(2))),
    "gelu_tanh": _ACTIVATIONS["gelu_tanh"],
    "silu": lambda z: z * _sigmoid(z),
    "softsign": lambda z: z / (1 + np.where(z.real >= 0, z, -z)),
    "hard_tanh": lambda z: np.where(z.real >= 1, 1, np.where(z.real <= -1, -1, z)),
    "softmax": _complex_softmax,
}

_COSTS: dict[str, Callable[[Array, Array], Array]] = {
    "half_sse": lambda h, y: 0.5 * np.sum((h - y) ** 2, axis=-1),
    "mse": lambda h, y: np.mean((h - y) ** 2, axis=-1),
    "cross_entropy": lambda h, y: -np.sum(special.xlogy(y, h), axis=-1),
    "binary_cross_entropy": lambda h, y: -np.sum(
        special.xlogy(y, h) + special.xlog1py(1 - y, -h), axis=-1
    ),
    "softmax_cross_entropy": lambda h, y: -np.sum(y * _log_softmax(h), axis=-1),
}


def _activation(name: str, complex_step: bool = False) -> Callable[[Array], Array]:
    """This module's own ``f`` called ``name``; for a user's activation (registered
    for ``gradproof check-activation``) the user's own ``f``, the one definition
    there is. The check passes ``complex_step`` only when the user's ``f`` takes
    complex input."""
    table = _COMPLEX_ACTIVATIONS if complex_step else _ACTIVATIONS
    return table[name] if name in table else ACTIVATIONS[name].forward


def _per_sample_cost(name: str) -> Callable[[Array, Array], Array]:
    """This module's own per-sample cost called ``name``; for a user's cost
    (registered for ``gradproof check-cost``, which makes it take leading stack
    axes) the user's own ``J``."""
    return _COSTS[name] if name in _COSTS else COSTS[name].per_sample


def _log_sum_exp(l: Array, keepdims: bool = False) -> Array:
    """``log sum_k exp(l_k)`` over the last axis, accurate when one term dominates.

    After shifting by the largest term, that term is ``exp(0) = 1`` and the
    others, ``rest``, go through ``log1p``: a probability near 1 keeps its
    digits in ``log h``.
    """
    top, rest = _largest_and_rest(l)
    result = top + np.log1p(rest)
    return result if keepdims else result[..., 0]


def _largest_and_rest(l: Array) -> tuple[Array, Array]:
    """The largest term ``l_j`` (by real part) over the last axis and
    ``rest = sum_{k != j} exp(l_k - l_j)``, both with the axis kept.

    For a complex step, ``l_j - l_j`` is 0 and drops the step's imaginary part,
    so ``rest`` is taken relative to the real part of ``l_j`` and the largest
    term adds ``expm1`` of its own imaginary part.
    """
    j = np.argmax(l.real, axis=-1)[..., None]
    top = np.take_along_axis(l.real, j, axis=-1)
    shifted = np.where(np.isfinite(top), l - top, -np.inf)
    largest = np.take_along_axis(shifted, j, axis=-1)
    np.put_along_axis(shifted, j, -np.inf, axis=-1)
    rest = np.sum(np.exp(shifted), axis=-1, keepdims=True) + np.expm1(largest)
    return top, rest


def _log_softmax(l: Array) -> Array:
    return l - _log_sum_exp(l, keepdims=True)


def _log_probabilities(output: str, l: Array, with_rest: bool
                       ) -> tuple[Array, Array | None] | None:
    """``log h`` and, if ``with_rest``, ``log(1 - h)``, computed from ``l_n``
    without rounding ``h``.

    Near 0 or 1 a probability loses its digits once rounded; from the
    pre-activation, ``log sigmoid(l) = -softplus(-l)`` keeps them. For softmax,
    only the largest output ``s_j`` can be near 1: the others are at most 1/2,
    where ``log1p(-s_k)`` is accurate, and ``1 - s_j = r / (1 + r)`` with
    ``r = sum_{k != j} exp(l_k - l_j)``.
    """
    if output == "sigmoid":
        return -_softplus(-l), -_softplus(l) if with_rest else None
    if output != "softmax":
        return None
    log_h = _log_softmax(l)
    if not with_rest:
        return log_h, None
    j = np.argmax(l.real, axis=-1)[..., None]
    shifted = l - np.take_along_axis(l, j, axis=-1)
    np.put_along_axis(shifted, j, -np.inf, axis=-1)
    log_r = _log_sum_exp(shifted, keepdims=True)  # r itself may underflow
    with np.errstate(divide="ignore"):
        log_rest = np.log1p(-np.exp(log_h))
    np.put_along_axis(log_rest, j, log_r - np.log1p(np.exp(log_r)), axis=-1)
    return log_h, log_rest


def _log_cost(cost: str, log_h: Array, log_rest: Array | None, y: Array
              ) -> Array | None:
    """The per-sample cost from log-probabilities, for the costs that take logs."""
    if cost == "cross_entropy":
        return -np.sum(np.where(y != 0, y * log_h, 0.0), axis=-1)
    if cost == "binary_cross_entropy":
        assert log_rest is not None
        terms = (np.where(y != 0, y * log_h, 0.0)
                 + np.where(y != 1, (1 - y) * log_rest, 0.0))
        return -np.sum(terms, axis=-1)
    return None


@dataclass
class EntryProbes:
    """One probe per entry of ``w_i`` (``parameter="w"``) or ``b_i`` (``"b"``).

    ``estimate``, ``error`` and ``across_kink`` are shaped like the parameter.
    """

    layer: int
    parameter: str
    estimate: Array
    error: Array
    across_kink: Array


@dataclass
class DirectionProbes:
    """Probes along explicit directions; ``layer`` is 0 when they span all layers.

    ``directions[p]`` is ``(v_w, v_b)``, two lists shaped like the weights and
    biases (``None`` outside the probed layer); ``sizes`` are the sizes of the
    weights then of the biases; the other fields are ``(probes,)``.
    """

    layer: int
    parameter: str
    directions: list[Direction]
    estimate: Array
    error: Array
    across_kink: Array
    sizes: tuple[int, ...]

    def project(self, gradient: Array) -> Array:
        """``g . v`` for each direction ``v``, what the estimate should equal;
        ``gradient`` is flattened by :func:`flat_parameters`."""
        return self._dot(gradient, absolute=False)

    def bound(self, tolerance: Array) -> Array:
        """``|v| . t`` for each direction ``v``: how far an error of at most
        ``tolerance`` (flattened) in every entry can move ``g . v``."""
        return self._dot(np.abs(tolerance), absolute=True)

    def _dot(self, flat: Array, absolute: bool) -> Array:
        ends = np.cumsum(self.sizes)
        products = np.zeros(len(self.directions))
        for p, (v_w, v_b) in enumerate(self.directions):
            for v, end, size in zip([*v_w, *v_b], ends, self.sizes, strict=True):
                if v is not None:
                    v = np.abs(v) if absolute else v
                    products[p] += v.ravel() @ flat[end - size:end]
        return products


def flat_parameters(weights: list[Array], biases: list[Array]) -> Array:
    """Every entry of ``weights`` then of ``biases``, as one vector."""
    return np.concatenate([np.ravel(a) for a in (*weights, *biases)])


@dataclass
class FiniteDifferenceResult:
    """The finite-difference oracle's answer: ``J`` and its probes."""

    J: float
    outputs: list[Array]
    entries: list[EntryProbes] = field(default_factory=list)
    directions: list[DirectionProbes] = field(default_factory=list)


class FiniteDifferenceOracle:
    """Central differences with Richardson extrapolation and kink detection.

    ``entrywise_limit``: networks with at most this many parameters get one
    probe per entry. ``random_directions``: probes over all parameters for
    larger networks. ``memory_budget``: bytes of stacked activations per batch.
    """

    name = "fd"
    version = f"numpy {np.__version__}, scipy {importlib.metadata.version('scipy')}"
    complex_step = False

    def __init__(
        self,
        entrywise_limit: int = 600,
        random_directions: int = 4,
        memory_budget: int = 64 * 2**20,
        seed: int = 0,
    ) -> None:
        self.entrywise_limit = entrywise_limit
        self.random_directions = random_directions
        self.memory_budget = memory_budget
        self.seed = seed

    def compute(self, example: Example) -> FiniteDifferenceResult:
        """Probes of ``dJ/dw_i`` and ``dJ/db_i`` for ``example``."""
        run = _Run(example, self.memory_budget, self.complex_step)
        result = FiniteDifferenceResult(J=run.J, outputs=run.f)
        if example.architecture.n_parameters <= self.entrywise_limit:
            for i in range(example.architecture.n):
                result.entries.extend(run.entry_probes(i))
            return result

        rng = np.random.default_rng(self.seed)
        groups = [(i + 1, parameter, [run.random_direction(rng, i, parameter)])
                  for i in range(example.architecture.n) for parameter in ("w", "b")]
        groups.append((0, "all", [run.random_direction(rng)
                                  for _ in range(self.random_directions)]))
        result.directions.extend(run.direction_probes(groups))
        return result


class ComplexStepOracle(FiniteDifferenceOracle):
    """Complex-step differentiation: ``Im J(theta + i s v) / s`` with ``s = 1e-100``.

    No difference is taken, so nothing cancels: each probe is good to a few
    units of roundoff of its terms, and its error estimate says so. Every
    activation is analytic on each of its pieces, and the piece is chosen by the
    real part, so at a kink this takes the smaller slope like every reference;
    probes that move a pre-activation sitting exactly on a kink are marked.
    """

    name = "cs"
    complex_step = True


class _Run:
    """The forward passes of one example, kept so probes can start mid-network."""

    def __init__(self, example: Example, memory_budget: int,
                 complex_step: bool = False) -> None:
        self.complex_step = complex_step
        self.example = example
        self.architecture = example.architecture
        self.memory_budget = memory_budget
        self.scale = 1.0 / example.batch if example.reduction == "mean" else 1.0
        self.f = [example.X]
        for w, b, name in zip(example.weights, example.biases,
                              self.architecture.activations):
            l = self.f[-1] @ w.T + b
            self.f.append(_activation(name)(l))
        self.J = float(self._cost(l, self.f[-1]))
        # Rounding in J scales with the terms it is computed from, not with J:
        # a cost near 0 can come from outputs and pre-activations of size 10.
        h, y = self.f[-1], example.Y
        self.term_size = abs(self.J) + self.scale * float(
            np.sum((np.abs(y) + np.abs(h)) * (1 + np.abs(l)) + np.abs(h - y) ** 2))

    def _cost(self, l: Array, h: Array) -> Array:
        """``J`` from the output layer's ``l_n`` and ``h = f_n(l_n)``."""
        a, y = self.architecture, self.example.Y
        per_sample = None
        if a.cost in ("cross_entropy", "binary_cross_entropy"):
            logs = _log_probabilities(a.activations[-1], l,
                                      a.cost == "binary_cross_entropy")
            if logs is not None:
                per_sample = _log_cost(a.cost, *logs, y)
        if per_sample is None:
            per_sample = _per_sample_cost(a.cost)(h, y)
        return np.sum(per_sample, axis=-1) * self.scale

    def _costs_from(self, layer: int, parameters: LayerParameters, stack: int
                    ) -> tuple[Array, Array]:
        """``J`` of ``stack`` networks that differ from layer ``layer`` on.

        ``parameters(k)`` gives each layer's parameters when it is reached, so
        that only one layer of the stack is held at a time. Returns ``J``
        ``(stack,)`` and the kink side of every kinked unit, ``(stack, units)``,
        as -1, 0 or 1.
        """
        f = self.f[layer]
        sides = []
        for k in range(layer, self.architecture.n):
            w, b = parameters(k)
            l = f @ np.swapaxes(w, -1, -2) + b[..., None, :]
            activation = ACTIVATIONS[self.architecture.activations[k]]
            for kink in activation.kinks:
                side = np.sign(l.real - kink.at)
                if self.complex_step:
                    # On the kink and moved by the step: 2. The step also moves
                    # real parts, by its square (1e-200), far below any data.
                    on_kink = np.abs(l.real - kink.at) < 1e-150
                    side = np.where(on_kink & (l.imag != 0), 2, side)
                side = np.broadcast_to(side, (stack, *l.shape[-2:]))
                sides.append(side.reshape(stack, -1))
            f = _activation(activation.name, self.complex_step)(l)
        J = np.broadcast_to(self._cost(l, f), (stack,))
        side = np.concatenate(sides, axis=1) if sides else np.zeros((stack, 0))
        return J, side

    def _stack_size(self, layer: int) -> int:
        """How many perturbed networks one batch may hold."""
        widest = max(self.architecture.sizes[layer:])
        per_network = 8 * self.example.batch * widest * 3 + 8 * widest * widest
        return max(1, self.memory_budget // per_network)

    def _differences(self, layer: int, perturb: Callable[[Array, Array], tuple],
                     count: int) -> tuple[Array, Array, Array]:
        """Estimates, error estimates and kink flags for ``count`` probes.

        ``perturb(indices, offsets)`` returns the parameters of the stacked
        networks (:data:`LayerParameters`, for the layers from ``layer`` on),
        with probes ``indices`` moved by each of ``offsets`` times their step
        (offset-major: every probe at the first offset, then every probe at the
        second, ...); it also returns the steps, ``(len(indices),)``. All offsets
        of a chunk of probes go through the network as one stack.
        """
        if self.complex_step:
            return self._complex_steps(layer, perturb, count)
        estimate = np.empty(count)
        error = np.empty(count)
        across = np.zeros(count, dtype=bool)
        chunk = max(1, self._stack_size(layer) // len(_OFFSETS))
        for start in range(0, count, chunk):
            indices = np.arange(start, min(count, start + chunk))
            parameters, steps = perturb(indices, _OFFSETS)
            J, side = self._costs_from(layer, parameters,
                                       len(_OFFSETS) * len(indices))
            v = J.reshape(len(_OFFSETS), len(indices))
            d1 = (v[0] - v[1]) / (2 * steps)
            d2 = (v[2] - v[3]) / steps
            d4 = (v[4] - v[5]) / (steps / 2)
            estimate[indices] = (4 * d2 - d1) / 3
            rounding = 64 * _U * (self.term_size + np.max(np.abs(v), axis=0)) / steps
            error[indices] = 2 * np.maximum(np.abs(d1 - d2), np.abs(d2 - d4)) + rounding
            side = side.reshape(len(_OFFSETS), len(indices), -1)
            across[indices] = np.any(side != side[:1], axis=(0, 2))
        return estimate, error, across

    def _complex_steps(self, layer: int, perturb: Callable[[Array, Array], tuple],
                       count: int) -> tuple[Array, Array, Array]:
        """Complex-step estimates: one complex evaluation per probe."""
        estimate = np.empty(count)
        across = np.zeros(count, dtype=bool)
        chunk = max(1, self._stack_size(layer) // 2)
        for start in range(0, count, chunk):
            indices = np.arange(start, min(count, start + chunk))
            parameters, steps = perturb(indices, np.array([_COMPLEX_STEP * 1j]))
            J, side = self._costs_from(layer, parameters, len(indices))
            estimate[indices] = J.imag / (_COMPLEX_STEP * steps)
            across[indices] = np.any(side == 2, axis=1)
        scale = np.max(np.abs(estimate), initial=0.0)
        error = 256 * _U * (np.abs(estimate) + scale) + np.finfo(np.float64).tiny
        return estimate, error, across

    def entry_probes(self, layer: int) -> tuple[EntryProbes, EntryProbes]:
        """One probe per entry of ``w_{layer+1}`` and of ``b_{layer+1}``."""
        ex = self.example
        w, b = ex.weights[layer], ex.biases[layer]
        flat = np.concatenate([w.ravel(), b])

        def perturb(indices: Array, offsets: Array) -> tuple:
            steps = _STEP * np.maximum(1.0, np.abs(flat[indices]))
            stack = len(offsets) * len(indices)
            start = flat.astype(np.result_type(flat, offsets))
            stacked = np.repeat(start[None, :], stack, axis=0)
            stacked[np.arange(stack), np.tile(indices, len(offsets))] += (
                offsets[:, None] * steps).ravel()

            def parameters(k: int) -> tuple[Array, Array]:
                if k > layer:
                    return ex.weights[k], ex.biases[k]
                moved_w = stacked[:, : w.size].reshape(stack, *w.shape)
                return moved_w, stacked[:, w.size:]

            return parameters, steps

        estimate, error, across = self._differences(layer, perturb, flat.size)
        return tuple(  # type: ignore[return-value]
            EntryProbes(layer + 1, parameter, estimate[part].reshape(shape),
                        error[part].reshape(shape), across[part].reshape(shape))
            for parameter, part, shape in (("w", slice(0, w.size), w.shape),
                                           ("b", slice(w.size, None), b.shape)))

    def random_direction(self, rng: np.random.Generator, layer: int | None = None,
                         parameter: str = "all") -> Direction:
        """A random unit-scale direction, confined to one parameter if asked."""
        ex = self.example
        v_w: list[Array | None] = [None] * self.architecture.n
        v_b: list[Array | None] = [None] * self.architecture.n
        for i in range(self.architecture.n):
            if layer is None or (layer == i and parameter == "w"):
                v_w[i] = rng.standard_normal(ex.weights[i].shape)
            if layer is None or (layer == i and parameter == "b"):
                v_b[i] = rng.standard_normal(ex.biases[i].shape)
        chosen = [v for v in (*v_w, *v_b) if v is not None]
        norm = np.sqrt(sum(np.sum(v * v) for v in chosen))
        for v in chosen:
            v /= norm
        return v_w, v_b

    def direction_probes(self, groups: list[tuple[int, str, list[Direction]]]
                         ) -> list[DirectionProbes]:
        """Probes along the directions of each group ``(layer, parameter,
        directions)`` (``layer`` 1-based, 0 for all layers), all evaluated as
        one stack from the first layer."""
        ex = self.example
        directions = [v for _, _, group in groups for v in group]
        size = max(1.0, *(float(np.max(np.abs(w))) for w in ex.weights),
                   *(float(np.max(np.abs(b))) for b in ex.biases))

        def perturb(indices: Array, offsets: Array) -> tuple:
            steps = np.full(len(indices), _STEP * size)
            moves = [(o * s, directions[p]) for o in offsets
                     for p, s in zip(indices, steps)]

            def parameters(k: int) -> tuple[Array, Array]:
                return (_moved(ex.weights[k], [(m, v_w[k]) for m, (v_w, _) in moves]),
                        _moved(ex.biases[k], [(m, v_b[k]) for m, (_, v_b) in moves]))

            return parameters, steps

        estimate, error, across = self._differences(0, perturb, len(directions))
        sizes = tuple(a.size for a in (*ex.weights, *ex.biases))
        probes, start = [], 0
        for layer, parameter, group in groups:
            part = slice(start, start + len(group))
            probes.append(DirectionProbes(layer, parameter, group, estimate[part],
                                          error[part], across[part], sizes))
            start += len(group)
        return probes


def _moved(a: Array, moves: list[tuple[complex, Array | None]]) -> Array:
    """``a + m v`` for each move ``(m, v)``, stacked; ``a`` itself, shared by
    the whole stack, when no move changes it (``v`` is None: zero)."""
    if all(v is None for _, v in moves):
        return a
    stacked = np.empty((len(moves), *a.shape), dtype=np.result_type(a, moves[0][0]))
    for j, (m, v) in enumerate(moves):
        stacked[j] = a
        if v is not None:
            stacked[j] += m * v
    return stacked
