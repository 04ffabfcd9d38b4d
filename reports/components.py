"""A user's activation or cost, checked on its own and inside generated networks:
``gradproof check-activation MODULE:NAME`` and ``gradproof check-cost MODULE:NAME``.

The contract
------------
An **activation** is an object or module with

- ``f(l)``: the activation, elementwise on a float NumPy array ``l`` of any
  shape, returning an array of the same shape;
- ``derivative(l)``: ``f'(l)``, elementwise, the same shape;
- optionally ``kinks``: the floats where ``f`` is continuous but not
  differentiable (``(0.0,)`` for relu); on a kink any slope between the
  one-sided ones is accepted, as for the built-in relu;
- optionally ``name``, for messages (by default the NAME of the target).

A **cost** is an object or module with

- ``J(h, y)``: the per-sample cost ``(batch,)`` of ``h`` and ``y`` shaped
  ``(batch, n_n)``: each sample's own cost, which does not depend on the other
  samples (the batch mean or sum is gradproof's, ``--reduction``);
- ``derivative(h, y)``: ``dJ_sample/dh``, ``(batch, n_n)``;
- optionally ``targets``: how ``Y`` is drawn, ``"real"`` (the default),
  ``"probabilities"`` (each row on the simplex, one-hot or spread) or
  ``"binary"`` (each entry in ``[0, 1]``: 0 or 1, or a soft label);
- optionally ``outputs``: the built-in activations the output layer may take,
  which make ``h`` what ``J`` expects; by default any for real targets, and
  ``("sigmoid", "softmax")`` for probabilities and binary targets;
- optionally ``name``.

Every function gets float arrays in the dtype checked (``--dtype``) and must
return float arrays; it must not change its arguments in place, nor return NaN
where its input is finite.

The check
---------
Two levels, in one campaign and one report:

1. Elementwise (example 0): the derivative against the slope of the user's own
   ``f`` or ``J``, measured at chosen points (0, tiny and large magnitudes,
   the neighbourhood of each kink; for a cost, outputs and targets of each
   kind) by central differences and, where the user's function takes complex
   input, by complex step (:mod:`oracles.elementwise`). A failure names the
   point, the derivative given, the slope measured and the likely cause.
2. In networks (examples 1 to N): Hypothesis draws networks in which the user's
   activation takes some of the layers (hidden ones, and the output layer when
   the cost takes any output), or in which the user's cost is ``J``. The code
   under test is the built-in manual backprop running the user's ``f`` and
   derivative (or ``J`` and derivative); the references are finite differences
   and, when usable, the complex step of the same networks with the user's
   ``f`` (or ``J``). PyTorch and JAX cannot differentiate the user's NumPy code,
   so they are not used. A discrepancy names the layer, as for ``gradproof
   check``.

For the duration of the check the component is registered under ``user:NAME``
(:func:`manual_backprop.registered`), so that the architecture spec, the manual
backprop and the finite-difference oracle find it; nothing stays registered
after it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis.strategies import SearchStrategy

from manual_backprop import (
    ACTIVATIONS,
    USER_PREFIX,
    Activation,
    Architecture,
    Cost,
    Example,
    Gradients,
    InvalidArgument,
    backprop,
    registered,
)
from manual_backprop.activations import Kink
from manual_backprop.costs import TARGETS
from oracles.base import Oracle
from oracles.compare import Judgement, Verdict
from oracles.elementwise import (
    CostPoints,
    ElementwiseResult,
    activation_points,
    check_activation,
    check_cost,
)
from oracles.finite_differences import ComplexStepOracle, FiniteDifferenceOracle
from property_tests.strategies import architectures, targets, with_activation
from reports.campaign import CampaignConfig, CandidateFailure
from reports.model import (
    BlockRow,
    ExampleDetails,
    ExampleRecord,
    pair_summaries,
    relative_errors,
    summarise,
)
from reports.plugin import call_user_code, import_target

Array = np.ndarray
UNUSED_ORACLES = ("torch, jax: they cannot differentiate the user's NumPy code; "
                  "finite differences (and the complex step, where the user's code "
                  "takes complex input) differentiate it instead")
_CONTRACTS = {
    "activation": ("f", "derivative", "an object or module with f(l) and "
                   "derivative(l), elementwise (optionally kinks and name)",
                   "mypackage.activations:swish", ("kinks", "name")),
    "cost": ("J", "derivative", "an object or module with J(h, y), the per-sample "
             "cost, and derivative(h, y), dJ/dh (optionally targets, outputs and "
             "name)", "mypackage.costs:huber", ("targets", "outputs", "name")),
}
_PROBABILITY_OUTPUTS = ("sigmoid", "softmax")


# Loading: what the target must offer.

@dataclass
class UserComponent:
    """A user's activation (``f``, ``derivative``, ``kinks``) or cost (``J``,
    ``derivative``, ``targets``, ``outputs``) as loaded from ``target``;
    ``name`` is the registered name, ``user:NAME``."""

    kind: str
    target: str
    name: str
    function: Callable[..., Any]
    derivative: Callable[..., Any]
    kinks: tuple[float, ...] = ()
    targets: str = "real"
    outputs: frozenset[str] | None = None

    def label(self, attribute: str) -> str:
        """``mymodule:swish.derivative``: a function of the target, in messages."""
        return f"{self.target}.{attribute}"


def load_component(kind: str, target: str) -> UserComponent:
    """Import ``MODULE:NAME`` and check that it offers what a ``kind`` needs."""
    main, second, expected, example, optional = _CONTRACTS[kind]
    found = import_target(target, example, module_alone=True)
    present = [a for a in (main, second, *optional) if hasattr(found, a)]
    what = f"{type(found).__name__} with {', '.join(present)}" if present else \
        f"{type(found).__name__} with none of {main}, {second}, {', '.join(optional)}"
    for attribute in (main, second):
        if not hasattr(found, attribute):
            raise InvalidArgument(f"{target} has no {attribute}: found a {what}; "
                                  f"expected {expected}")
        if not callable(getattr(found, attribute)):
            raise InvalidArgument(
                f"{target}.{attribute} is not callable (it is of type "
                f"{type(getattr(found, attribute)).__name__}); expected {expected}")
    name = getattr(found, "name", None) or target.replace(":", ".").split(".")[-1]
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{target}.name is {name!r}: expected a non-empty "
                              "string, or no name at all")
    component = UserComponent(kind, target, USER_PREFIX + name.strip(),
                              getattr(found, main), getattr(found, second))
    if kind == "activation":
        component.kinks = _kinks(target, getattr(found, "kinks", ()))
    else:
        component.targets = _targets(target, getattr(found, "targets", "real"))
        component.outputs = _outputs(target, getattr(found, "outputs", None),
                                     component.targets)
    return component


def _kinks(target: str, kinks: Any) -> tuple[float, ...]:
    try:
        values = tuple(kinks)
    except TypeError:
        values = (kinks,)
    if not all(isinstance(k, numbers.Real) and math.isfinite(k) for k in values):
        raise InvalidArgument(f"{target}.kinks is {kinks!r}: expected a sequence of "
                              "finite floats, the points where f is not "
                              "differentiable, such as (0.0,)")
    return tuple(sorted({float(k) for k in values}))


def _targets(target: str, kind: Any) -> str:
    if kind not in TARGETS:
        raise InvalidArgument(f"{target}.targets is {kind!r}: expected one of "
                              f"{', '.join(map(repr, TARGETS))}")
    return str(kind)


def _outputs(target: str, outputs: Any, kind: str) -> frozenset[str] | None:
    if outputs is None:
        return None if kind == "real" else frozenset(_PROBABILITY_OUTPUTS)
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown or not names:
        raise InvalidArgument(f"{target}.outputs is {outputs!r}: expected built-in "
                              f"activations among {', '.join(ACTIVATIONS)}")
    return frozenset(names)


# Guards: each call of the user's code checked, its misbehaviour a precise message.

def _as_array(value: Any, label: str, expected: str) -> Array:
    if isinstance(value, np.ndarray):
        return value
    if not isinstance(value, list | tuple | numbers.Number | np.generic):
        raise CandidateFailure(f"{label} returned {type(value).__name__}: expected "
                               f"{expected}")
    return np.asarray(value)


def _check_dtype(out: Array, label: str, complex_input: bool) -> None:
    if np.issubdtype(out.dtype, np.floating):
        return
    if complex_input and np.issubdtype(out.dtype, np.complexfloating):
        return
    raise CandidateFailure(f"{label} returned an array of dtype {out.dtype}: "
                           "expected a float array")


def _unchanged(label: str, arguments: dict[str, Array], copies: list[Array]) -> None:
    changed = [name for (name, a), c in zip(arguments.items(), copies)
               if not np.array_equal(a, c, equal_nan=True)]
    if changed:
        raise CandidateFailure(f"{label} changed its input {', '.join(changed)} in "
                               "place; it must leave its arguments as they were")


def guard_elementwise(label: str, function: Callable[[Array], Array],
                      nan_allowed: bool = False) -> Callable[[Array], Array]:
    """``function(l)`` checked: it raised (its own traceback), returned another
    shape or a dtype that is not float, NaN where ``l`` is finite (unless
    ``nan_allowed``), or changed ``l``."""
    expected = "a float array shaped like l"

    def guarded(l: Array) -> Array:
        copy = l.copy()
        out = _as_array(call_user_code(label, function, l), label, expected)
        _unchanged(label, {"l": l}, [copy])
        if out.shape != l.shape:
            raise CandidateFailure(f"{label} returned shape {out.shape} for l of "
                                   f"shape {l.shape}: expected {l.shape}, elementwise")
        _check_dtype(out, label, np.iscomplexobj(l))
        if not nan_allowed:
            bad = np.isnan(out) & np.isfinite(l)
            if bad.any():
                raise CandidateFailure(f"{label} returned NaN at l = "
                                       f"{l[bad].flat[0]:.6g}, a finite input")
        return out
    return guarded


def guard_cost(label: str, function: Callable[[Array, Array], Array], per_entry: bool,
               nan_allowed: bool = False, probabilities: bool = False
               ) -> Callable[[Array, Array], Array]:
    """``function(h, y)`` checked like :func:`guard_elementwise`; it returns
    ``(batch,)`` (``J``) or, with ``per_entry``, ``(batch, n_n)`` (``dJ/dh``).

    With ``probabilities`` (``h`` a sigmoid or softmax output), NaN is allowed for
    a sample with an output on a singularity of a log cost: rounded to exactly 0
    where its target is not 0, or to 1 where its target is not 1. The example is
    then ill-conditioned, as for the built-in cross-entropies; elsewhere (an
    output of exactly 1 with a target of 1) a log cost has a finite value and
    slope, and NaN is the user's ``0 log 0``."""
    what = "dJ/dh per sample, shaped like h" if per_entry else \
        "the per-sample cost, one value per row of h"

    def guarded(h: Array, y: Array) -> Array:
        copies = [h.copy(), y.copy()]
        out = _as_array(call_user_code(label, function, h, y), label,
                        f"a float array: {what}")
        _unchanged(label, {"h": h, "y": y}, copies)
        shape = h.shape if per_entry else h.shape[:1]
        if out.shape != shape:
            raise CandidateFailure(f"{label} returned shape {out.shape} for h and y "
                                   f"of shape {h.shape}: expected {shape}, {what}")
        _check_dtype(out, label, np.iscomplexobj(h))
        if not nan_allowed:
            finite = np.all(np.isfinite(h) & np.isfinite(y), axis=1)
            if probabilities:
                finite &= ~np.any(((h == 0) & (y != 0)) | ((h == 1) & (y != 1)),
                                  axis=1)
            bad = np.isnan(out) & (finite[:, None] if per_entry else finite)
            if bad.any():
                b = int(np.argwhere(bad)[0][0])
                hint = ("; where an output is exactly 0 or 1 and its target equals "
                        "it, a log cost is finite: 0 log 0 is 0 (scipy.special.xlogy "
                        "computes it so)") if probabilities and np.any(
                            (h[b] == y[b]) & ((h[b] == 0) | (h[b] == 1))) else ""
                raise CandidateFailure(
                    f"{label} returned NaN for the finite h[{b}] = {_row(h[b])}, "
                    f"y[{b}] = {_row(y[b])}{hint}")
        return out
    return guarded


def _row(values: Array) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in np.real(values)) + "]"


def _with_stack_axes(J: Callable[[Array, Array], Array]
                     ) -> Callable[[Array, Array], Array]:
    """``J`` for ``h`` with leading stack axes, ``(..., batch, n_n)``, as the
    finite-difference oracle calls a cost: every row is one sample."""
    def per_sample(h: Array, y: Array) -> Array:
        if h.ndim == 2:
            return J(h, y)
        rows = h.reshape(-1, h.shape[-1])
        targets_ = np.broadcast_to(y, h.shape).reshape(-1, h.shape[-1]).copy()
        return J(rows, targets_).reshape(h.shape[:-1])
    return per_sample


def _on_probabilities(user: UserComponent) -> bool:
    """Whether the cost's ``h`` is always a sigmoid or softmax output."""
    return user.outputs is not None and user.outputs <= set(_PROBABILITY_OUTPUTS)


# The elementwise check.

def _judged(kind: str, check: Callable[[], ElementwiseResult]) -> ElementwiseResult:
    """``check()``, or the misbehaviour of the user's code it ran into."""
    try:
        return check()
    except CandidateFailure as failure:
        return ElementwiseResult(Judgement(
            Verdict.CODE_ERROR, f"elementwise check of the {kind}: {failure}"), 0)


def check_activation_elementwise(user: UserComponent, dtype: str, seed: int
                                 ) -> ElementwiseResult:
    """The user's derivative against the slopes of its ``f``, point by point."""
    f = guard_elementwise(user.label("f"), user.function)
    derivative = guard_elementwise(user.label("derivative"), user.derivative)
    probe = guard_elementwise(user.label("f"), user.function, nan_allowed=True)

    def check() -> ElementwiseResult:
        x = activation_points(user.kinks, np.random.default_rng(seed))
        x = np.unique(x.astype(dtype).astype(np.float64))  # points the dtype holds
        with np.errstate(all="ignore"):
            f(x.astype(dtype))
            given = np.asarray(derivative(x.astype(dtype)), dtype=np.float64)

        def at(l: Array) -> Array:
            return np.asarray(derivative(np.asarray(l).astype(dtype)))
        return check_activation(probe, given, x, user.kinks, dtype, derivative=at)
    return _judged("activation", check)


def cost_batches(user: UserComponent, rng: np.random.Generator
                 ) -> list[tuple[Array, Array]]:
    """The batches ``(h, y)`` a cost is checked at: outputs of each activation it
    takes (identity when it takes any) at small, moderate and large scales, and
    targets of its kind, one-hot and spread; for real targets also ``h = y``.

    Sigmoid and softmax outputs also come saturated, exactly 0 and 1, with
    targets that match them (where a log cost is finite, and ``0 log 0`` in the
    user's code shows as NaN) and targets drawn as usual."""
    outputs = sorted(user.outputs) if user.outputs is not None else ["identity"]
    scales = {"identity": (0.0, 1e-8, 1.0, 10.0, 1e3)}
    batches = []
    for output in outputs:
        widths = (2, 3) if output == "softmax" else (1, 3)
        for n_out in widths:
            for k, scale in enumerate(scales.get(output, (0.0, 1.0, 4.0, 15.0))):
                batch = (3, 4, 5)[k % 3]
                logits = rng.standard_normal((batch, n_out)) * scale
                h = ACTIVATIONS[output].forward(logits)
                y = targets(rng, user.targets, (batch, n_out), one_hot=k % 2 == 0)
                batches.append((h, y))
            if output in _PROBABILITY_OUTPUTS:
                batches.append(_saturated(user, output, n_out, rng))
    if user.targets == "real":
        y = rng.standard_normal((4, 3))
        batches += [(y.copy(), y), (y + 1e-9, y)]
    return batches


def _saturated(user: UserComponent, output: str, n_out: int,
               rng: np.random.Generator) -> tuple[Array, Array]:
    """Outputs of exactly 0 and 1 (logits of +-800); the first two samples'
    targets equal them, the others are drawn."""
    logits = np.where(rng.random((4, n_out)) < 0.5, -800.0, 800.0)
    if output == "softmax":
        logits = np.where(np.eye(n_out, dtype=bool)[rng.integers(0, n_out, 4)],
                          800.0, -800.0)
    h = ACTIVATIONS[output].forward(logits)
    y = targets(rng, user.targets, h.shape, one_hot=True)
    if user.targets != "real":
        y[:2] = h[:2]
    return h, y


def check_cost_elementwise(user: UserComponent, dtype: str, seed: int
                           ) -> ElementwiseResult:
    """The user's ``dJ/dh`` against the slopes of its ``J``, entry by entry."""
    on_probabilities = _on_probabilities(user)
    J = guard_cost(user.label("J"), user.function, per_entry=False,
                   probabilities=on_probabilities)
    derivative = guard_cost(user.label("derivative"), user.derivative, per_entry=True,
                            probabilities=on_probabilities)
    probe = guard_cost(user.label("J"), user.function, per_entry=False,
                       nan_allowed=True)

    def check() -> ElementwiseResult:
        points = []
        for h, y in cost_batches(user, np.random.default_rng(seed)):
            h, y = h.astype(dtype), y.astype(dtype)
            with np.errstate(all="ignore"):
                J(h, y)
                given = derivative(h, y)
            points.append(CostPoints(h.astype(np.float64), y.astype(np.float64),
                                     np.asarray(given, dtype=np.float64)))
        _per_sample_or_fail(user, J, derivative, points)
        return check_cost(probe, points, dtype)
    return _judged("cost", check)


def _per_sample_or_fail(user: UserComponent, J: Callable[[Array, Array], Array],
                        derivative: Callable[[Array, Array], Array],
                        points: Sequence[CostPoints]) -> None:
    """Refuse a cost whose value or derivative for one sample changes with the
    other samples of the batch (a cost divided by the batch size, say)."""
    p = max(points, key=lambda p: p.h.shape[0])
    with np.errstate(all="ignore"):
        together = [np.asarray(J(p.h, p.y)), np.asarray(derivative(p.h, p.y))]
        alone = [np.concatenate([np.asarray(g(p.h[b:b + 1], p.y[b:b + 1]))
                                 for b in range(p.h.shape[0])])
                 for g in (J, derivative)]
    for what, a, b in zip(("J", "derivative"), together, alone):
        close = np.isclose(a.reshape(b.shape), b, rtol=1e-9, atol=1e-300,
                           equal_nan=True)
        if not np.all(close):
            k = int(np.flatnonzero(~close.ravel())[0]) // max(1, b.size // len(p.h))
            raise CandidateFailure(
                f"{user.label(what)} is not per sample: for h[{k}] = {_row(p.h[k])} "
                f"it gives {_row(np.ravel(a.reshape(b.shape)[k]))} in a batch of "
                f"{len(p.h)} but {_row(np.ravel(b[k]))} for that sample alone; each "
                "sample's cost must not depend on the others (gradproof takes the "
                "batch mean or sum itself)")


# The component as the harness runs it, and the record of the elementwise check.

def _slope_terms(derivative: Callable[[Array, Array], Array]
                 ) -> Callable[[Array, Array], Array]:
    """The size of the terms of ``dJ/dh`` at ``h``, ``y`` for the tolerances: the
    derivative, plus how far it moves when ``h`` and ``y`` move by a relative
    ``2^-20`` (with signs alike, opposite and random), per unit of that move.
    The user's code gets copies; whatever it raises leaves ``|h| + |y|``."""

    def terms(h: Array, y: Array) -> Array:
        fallback = np.abs(h) + np.abs(y)
        epsilon = 2.0**-20
        random = np.where(np.random.default_rng(0).random(h.shape) < 0.5, -1.0, 1.0)
        try:
            with np.errstate(all="ignore"):
                base = np.asarray(derivative(h.copy(), y.copy()), dtype=np.float64)
                size = np.abs(base)
                for r, q in ((1.0, 1.0), (1.0, -1.0), (random, -random)):
                    moved = np.asarray(derivative(h * (1 + epsilon * r),
                                                  y * (1 + epsilon * q)),
                                       dtype=np.float64)
                    size = np.maximum(size, np.abs(base)
                                      + np.abs(moved - base) / epsilon)
        except Exception:
            return fallback
        if size.shape != h.shape:
            return fallback
        return np.where(np.isfinite(size), size, fallback)
    return terms


def registered_activation(user: UserComponent, result: ElementwiseResult
                          ) -> Activation:
    """The user's activation as the manual backprop and the oracles call it:
    every call guarded; ``|f'|`` bounded and the kink slopes as measured."""
    kinks = tuple(Kink(k, *result.kink_slopes.get(k, (0.0, 1.0))) for k in user.kinks)
    return Activation(
        user.name, guard_elementwise(user.label("f"), user.function),
        guard_elementwise(user.label("derivative"), user.derivative),
        slope_bound=max(1.0, result.slope_bound), kinks=kinks)


def registered_cost(user: UserComponent) -> Cost:
    """The user's cost as the manual backprop and the oracles call it."""
    y_range = {"real": (-np.inf, np.inf), "probabilities": (0.0, np.inf),
               "binary": (0.0, 1.0)}[user.targets]
    on_probabilities = _on_probabilities(user)
    J = guard_cost(user.label("J"), user.function, per_entry=False,
                   probabilities=on_probabilities)
    return Cost(user.name, _with_stack_axes(J),
                guard_cost(user.label("derivative"), user.derivative,
                           per_entry=True, probabilities=on_probabilities),
                fits=user.outputs, y_range=y_range, targets=user.targets,
                slope_terms=_slope_terms(user.derivative),
                description=f"{user.target}.J")


class ComponentBackprop:
    """The built-in manual backprop, running the user's component that is
    registered for the check."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, example: Example, dtype: str) -> Gradients:
        return backprop(example, dtype)


@dataclass
class ComponentCheck:
    """Everything a component check needs: the user's component, the elementwise
    result, the code under test and the references for networks."""

    user: UserComponent
    elementwise: ElementwiseResult
    component: Activation | Cost
    seconds: float
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def candidate(self) -> ComponentBackprop:
        return ComponentBackprop(f"{self.user.target} ({self.user.kind}, in the "
                                 "built-in manual backprop)")

    def oracles(self) -> dict[str, Oracle]:
        """Finite differences, and the complex step when the user's code takes
        complex input and gave the same slopes as central differences."""
        references: dict[str, Oracle] = {"fd": FiniteDifferenceOracle()}
        if self.elementwise.complex_step:
            references["cs"] = ComplexStepOracle()
        return references

    @contextlib.contextmanager
    def registered(self) -> Iterator[str]:
        """Within the block, the user's component is found by its name."""
        with registered(self.component) as name:
            yield name

    def architectures(self, config: CampaignConfig) -> SearchStrategy[Architecture]:
        """Networks for the in-network check (call inside :meth:`registered`):
        the user's activation on some layers of architectures drawn from the
        built-in ``config.activations`` and ``config.costs``, or the user's cost
        with the output activations it takes among ``config.activations``."""
        if self.user.kind == "cost":
            return architectures(max_depth=config.max_depth,
                                 max_width=config.max_width,
                                 activations=config.activations,
                                 costs=(self.user.name,))
        return with_activation(
            architectures(max_depth=config.max_depth, max_width=config.max_width,
                          activations=config.activations, costs=config.costs),
            self.user.name)

    def record(self, reduction: str, reproducer: str) -> ExampleRecord:
        """The elementwise check as example 0 of the report."""
        judgement = self.elementwise.judgement
        worst_excess, worst_rel = summarise(judgement)
        details = None
        if judgement.verdict.fails:
            rows = sorted((BlockRow.from_comparison(c) for c in judgement.comparisons),
                          key=lambda r: (r.passed, -r.excess))
            details = ExampleDetails(blocks=rows, arrays=self.elementwise.arrays,
                                     reproducer=reproducer,
                                     disagreeing=list(judgement.disagreeing_oracles),
                                     diagnoses=list(judgement.diagnoses))
        what = "f'(l)" if self.user.kind == "activation" else "dJ/dh"
        return ExampleRecord(
            index=0, label="elementwise check",
            architecture=f"{self.user.name}: {what} at {self.elementwise.points} "
                         "points",
            depth=0, d=0, widths=[], activations=[], cost="",
            batch=self.elementwise.points, reduction=reduction, n_parameters=0,
            verdict=judgement.verdict.value, message=judgement.message,
            worst_excess=worst_excess, worst_rel_error=worst_rel,
            seconds=self.seconds, details=details,
            pairs=pair_summaries(judgement), rel_errors=relative_errors(judgement))


def prepare(kind: str, target: str, dtype: str = "float64", seed: int = 0
            ) -> ComponentCheck:
    """Load ``target`` as a ``kind`` (``activation`` or ``cost``) and run the
    elementwise check; raises :class:`InvalidArgument` when the target cannot be
    loaded or lacks what the contract needs."""
    user = load_component(kind, target)
    started = time.perf_counter()
    if kind == "activation":
        result = check_activation_elementwise(user, dtype, seed)
        component: Activation | Cost = registered_activation(user, result)
    else:
        result = check_cost_elementwise(user, dtype, seed)
        component = registered_cost(user)
    notes = {"oracles not used": UNUSED_ORACLES}
    if result.complex_step_note:
        notes["complex step"] = result.complex_step_note
    return ComponentCheck(user, result, component, time.perf_counter() - started,
                          notes)
