"""The report's data: plain dataclasses, filled by the campaign, read by the
HTML, JSON and JUnit writers. Only summaries are kept for passing examples;
failing examples keep their comparisons and a reproducer."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from oracles.compare import CANDIDATE, BlockComparison, Judgement, Verdict


@dataclass
class BlockRow:
    """One compared block: ``J``, ``dJ/dw_i``, ``dJ/db_i``, ``dJ/dl_i`` or a set
    of finite-difference directions, of ``subject`` against ``against``."""

    subject: str
    against: str
    name: str
    layer: int
    parameter: str
    passed: bool
    excess: float
    max_abs_error: float
    max_rel_error: float
    index: list[int]
    subject_value: float
    against_value: float
    tolerance: float
    cosine: float
    norm_ratio: float
    skipped: int

    @classmethod
    def from_comparison(cls, c: BlockComparison) -> BlockRow:
        return cls(
            subject=c.subject, against=c.against, name=c.name, layer=c.layer,
            parameter=c.parameter, passed=c.passed, excess=c.excess,
            max_abs_error=c.max_abs_error, max_rel_error=c.max_rel_error,
            index=list(c.index), subject_value=c.subject_value,
            against_value=c.against_value, tolerance=c.tolerance, cosine=c.cosine,
            norm_ratio=c.norm_ratio, skipped=c.skipped,
        )


@dataclass
class HeatMap:
    """The discrepancy of ``dJ/dw_i`` entry by entry: ``|code under test -
    reference| / tolerance``, shape ``(n_i, n_{i-1})``, against the autograd
    oracle ``against``; ``worst`` indexes the largest entry."""

    layer: int
    against: str
    excess: list[list[float]]
    worst: list[int]
    worst_excess: float

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.excess), len(self.excess[0]) if self.excess else 0


@dataclass
class ExampleDetails:
    """What a failing example shows: every comparison, worst first, the arrays
    of the example (float64, as nested lists) and how to replay it; heat maps
    of its weight gradients, and the layers too wide to draw one for."""

    blocks: list[BlockRow]
    arrays: dict[str, Any]
    reproducer: str
    disagreeing: list[str] = field(default_factory=list)
    first_layer_from_output: int | None = None
    diagnoses: list[str] = field(default_factory=list)
    heat_maps: list[HeatMap] = field(default_factory=list)
    heat_maps_skipped: list[int] = field(default_factory=list)


@dataclass
class ExampleRecord:
    """One row of the report: an example and its verdict."""

    index: int
    label: str
    architecture: str
    depth: int
    d: int
    widths: list[int]
    activations: list[str]
    cost: str
    batch: int
    reduction: str
    n_parameters: int
    verdict: str
    message: str
    worst_excess: float
    worst_rel_error: float
    seconds: float
    details: ExampleDetails | None = None
    # Small summaries kept for every example: the worst excess of each pair
    # compared, keyed "subject|against", and the worst relative error of the
    # code under test against each oracle.
    pairs: dict[str, float] = field(default_factory=dict)
    rel_errors: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return Verdict(self.verdict).fails

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExampleRecord:
        """The record that ``dataclasses.asdict`` turned into ``data`` (floats
        kept as floats, NaN and infinity included)."""
        details = data.get("details")
        if details is not None:
            details = ExampleDetails(**{
                **details,
                "blocks": [BlockRow(**b) for b in details["blocks"]],
                "heat_maps": [HeatMap(**h) for h in details["heat_maps"]],
            })
        return cls(**{**data, "details": details})


@dataclass
class OracleInfo:
    name: str
    version: str


PAIR_SEPARATOR = "|"


@dataclass
class PairAgreement:
    """One cell of the agreement matrix: on how many examples a pair was
    compared, on how many it agreed, and its worst error over tolerance."""

    compared: int = 0
    agreed: int = 0
    worst_excess: float = 0.0


@dataclass
class AgreementMatrix:
    """The code under test and every oracle, pair by pair, across a campaign;
    a pair is unordered, so the matrix is symmetric."""

    names: list[str]
    cells: dict[frozenset[str], PairAgreement]

    def cell(self, a: str, b: str) -> PairAgreement | None:
        """The cell of ``a`` and ``b``; ``None`` if they were never compared."""
        return self.cells.get(frozenset((a, b)))


@dataclass
class CampaignReport:
    """Everything a run found, in the order the writers show it."""

    title: str
    command: str
    code_under_test: str
    started: str
    seed: int
    dtype: str
    reduction: str
    examples_requested: int
    oracles: list[OracleInfo]
    options: dict[str, Any]
    examples: list[ExampleRecord] = field(default_factory=list)
    duration: float = 0.0
    interrupted: bool = False
    error: str | None = None
    smallest: ExampleRecord | None = None

    @property
    def counts(self) -> dict[str, int]:
        """How many examples got each verdict, every verdict listed."""
        counts = {v.value: 0 for v in Verdict}
        for record in self.examples:
            counts[record.verdict] += 1
        return counts

    @property
    def failures(self) -> list[ExampleRecord]:
        return [r for r in self.examples if r.failed]

    @property
    def passed(self) -> bool:
        return not self.failures and not self.interrupted and self.error is None

    @property
    def exit_code(self) -> int:
        """0 every example agrees, 1 a discrepancy or failing code, 2 the run
        could not finish (interrupted or broken) without finding one."""
        if self.failures:
            return 1
        return 2 if self.interrupted or self.error else 0

    @property
    def overall(self) -> str:
        if self.failures:
            return "discrepancies found"
        if self.error:
            return "harness error"
        if self.interrupted:
            return ("interrupted before the end, not a pass: no discrepancy in the "
                    "examples it ran")
        return "every example agrees"

    @property
    def agreement(self) -> AgreementMatrix:
        """Who agreed with whom: the code under test first, then the oracles in
        the order of the run, then any other reference compared (the arbiter)."""
        cells: dict[frozenset[str], PairAgreement] = {}
        seen: list[str] = []
        for record in self.examples:
            for key, excess in record.pairs.items():
                subject, _, against = key.partition(PAIR_SEPARATOR)
                seen += [n for n in (subject, against) if n not in seen]
                cell = cells.setdefault(frozenset((subject, against)),
                                        PairAgreement())
                cell.compared += 1
                cell.agreed += excess <= 1.0
                if not excess <= cell.worst_excess:  # NaN counts as worst
                    cell.worst_excess = excess
        names = list(dict.fromkeys([CANDIDATE, *(o.name for o in self.oracles)]))
        names += sorted(n for n in seen if n not in names)
        return AgreementMatrix(names, cells)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary; NaN and infinity become strings."""
        data = asdict(self)
        data.update(counts=self.counts, exit_code=self.exit_code,
                    overall=self.overall, examples_run=len(self.examples))
        return _json_safe(data)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def summarise(judgement: Judgement) -> tuple[float, float]:
    """The worst excess and relative error of the code under test."""
    worst = judgement.worst
    if worst is None:
        return 0.0, 0.0
    return worst.excess, worst.max_rel_error


# Comparisons with these references are not between the code under test and an
# oracle: the one-sided slopes at a kink are a range, not an answer.
_NOT_ORACLES = frozenset({"one-sided slopes"})


def pair_summaries(judgement: Judgement) -> dict[str, float]:
    """The worst excess of each pair compared, keyed ``"subject|against"``."""
    worst: dict[str, float] = {}
    for c in judgement.comparisons:
        if c.against in _NOT_ORACLES:
            continue
        key = f"{c.subject}{PAIR_SEPARATOR}{c.against}"
        if key not in worst or not c.excess <= worst[key]:
            worst[key] = c.excess
    return worst


def relative_errors(judgement: Judgement) -> dict[str, float]:
    """The worst relative error of the code under test against each oracle."""
    worst: dict[str, float] = {}
    for c in judgement.comparisons:
        if c.subject != CANDIDATE or c.against in _NOT_ORACLES:
            continue
        if c.against not in worst or not c.max_rel_error <= worst[c.against]:
            worst[c.against] = c.max_rel_error
    return worst
