"""``gradproof mutants``: the harness checks itself against a catalogue of
planted gradient faults (:mod:`property_tests.mutants`).

Each mutant runs as a campaign of its own against each oracle separately, and
the campaign stops at its first failing example: the mutant is killed there,
after that example's index + 1 examples. The unmodified manual backprop then
runs through the same configurations, every example of the budget, and must
raise no alarm. A mutant counts as killed when every oracle kills it.

Exit codes: 0 every mutant killed and no alarm on the unmodified code; 1 a
mutant survived or the unmodified code raised an alarm; 2 the harness could
not run (bad arguments, a missing oracle backend) or was interrupted.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from manual_backprop import GradproofError, gradients
from oracles.base import DEFAULT_ORACLES, ORACLE_NAMES, Oracle, make_oracle
from property_tests.mutants import MUTANTS, Draws, GradientFunction, Mutant
from reports.campaign import CampaignConfig, run_campaign
from reports.console import ConsoleReporter
from reports.html import TEMPLATES, csp_hash, environment
from reports.model import CampaignReport, ExampleRecord, OracleInfo
from reports.options import check_outputs, comma_separated, set_up_command
from reports.outputs import atomic_write_text
from reports.plugin import ContractCandidate

logger = logging.getLogger(__name__)

DEFAULT_EXAMPLES = 100
EXIT_ALL_KILLED, EXIT_SURVIVOR, EXIT_HARNESS = 0, 1, 2
UNMODIFIED = "manual_backprop.gradients"


# The report's data.

@dataclass
class OracleOutcome:
    """One mutant's campaign against one oracle.

    ``examples_to_kill`` is the index of the first failing example + 1, or
    ``None`` if the mutant survived all ``examples_run``; ``verdict`` and
    ``message`` are that example's.
    """

    oracle: str
    killed: bool
    examples_to_kill: int | None
    examples_run: int
    verdict: str | None
    message: str
    seconds: float


@dataclass
class MutantResult:
    """A mutant and its outcome against each oracle, by oracle name."""

    name: str
    description: str
    needs: str
    draws: str
    caught_as: str
    outcomes: dict[str, OracleOutcome]

    @property
    def killed(self) -> bool:
        """Killed by every oracle it ran against."""
        return all(o.killed for o in self.outcomes.values())

    @property
    def examples_to_kill(self) -> dict[str, int | None]:
        return {name: o.examples_to_kill for name, o in self.outcomes.items()}


@dataclass
class ControlResult:
    """The unmodified manual backprop over one configuration and one oracle."""

    draws: str
    oracle: str
    mutants: list[str]
    examples_run: int
    alarms: int
    first_alarm: str | None
    seconds: float


@dataclass
class KillReport:
    """Everything ``gradproof mutants`` found."""

    started: str
    examples: int
    seed: int
    oracles: list[OracleInfo]
    mutants: list[MutantResult] = field(default_factory=list)
    controls: list[ControlResult] = field(default_factory=list)
    duration: float = 0.0

    @property
    def kill_rate(self) -> float:
        """The fraction of mutants killed by every oracle."""
        if not self.mutants:
            return 0.0
        return sum(m.killed for m in self.mutants) / len(self.mutants)

    @property
    def median_examples_to_kill(self) -> float | None:
        """The median, over every killing campaign, of the examples it took."""
        counts = [o.examples_to_kill for m in self.mutants
                  for o in m.outcomes.values() if o.examples_to_kill is not None]
        return statistics.median(counts) if counts else None

    @property
    def survivors(self) -> list[str]:
        return [m.name for m in self.mutants if not m.killed]

    @property
    def alarms(self) -> int:
        """Failing examples of the unmodified manual backprop."""
        return sum(c.alarms for c in self.controls)

    @property
    def exit_code(self) -> int:
        return EXIT_ALL_KILLED if not self.survivors and not self.alarms \
            else EXIT_SURVIVOR

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: each mutant with ``killed``, its per-oracle
        ``outcomes`` and ``examples_to_kill``."""
        data = asdict(self)
        for entry, result in zip(data["mutants"], self.mutants, strict=True):
            entry.update(killed=result.killed,
                         examples_to_kill=result.examples_to_kill)
        data.update(kill_rate=self.kill_rate,
                    median_examples_to_kill=self.median_examples_to_kill,
                    survivors=self.survivors, unmodified_alarms=self.alarms,
                    exit_code=self.exit_code)
        return data


# Running the campaigns.

class _Killed(BaseException):
    """Ends a mutant's campaign at its first failing example.

    A ``BaseException`` (not an ``Exception``) so that Hypothesis passes it
    straight through instead of taking it for a failing test and replaying it.
    """

    def __init__(self, record: ExampleRecord) -> None:
        super().__init__(record.label)
        self.record = record


def _stop_at_first_failure(record: ExampleRecord) -> None:
    if record.failed:
        raise _Killed(record)


def campaign_config(draws: Draws, oracle: str, examples: int, seed: int
                    ) -> CampaignConfig:
    """The campaign a mutant (or the unmodified code) runs against ``oracle``."""
    return CampaignConfig(
        examples=examples, seed=seed, activations=draws.activations,
        costs=draws.costs, max_depth=draws.max_depth, max_width=draws.max_width,
        max_batch=draws.max_batch, oracles=(oracle,), detailed_failures=1,
    )


def _empty_report(name: str, config: CampaignConfig, oracle: Oracle) -> CampaignReport:
    return CampaignReport(
        title=f"gradproof mutants: {name}", command="gradproof mutants",
        code_under_test=name,
        started=datetime.datetime.now().isoformat(timespec="seconds"),
        seed=config.seed, dtype=config.dtype, reduction=config.reduction,
        examples_requested=config.examples,
        oracles=[OracleInfo(oracle.name, oracle.version)], options={},
    )


def _run(function: GradientFunction, name: str, config: CampaignConfig,
         oracle_name: str, oracle: Oracle,
         on_example: Callable[[ExampleRecord], None] | None
         ) -> tuple[CampaignReport, ExampleRecord | None]:
    """One campaign of ``function`` through the plug-in contract; the first
    failing example if ``on_example`` stopped it there."""
    report = _empty_report(name, config, oracle)
    candidate = ContractCandidate(function, name)
    try:
        run_campaign(config, candidate, {oracle_name: oracle}, report, on_example)
    except _Killed as killed:
        return report, killed.record
    if report.interrupted:
        raise KeyboardInterrupt
    return report, None


def kill(mutant: Mutant, oracle_name: str, oracle: Oracle,
         examples: int = DEFAULT_EXAMPLES, seed: int = 0) -> OracleOutcome:
    """Run ``mutant`` (with fresh state) against one oracle until an example
    fails or the budget is spent."""
    config = campaign_config(mutant.draws, oracle_name, examples, seed)
    started = time.perf_counter()
    report, killer = _run(mutant.fresh(), mutant.name, config, oracle_name, oracle,
                          _stop_at_first_failure)
    seconds = time.perf_counter() - started
    if killer is None:
        return OracleOutcome(oracle_name, False, None, len(report.examples), None,
                             "", seconds)
    return OracleOutcome(oracle_name, True, killer.index + 1, killer.index + 1,
                         killer.verdict, killer.message, seconds)


def control(draws: Draws, oracle_name: str, oracle: Oracle,
            examples: int = DEFAULT_EXAMPLES, seed: int = 0,
            mutants: Sequence[str] = ()) -> ControlResult:
    """Run the unmodified manual backprop through a mutant configuration, every
    example of the budget."""
    config = campaign_config(draws, oracle_name, examples, seed)
    started = time.perf_counter()
    report, _ = _run(gradients, UNMODIFIED, config, oracle_name, oracle, None)
    failures = report.failures
    return ControlResult(draws.describe(), oracle_name, list(mutants),
                         len(report.examples), len(failures),
                         failures[0].message if failures else None,
                         time.perf_counter() - started)


def run_mutants(mutants: Sequence[Mutant], oracles: dict[str, Oracle],
                examples: int = DEFAULT_EXAMPLES, seed: int = 0,
                on_campaign: Callable[[str], None] | None = None) -> KillReport:
    """Every mutant against every oracle, then the unmodified manual backprop
    over each distinct configuration the mutants drew from."""
    report = KillReport(
        started=datetime.datetime.now().isoformat(timespec="seconds"),
        examples=examples, seed=seed,
        oracles=[OracleInfo(name, o.version) for name, o in oracles.items()],
    )
    started = time.perf_counter()

    for mutant in mutants:
        outcomes = {}
        for name, oracle in oracles.items():
            outcomes[name] = kill(mutant, name, oracle, examples, seed)
            logger.info("%s against %s: %s", mutant.name, name, outcomes[name])
            if on_campaign is not None:
                on_campaign(f"{mutant.name} against {name}")
        report.mutants.append(MutantResult(
            mutant.name, mutant.description, mutant.needs, mutant.draws.describe(),
            mutant.caught_as, outcomes))

    for draws, users in configurations(mutants).items():
        for name, oracle in oracles.items():
            report.controls.append(control(draws, name, oracle, examples, seed, users))
            if on_campaign is not None:
                on_campaign(f"{UNMODIFIED} against {name}")

    report.duration = time.perf_counter() - started
    return report


def configurations(mutants: Sequence[Mutant]) -> dict[Draws, list[str]]:
    """The distinct configurations ``mutants`` draw from, each with the names of
    the mutants that use it."""
    users: dict[Draws, list[str]] = {}
    for mutant in mutants:
        users.setdefault(mutant.draws, []).append(mutant.name)
    return users


# Outputs.

_SHORT_VERDICTS = {"code under test failed": "failed"}


def cell(outcome: OracleOutcome) -> str:
    """``3`` (killed by a discrepancy at the third example), ``1 (failed)``
    (the code under test failed: it raised, returned something malformed or
    changed its inputs) or ``survived 100``."""
    if not outcome.killed:
        return f"survived {outcome.examples_run}"
    if outcome.verdict == "discrepancy":
        return str(outcome.examples_to_kill)
    verdict = outcome.verdict or ""
    return f"{outcome.examples_to_kill} ({_SHORT_VERDICTS.get(verdict, verdict)})"


def summary_lines(report: KillReport) -> list[str]:
    """The kill rate, the median examples to kill and the unmodified code's
    verdict, one sentence each."""
    killed = sum(m.killed for m in report.mutants)
    median = report.median_examples_to_kill
    control_examples = sum(c.examples_run for c in report.controls)
    lines = [
        f"kill rate: {killed} of {len(report.mutants)} mutants killed by every "
        f"oracle ({report.kill_rate:.0%})",
        "median examples to kill: "
        + (f"{median:g}" if median is not None else "none killed"),
    ]
    if report.alarms:
        alarms = _count(report.alarms, "alarm")
        lines.append(f"the unmodified manual backprop raised {alarms} in "
                     f"{control_examples} examples")
    else:
        lines.append(f"the unmodified manual backprop raised no alarm in "
                     f"{control_examples} examples over "
                     f"{_count(len(report.controls), 'campaign')}")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def write_json(report: KillReport, path: str | os.PathLike[str]) -> Path:
    """``report.to_dict()`` as JSON, written atomically."""
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def render_html(report: KillReport) -> str:
    """The kill matrix as one self-contained page, autoescaped."""
    style = (TEMPLATES / "mutants.css").read_text(encoding="utf-8")
    return environment().get_template("mutants.html.j2").render(
        report=report, summary=summary_lines(report), cell=cell, style=style,
        style_hash=csp_hash(style),
    )


def write_html(report: KillReport, path: str | os.PathLike[str]) -> Path:
    return atomic_write_text(path, render_html(report))


class _Reporter(ConsoleReporter):
    """Progress on stderr while the campaigns run; the matrix on stdout."""

    def __init__(self, quiet: bool) -> None:
        super().__init__(quiet)
        # Piped output gets room for the matrix instead of 80 columns.
        width = None if sys.stdout.isatty() else 160
        self.out = Console(highlight=False, soft_wrap=True, width=width)

    def matrix(self, report: KillReport) -> None:
        table = Table(title="kill matrix: examples to kill (first failing example "
                            "+ 1)", title_justify="left")
        table.add_column("fault", no_wrap=True)
        for oracle in report.oracles:
            table.add_column(oracle.name, justify="right")
        table.add_column("needs", style="dim")
        for m in report.mutants:
            cells = [f"[green]{escape(cell(o))}[/]" if o.killed
                     else f"[bold red]{escape(cell(o))}[/]"
                     for o in m.outcomes.values()]
            table.add_row(escape(m.name), *cells, escape(m.needs))
        self.out.print(table)
        if any(o.verdict not in (None, "discrepancy")
               for m in report.mutants for o in m.outcomes.values()):
            self.out.print("(failed): the code under test failed: it raised, "
                           "returned something malformed or changed its inputs")

        style = "green" if report.exit_code == EXIT_ALL_KILLED else "bold red"
        for line in summary_lines(report):
            self.out.print(f"[{style}]{escape(line)}[/]")
        for name in report.survivors:
            self.out.print(f"  [red]survived: {escape(name)}[/]")
        for c in report.controls:
            if c.first_alarm:
                self.out.print(f"  [red]unmodified code, {escape(c.oracle)}, "
                               f"{escape(c.draws)}: {escape(c.first_alarm)}[/]")


# The command.

@click.command()
@click.option("--examples", default=DEFAULT_EXAMPLES, show_default=True,
              type=click.IntRange(min=1), help="Example budget of each campaign.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the example draws, the same for every campaign.")
@click.option("--oracles", default=",".join(DEFAULT_ORACLES), show_default=True,
              callback=comma_separated(ORACLE_NAMES, "oracles"),
              help="Oracles to run each mutant against, one by one.")
@click.option("--mutants", "names", default=None,
              callback=comma_separated([m.name for m in MUTANTS], "mutants"),
              help="Run only these mutants (comma-separated); all by default.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Write the results as JSON here.")
@click.option("--report", "report_path", default=None,
              type=click.Path(dir_okay=False), help="Write an HTML page here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--verbose", "-v", is_flag=True, help="Log what the harness does.")
def mutants(examples: int, seed: int, oracles: tuple[str, ...],
            names: tuple[str, ...] | None, json_path: str | None,
            report_path: str | None, quiet: bool, verbose: bool) -> None:
    """Check the harness itself: plant each fault of the catalogue and count
    how many examples each oracle needs to catch it."""
    reporter = _Reporter(quiet)
    set_up_command(verbose)
    chosen = [m for m in MUTANTS if names is None or m.name in names]
    try:
        check_outputs({"--json": json_path, "--report": report_path})
        built = {name: make_oracle(name) for name in oracles}
    except GradproofError as error:
        reporter.error(str(error))
        sys.exit(EXIT_HARNESS)

    total = len(oracles) * (len(chosen) + len(configurations(chosen)))
    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), console=reporter.err, transient=True,
                        disable=quiet)
    task = progress.add_task("campaigns", total=total)
    try:
        with progress:
            report = run_mutants(chosen, built, examples, seed,
                                 lambda what: progress.update(task, advance=1,
                                                              description=what))
    except KeyboardInterrupt:
        reporter.error("interrupted before every campaign had run; no results")
        sys.exit(EXIT_HARNESS)
    except GradproofError as error:
        reporter.error(str(error))
        sys.exit(EXIT_HARNESS)
    except Exception as error:  # a bug in the harness, not in a mutant
        logger.info("internal error", exc_info=True)
        reporter.error(f"internal error: {type(error).__name__}: {error} (run with -v "
                       "for the traceback)")
        sys.exit(EXIT_HARNESS)

    reporter.matrix(report)
    for writer, path in ((write_json, json_path), (write_html, report_path)):
        if path:
            try:
                reporter.out.print(f"wrote {escape(str(writer(report, path)))}")
            except OSError as error:
                reporter.error(f"could not write {path}: {error.strerror}; choose a "
                               "writable path")
                sys.exit(EXIT_HARNESS)
    sys.exit(report.exit_code)
