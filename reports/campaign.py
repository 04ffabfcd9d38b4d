"""A campaign: random examples from the strategies, each run through the code
under test and every oracle, judged, and recorded as it finishes.

Records are summaries; only failing examples keep their comparisons and arrays,
so a long campaign's memory does not grow with its length. An interrupt stops
the campaign and keeps what it has.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import logging
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable
from hypothesis.strategies import SearchStrategy

from manual_backprop import (
    ACTIVATIONS,
    COSTS,
    Architecture,
    Example,
    Gradients,
    backprop,
)
from oracles.arbiter import ExtendedPrecisionOracle
from oracles.base import DEFAULT_ORACLES, Oracle
from oracles.compare import (
    ARBITER,
    Judgement,
    Verdict,
    full_reference,
    judge,
    kinked_units,
    pre_activations_on_kinks,
    reconsider_at_kinks,
)
from oracles.diagnosis import diagnose, faulty_torch_references
from oracles.finite_differences import FiniteDifferenceResult
from oracles.remote import Answer, RemoteOracle
from property_tests.strategies import architectures, examples
from reports.heatmaps import weight_heat_maps
from reports.model import (
    BlockRow,
    CampaignReport,
    ExampleDetails,
    ExampleRecord,
    pair_summaries,
    relative_errors,
    summarise,
)

logger = logging.getLogger(__name__)


class Candidate(Protocol):
    """Gradient code under test, adapted to take an example and a dtype."""

    name: str

    def __call__(self, example: Example, dtype: str) -> Gradients: ...


class ManualBackprop:
    """The built-in manual backprop as a candidate."""

    name = "manual_backprop (built in)"

    def __call__(self, example: Example, dtype: str) -> Gradients:
        return backprop(example, dtype)


# How many examples may wait for a helper process's answers (a JAX helper still
# importing or compiling) while the main process goes on with the next ones.
_IN_FLIGHT = 256


class CandidateFailure(Exception):
    """The code under test raised or returned something malformed."""


class _Interrupted(BaseException):
    """Ctrl-C, deferred to the end of the example being checked.

    A ``BaseException``, so that Hypothesis lets it through instead of treating
    it as a failing example to replay.
    """


# Set by the first Ctrl-C of a campaign; read between examples, and by the
# plug-in to tell a real Ctrl-C from code under test that raises KeyboardInterrupt.
INTERRUPTED = threading.Event()


@contextlib.contextmanager
def handling_interrupts(handler: Callable[[int, object], None]) -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM (which CI cancellations, ``timeout``
    and ``docker stop`` send) call ``handler``, starting with :data:`INTERRUPTED`
    clear; outside the main thread, where no handler can be set, nothing
    changes."""
    INTERRUPTED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, a first Ctrl-C or SIGTERM only sets :data:`INTERRUPTED`,
    so that no oracle is torn down half-way and the outputs are still written; a
    second one stops at once."""
    def handler(signum: int, frame: object) -> None:
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt
        INTERRUPTED.set()
        logging.getLogger(__name__).warning(
            "interrupted (%s): stopping once the current example is checked (the "
            "code under test may still be running); press Ctrl-C again to stop "
            "now", signal.Signals(signum).name)

    with handling_interrupts(handler):
        yield


@dataclass
class CampaignConfig:
    """What a campaign draws and how it judges; the command line fills it.

    ``architectures``, when given, is drawn from instead of the architectures
    that ``activations``, ``costs`` and the size limits describe (the component
    checks put the user's activation into some layers of those).
    """

    examples: int = 200
    seed: int = 0
    dtype: str = "float64"
    activations: Sequence[str] = tuple(ACTIVATIONS)
    costs: Sequence[str] = tuple(COSTS)
    max_depth: int = 5
    max_width: int = 16
    max_batch: int = 8
    reduction: str = "mean"
    oracles: Sequence[str] = DEFAULT_ORACLES
    detailed_failures: int = 20
    strict_kinks: bool = False
    architectures: SearchStrategy[Architecture] | None = None


def _arrays(example: Example) -> dict[str, object]:
    return {
        "weights": [w.tolist() for w in example.weights],
        "biases": [b.tolist() for b in example.biases],
        "X": example.X.tolist(),
        "Y": example.Y.tolist(),
    }


def _record(index: int, example: Example, judgement: Judgement, seconds: float,
            keep_details: bool, reproducer: str,
            seen: Checked | None = None) -> ExampleRecord:
    """The report row of an example: summaries always (the worst excess of each
    pair compared, the worst relative error against each oracle); with
    ``keep_details``, every comparison, the arrays and, from what the check
    ``seen``, heat maps of the weight gradients."""
    a = example.architecture
    worst_excess, worst_rel = summarise(judgement)
    details = None
    if keep_details:
        rows = sorted((BlockRow.from_comparison(c) for c in judgement.comparisons),
                      key=lambda r: (r.passed, -r.excess))
        heat_maps, skipped = ([], []) if seen is None or seen.gradients is None else \
            weight_heat_maps(example, seen.gradients, seen.results, seen.dtype)
        details = ExampleDetails(
            blocks=rows, arrays=_arrays(example), reproducer=reproducer,
            disagreeing=list(judgement.disagreeing_oracles),
            diagnoses=list(judgement.diagnoses),
            first_layer_from_output=judgement.first_layer_from_output,
            heat_maps=heat_maps, heat_maps_skipped=skipped,
        )
    return ExampleRecord(
        index=index, label=example.label, architecture=a.describe(), depth=a.n,
        d=a.d, widths=list(a.widths), activations=list(a.activations), cost=a.cost,
        batch=example.batch, reduction=example.reduction,
        n_parameters=a.n_parameters, verdict=judgement.verdict.value,
        message=judgement.message, worst_excess=worst_excess,
        worst_rel_error=worst_rel, seconds=seconds, details=details,
        pairs=pair_summaries(judgement), rel_errors=relative_errors(judgement),
    )


@dataclass
class Checked:
    """One example as checked: the verdict, and what the code under test and the
    oracles returned (``gradients`` is ``None`` when the code failed)."""

    judgement: Judgement
    gradients: Gradients | None
    results: dict[str, object]
    dtype: str


_ARBITER = ExtendedPrecisionOracle()


def check_example(example: Example, candidate: Candidate,
                  oracles: dict[str, Oracle], dtype: str,
                  strict_kinks: bool = False) -> Judgement:
    """Run ``example`` through the code under test and every oracle; judge it
    (see :func:`check`)."""
    return check(example, candidate, oracles, dtype, strict_kinks).judgement


def check(example: Example, candidate: Candidate, oracles: dict[str, Oracle],
          dtype: str, strict_kinks: bool = False) -> Checked:
    """Run ``example`` through the code under test and every oracle; judge it.

    When the oracles disagree, the extended-precision arbiter settles who is
    right (on networks small enough for it). On an example with pre-activations
    on a kink, an oracle disagreement (oracles that rounded to different sides)
    or a discrepancy is judged again against the one-sided slopes; with
    ``strict_kinks`` a discrepancy only at pre-activations near a kink, not
    exactly on it.
    """
    return begin_check(example, candidate, oracles, dtype).finish(strict_kinks)


def begin_check(example: Example, candidate: Candidate, oracles: dict[str, Oracle],
                dtype: str) -> Begun:
    """The first half of :func:`check`: hand ``example`` to the oracles in helper
    processes, then compute the other oracles' answers and the code under test's
    gradients meanwhile. :meth:`Begun.finish` judges."""
    pending = {name: oracle.submit(example) for name, oracle in oracles.items()
               if isinstance(oracle, RemoteOracle)}
    begun = Begun(example, dtype, list(oracles), pending)
    try:
        begun.results = {name: oracle.compute(example)
                         for name, oracle in oracles.items() if name not in pending}
    except CandidateFailure as failure:
        # An oracle that runs user code (a user's activation or cost under check)
        # reports its misbehaviour as the code under test's.
        begun.failure = Judgement(Verdict.CODE_ERROR, f"{example.label}: {failure}")
        return begun
    try:
        begun.gradients = candidate(example, dtype)
    except CandidateFailure as failure:
        begun.failure = Judgement(Verdict.CODE_ERROR, f"{example.label}: {failure}")
    except Exception:
        trace = traceback.format_exc(limit=-3)
        begun.failure = Judgement(Verdict.CODE_ERROR, f"{example.label}: the code "
                                  f"under test raised:\n{trace}")
    return begun


@dataclass
class Begun:
    """An example whose check has begun: the answers in hand, those still coming
    from helper processes, and the code under test's gradients or failure."""

    example: Example
    dtype: str
    oracle_names: list[str]
    pending: dict[str, Answer]
    results: dict[str, object] = dataclasses.field(default_factory=dict)
    gradients: Gradients | None = None
    failure: Judgement | None = None

    def ready(self) -> bool:
        """Whether :meth:`finish` can judge without waiting for a helper."""
        return self.failure is not None or all(p.done() for p in self.pending.values())

    def finish(self, strict_kinks: bool = False) -> Checked:
        """Wait for the helpers' answers and judge (see :func:`check`)."""
        if self.failure is not None:
            return Checked(self.failure, None, self.results, self.dtype)
        answers = {name: p.result() for name, p in self.pending.items()}
        self.results = {name: answers[name] if name in answers else self.results[name]
                        for name in self.oracle_names}
        assert self.gradients is not None, "begin_check gives gradients or a failure"
        return _judged(self.example, self.gradients, self.results, self.dtype,
                       strict_kinks)


def _judged(example: Example, gradients: Gradients, results: dict[str, object],
            dtype: str, strict_kinks: bool) -> Checked:
    judgement = judge(example, gradients, results, dtype)
    if (judgement.verdict is Verdict.ORACLE_DISAGREEMENT
            and _ARBITER.can_judge(example)):
        arbiter = _ARBITER.compute(example)
        if not arbiter.across_kink:
            judgement = judge(example, gradients, {**results, ARBITER: arbiter}, dtype)
    reference = full_reference(results)
    reconsider = judgement.verdict in (Verdict.ORACLE_DISAGREEMENT,
                                       Verdict.DISCREPANCY)
    # Strict kinks still forgive rounding to the other side of a kink, but
    # not another slope exactly on it.
    exactly = not (strict_kinks and judgement.verdict is Verdict.DISCREPANCY)
    if reconsider and isinstance(reference, Gradients):
        on_kinks = pre_activations_on_kinks(example, reference, dtype, exactly)
        if on_kinks:
            alternatives = _one_sided_references(example, on_kinks)
            judgement = reconsider_at_kinks(example, gradients, judgement, reference,
                                            alternatives, on_kinks, dtype)
    elif reconsider:
        judgement = _probes_off_kinks(example, gradients, results, judgement, dtype,
                                      exactly)
    if judgement.verdict is Verdict.DISCREPANCY and isinstance(reference, Gradients):
        judgement = _with_diagnosis(example, gradients, reference, judgement, dtype)
    if judgement.verdict is Verdict.DISCREPANCY:
        judgement = _with_precision_hint(gradients, judgement, dtype)
    return Checked(judgement, gradients, results, dtype)


def _with_precision_hint(gradients: Gradients, judgement: Judgement, dtype: str
                         ) -> Judgement:
    """Say so in a discrepancy when the code under test returned gradients in a
    lower precision than ``dtype``, which alone can put them beyond tolerance."""
    returned = [np.asarray(g).dtype for g in (*gradients.dJ_dw, *gradients.dJ_db)]
    lowest = min(returned, key=lambda d: d.itemsize, default=np.dtype(dtype))
    if lowest.itemsize >= np.dtype(dtype).itemsize:
        return judgement
    other = ", or check with --dtype float32" if lowest == np.float32 else ""
    return dataclasses.replace(
        judgement, message=f"{judgement.message}; the code under test returned "
                           f"{lowest} while {dtype} is checked: compute in "
                           f"{dtype}{other}")


def _probes_off_kinks(example: Example, gradients: Gradients,
                      results: dict[str, object], judgement: Judgement, dtype: str,
                      exactly: bool) -> Judgement:
    """Without an autograd oracle (a user's component under check): when
    pre-activations of layers up to ``i`` sit on a kink, within the rounding of
    ``dtype``, judge again with the probes of layers 1 to ``i`` left out, since
    their slopes depend on the side of the kink that rounding chose (a complex
    step, whose step moves nothing across, sees only one side). If the rest
    agrees, the example is a non-differentiable point."""
    fd = next((r for r in results.values()
               if isinstance(r, FiniteDifferenceResult)), None)
    if fd is None:
        return judgement
    outputs = Gradients(dJ_dw=[], dJ_db=[], outputs=fd.outputs)
    on_kinks = pre_activations_on_kinks(example, outputs, dtype, exactly)
    if not on_kinks:
        return judgement
    deepest = max(on_kinks) + 1
    marked = {name: _without_layers(r, deepest)
              if isinstance(r, FiniteDifferenceResult) else r
              for name, r in results.items()}
    again = judge(example, gradients, marked, dtype)
    if again.verdict.fails:
        return judgement
    where = kinked_units(example, on_kinks)
    return Judgement(
        Verdict.NON_DIFFERENTIABLE,
        f"{example.label}: pre-activations sit on a kink, within the rounding of "
        f"{dtype} ({where}); leaving out the probes of layers 1 to {deepest}, "
        "whose slopes depend on the side of the kink, the rest agrees",
        again.comparisons)


def _without_layers(result: FiniteDifferenceResult, layers: int
                    ) -> FiniteDifferenceResult:
    """``result`` with the probes of layers 1 to ``layers`` (and those over all
    layers) marked as across a kink, so that the comparison leaves them out."""
    entries = [dataclasses.replace(p, across_kink=np.ones_like(p.across_kink))
               if p.layer <= layers else p for p in result.entries]
    directions = [dataclasses.replace(p, across_kink=np.ones_like(p.across_kink))
                  if p.layer <= layers else p for p in result.directions]
    return dataclasses.replace(result, entries=entries, directions=directions)


def _with_diagnosis(example: Example, gradients: Gradients, reference: Gradients,
                    judgement: Judgement, dtype: str) -> Judgement:
    """Add the likely faults the evidence supports to a discrepancy."""
    found = diagnose(example, gradients, reference, dtype,
                     faulty_torch_references(example))
    if not found:
        return judgement
    # One fault seen in several blocks is one likely fault, not alternatives.
    blocks: dict[str, list[str]] = {}
    for d in found:
        blocks.setdefault(d.fault, []).append(d.where)
    named = tuple(f"{fault} ({', '.join(where)})" for fault, where in blocks.items())
    return dataclasses.replace(
        judgement, diagnoses=named,
        message=f"{judgement.message}; likely fault: {'; or '.join(named)}")


def _one_sided_references(example: Example, on_kinks: dict[int, np.ndarray]
                          ) -> dict[str, Gradients]:
    """PyTorch references taking, at the pre-activations on a kink, the smaller
    or the larger slope, for each combination of the kinked activations; none
    when PyTorch is not installed."""
    try:
        from oracles.torch_oracle import one_sided_gradients
    except ImportError:
        return {}

    names = sorted({example.architecture.activations[i] for i in on_kinks})
    references = {}
    for k in range(len(names) + 1):
        for larger in itertools.combinations(names, k):
            layers = {i for i in on_kinks
                      if example.architecture.activations[i] in larger}
            label = f"the larger slope for {', '.join(larger) or 'none'}"
            references[label] = one_sided_gradients(example, on_kinks, layers)
    return references


def campaign_strategy(config: CampaignConfig) -> SearchStrategy[Example]:
    """The examples a campaign draws."""
    drawn = config.architectures
    if drawn is None:
        drawn = architectures(max_depth=config.max_depth, max_width=config.max_width,
                              activations=config.activations, costs=config.costs)
    return examples(drawn, max_batch=config.max_batch,
                    reductions=(config.reduction,))


def smallest_failure(config: CampaignConfig, candidate: Candidate,
                     oracles: dict[str, Oracle], seconds: float = 60.0
                     ) -> tuple[Example, Judgement] | None:
    """The smallest example Hypothesis can find on which the verdict fails.

    Hypothesis draws and then shrinks: fewer layers and units, smaller scales,
    more zeros. Past ``seconds`` every further example counts as passing, which
    ends the search with the smallest failure found so far.
    """
    deadline = time.perf_counter() + seconds

    def fails(example: Example) -> bool:
        if time.perf_counter() > deadline:
            return False
        with np.errstate(all="ignore"):
            return check_example(example, candidate, oracles, config.dtype,
                                 config.strict_kinks).verdict.fails

    try:
        found = find(campaign_strategy(config), fails,
                     settings=settings(max_examples=max(config.examples, 100),
                                       database=None, deadline=None,
                                       phases=[Phase.generate, Phase.shrink],
                                       suppress_health_check=list(HealthCheck)),
                     random=random.Random(config.seed))
    except (NoSuchExample, Unsatisfiable):
        return None
    found.label = "smallest failing example"
    with np.errstate(all="ignore"):
        judgement = check_example(found, candidate, oracles, config.dtype,
                                  config.strict_kinks)
    return found, judgement


def record_of(index: int, example: Example, checked: Checked,
              reproducer: str, *, keep_details: bool = True,
              seconds: float = 0.0) -> ExampleRecord:
    """A report row for an example checked on its own by :func:`check`, with
    every detail (every comparison, the arrays, heat maps of the weight
    gradients) unless ``keep_details`` is false."""
    return _record(index, example, checked.judgement, seconds, keep_details,
                   reproducer, checked)


def for_each_example(config: CampaignConfig,
                     visit: Callable[[int, Example], None]) -> None:
    """Call ``visit(index, example)`` on the ``config.examples`` examples a
    campaign draws: Hypothesis, from ``config.seed``, generation only, so the
    same configuration draws the same examples."""
    count = 0

    @seed(config.seed)
    @settings(max_examples=config.examples, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck),
              derandomize=False, report_multiple_bugs=False)
    @given(campaign_strategy(config))
    def draw(example: Example) -> None:
        nonlocal count
        if count < config.examples:
            visit(count, example)
            count += 1

    draw()


def run_campaign(
    config: CampaignConfig,
    candidate: Candidate,
    oracles: dict[str, Oracle],
    report: CampaignReport,
    on_example: Callable[[ExampleRecord], None] | None = None,
    first_index: int = 0,
) -> CampaignReport:
    """Fill ``report`` with ``config.examples`` judged examples, numbered from
    ``first_index``.

    Hypothesis draws the examples from a fixed seed, so the same configuration
    gives the same examples. Ctrl-C ends the campaign early; the report then
    holds every example finished before it and says it was interrupted.
    """
    started = time.perf_counter()
    detailed = 0
    in_flight: collections.deque[tuple[int, Begun, float]] = collections.deque()

    def one_example(draw: int, example: Example) -> None:
        if INTERRUPTED.is_set():
            raise _Interrupted
        index = first_index + draw
        example.label = f"example {index}"
        t0 = time.perf_counter()
        begun = begin_check(example, candidate, oracles, config.dtype)
        in_flight.append((index, begun, time.perf_counter() - t0))
        finish_ready(wait=len(in_flight) > _IN_FLIGHT)

    def finish_ready(wait: bool = False) -> None:
        """Judge and record the examples whose helpers have answered, oldest
        first, so that the report keeps the order drawn; with ``wait``, the
        oldest in any case."""
        nonlocal detailed
        while in_flight and (wait or in_flight[0][1].ready()):
            index, begun, seconds = in_flight.popleft()
            t0 = time.perf_counter()
            checked = begun.finish(config.strict_kinks)
            seconds += time.perf_counter() - t0
            verdict = checked.judgement.verdict
            keep = verdict.fails and detailed < config.detailed_failures
            detailed += keep
            record = _record(index, begun.example, checked.judgement, seconds, keep,
                             report.command, checked)
            report.examples.append(record)
            logger.info("%s (%s, batch %d): %s in %.3f s", record.label,
                        record.architecture, record.batch, verdict.value, seconds)
            if on_example is not None:
                on_example(record)
            wait = False

    try:
        with np.errstate(all="ignore"), deferred_interrupts():
            try:
                for_each_example(config, one_example)
            finally:
                while in_flight:  # what the helpers still owe, even after Ctrl-C
                    finish_ready(wait=True)
    except (KeyboardInterrupt, _Interrupted):
        report.interrupted = True
        logger.info("interrupted after %d examples", len(report.examples))
    report.duration = time.perf_counter() - started
    return report
