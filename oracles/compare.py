"""Comparison of the code under test with the oracles, and of the oracles with
each other, ending in one verdict per example.

Autograd oracles are compared entry by entry under the tolerances of
:mod:`oracles.tolerance`. Finite-difference probes are compared within their own
error estimate plus that tolerance; probes across a kink are left out and only
counted. Comparing the oracles with each other tells who is wrong: the code
under test, or an oracle.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from manual_backprop import ACTIVATIONS, Example, Gradients, backprop
from oracles.finite_differences import FiniteDifferenceResult, flat_parameters
from oracles.tolerance import (
    SAFETY,
    Tolerances,
    conditioning,
    forward_error_bounds,
    tolerances,
    unit_roundoff,
)

Array = np.ndarray
CANDIDATE = "code under test"
ARBITER = "mpmath"
_FD_EXPECTED_ACCURACY = 1e-7
_TINY = float(np.finfo(np.float64).tiny)


class Verdict(str, enum.Enum):
    """What one example showed, from best to worst for the code under test."""

    AGREE = "agree"
    NON_DIFFERENTIABLE = "non-differentiable point"
    FD_NOISE = "finite-difference noise"
    ILL_CONDITIONED = "ill-conditioned"
    ORACLE_DISAGREEMENT = "oracle disagreement"
    DISCREPANCY = "discrepancy"
    CODE_ERROR = "code under test failed"

    @property
    def fails(self) -> bool:
        """Whether this verdict fails a run (exit code 1)."""
        return self in (Verdict.ORACLE_DISAGREEMENT, Verdict.DISCREPANCY,
                        Verdict.CODE_ERROR)


@dataclass
class BlockComparison:
    """How one block (``J``, ``dJ/dw_i``, ``dJ/db_i``, ``dJ/dl_i`` or a set of
    finite-difference directions) of ``subject`` compares with ``against``.

    ``excess`` is the worst error divided by its tolerance: above 1 fails.
    ``index`` locates the worst entry; ``skipped`` counts entries left out
    (probes across a kink).
    """

    subject: str
    against: str
    layer: int
    parameter: str
    excess: float
    max_abs_error: float
    max_rel_error: float
    index: tuple[int, ...]
    subject_value: float
    against_value: float
    tolerance: float
    cosine: float = math.nan
    norm_ratio: float = math.nan
    skipped: int = 0
    within_fd_error: bool = False
    label: str = ""

    @property
    def passed(self) -> bool:
        return self.excess <= 1.0

    @property
    def name(self) -> str:
        """``dJ/dw_2``, ``dJ/db_1``, ``dJ/dl_3``, ``J``, a direction label, or
        the ``label`` of a comparison outside a network."""
        if self.label:
            return self.label
        if self.parameter == "J":
            return "J"
        if self.parameter in ("w", "b", "l"):
            return f"dJ/d{self.parameter}_{self.layer}"
        if not self.layer:
            return "dJ/dtheta . v (all layers)"
        return f"dJ/dtheta . v ({self.parameter} of layer {self.layer})"

    def describe(self) -> str:
        """One line naming the entry before any numbers."""
        index = "[" + ", ".join(map(str, self.index)) + "]" if self.index else ""
        return (
            f"{self.name}{index}: {self.subject} {self.subject_value:.6g}, "
            f"{self.against} {self.against_value:.6g} (error {self.max_abs_error:.3g}, "
            f"{self.excess:.3g} x tolerance {self.tolerance:.3g})"
        )


@dataclass
class Judgement:
    """The verdict on one example and the comparisons behind it."""

    verdict: Verdict
    message: str
    comparisons: list[BlockComparison] = field(default_factory=list)
    disagreeing_oracles: tuple[str, ...] = ()
    first_layer_from_output: int | None = None
    diagnoses: tuple[str, ...] = ()

    @property
    def worst(self) -> BlockComparison | None:
        """The comparison of the code under test furthest past its tolerance."""
        own = [c for c in self.comparisons if c.subject == CANDIDATE]
        return max(own, key=lambda c: c.excess, default=None)


@dataclass
class _Block:
    """One block to compare: ``extra`` is an error allowance added to
    ``tolerance`` (a finite-difference error estimate); ``skip`` marks entries
    to leave out."""

    layer: int
    parameter: str
    value: Array
    reference: Array
    tolerance: Array
    extra: Array | None = None
    skip: Array | None = None


def _compare_blocks(subject: str, against: str,
                    blocks: list[_Block]) -> list[BlockComparison]:
    """Compare each block's ``value`` with its ``reference`` entry by entry.

    Blocks are small and many, so the number of NumPy calls, not the
    arithmetic, sets the cost: the entries of every block are compared in one
    pass over their concatenation, and each block's figures are reductions
    over its stretch of it (``reduceat``).
    """
    shapes = [np.shape(b.value) for b in blocks]
    sizes = np.array([math.prod(shape) for shape in shapes], dtype=np.int64)
    if not blocks or not sizes.all():
        return [_compare_blocks(subject, against, [b])[0] if size else
                BlockComparison(subject, against, b.layer, b.parameter, 0.0, 0.0,
                                0.0, (), 0.0, 0.0, 0.0)
                for b, size in zip(blocks, sizes)]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def joined(arrays: list[object], dtype: type = np.float64) -> Array:
        return np.concatenate([
            np.broadcast_to(np.asarray(a, dtype=dtype), shape).ravel()
            for a, shape in zip(arrays, shapes)])

    def per_block(reduce: np.ufunc, entries: Array) -> Array:
        return reduce.reduceat(entries, starts)

    value = joined([b.value for b in blocks])
    reference = joined([b.reference for b in blocks])
    tolerance = joined([b.tolerance for b in blocks])
    allowed = tolerance + joined([0.0 if b.extra is None else b.extra for b in blocks])
    skip = joined([False if b.skip is None else b.skip for b in blocks], bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        error = np.abs(value - reference)
        error[np.isnan(error)] = np.inf
        excess = error / np.maximum(allowed, _TINY)
        excess[(error == 0) | skip] = 0.0
        worst = per_block(np.maximum, excess)
        positions = np.where(excess == np.repeat(worst, sizes), np.arange(len(excess)),
                             len(excess))
        first = per_block(np.minimum, positions)
        scale = np.abs(reference)
        largest = per_block(np.maximum, scale)
        # Central differences are good to about sqrt(u) of the entry's scale; a
        # drift past that, yet within the probe's own error estimate, is noise.
        drift = error > tolerance + _FD_EXPECTED_ACCURACY * (
            scale + np.repeat(largest, sizes))
        drifting = per_block(np.logical_or, (excess <= 1) & drift)
        norms = (np.sqrt(per_block(np.add, value * value)),
                 np.sqrt(per_block(np.add, reference * reference)))
        cosine = per_block(np.add, value * reference) / (norms[0] * norms[1])
        rel = per_block(np.maximum, np.where(skip, 0.0, error)) / np.maximum(largest,
                                                                             _TINY)
        skipped = per_block(np.add, skip.astype(np.int64))

    out = []
    for k, b in enumerate(blocks):
        at = int(first[k])
        if at == len(excess):  # a NaN excess: the first one is the worst
            at = int(starts[k] + np.argmax(excess[starts[k]: starts[k] + sizes[k]]))
        offset = at - int(starts[k])
        out.append(BlockComparison(
            subject=subject, against=against, layer=b.layer, parameter=b.parameter,
            excess=float(excess[at]), max_abs_error=float(error[at]),
            max_rel_error=float(rel[k]),
            index=tuple(int(i) for i in np.unravel_index(offset, shapes[k]))
            if shapes[k] else (),
            subject_value=float(value[at]), against_value=float(reference[at]),
            tolerance=float(allowed[at]),
            cosine=float(cosine[k]) if norms[0][k] * norms[1][k] else math.nan,
            norm_ratio=float(norms[0][k] / norms[1][k]) if norms[1][k] else math.nan,
            skipped=int(skipped[k]),
            within_fd_error=b.extra is not None and bool(drifting[k]),
        ))
    return out


def compare_values(subject: str, against: str, label: str, value: Array,
                   reference: Array, tolerance: Array, extra: Array | None = None,
                   skip: Array | None = None) -> BlockComparison:
    """Compare arrays outside a network (the elementwise checks of a user's
    activation or cost) entry by entry, as blocks are compared; ``label`` names
    them in messages and reports."""
    block, = _compare_blocks(subject, against, [
        _Block(0, label, value, reference, tolerance, extra, skip)])
    block.label = label
    return block


def compare_gradients(subject: str, value: Gradients, against: str,
                      reference: Gradients, tol: Tolerances) -> list[BlockComparison]:
    """Compare ``J``, every ``dJ/dw_i``, ``dJ/db_i`` and, where both give them,
    every ``dJ/dl_i``."""
    blocks = []
    if value.J is not None and reference.J is not None:
        blocks.append(_Block(0, "J", np.array(value.J), np.array(reference.J),
                             np.array(tol.J)))
    for i in range(len(reference.dJ_dw)):
        blocks.append(_Block(i + 1, "w", value.dJ_dw[i], reference.dJ_dw[i],
                             tol.dJ_dw[i]))
        blocks.append(_Block(i + 1, "b", value.dJ_db[i], reference.dJ_db[i],
                             tol.dJ_db[i]))
    if value.dJ_dl is not None and reference.dJ_dl is not None:
        for i in range(len(reference.dJ_dl)):
            blocks.append(_Block(i + 1, "l", value.dJ_dl[i], reference.dJ_dl[i],
                                 tol.dJ_dl[i]))
    return _compare_blocks(subject, against, blocks)


def compare_with_probes(subject: str, value: Gradients, against: str,
                        probes: FiniteDifferenceResult, tol: Tolerances | None,
                        dtype: str) -> list[BlockComparison]:
    """Compare gradients with finite-difference probes, within the probes' own
    error estimates plus the tolerance of ``value``."""
    u = SAFETY * unit_roundoff(dtype)
    blocks = []
    for p in probes.entries:
        i = p.layer - 1
        g = value.dJ_dw[i] if p.parameter == "w" else value.dJ_db[i]
        if tol is not None:
            t = tol.dJ_dw[i] if p.parameter == "w" else tol.dJ_db[i]
        else:
            t = u * (np.abs(g) + np.max(np.abs(g), initial=0.0))
        blocks.append(_Block(p.layer, p.parameter, g, p.estimate, t, p.error,
                             p.across_kink))
    if probes.directions:
        g = flat_parameters(value.dJ_dw, value.dJ_db)
        t_flat = None if tol is None else flat_parameters(tol.dJ_dw, tol.dJ_db)
    for d in probes.directions:
        projected = d.project(g)
        if t_flat is not None:
            t = d.bound(t_flat) + u * np.abs(projected)
        else:
            t = u * (np.abs(projected) + 1e-300)
        blocks.append(_Block(d.layer, d.parameter, projected, d.estimate, t,
                             d.error, d.across_kink))
    return _compare_blocks(subject, against, blocks)


def _settled_by_arbiter(example: Example, comparisons: list[BlockComparison],
                        candidate_fails: dict[str, list[BlockComparison]],
                        oracle_pairs: list[tuple[str, str]]) -> Judgement | None:
    """The verdict once the extended-precision arbiter has spoken, or ``None``
    when it agrees with everyone."""
    wrong = sorted({name for pair in oracle_pairs if ARBITER in pair
                    for name in pair if name != ARBITER})
    if candidate_fails[ARBITER]:
        worst = max(candidate_fails[ARBITER], key=lambda c: c.excess)
        also = f"; oracles {', '.join(wrong)} disagree with it too" if wrong else ""
        layers = [c.layer for c in candidate_fails[ARBITER]
                  if c.parameter in ("w", "b")]
        return Judgement(Verdict.DISCREPANCY,
                         f"{example.label}: the {ARBITER} arbiter settles it against "
                         f"the code under test: {worst.describe()}{also}",
                         comparisons, (ARBITER,), max(layers, default=None))
    if wrong and set(wrong) <= {"fd", "cs"}:
        return Judgement(Verdict.FD_NOISE,
                         f"{example.label}: agrees; finite differences drift beyond "
                         f"their own error estimate, and the {ARBITER} arbiter sides "
                         "with the code under test and the autograd oracles",
                         comparisons)
    if wrong:
        worst = max((c for c in comparisons if not c.passed and ARBITER in
                     (c.subject, c.against) and CANDIDATE not in (c.subject,)),
                    key=lambda c: c.excess)
        return Judgement(Verdict.ORACLE_DISAGREEMENT,
                         f"{example.label}: oracles disagree, and the {ARBITER} "
                         f"arbiter sides with the code under test against "
                         f"{', '.join(wrong)}: {worst.describe()}",
                         comparisons, tuple(wrong))
    return None


def _complex_step_vouches(comparisons: list[BlockComparison],
                          candidate_fails: dict[str, list[BlockComparison]]) -> bool:
    """Whether the complex-step oracle compared, and passed, every entry of
    each block where the code under test fails against finite differences.

    A complex step takes no difference, so neither the truncation of a step
    across a saturating unit nor cancellation moves it: where it agrees and
    finite differences do not, finite differences are what drifted."""
    if "cs" not in candidate_fails or candidate_fails["cs"]:
        return False
    complex_step = {(c.layer, c.parameter): c for c in comparisons
                    if c.subject == CANDIDATE and c.against == "cs"}
    vouching = [complex_step.get((c.layer, c.parameter)) for c in candidate_fails["fd"]]
    return all(c is not None and c.passed and not c.skipped for c in vouching)


def _finite_tolerances(tol: Tolerances) -> bool:
    return math.isfinite(tol.J) and _all_finite([*tol.dJ_dw, *tol.dJ_db, *tol.dJ_dl])


def _all_finite(arrays: list[Array]) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def _failing(comparisons: list[BlockComparison]) -> list[BlockComparison]:
    return [c for c in comparisons if not c.passed]


def _finite(result: object) -> bool:
    if isinstance(result, FiniteDifferenceResult):
        estimates = [p.estimate for p in result.entries]
        estimates += [p.estimate for p in result.directions]
        return math.isfinite(result.J) and _all_finite(estimates)
    assert isinstance(result, Gradients)
    arrays = [*result.dJ_dw, *result.dJ_db, *(result.dJ_dl or [])]
    return math.isfinite(result.J or 0.0) and _all_finite(arrays)


def full_reference(results: Mapping[str, object]) -> Gradients | None:
    """The first result that gives layer outputs and every ``dJ/dl_i`` (any
    autograd oracle), or ``None``."""
    return next((r for r in results.values() if isinstance(r, Gradients)
                 and r.outputs is not None and r.dJ_dl is not None), None)


def _magnitude_reference(example: Example, autograd: dict[str, Gradients],
                         probes: dict[str, FiniteDifferenceResult],
                         candidate: Gradients) -> Gradients | None:
    """The layer outputs and ``dJ/dl_i`` that size the tolerances.

    An autograd oracle gives both in float64. Without one, the finite-difference
    oracle's layer outputs serve, with ``dJ/dl_i`` from the code under test if
    it gives them and from the built-in manual backprop (in float64) if not.
    They only size the tolerance: a wrong ``dJ/dl_i`` cannot widen it enough to
    hide an error, since the tolerance is a few units of roundoff of it; a NaN
    or infinite one sizes nothing (the gradients it leads to fail anyway).
    """
    full = full_reference(autograd)
    if full is not None:
        return full
    if not probes:
        return None
    fd = next(iter(probes.values()))
    dJ_dl = candidate.dJ_dl
    if dJ_dl is None:
        with np.errstate(all="ignore"):
            dJ_dl = backprop(example).dJ_dl
    assert dJ_dl is not None
    finite = [np.asarray(d, dtype=np.float64) for d in dJ_dl]
    return Gradients(dJ_dw=[], dJ_db=[], J=fd.J, outputs=fd.outputs,
                     dJ_dl=[np.where(np.isfinite(d), d, 0.0) for d in finite])


def judge(example: Example, candidate: Gradients, results: dict[str, object],
          dtype: str = "float64") -> Judgement:
    """The verdict on ``candidate`` (gradients computed in ``dtype``) given the
    oracles' ``results`` by name."""
    if not all(_finite(r) for r in results.values()):
        broken = ", ".join(name for name, r in results.items() if not _finite(r))
        return Judgement(Verdict.ILL_CONDITIONED,
                         f"{example.label}: the references overflow ({broken} gave "
                         "NaN or infinity); nothing can be judged here")

    autograd = {k: r for k, r in results.items() if isinstance(r, Gradients)}
    probes = {k: r for k, r in results.items() if isinstance(r, FiniteDifferenceResult)}
    scale = _magnitude_reference(example, autograd, probes, candidate)
    reason = conditioning(example, scale, dtype) if scale is not None else None
    if reason is not None:
        return Judgement(Verdict.ILL_CONDITIONED, f"{example.label}: {reason}")
    own_tol = tolerances(example, scale, dtype) if scale is not None else None
    ref_tol = own_tol if dtype == "float64" or scale is None else tolerances(
        example, scale, "float64")
    if not all(_finite_tolerances(t) for t in (own_tol, ref_tol) if t is not None):
        return Judgement(Verdict.ILL_CONDITIONED,
                         f"{example.label}: the tolerances overflow (the gradients "
                         "or layer outputs are too large for float64 to bound "
                         "their rounding); nothing can be judged here")

    comparisons: list[BlockComparison] = []
    candidate_fails: dict[str, list[BlockComparison]] = {}
    for name, gradients in autograd.items():
        assert own_tol is not None
        blocks = compare_gradients(CANDIDATE, candidate, name, gradients, own_tol)
        comparisons += blocks
        candidate_fails[name] = _failing(blocks)
    for name, fd in probes.items():
        blocks = compare_with_probes(CANDIDATE, candidate, name, fd, own_tol, dtype)
        comparisons += blocks
        candidate_fails[name] = _failing(blocks)

    oracle_pairs: list[tuple[str, str]] = []
    names = list(autograd)
    for k, a in enumerate(names):
        assert ref_tol is not None
        for b in names[k + 1:]:
            blocks = compare_gradients(a, autograd[a], b, autograd[b], ref_tol)
            comparisons += blocks
            if _failing(blocks):
                oracle_pairs.append((a, b))
        for p, fd in probes.items():
            blocks = compare_with_probes(a, autograd[a], p, fd, ref_tol, "float64")
            comparisons += blocks
            if _failing(blocks):
                oracle_pairs.append((a, p))

    return _verdict(example, comparisons, candidate_fails, oracle_pairs)


def _verdict(example: Example, comparisons: list[BlockComparison],
             candidate_fails: dict[str, list[BlockComparison]],
             oracle_pairs: list[tuple[str, str]]) -> Judgement:
    label = example.label
    disagreeing = {name for name, fails in candidate_fails.items() if fails}
    all_oracles = set(candidate_fails)
    if ARBITER in candidate_fails:
        settled = _settled_by_arbiter(example, comparisons, candidate_fails,
                                      oracle_pairs)
        if settled is not None:
            return settled
    if disagreeing == {"fd"} and _complex_step_vouches(comparisons, candidate_fails):
        return Judgement(Verdict.FD_NOISE,
                         f"{label}: agrees; finite differences drift beyond their "
                         "own error estimate, and the complex step, which takes no "
                         "difference, agrees with the code under test everywhere "
                         "they do not", comparisons)
    if disagreeing and (not oracle_pairs or disagreeing == all_oracles):
        worst = max((c for fails in candidate_fails.values() for c in fails),
                    key=lambda c: c.excess)
        layers = [c.layer for fails in candidate_fails.values() for c in fails
                  if c.parameter in ("w", "b", "l")]
        closest = max(layers) if layers else None
        where = f"; the layer closest to the output that disagrees is {closest}" \
            if closest else ""
        return Judgement(Verdict.DISCREPANCY,
                         f"{label}: {worst.describe()}{where}",
                         comparisons, tuple(sorted(disagreeing)), closest)
    if oracle_pairs:
        pair = oracle_pairs[0]
        worst = max((c for c in comparisons
                     if {c.subject, c.against} == set(pair) and not c.passed),
                    key=lambda c: c.excess)
        return Judgement(Verdict.ORACLE_DISAGREEMENT,
                         f"{label}: oracles {pair[0]} and {pair[1]} disagree: "
                         f"{worst.describe()}", comparisons, pair)
    own = [c for c in comparisons if c.subject == CANDIDATE]
    if any(c.skipped for c in own):
        skipped = sum(c.skipped for c in own)
        return Judgement(Verdict.NON_DIFFERENTIABLE,
                         f"{label}: agrees; {skipped} finite-difference probes "
                         "straddle a kink and were judged by the autograd oracles "
                         "alone", comparisons)
    if any(c.within_fd_error for c in own):
        return Judgement(Verdict.FD_NOISE,
                         f"{label}: agrees; finite differences drift, but within "
                         "their error estimate", comparisons)
    return Judgement(Verdict.AGREE, f"{label}: agrees with every oracle", comparisons)


def pre_activations_on_kinks(example: Example, reference: Gradients,
                             dtype: str = "float64", exactly: bool = True
                             ) -> dict[int, Array]:
    """Masks ``(batch, n_i)`` of the pre-activations on a kink, by 0-based layer.

    "On" means within the rounding that ``dtype`` makes in ``l_i`` (its forward
    error bound ``F_i``), where code may fairly take either one-sided slope;
    with ``exactly=False``, those exactly on the kink are left out.
    """
    assert reference.outputs is not None
    u = SAFETY * unit_roundoff(dtype)
    f = reference.outputs
    F, _ = forward_error_bounds(example, f)
    masks = {}
    for i, name in enumerate(example.architecture.activations):
        kinks = ACTIVATIONS[name].kinks
        if not kinks:
            continue
        l = f[i] @ example.weights[i].T + example.biases[i]
        near = np.any([(np.abs(l - k.at) <= u * F[i]) & (exactly | (l != k.at))
                       for k in kinks], axis=0)
        if np.any(near):
            masks[i] = near
    return masks


def _widest(each: list[Tolerances]) -> Tolerances:
    """The largest of several tolerances, entry by entry."""
    def widest(blocks: list[list[Array]]) -> list[Array]:
        return [np.maximum.reduce(layer) for layer in zip(*blocks)]
    return Tolerances(widest([t.dJ_dw for t in each]), widest([t.dJ_db for t in each]),
                      widest([t.dJ_dl for t in each]), max(t.J for t in each))


def kinked_units(example: Example, on_kinks: dict[int, Array]) -> str:
    """``3 of relu, 1 of leaky_relu``: how many pre-activations of each kinked
    activation ``on_kinks`` (masks by layer index) marks."""
    counts: dict[str, int] = {}
    for i, mask in on_kinks.items():
        name = example.architecture.activations[i]
        counts[name] = counts.get(name, 0) + int(np.sum(mask))
    return ", ".join(f"{count} of {name}" for name, count in sorted(counts.items()))


def reconsider_at_kinks(example: Example, candidate: Gradients, judgement: Judgement,
                        reference: Gradients, alternatives: dict[str, Gradients],
                        on_kinks: dict[int, Array], dtype: str) -> Judgement:
    """Turn a discrepancy into a non-differentiable point when every entry of the
    code under test lies between the gradients that the one-sided slopes give.

    ``alternatives`` are references that take, at the pre-activations on a
    kink, the smaller or the larger slope for each kinked activation (every
    combination); with ``reference`` they span, entry by entry, the gradients a
    kink convention, or rounding to either side, may give. ``on_kinks`` are the
    masks of :func:`pre_activations_on_kinks` they were computed for.
    """
    # Each one-sided reference carries its own dJ/dl_i, and so its own tolerances.
    references = [reference, *alternatives.values()]
    tol = _widest([tolerances(example, r, dtype) for r in references])
    pairs = [("w", candidate.dJ_dw, [r.dJ_dw for r in references], tol.dJ_dw),
             ("b", candidate.dJ_db, [r.dJ_db for r in references], tol.dJ_db)]
    if candidate.dJ_dl is not None:
        pairs.append(("l", candidate.dJ_dl, [r.dJ_dl or [] for r in references],
                      tol.dJ_dl))
    blocks = []
    for parameter, values, refs, bounds in pairs:
        for i, value in enumerate(values):
            stacked = np.stack([np.asarray(r[i], dtype=np.float64) for r in refs])
            nearest = np.clip(np.asarray(value, dtype=np.float64),
                              stacked.min(axis=0), stacked.max(axis=0))
            blocks.append(_Block(i + 1, parameter, value, nearest, bounds[i]))
    checked = _compare_blocks(CANDIDATE, "one-sided slopes", blocks)
    if _failing(checked):
        return judgement
    where = kinked_units(example, on_kinks)
    sides = (" (the oracles themselves rounded to different sides)"
             if judgement.verdict is Verdict.ORACLE_DISAGREEMENT else "")
    return Judgement(
        Verdict.NON_DIFFERENTIABLE,
        f"{example.label}: pre-activations sit on a kink ({where}), and every "
        "gradient of the code under test lies between those the one-sided slopes "
        f"give{sides}; --strict-kinks calls a slope other than the smaller one a "
        "discrepancy",
        judgement.comparisons + checked,
    )
