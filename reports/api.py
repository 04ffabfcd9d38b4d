"""Check gradient code from your own test suite.

:func:`assert_gradients_agree` judges one example, drawn for instance by
:func:`examples` under Hypothesis, and raises ``AssertionError`` with the
verdict's message when it fails::

    from hypothesis import given, settings
    from reports.api import architectures, assert_gradients_agree, examples

    @settings(deadline=None)
    @given(examples(architectures(activations=("tanh", "sigmoid"),
                                  costs=("half_sse",))))
    def test_my_gradients_agree_with_the_oracles(example):
        assert_gradients_agree(my_gradients, example)

Every judgement made here is also kept in :data:`COLLECTED`, which the pytest
plug-in (``--gradproof-report PATH.html``) turns into one report at the end of
the session with :func:`collected_report`.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from manual_backprop import DTYPES, REDUCTIONS, Example
from manual_backprop.errors import check_argument
from oracles import Judgement, make_oracle
from oracles.base import ORACLE_NAMES, Oracle
from property_tests.strategies import architectures, examples
from reports.campaign import check, record_of
from reports.model import CampaignReport, ExampleRecord, OracleInfo
from reports.plugin import ContractCandidate, GradientFunction

__all__ = [
    "COLLECTED", "Collected", "Collector", "architectures", "assert_gradients_agree",
    "collected_report", "combined", "examples",
]

# Failing examples of one test beyond this many keep their summary only.
DETAILED_FAILURES = 20


@dataclass
class Collected:
    """One judged example: its report row and what the report's header shows."""

    record: ExampleRecord
    test: str | None
    code_under_test: str
    oracles: dict[str, str]  # name: version
    dtype: str
    reduction: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Collected:
        """The judged example that ``dataclasses.asdict`` turned into ``data``."""
        return cls(**{**data, "record": ExampleRecord.from_dict(data["record"])})


@dataclass
class Collector:
    """Every example judged through :func:`assert_gradients_agree` in this
    process, in order."""

    judged: list[Collected] = field(default_factory=list)

    @property
    def records(self) -> list[ExampleRecord]:
        return [c.record for c in self.judged]

    def add(self, judged: Collected) -> None:
        """Keep ``judged``; of the failures of one test, only the last
        :data:`DETAILED_FAILURES` keep their details (Hypothesis replays the
        smallest failing example last)."""
        self.judged.append(judged)
        if judged.record.details is None:
            return
        detailed = [c for c in self.judged
                    if c.test == judged.test and c.record.details is not None]
        for older in detailed[:-DETAILED_FAILURES]:
            older.record.details = None

    def since(self, start: int) -> Collector:
        """The examples from position ``start`` on (a session's share of them)."""
        return Collector(self.judged[start:])

    def to_json(self) -> str:
        """Every judged example as JSON text, for another process (a pytest-xdist
        worker sends its examples to the controller this way). NaN and infinity
        are written as JavaScript's ``NaN`` and ``Infinity``, which
        :meth:`from_json` reads back as floats."""
        return json.dumps([dataclasses.asdict(c) for c in self.judged],
                          default=_plain)

    @classmethod
    def from_json(cls, text: str) -> Collector:
        """The examples that :meth:`to_json` wrote, in the same order."""
        return cls([Collected.from_dict(c) for c in json.loads(text)])


COLLECTED = Collector()


def _plain(value: object) -> object:
    """A NumPy scalar as the Python number it holds, for :func:`json.dumps`."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@functools.cache
def _oracle(name: str) -> Oracle:
    """The oracle called ``name``, built once per process."""
    return make_oracle(name)


def _candidate(function: GradientFunction) -> ContractCandidate:
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or type(function).__name__
    return ContractCandidate(function, f"{module}:{name}")


def _current_test() -> str | None:
    """The pytest node id of the running test, if pytest is running one."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    return current.rsplit(" ", 1)[0] if current else None


def _numbered(index: int) -> str:
    """``example 3``; ``example 3 on gw1`` in a pytest-xdist worker, which
    numbers its examples on its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"example {index} on {worker}" if worker else f"example {index}"


def assert_gradients_agree(
    gradients: GradientFunction,
    example: Example,
    *,
    dtype: str = "float64",
    oracles: Sequence[str] = ("torch", "fd"),
    strict_kinks: bool = False,
    reduction: str = "mean",
) -> Judgement:
    """Judge ``gradients`` on ``example``; raise ``AssertionError`` if it fails.

    ``gradients(weights, biases, activations, cost, X, Y) -> (dJ_dw, dJ_db)``
    follows the plug-in contract: ``weights[i]`` is ``(n_{i+1}, n_i)``,
    ``biases[i]`` is ``(n_{i+1},)``, ``X`` is ``(batch, d)``, ``Y`` is
    ``(batch, n_n)``. It is called on copies of the arrays in ``dtype`` and
    compared with ``oracles`` (names, or ``"torch,fd"``; built once per
    process). ``reduction`` says what its ``J`` is over the batch, the mean or
    the sum; the example is judged with that reduction, whatever it was drawn
    with.

    Returns the :class:`~oracles.Judgement` when the verdict passes (agree, a
    non-differentiable point, finite-difference noise, ill-conditioned); a
    failing verdict raises with the judgement's message, which names the
    example, the layer, the parameter and the index.
    """
    __tracebackhide__ = True
    check_argument(dtype in DTYPES, f"dtype {dtype!r}: expected one of "
                                    f"{', '.join(DTYPES)}")
    check_argument(reduction in REDUCTIONS, f"reduction {reduction!r}: expected "
                                            f"one of {', '.join(REDUCTIONS)}")
    check_argument(isinstance(example, Example),
                   f"example of type {type(example).__name__}: expected a "
                   "manual_backprop.Example, drawn for instance by examples()")
    check_argument(callable(gradients),
                   f"gradients of type {type(gradients).__name__}: expected a "
                   "function gradients(weights, biases, activations, cost, X, Y)")
    names = tuple(oracles.split(",") if isinstance(oracles, str) else oracles)
    check_argument(bool(names) and all(n in ORACLE_NAMES for n in names),
                   f"oracles {names!r}: expected one or more of "
                   f"{', '.join(ORACLE_NAMES)}")

    built = {name: _oracle(name) for name in names}
    candidate = _candidate(gradients)
    index = len(COLLECTED.judged)
    test = _current_test()
    label = _numbered(index) if example.label == "example" else example.label
    label = f"{test}: {label}" if test else label
    example = dataclasses.replace(example, label=label, reduction=reduction)

    started = time.perf_counter()
    with np.errstate(all="ignore"):
        checked = check(example, candidate, built, dtype, strict_kinks)
    seconds = time.perf_counter() - started
    judgement = checked.judgement

    reproducer = f"pytest {shlex.quote(test)}" if test else "(not run by pytest)"
    record = record_of(index, example, checked, reproducer,
                       keep_details=judgement.verdict.fails, seconds=seconds)
    versions = {name: oracle.version for name, oracle in built.items()}
    COLLECTED.add(Collected(record, test, candidate.name, versions, dtype, reduction))

    if judgement.verdict.fails:
        raise AssertionError(judgement.message)
    return judgement


def combined(parts: Iterable[Collector]) -> Collector:
    """The examples of every part, in order, numbered from 0 again (pytest-xdist
    workers each number their own from 0); the records are copies."""
    judged = [c for part in parts for c in part.judged]
    return Collector([
        dataclasses.replace(c, record=dataclasses.replace(c.record, index=i))
        for i, c in enumerate(judged)
    ])


def collected_report(collector: Collector, command: str, started: str,
                     duration: float) -> CampaignReport:
    """One report of every example in ``collector``, for a test session."""
    judged = collector.judged
    oracles = {name: v for c in judged for name, v in c.oracles.items()}
    return CampaignReport(
        title="gradproof: gradient checks of a test session",
        command=command,
        code_under_test=", ".join(dict.fromkeys(c.code_under_test for c in judged))
        or "(nothing checked)",
        started=started,
        seed=0,
        dtype=", ".join(dict.fromkeys(c.dtype for c in judged)) or "float64",
        reduction=", ".join(dict.fromkeys(c.reduction for c in judged)) or "mean",
        examples_requested=len(judged),
        oracles=[OracleInfo(name, version) for name, version in oracles.items()],
        options={},
        examples=[c.record for c in judged],
        duration=duration,
    )


def now() -> str:
    """The local time, to the second, as reports show it."""
    return datetime.datetime.now().isoformat(timespec="seconds")
