"""The ``gradproof`` command line: ``run`` for the built-in manual backprop,
``check MODULE:NAME`` for a user's gradient code.

Exit codes: 0 every example agrees; 1 at least one discrepancy, oracle
disagreement, or code under test that raised or returned something malformed;
2 the harness could not run (bad arguments, an import failure, a missing oracle
backend) or was interrupted before it found a discrepancy.
"""

from __future__ import annotations

import datetime
import functools
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from manual_backprop import (
    ACTIVATIONS,
    COSTS,
    DTYPES,
    REDUCTIONS,
    Example,
    GradproofError,
)
from oracles.base import DEFAULT_ORACLES, ORACLE_NAMES, Oracle, make_oracle
from property_tests.strategies import architectures
from reports.campaign import (
    CampaignConfig,
    Candidate,
    ManualBackprop,
    check_example,
    record_of,
    run_campaign,
    smallest_failure,
)
from reports.console import ConsoleReporter
from reports.model import CampaignReport, OracleInfo
from reports.options import (
    cache_directory,
    check_outputs,
    comma_separated,
    set_up_command,
)
from reports.replay import example_of, replay, replay_command, save_example

EXIT_AGREE, EXIT_DISCREPANCY, EXIT_HARNESS = 0, 1, 2
DEFAULT_REPORT = "gradproof-report.html"


def shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every campaign command takes."""
    options = [
        click.option("--examples", default=200, show_default=True,
                     type=click.IntRange(min=1), help="How many random examples."),
        click.option("--seed", default=0, show_default=True,
                     type=click.IntRange(min=0), help="Seed of the example draws."),
        click.option("--dtype", default="float64", show_default=True,
                     type=click.Choice(DTYPES),
                     help="dtype the code under test computes in; references "
                          "always run in float64."),
        click.option("--activations", default=",".join(ACTIVATIONS),
                     callback=comma_separated(tuple(ACTIVATIONS)),
                     help="Activations to draw from (comma-separated)."),
        click.option("--costs", default=",".join(COSTS),
                     callback=comma_separated(tuple(COSTS)),
                     help="Costs to draw from (comma-separated)."),
        click.option("--max-depth", default=5, show_default=True,
                     type=click.IntRange(min=1), help="Most layers n."),
        click.option("--max-width", default=16, show_default=True,
                     type=click.IntRange(min=1), help="Widest layer and largest d."),
        click.option("--max-batch", default=8, show_default=True,
                     type=click.IntRange(min=1), help="Largest batch."),
        click.option("--reduction", default="mean", show_default=True,
                     type=click.Choice(REDUCTIONS),
                     help="J is the mean or the sum of the per-sample cost."),
        click.option("--oracles", default=",".join(DEFAULT_ORACLES),
                     callback=comma_separated(ORACLE_NAMES),
                     help="Oracles to compare with (comma-separated): torch, jax, "
                          "fd (central differences) and cs (complex step)."),
        click.option("--report", "report_path", default=DEFAULT_REPORT,
                     show_default=True, type=click.Path(dir_okay=False),
                     help="Where to write the HTML report."),
        click.option("--json", "json_path", default=None,
                     type=click.Path(dir_okay=False), help="Also write JSON here."),
        click.option("--junit", "junit_path", default=None,
                     type=click.Path(dir_okay=False),
                     help="Also write JUnit XML here."),
        click.option("--strict-kinks", is_flag=True,
                     help="Call another one-sided slope at a kink (relu'(0) = 1) "
                          "a discrepancy, not a non-differentiable point."),
        click.option("--shrink-seconds", default=60.0, show_default=True,
                     type=click.FloatRange(min=0),
                     help="Time to search for the smallest failing example "
                          "(0: no search)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
        click.option("--verbose", "-v", is_flag=True,
                     help="Log what the harness does."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradproof")
def main() -> None:
    """Prove gradient code right against PyTorch, JAX and finite differences,
    or show exactly where it is wrong."""


@main.command()
@shared_options
def run(**options: Any) -> None:
    """Check the built-in manual backprop against every oracle."""
    sys.exit(_campaign(lambda: ManualBackprop(), options))


@main.command()
@click.argument("target", metavar="MODULE:NAME")
@shared_options
def check(target: str, **options: Any) -> None:
    """Check a user's gradients(weights, biases, activations, cost, X, Y)."""
    from reports.plugin import load_candidate

    sys.exit(_campaign(functools.partial(load_candidate, target), options))


def _shown_options(options: dict[str, Any]) -> dict[str, str]:
    """The options worth a line in the report: set, and not shown elsewhere."""
    elsewhere = {"seed", "dtype", "reduction", "examples", "oracles", "quiet",
                 "verbose", "shrink_seconds", "report_path", "json_path",
                 "junit_path"}
    return {k.replace("_", " "): ", ".join(map(str, v)) if isinstance(v, tuple)
            else str(v) for k, v in options.items()
            if k not in elsewhere and v not in (None, False)}


def _campaign(make_candidate: Callable[[], Candidate], options: dict[str, Any]) -> int:
    """Run one campaign from the command line and return its exit code."""
    reporter = ConsoleReporter(quiet=options["quiet"])
    set_up_command(options["verbose"])
    try:
        candidate = make_candidate()
        oracles: dict[str, Oracle] = {n: make_oracle(n) for n in options["oracles"]}
        if "jax" in oracles:
            from oracles.jax_oracle import keep_compiled_programs
            keep_compiled_programs(cache_directory() / "jax")
        if "torch" in oracles:
            # Networks of this size run fastest, and steadiest, on one thread.
            import torch
            torch.set_num_threads(1)
        config = CampaignConfig(
            examples=options["examples"], seed=options["seed"], dtype=options["dtype"],
            activations=options["activations"], costs=options["costs"],
            max_depth=options["max_depth"], max_width=options["max_width"],
            max_batch=options["max_batch"], reduction=options["reduction"],
            oracles=options["oracles"], strict_kinks=options["strict_kinks"],
        )
        report = CampaignReport(
            title=f"gradproof: {candidate.name}",
            command=shlex.join(["gradproof", *sys.argv[1:]]),
            code_under_test=candidate.name,
            started=datetime.datetime.now().isoformat(timespec="seconds"),
            seed=config.seed, dtype=config.dtype, reduction=config.reduction,
            examples_requested=config.examples,
            oracles=[OracleInfo(name, o.version) for name, o in oracles.items()],
            options=_shown_options(options),
        )
        check_outputs({"--report": options["report_path"],
                       "--json": options["json_path"],
                       "--junit": options["junit_path"]})
        # The strategy checks its arguments when built: costs that no allowed
        # activation fits are reported here, before the first example.
        architectures(max_depth=config.max_depth, max_width=config.max_width,
                      activations=config.activations, costs=config.costs)
    except GradproofError as error:
        reporter.error(str(error))
        return EXIT_HARNESS

    with reporter.start(config.examples, candidate.name):
        try:
            run_campaign(config, candidate, oracles, report, reporter.example_done)
        except GradproofError as error:
            report.error = str(error)
            reporter.error(str(error))
        except Exception as error:  # a bug in the harness: keep what was computed
            logging.getLogger(__name__).info("internal error", exc_info=True)
            report.error = f"internal error: {type(error).__name__}: {error}"
            reporter.error(f"{report.error} (run with -v for the traceback; the "
                           "examples finished so far are in the report)")
    if report.failures and not report.interrupted and options["shrink_seconds"] > 0:
        _shrink(config, candidate, oracles, report, options, reporter)
    written = _write_outputs(report, options, reporter)
    reporter.summary(report, written)
    return report.exit_code


def _shrink(config: CampaignConfig, candidate: Candidate,
            oracles: dict[str, Oracle], report: CampaignReport,
            options: dict[str, Any], reporter: ConsoleReporter) -> None:
    """Find the smallest failing example, save it, and add it to the report.

    Hypothesis shrinks a failure it finds anew; a failing example of the
    campaign itself wins when it is smaller still.
    """
    reporter.err.print("gradproof: looking for the smallest failing example")
    found: list[Example] = []
    try:
        shrunk = smallest_failure(config, candidate, oracles, options["shrink_seconds"])
        if shrunk is not None:
            found.append(shrunk[0])
    except KeyboardInterrupt:
        pass
    found += [e for e in map(example_of, report.failures) if e is not None]
    if not found:
        return
    example = min(found, key=lambda e: (e.architecture.n_parameters, e.batch,
                                        e.architecture.n))
    example.label = "smallest failing example"
    with np.errstate(all="ignore"):
        judgement = check_example(example, candidate, oracles, config.dtype,
                                  config.strict_kinks)
    path = Path(options["report_path"]).with_suffix("")
    path = path.with_name(path.name + "-smallest.npz")
    try:
        save_example(example, path, target=candidate.name, dtype=config.dtype,
                     strict_kinks=config.strict_kinks)
        command = replay_command(path, config.dtype, candidate.name)
    except OSError as error:
        command = f"(could not save the example: {error.strerror})"
    report.smallest = record_of(-1, example, judgement, command)


def _write_outputs(report: CampaignReport, options: dict[str, Any],
                   reporter: ConsoleReporter) -> list[str]:
    """Write every output asked for, the plainest first; a failed write is
    reported, not raised, and the other outputs are still written."""
    from reports.html import write_html
    from reports.outputs import write_json, write_junit

    written = []
    for writer, key in ((write_json, "json_path"), (write_junit, "junit_path"),
                        (write_html, "report_path")):
        if options.get(key):
            try:
                written.append(str(writer(report, Path(options[key]))))
            except OSError as error:
                reporter.error(f"could not write {options[key]}: {error.strerror}; "
                               "choose a writable path")
                report.error = report.error or str(error)
            except Exception as error:  # a bug in a writer: keep the other outputs
                logging.getLogger(__name__).info("writer failed", exc_info=True)
                reporter.error(f"internal error while writing {options[key]}: "
                               f"{type(error).__name__}: {error} (run with -v for "
                               "the traceback)")
                report.error = report.error or f"could not write {options[key]}"
    return written


from reports.mutants import mutants  # noqa: E402

main.add_command(mutants)
main.add_command(replay)
