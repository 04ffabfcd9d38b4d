"""Hypothesis strategies for architectures, parameters and batches.

Hypothesis draws the shape of an example (depth ``n``, input dimension ``d``,
widths, activations, cost, batch size) and how its values are spread (a scale
and a fraction of exact zeros per layer, a seed); NumPy then fills the arrays
from that seed. Shrinking therefore removes layers and units, lowers scales and
zeroes arrays, which is what makes a failing example small and readable.

The draws reach: depth 1 to ``max_depth``; widths and ``d`` 1 to ``max_width``;
batch 1 to ``max_batch``, equal to some width or not; square layers
(``n_i = n_{i-1}``); every activation on hidden layers; every cost with an output
activation that fits it; inputs and parameters that are exactly zero (so some
pre-activations sit exactly on a kink); pre-activations of both signs and,
with the largest scale, of size 20 and more.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from manual_backprop import (
    ACTIVATIONS,
    COSTS,
    REDUCTIONS,
    Architecture,
    Example,
)
from manual_backprop.errors import check_argument

Array = np.ndarray

# The first entry of each list is the simplest, since Hypothesis shrinks towards
# it, and draws the last entry more often than the others; an entry that
# appears more than once is drawn more often. A layer with no
# weights, or a batch with no inputs, makes every gradient before it exactly 0,
# so that no fault there can show: they stay in the draws (they are legitimate
# examples) but one time in twenty, and zero fractions below 1 keep the exact
# zeros (pre-activations on a kink) without emptying whole matrices.
WEIGHT_SCALES = (1.0, 0.1, 0.5, 2.0, 8.0) * 2 + (0.0,) + (1.0, 0.1, 0.5, 2.0, 8.0) * 2
INPUT_SCALES = (1.0, 0.5, 3.0) * 3 + (0.0,) + (1.0, 0.5, 3.0) * 3
ZERO_FRACTIONS = (0.0, 0.0, 0.0, 0.6, 0.0, 0.3, 0.3)


def output_activations(cost: str, activations: Sequence[str]) -> list[str]:
    """The activations in ``activations`` that fit ``cost`` on the output layer."""
    return [name for name in activations if COSTS[cost].fits_output(name)]


def _outputs_taken(cost: str) -> str:
    """The output activations ``cost`` takes, in words: ``sigmoid or softmax``,
    or ``any output activation but softmax`` when that is shorter."""
    taken = [name for name in ACTIVATIONS if COSTS[cost].fits_output(name)]
    left_out = [name for name in ACTIVATIONS if name not in taken]
    if len(left_out) < len(taken):
        return f"any output activation but {' or '.join(left_out)}"
    return " or ".join(taken)


def _check_names(given: Sequence[str], known: Sequence[str], what: str) -> None:
    check_argument(len(given) > 0, f"no {what} given: name at least one of "
                                   f"{', '.join(known)}")
    for name in given:
        check_argument(name in known, f"{what[:-1]} {name!r} is unknown: expected "
                                      f"one of {', '.join(known)}")


def architectures(
    *,
    max_depth: int = 5,
    max_width: int = 16,
    max_d: int | None = None,
    activations: Sequence[str] = tuple(ACTIVATIONS),
    costs: Sequence[str] = tuple(COSTS),
) -> st.SearchStrategy[Architecture]:
    """Architectures of depth 1 to ``max_depth`` with widths and ``d`` from 1 to
    ``max_width`` (``max_d`` if given), hidden activations from ``activations``
    and a cost from ``costs`` with an output activation, also from
    ``activations``, that fits it (softmax is only ever drawn for the output).

    The arguments are checked here, before anything is drawn.
    """
    check_argument(max_depth >= 1, f"max_depth={max_depth}: expected at least 1")
    check_argument(max_width >= 1, f"max_width={max_width}: expected at least 1")
    _check_names(activations, tuple(ACTIVATIONS), "activations")
    _check_names(costs, tuple(COSTS), "costs")
    hidden = [name for name in activations if not ACTIVATIONS[name].output_only]
    usable = [c for c in costs if output_activations(c, activations)]
    takes = "; ".join(f"{c} takes {_outputs_taken(c)}" for c in costs)
    check_argument(
        bool(usable),
        f"none of the costs {', '.join(costs)} fits an output activation among "
        f"{', '.join(activations)} ({takes}): add one that fits to the activations",
    )
    return _architectures(max_depth, max_width, max_d or max_width, hidden,
                          activations, usable)


# The strategies drawn from inside the composite strategies below, built once:
# building and validating a strategy costs more than drawing from it.
@functools.cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


@functools.cache
def _sampled_from(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


@functools.cache
def _width(max_width: int, square: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, max_width), st.just(square))


@functools.cache
def _batch(max_batch: int, sizes: tuple[int, ...]) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, max_batch),
                     st.sampled_from([s for s in sizes if s <= max_batch] or [1]))


@st.composite
def _architectures(draw: st.DrawFn, max_depth: int, max_width: int, max_d: int,
                   hidden: list[str], activations: Sequence[str],
                   usable: list[str]) -> Architecture:
    cost = draw(_sampled_from(tuple(usable)))
    depth = draw(_integers(1, max_depth)) if hidden else 1
    d = draw(_integers(1, max_d))
    widths: list[int] = []
    previous = d
    for _ in range(depth):
        # Square layers hide transposed weight gradients, so they get their own draw.
        width = draw(_width(max_width, min(previous, max_width)))
        widths.append(width)
        previous = width
    chosen = [draw(_sampled_from(tuple(hidden))) for _ in range(depth - 1)]
    output = draw(_sampled_from(tuple(output_activations(cost, activations))))
    if output == "softmax" and cost == "binary_cross_entropy" and widths[-1] == 1:
        widths[-1] = 2  # a one-unit softmax is the constant 1: log(1 - h) is -inf
    return Architecture(d=d, widths=tuple(widths), activations=(*chosen, output),
                        cost=cost)


def with_activation(architecture_strategy: st.SearchStrategy[Architecture],
                    name: str) -> st.SearchStrategy[Architecture]:
    """Architectures from ``architecture_strategy`` with the activation ``name``
    on at least one layer: on some hidden layers and, when the cost fits it, on
    the output layer. A one-layer architecture whose cost does not fit ``name``
    gets a hidden layer of ``name`` in front of its output layer.
    """
    check_argument(name in ACTIVATIONS and not ACTIVATIONS[name].output_only,
                   f"activation {name!r}: expected one that hidden layers can take, "
                   f"among {', '.join(ACTIVATIONS)}")
    return _with_activation(architecture_strategy, name)


@st.composite
def _with_activation(draw: st.DrawFn,
                     architecture_strategy: st.SearchStrategy[Architecture],
                     name: str) -> Architecture:
    a = draw(architecture_strategy)
    widths, activations = list(a.widths), list(a.activations)
    layers = list(range(a.n - 1))
    if COSTS[a.cost].fits_output(name):
        layers.append(a.n - 1)
    if layers:
        for i in draw(st.sets(st.sampled_from(layers), min_size=1)):
            activations[i] = name
    else:
        widths.insert(0, draw(st.integers(1, max(a.sizes))))
        activations.insert(0, name)
    return Architecture(d=a.d, widths=tuple(widths), activations=tuple(activations),
                        cost=a.cost)


def _values(rng: np.random.Generator, shape: tuple[int, ...], scale: float,
            zeros: float) -> Array:
    values = rng.standard_normal(shape) * scale
    values[rng.random(shape) < zeros] = 0.0
    return values


def targets(rng: np.random.Generator, kind: str, shape: tuple[int, ...],
            one_hot: bool) -> Array:
    """Targets ``Y`` ``(batch, n_n)`` of a kind that costs take (``Cost.targets``):
    real, probabilities (rows on the simplex, one-hot or spread) or binary (0 or
    1, or soft labels)."""
    batch, n_out = shape
    if kind == "real":
        return rng.standard_normal(shape)
    if kind == "binary":
        return (rng.random(shape) < 0.5).astype(float) if one_hot else rng.random(shape)
    if one_hot:
        return np.eye(n_out)[rng.integers(0, n_out, batch)]
    return rng.dirichlet(np.ones(n_out), size=batch)


def examples(
    architecture_strategy: st.SearchStrategy[Architecture] | None = None,
    *,
    max_batch: int = 8,
    reductions: Sequence[str] = REDUCTIONS,
) -> st.SearchStrategy[Example]:
    """Examples: an architecture, parameters and a batch of 1 to ``max_batch``.

    Arrays are float64; each layer draws its own weight scale (relative to
    ``1/sqrt(n_{i-1})``) and fraction of exact zeros.
    """
    check_argument(max_batch >= 1, f"max_batch={max_batch}: expected at least 1")
    for reduction in reductions:
        check_argument(reduction in REDUCTIONS, f"reduction {reduction!r}: "
                                                f"expected one of {REDUCTIONS}")
    if architecture_strategy is None:
        architecture_strategy = architectures()
    return _examples(architecture_strategy, max_batch,
                     tuple(reductions))


@st.composite
def _examples(draw: st.DrawFn, architecture_strategy: st.SearchStrategy[Architecture],
              max_batch: int, reductions: tuple[str, ...]) -> Example:
    architecture = draw(architecture_strategy)
    sizes = architecture.sizes
    reduction = draw(_sampled_from(reductions))
    batch = draw(_batch(max_batch, sizes))
    seed = draw(_integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    weights, biases = [], []
    for i in range(architecture.n):
        scale = draw(_sampled_from(WEIGHT_SCALES)) / math.sqrt(sizes[i])
        zeros = draw(_sampled_from(ZERO_FRACTIONS))
        weights.append(_values(rng, (sizes[i + 1], sizes[i]), scale, zeros))
        bias_scale = draw(_sampled_from(WEIGHT_SCALES))
        biases.append(_values(rng, (sizes[i + 1],), bias_scale, zeros))
    X = _values(rng, (batch, sizes[0]), draw(_sampled_from(INPUT_SCALES)),
                draw(_sampled_from(ZERO_FRACTIONS)))
    Y = targets(rng, COSTS[architecture.cost].targets, (batch, sizes[-1]),
                draw(st.booleans()))
    return Example(architecture, weights, biases, X, Y, reduction=reduction)
