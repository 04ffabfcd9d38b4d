"""Elementwise checks of a derivative, point by point: a user's activation ``f``
against its ``derivative``, or a user's per-sample cost ``J`` against its
``dJ/dh``.

The slope of the user's own ``f`` (or ``J``) is measured at each point by
central differences at steps ``s``, ``s/2``, ``s/4`` (``s = u^(1/3) max(1,
|x|)``), Richardson-extrapolated, with an error estimate from their spread plus
a rounding floor, as :mod:`oracles.finite_differences` measures networks; and,
where the user's function takes complex input and returns complex output, by
complex step, ``Im f(x + i 10^-100) / 10^-100``, used only where it agrees with
the central differences (a function whose complex extension is not analytic,
``abs`` say, gives no derivative that way). A step that leaves the function's
domain (a value that is not finite next to one that is) is cut by 16 until it
stays inside; a step never crosses a declared kink, and on a kink both
one-sided slopes are measured and any derivative between them is accepted.

The derivative given is compared with the slope measured within the
measurement's own error estimate plus ``16 u T``: ``u`` is the unit roundoff of
the dtype the derivative was computed in and ``T`` the size of the terms it is
computed from (the slope, the curvature times the point, the function's value
over the point). A failure names the point, the derivative given and the slope
measured, then the likely cause, claimed only when every point measured
supports it: a constant factor or a flipped sign, the derivative evaluated at
``f(l)`` instead of ``l``, a derivative written as a function of ``f(l)`` but
called with ``l``, a kink that ``kinks`` does not declare.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from oracles.compare import (
    CANDIDATE,
    BlockComparison,
    Judgement,
    Verdict,
    compare_values,
)
from oracles.tolerance import SAFETY, unit_roundoff

Array = np.ndarray
Move = Callable[[Array], Array]
"""``move(D)``: the function's values at the points moved by ``D``, ``(m, P)``
displacements for ``P`` points giving ``(m, P)`` values."""

_U = float(np.finfo(np.float64).eps) / 2
_STEP = float(np.cbrt(_U))
_OFFSETS = np.array([1.0, -1.0, 0.5, -0.5, 0.25, -0.25])
_COMPLEX_STEP = 1e-100
_SHRINKS = 12  # cuts of the step by 16 before a point is given up as outside
FD, CS = "fd", "cs"
# Points of an activation: 0, tiny and large magnitudes, the range where
# activations bend, and around every kink.
_TINY = (1e-300, 1e-8)
_MODERATE = (0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
_LARGE = (10.0, 20.0, 50.0, 100.0, 1e3, 1e4)
_AROUND_KINK = (1e-7, 1e-3, 0.1)
_RANDOM_POINTS = 24


@dataclass
class Slopes:
    """Slopes measured at points: the estimate, its error estimate, the size of
    the second derivative (for tolerances), the function's value and the step,
    each shaped like the points."""

    estimate: Array
    error: Array
    curvature: Array
    value: Array
    step: Array

    def widen(self, terms: Array) -> None:
        """Add to the error estimate the rounding of terms of size ``terms`` in
        the function's values: code that computes a small value from large terms
        (``l (1 + erf(l))`` far left) rounds like the terms, not like the value."""
        with np.errstate(all="ignore"):
            self.error = self.error + 64 * _U * np.abs(terms) / self.step

    @property
    def usable(self) -> Array:
        """Where the slope could be measured: a finite value and estimate."""
        return np.isfinite(self.value) & np.isfinite(self.estimate) & np.isfinite(
            self.error)

    @staticmethod
    def concatenate(parts: Sequence[Slopes]) -> Slopes:
        return Slopes(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("estimate", "error", "curvature", "value", "step")))


def _steps(x: Array, limit: Array | None) -> Array:
    s = _STEP * np.maximum(1.0, np.abs(x))
    return s if limit is None else np.minimum(s, limit)


def _within_domain(move: Move, centre: Array, offsets: Array, s: Array
                   ) -> tuple[Array, Array]:
    """Values at ``offsets`` times the steps, the steps cut where a value is not
    finite next to a finite centre."""
    for _ in range(_SHRINKS):
        v = np.asarray(move(offsets[:, None] * s), dtype=np.float64)
        outside = np.isfinite(centre) & ~np.all(np.isfinite(v), axis=0)
        if not outside.any():
            break
        s = np.where(outside, s / 16, s)
    return v, s


def _noise(move: Move, s: Array) -> Array:
    """The rounding noise in the function's values near each point, measured
    from the 6th differences of 9 values ``s/16`` apart (a smooth function's
    are far smaller): code that cancels large terms internally (``log(e^r +
    e^-r) - log 2`` near ``r = 0``) is noisier than its values suggest."""
    v = np.asarray(move(np.arange(-4, 5)[:, None] * s / 16), dtype=np.float64)
    sixth = np.diff(v, n=6, axis=0)
    return np.sqrt(np.mean(sixth**2, axis=0) / 924)  # 924 = 12! / (6!)^2


def central_slopes(move: Move, x: Array, limit: Array | None = None) -> Slopes:
    """Central differences at ``x`` (``(P,)``), steps capped at ``limit``."""
    with np.errstate(all="ignore"):
        centre = np.asarray(move(np.zeros((1, x.size))), dtype=np.float64)[0]
        v, s = _within_domain(move, centre, _OFFSETS, _steps(x, limit))
        d1 = (v[0] - v[1]) / (2 * s)
        d2 = (v[2] - v[3]) / s
        d4 = (v[4] - v[5]) / (s / 2)
        rounding = 64 * _U * (np.abs(centre) + np.max(np.abs(v), axis=0)) / s
        rounding = np.maximum(rounding, 16 * _noise(move, s) / s)
        error = 2 * np.maximum(np.abs(d1 - d2), np.abs(d2 - d4)) + rounding
        curvature = np.abs(v[2] - 2 * centre + v[3]) / (s / 2) ** 2
        return Slopes((4 * d2 - d1) / 3, error, curvature, centre, s)


def one_sided_slopes(move: Move, x: Array, side: float) -> Slopes:
    """Forward (``side = 1``) or backward (``-1``) differences at ``x``,
    Richardson-extrapolated twice."""
    offsets = side * np.array([1.0, 0.5, 0.25])
    with np.errstate(all="ignore"):
        centre = np.asarray(move(np.zeros((1, x.size))), dtype=np.float64)[0]
        v, s = _within_domain(move, centre, offsets, _steps(x, None))
        D = [(v[k] - centre) / (offsets[k] * s) for k in range(3)]
        R1, R2 = 2 * D[1] - D[0], 2 * D[2] - D[1]
        rounding = 4 * 64 * _U * (np.abs(centre) + np.max(np.abs(v), axis=0)) / s
        error = 2 * np.abs(R1 - R2) + rounding
        return Slopes(R2 + (R2 - R1) / 3, error, np.zeros_like(x), centre, s / 4)


def complex_step_slopes(move: Move, size: int) -> Array | None:
    """``Im f(x + i 10^-100) / 10^-100`` at ``size`` points, or ``None`` when the
    function does not take complex input and give complex output."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            v = np.asarray(move(np.full((1, size), 1j * _COMPLEX_STEP)))
    except Exception:
        return None
    if not np.iscomplexobj(v) or v.shape != (1, size):
        return None
    return v[0].imag / _COMPLEX_STEP


@dataclass
class ElementwiseResult:
    """What the elementwise check found.

    ``judgement`` holds the verdict, its message and the comparisons;
    ``complex_step`` whether the complex step gave the slopes (so that it can
    serve as an oracle in networks too) and ``complex_step_note`` why not;
    ``slope_bound`` bounds ``|f'|`` over the moderate points and ``kink_slopes``
    gives the one-sided slopes measured at each kink (activations only);
    ``arrays`` the points that disagree, for the report.
    """

    judgement: Judgement
    points: int
    complex_step: bool = False
    complex_step_note: str = ""
    slope_bound: float = 1.0
    kink_slopes: dict[float, tuple[float, float]] = field(default_factory=dict)
    arrays: dict[str, list[float]] = field(default_factory=dict)


def activation_points(kinks: Sequence[float], rng: np.random.Generator) -> Array:
    """The points an activation is checked at: 0, tiny, moderate and large
    magnitudes of both signs, random points, each kink and its neighbourhood."""
    magnitudes = np.array([*_TINY, *_MODERATE, *_LARGE])
    around = [k + sign * d for k in kinks for d in _AROUND_KINK for sign in (-1, 1)]
    scales = rng.choice([0.1, 1.0, 3.0, 10.0], size=_RANDOM_POINTS)
    drawn = rng.standard_normal(_RANDOM_POINTS) * scales
    points = np.concatenate([[0.0], magnitudes, -magnitudes, kinks, around, drawn])
    return np.unique(points) + 0.0  # no -0


def _terms(slopes: Slopes, x: Array) -> Array:
    """The size of the terms a derivative at ``x`` is computed from."""
    with np.errstate(all="ignore"):
        terms = (np.abs(slopes.estimate) + slopes.curvature * np.abs(x)
                 + np.abs(slopes.value) / np.maximum(1.0, np.abs(x)))
    return np.where(np.isfinite(terms), terms, 0.0)


def _slope_scale(slopes: Slopes, x: Array) -> float:
    """The largest slope where activations bend, ``|x| <= 10``."""
    moderate = slopes.usable & (np.abs(x) <= 10)
    return float(np.max(np.abs(slopes.estimate[moderate]), initial=0.0))


def _simple(value: float) -> Fraction | None:
    """``value`` as a fraction with a denominator of at most 8, if it is one to
    6 digits."""
    fraction = Fraction(value).limit_denominator(8)
    if fraction != 0 and abs(float(fraction) - value) <= 1e-6 * abs(value):
        return fraction
    return None


def _nice(value: float) -> str:
    """``2``, ``-1``, ``1/2``, ``0.731``: a factor as a reader would write it."""
    fraction = _simple(value)
    return str(fraction) if fraction is not None else f"{value:.3g}"


def _matches(given: Array, reference: Array, allowed: Array, where: Array) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(given - reference)[where] <= allowed[where]))


def constant_factor(given: Array, measured: Array, allowed: Array, where: Array
                    ) -> float | None:
    """The factor ``c`` with ``given = c measured`` at every point of ``where``,
    when there is one other than 1 (and 0); ``None`` otherwise."""
    with np.errstate(all="ignore"):
        clear = where & (np.abs(measured) > 4 * allowed)
        if not clear.any():
            return None
        c = float(np.median(given[clear] / measured[clear]))
    if not math.isfinite(c) or c == 0 or abs(c - 1) <= 1e-6:
        return None
    simple = _simple(c)
    for factor in ([float(simple)] if simple is not None else []) + [c]:
        if _matches(given, factor * measured, (1 + abs(factor)) * allowed, where):
            return factor
    return None


def describe_factor(c: float) -> str:
    """A constant factor in words."""
    if c == -1:
        return "a flipped sign (the derivative given is -1 x the slope)"
    sign = "a flipped sign and " if c < 0 else ""
    return (f"{sign}a constant factor {_nice(abs(c))} (the derivative given is "
            f"{_nice(c)} x the slope)")


@dataclass
class _Measured:
    """Slopes at the points, and what the derivative given is judged against:
    ``reference`` is the slope measured (on a kink, the nearest one-sided
    slope), ``tolerance`` the rounding the dtype allows the derivative, and
    ``allowed`` that plus the error estimate of the central differences."""

    x: Array
    given: Array
    fd: Slopes
    reference: Array
    tolerance: Array
    on_kink: Array
    cs: Array | None = None
    cs_allowed: Array | None = None

    @property
    def allowed(self) -> Array:
        return self.fd.error + self.tolerance


def _comparisons(m: _Measured, what: str) -> list[BlockComparison]:
    usable = m.fd.usable
    skip = ~usable
    zero = np.zeros_like(m.x)
    out = [compare_values(CANDIDATE, FD, what, np.where(usable, m.given, 0.0),
                          np.where(usable, m.reference, 0.0), zero,
                          extra=m.allowed, skip=skip)]
    if m.cs is not None and m.cs_allowed is not None:
        cs_usable = usable & ~m.on_kink
        out.append(compare_values(CANDIDATE, CS, what,
                                  np.where(cs_usable, m.given, 0.0),
                                  np.where(cs_usable, m.cs, 0.0), zero,
                                  extra=m.cs_allowed, skip=~cs_usable))
    return out


def _with_complex_step(m: _Measured, move: Move, dtype: str) -> tuple[bool, str]:
    """Add complex-step slopes to ``m`` where they agree with the central
    differences at every point off a kink; say why not otherwise."""
    cs = complex_step_slopes(move, m.x.size)
    if cs is None:
        return False, ("the complex step is not used: the function does not take "
                       "complex input and give complex output")
    where = m.fd.usable & ~m.on_kink
    with np.errstate(all="ignore"):
        agree = np.abs(cs - m.fd.estimate) <= m.allowed
    if not np.all(agree[where] & np.isfinite(cs[where])):
        k = int(np.flatnonzero(where & ~(agree & np.isfinite(cs)))[0])
        return False, (f"the complex step is not used: it gives the slope "
                       f"{cs[k]:.6g} at {m.x[k]:.6g}, where central differences "
                       f"give {m.fd.estimate[k]:.6g} (the complex extension of the "
                       "function is not analytic there)")
    m.cs = cs
    with np.errstate(all="ignore"):
        m.cs_allowed = 256 * _U * np.abs(cs) + m.tolerance + 1e-300
    return True, ""


def _failing(m: _Measured) -> Array:
    """Points where the derivative given disagrees with a slope measured."""
    with np.errstate(all="ignore"):
        wrong = m.fd.usable & ~(np.abs(m.given - m.reference) <= m.allowed)
        if m.cs is not None and m.cs_allowed is not None:
            off = m.fd.usable & ~m.on_kink
            wrong |= off & ~(np.abs(m.given - m.cs) <= m.cs_allowed)
    return wrong


def _worst(m: _Measured, wrong: Array) -> int:
    """The failing point to name first: the worst where activations bend (``|x|``
    from 0.1 to 10), where a reader can check it, or else the worst anywhere."""
    with np.errstate(all="ignore"):
        excess = np.abs(m.given - m.reference) / np.maximum(m.allowed, 1e-300)
    excess = np.where(np.isnan(excess), np.inf, excess)
    moderate = wrong & (np.abs(m.x) >= 0.1) & (np.abs(m.x) <= 10)
    chosen = moderate if moderate.any() else wrong
    return int(np.argmax(np.where(chosen, excess, -1.0)))


def _discrepancy(where: str, given: float, measured: float, error: float,
                 wrong: Array, usable: Array, unit: str, causes: list[str],
                 comparisons: list[BlockComparison]) -> Judgement:
    """The verdict on a derivative that disagrees: the worst point ``where``,
    what was given and measured there, how many ``unit`` disagree, and the
    likely causes."""
    message = (f"{where}: given {given:.6g}, slope measured {measured:.6g} "
               f"(central differences, error estimate {error:.2g}); disagrees at "
               f"{int(np.sum(wrong))} of {int(np.sum(usable))} {unit}"
               + (f"; likely cause: {'; or '.join(causes)}" if causes else ""))
    return Judgement(Verdict.DISCREPANCY, message, comparisons,
                     tuple(c.against for c in comparisons if not c.passed), None,
                     tuple(causes))


def _failing_arrays(m: _Measured, wrong: Array, names: tuple[str, str],
                    limit: int = 20) -> dict[str, list[float]]:
    shown = np.flatnonzero(wrong)[:limit]
    return {names[0]: m.x[shown].tolist(), names[1]: m.given[shown].tolist(),
            "slope measured": m.reference[shown].tolist(),
            "error estimate": m.fd.error[shown].tolist()}


def moves(f: Callable[[Array], Array], x: Array) -> Move:
    """``move`` for an elementwise ``f`` at the points ``x``."""
    return lambda D: f(x[None, :] + D)


def check_activation(f: Callable[[Array], Array], given: Array, x: Array,
                     kinks: Sequence[float], dtype: str,
                     derivative: Callable[[Array], Array] | None = None,
                     label: str = "elementwise check") -> ElementwiseResult:
    """Judge ``given``, the derivative computed in ``dtype`` at the points ``x``
    (float64, ``(P,)``), against the slopes of the elementwise ``f``.

    ``derivative`` (the user's, for the points ``f(x)``) lets the check
    recognise a derivative written as a function of ``f(l)``; it may raise.
    """
    move = moves(f, x)
    kink_array = np.array(sorted(kinks), dtype=np.float64)
    distance = (np.min(np.abs(x[:, None] - kink_array[None, :]), axis=1)
                if kink_array.size else np.full(x.shape, np.inf))
    on_kink = distance == 0
    fd = central_slopes(move, x, limit=np.where(on_kink, np.inf, distance / 2))
    u = SAFETY * unit_roundoff(dtype)
    # The slopes where activations bend set the scale below which a difference
    # is rounding, whatever the point (a tail that rounds to exactly flat).
    slope_bound = _slope_scale(fd, x)
    fd.widen(np.abs(x) * slope_bound)
    tolerance = u * (_terms(fd, x) + slope_bound)
    reference = fd.estimate.copy()

    # On a kink, anything between the one-sided slopes.
    kink_slopes: dict[float, tuple[float, float]] = {}
    if on_kink.any():
        at = x[on_kink]
        left = one_sided_slopes(moves(f, at), at, -1)
        right = one_sided_slopes(moves(f, at), at, 1)
        low = np.minimum(left.estimate, right.estimate)
        high = np.maximum(left.estimate, right.estimate)
        reference[on_kink] = np.clip(given[on_kink], low, high)
        tolerance[on_kink] = u * (np.abs(high) + np.abs(fd.value[on_kink])
                                  + slope_bound)
        fd.estimate[on_kink] = reference[on_kink]
        fd.error[on_kink] = np.maximum(left.error, right.error)
        kink_slopes = {float(k): (float(a), float(b))
                       for k, a, b in zip(at, left.estimate, right.estimate)}

    m = _Measured(x, given, fd, reference, tolerance, on_kink)
    complex_step, note = _with_complex_step(m, move, dtype)
    wrong = _failing(m)
    comparisons = _comparisons(m, "f'(l)")
    if not wrong.any():
        kinks_said = (f" and on the kinks {', '.join(f'{k:g}' for k in kink_array)}"
                      if kink_array.size else "")
        how = "central differences and complex step" if complex_step else \
            "central differences"
        message = (f"{label}: the derivative agrees with the slope of f measured by "
                   f"{how} at {int(np.sum(fd.usable))} points, l from "
                   f"{x.min():.3g} to {x.max():.3g}, 0 and +-1e-8 included"
                   f"{kinks_said}" + (f"; {note}" if note else ""))
        return ElementwiseResult(Judgement(Verdict.AGREE, message, comparisons),
                                 int(x.size), complex_step, note, slope_bound,
                                 kink_slopes)

    k = _worst(m, wrong)
    causes = _activation_causes(m, f, wrong, dtype, derivative, kink_array,
                                distance)
    where = f"derivative(l) at l = {x[k]:.6g}"
    return ElementwiseResult(
        _discrepancy(f"{label}: {where}", given[k], reference[k], fd.error[k],
                     wrong, fd.usable, "points", causes, comparisons),
        int(x.size), complex_step, note, slope_bound, kink_slopes,
        _failing_arrays(m, wrong, ("l", "derivative(l)")))


def _activation_causes(m: _Measured, f: Callable[[Array], Array], wrong: Array,
                       dtype: str, derivative: Callable[[Array], Array] | None,
                       kinks: Array, distance: Array) -> list[str]:
    """The likely causes every measured point supports; ``distance``: from each
    point to the nearest declared kink."""
    usable = m.fd.usable & ~m.on_kink
    causes = _one_sided(m.x, wrong, usable, kinks)
    c = constant_factor(m.given, m.reference, m.allowed, usable)
    if c is not None:
        causes.append(describe_factor(c))

    # The derivative evaluated at f(l): given(l) = f'(f(l)).
    f_x = m.fd.value
    at_output = central_slopes(moves(f, f_x), f_x)
    u = SAFETY * unit_roundoff(dtype)
    where = usable & at_output.usable
    scale = _slope_scale(m.fd, m.x)
    if where.any() and _matches(m.given, at_output.estimate, at_output.error
                                + u * (_terms(at_output, f_x) + scale), where):
        causes.append("the derivative evaluated at f(l) instead of at l "
                      "(derivative(l) equals the slope of f at f(l))")

    # A derivative written for the output: derivative(f(l)) = f'(l).
    if derivative is not None:
        try:
            with np.errstate(all="ignore"):
                of_output = np.asarray(derivative(f_x), dtype=np.float64)
        except Exception:
            of_output = None
        if (of_output is not None and of_output.shape == m.x.shape
                and _matches(of_output, m.reference, m.allowed, usable)):
            causes.append("a derivative written as a function of the output f(l) "
                          "(like 1 - a^2 for tanh) but called with l: "
                          "derivative(f(l)) gives the slope at l")

    # A kink that is not declared: the one-sided slopes differ where it fails,
    # at points whose one-sided steps do not reach a declared kink.
    undeclared = wrong & (distance > _steps(m.x, None))
    at = m.x[undeclared]
    left = one_sided_slopes(moves(f, at), at, -1)
    right = one_sided_slopes(moves(f, at), at, 1)
    with np.errstate(all="ignore"):
        jump = np.abs(left.estimate - right.estimate) > 4 * (
            left.error + right.error + m.allowed[undeclared])
    if jump.any():
        # The cleanest measurements are on the kink, not a step away; of those,
        # the simplest point names it.
        error = np.where(jump, left.error + right.error, np.inf)
        clean = error <= 2 * np.min(error)
        k = int(np.argmin(np.where(clean, np.abs(at), np.inf)))
        kink = float(at[k]) + 0.0  # no -0
        causes.append(f"f is not differentiable at or near l = {kink:.6g} (one-sided "
                      f"slopes {left.estimate[k]:.6g} and {right.estimate[k]:.6g}) "
                      f"and kinks does not declare it: add {kink:g} to kinks, and "
                      "any slope between the one-sided ones is accepted there")
    return causes


def _one_sided(x: Array, wrong: Array, usable: Array, kinks: Array) -> list[str]:
    """A derivative wrong on one side of 0 or of a declared kink alone: every
    point it fails at lies there, and it fails at most of the points there."""
    wrong = wrong & usable
    for boundary in sorted({0.0, *map(float, kinks)}):
        for side, inside in (("<", x < boundary), (">", x > boundary)):
            there, elsewhere = inside & usable, ~inside & usable
            if (wrong.any() and elsewhere.any() and not (wrong & ~inside).any()
                    and 2 * np.sum(wrong) >= np.sum(there)):
                return [f"a derivative wrong only for l {side} {boundary:g}: off "
                        f"the kinks, it disagrees at {int(np.sum(wrong))} of the "
                        f"{int(np.sum(there))} points there and at none of the "
                        f"{int(np.sum(elsewhere))} others"]
    return []


# Costs.

def cost_move(J: Callable[[Array, Array], Array], h: Array, y: Array) -> Move:
    """``move`` for the per-sample cost ``J`` at ``h``, ``y`` ``(batch, n_n)``: each
    of the ``batch n_n`` points is one entry ``h[b, k]``, and its value ``J[b]``
    with that entry moved. Every moved copy of a sample is a row of one call."""
    batch, n_out = h.shape
    rows = np.repeat(np.arange(batch), n_out)
    columns = np.tile(np.arange(n_out), batch)
    points = rows.size

    def move(D: Array) -> Array:
        m = D.shape[0]
        H = np.broadcast_to(h[rows], (m, points, n_out)).astype(
            np.result_type(h, D), copy=True)
        H[:, np.arange(points), columns] += D
        Y = np.broadcast_to(y[rows], (m, points, n_out)).copy()
        return np.asarray(J(H.reshape(-1, n_out), Y.reshape(-1, n_out))).reshape(
            m, points)
    return move


@dataclass
class CostPoints:
    """One batch the cost is checked at: ``h``, ``y`` ``(batch, n_n)`` (float64)
    and the derivative given there, computed in the dtype checked."""

    h: Array
    y: Array
    given: Array


def check_cost(J: Callable[[Array, Array], Array], batches: Sequence[CostPoints],
               dtype: str, label: str = "elementwise check") -> ElementwiseResult:
    """Judge the derivative given at each batch against the slopes of ``J``."""
    parts, moves = [], []
    for p in batches:
        move = cost_move(J, p.h, p.y)
        moves.append(move)
        parts.append(central_slopes(move, p.h.ravel()))
    fd = Slopes.concatenate(parts)
    x = np.concatenate([p.h.ravel() for p in batches])
    y = np.concatenate([p.y.ravel() for p in batches])
    given = np.concatenate([np.asarray(p.given, dtype=np.float64).ravel()
                            for p in batches])
    u = SAFETY * unit_roundoff(dtype)
    with np.errstate(all="ignore"):
        terms = np.abs(fd.estimate) + fd.curvature * (np.abs(x) + np.abs(y))
    terms = np.where(np.isfinite(terms), terms, 0.0)
    # The largest slope of each batch sets the scale below which a difference
    # is rounding.
    sizes = np.cumsum([0, *(p.h.size for p in batches)])
    for a, b in zip(sizes[:-1], sizes[1:]):
        usable = fd.usable[a:b]
        scale = np.max(np.abs(fd.estimate[a:b][usable]), initial=0.0)
        terms[a:b] += scale
        fd.error[a:b] += 64 * _U * (np.abs(x[a:b]) + np.abs(y[a:b])) * scale \
            / fd.step[a:b]
    on_kink = np.zeros(x.shape, dtype=bool)
    m = _Measured(x, given, fd, fd.estimate.copy(), u * terms, on_kink)

    def whole(D: Array) -> Array:
        return np.concatenate([move(D[:, a:b]) for move, a, b in
                               zip(moves, sizes[:-1], sizes[1:])], axis=1)
    complex_step, note = _with_complex_step(m, whole, dtype)
    wrong = _failing(m)
    comparisons = _comparisons(m, "dJ/dh")
    if not wrong.any():
        how = "central differences and complex step" if complex_step else \
            "central differences"
        message = (f"{label}: the derivative agrees with the slope of J measured by "
                   f"{how} at {int(np.sum(fd.usable))} entries of h, in "
                   f"{len(batches)} batches" + (f"; {note}" if note else ""))
        return ElementwiseResult(Judgement(Verdict.AGREE, message, comparisons),
                                 int(x.size), complex_step, note)

    k = _worst(m, wrong)
    which = int(np.searchsorted(sizes, k, side="right") - 1)
    batch = batches[which]
    b, j = divmod(k - int(sizes[which]), batch.h.shape[1])
    causes = _cost_causes(m, batches)
    where = (f"derivative(h, y)[{b}, {j}] at h[{b}] = {_row(batch.h[b])}, "
             f"y[{b}] = {_row(batch.y[b])}")
    return ElementwiseResult(
        _discrepancy(f"{label}: {where}", given[k], m.reference[k], fd.error[k],
                     wrong, fd.usable, "entries", causes, comparisons),
        int(x.size), complex_step, note,
        arrays=_failing_arrays(m, wrong, ("h", "derivative(h, y)")))


def _row(values: Array) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _cost_causes(m: _Measured, batches: Sequence[CostPoints]) -> list[str]:
    """A factor of ``n_n`` (or ``1/n_n``), or another constant factor, when every
    entry measured supports it. (A factor of the batch size makes the derivative
    depend on the other samples, which the contract check refuses first.)"""
    usable = m.fd.usable
    n_out = np.concatenate([np.full(p.h.size, p.h.shape[1]) for p in batches])
    if not np.all(n_out[usable] == 1):
        for power, shown in ((1, "n_n"), (-1, "1/n_n")):
            factor = n_out.astype(np.float64) ** power
            if _matches(m.given, factor * m.reference, (1 + factor) * m.allowed,
                        usable):
                return [f"a factor of {shown} (the derivative given is {shown} x the "
                        "slope)"]
    c = constant_factor(m.given, m.reference, m.allowed, usable)
    return [describe_factor(c)] if c is not None else []
