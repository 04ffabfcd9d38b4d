"""The ``gradproof`` command line: ``run`` for the built-in manual backprop,
``check MODULE:NAME`` for a user's gradient code, ``check-activation
MODULE:NAME`` and ``check-cost MODULE:NAME`` for a user's activation or cost
(see :mod:`reports.components`).

Exit codes: 0 every example agrees; 1 at least one discrepancy, oracle
disagreement, or code under test that raised or returned something malformed;
2 the harness could not run (bad arguments, an import failure, a missing oracle
backend) or was interrupted before it found a discrepancy.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from manual_backprop import (
    ACTIVATIONS,
    COSTS,
    DTYPES,
    REDUCTIONS,
    Example,
    GradproofError,
    InvalidArgument,
)
from oracles.base import DEFAULT_ORACLES, ORACLE_NAMES, Oracle, make_oracle
from oracles.remote import Helper, RemoteOracle, helpers_available
from reports.options import (
    cache_directory,
    check_outputs,
    comma_separated,
    keep_hypothesis_files_in_cache,
    set_up_command,
    set_up_logging,
)

# The campaign's modules (Hypothesis, the comparison, the report) load once a
# command runs: a campaign starts its helper processes first, so that PyTorch
# and JAX import there while they load here.
if TYPE_CHECKING:
    from reports.campaign import CampaignConfig, Candidate
    from reports.console import ConsoleReporter
    from reports.model import CampaignReport

EXIT_AGREE, EXIT_DISCREPANCY, EXIT_HARNESS = 0, 1, 2
DEFAULT_REPORT = "gradproof-report.html"
# Beyond these a single example outgrows a workstation's memory (a 4,096-wide
# layer is 134 MB of weights, and each oracle holds several such arrays).
MAX_WIDTH, MAX_DEPTH = 4096, 64


def _options(help_texts: dict[str, str]) -> dict[str, Callable[..., Any]]:
    """Every option a campaign command may take, by parameter name; the help of
    each is its own unless ``help_texts`` gives another."""
    table: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
        "examples": (("--examples",), dict(
            default=200, show_default=True, type=click.IntRange(min=1),
            help="How many random examples.")),
        "seed": (("--seed",), dict(
            default=0, show_default=True, type=click.IntRange(min=0),
            help="Seed of the example draws.")),
        "dtype": (("--dtype",), dict(
            default="float64", show_default=True, type=click.Choice(DTYPES),
            help="dtype the code under test computes in; references always run in "
                 "float64.")),
        "activations": (("--activations",), dict(
            default=",".join(ACTIVATIONS), callback=comma_separated(tuple(ACTIVATIONS)),
            help="Activations to draw from (comma-separated).")),
        "costs": (("--costs",), dict(
            default=",".join(COSTS), callback=comma_separated(tuple(COSTS)),
            help="Costs to draw from (comma-separated).")),
        "max_depth": (("--max-depth",), dict(
            default=5, show_default=True, type=click.IntRange(min=1, max=MAX_DEPTH),
            help="Most layers n.")),
        "max_width": (("--max-width",), dict(
            default=16, show_default=True, type=click.IntRange(min=1, max=MAX_WIDTH),
            help="Widest layer and largest d.")),
        "max_batch": (("--max-batch",), dict(
            default=8, show_default=True, type=click.IntRange(min=1, max=MAX_WIDTH),
            help="Largest batch.")),
        "reduction": (("--reduction",), dict(
            default="mean", show_default=True, type=click.Choice(REDUCTIONS),
            help="J is the mean or the sum of the per-sample cost.")),
        "oracles": (("--oracles",), dict(
            default=",".join(DEFAULT_ORACLES), callback=comma_separated(ORACLE_NAMES),
            help="Oracles to compare with (comma-separated): torch, jax, fd "
                 "(central differences) and cs (complex step).")),
        "report_path": (("--report", "report_path"), dict(
            default=DEFAULT_REPORT, show_default=True, type=click.Path(dir_okay=False),
            help="Where to write the HTML report.")),
        "json_path": (("--json", "json_path"), dict(
            default=None, type=click.Path(dir_okay=False),
            help="Also write JSON here.")),
        "junit_path": (("--junit", "junit_path"), dict(
            default=None, type=click.Path(dir_okay=False),
            help="Also write JUnit XML here.")),
        "strict_kinks": (("--strict-kinks",), dict(
            is_flag=True,
            help="Call another one-sided slope at a kink (relu'(0) = 1) a "
                 "discrepancy, not a non-differentiable point.")),
        "shrink_seconds": (("--shrink-seconds",), dict(
            default=60.0, show_default=True, type=click.FloatRange(min=0),
            help="Time to search for the smallest failing example (0: no search).")),
        "quiet": (("--quiet", "-q"), dict(is_flag=True, help="No progress bar.")),
        "verbose": (("--verbose", "-v"), dict(
            is_flag=True, help="Log what the harness does.")),
    }
    return {name: click.option(*declarations, **{**settings, "help": help_texts.get(
                name, settings["help"])})
            for name, (declarations, settings) in table.items()}


def _with_options(command: Callable[..., Any], names: list[str] | None = None,
                  help_texts: dict[str, str] | None = None) -> Callable[..., Any]:
    """``command`` with the options called ``names`` (all of them by default),
    in the order of :func:`_options`."""
    options = _options(help_texts or {})
    for name in reversed([n for n in options if names is None or n in names]):
        command = options[name](command)
    return command


def shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every campaign command takes."""
    return _with_options(command)


def component_options(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of ``check-activation`` (``kind="activation"``) and
    ``check-cost``: those of a campaign but ``--oracles`` and ``--strict-kinks``
    (finite differences are the references; a kink is judged by them), and for
    a cost, ``--costs``."""
    names = ["examples", "seed", "dtype", "activations", "costs", "max_depth",
             "max_width", "max_batch", "reduction", "report_path", "json_path",
             "junit_path", "shrink_seconds", "quiet", "verbose"]
    help_texts = {"activations": "Built-in activations for the other layers "
                                 "(comma-separated)."}
    if kind == "cost":
        names.remove("costs")
        help_texts = {"activations": "Built-in activations for the layers; the "
                                     "output layer takes one the cost accepts "
                                     "(comma-separated)."}
    return functools.partial(_with_options, names=names, help_texts=help_texts)


class _Commands(click.Group):
    """The commands; ``replay`` and ``mutants`` load their modules only when
    named (click's pattern for lazily loaded subcommands)."""

    _lazy = {"mutants": "reports.mutants", "replay": "reports.replay"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self._lazy:
            command: click.Command = getattr(
                importlib.import_module(self._lazy[name]), name)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradproof")
def main() -> None:
    """Prove gradient code right against PyTorch, JAX and finite differences,
    or show exactly where it is wrong."""


@main.command()
@shared_options
def run(**options: Any) -> None:
    """Check the built-in manual backprop against every oracle."""
    from reports.campaign import ManualBackprop

    sys.exit(_campaign(ManualBackprop, options))


@main.command()
@click.argument("target", metavar="MODULE:NAME")
@shared_options
def check(target: str, **options: Any) -> None:
    """Check a user's gradients(weights, biases, activations, cost, X, Y)."""
    from reports.plugin import load_candidate

    sys.exit(_campaign(functools.partial(load_candidate, target), options))


@main.command("check-activation")
@click.argument("target", metavar="MODULE:NAME")
@component_options("activation")
def check_activation(target: str, **options: Any) -> None:
    """Check a user's activation: an object or module with f(l) and
    derivative(l), elementwise (optionally kinks and name). Its derivative is
    compared with finite differences of its f point by point, then inside
    generated networks where it takes some of the layers."""
    sys.exit(_component_campaign("activation", target, options))


@main.command("check-cost")
@click.argument("target", metavar="MODULE:NAME")
@component_options("cost")
def check_cost(target: str, **options: Any) -> None:
    """Check a user's cost: an object or module with J(h, y), the per-sample cost,
    and derivative(h, y), dJ/dh (optionally targets, outputs and name). Its
    derivative is compared with finite differences of its J entry by entry, then
    inside generated networks whose cost it is."""
    sys.exit(_component_campaign("cost", target, options))


def _shown_options(options: dict[str, Any]) -> dict[str, str]:
    """The options worth a line in the report: set, and not shown elsewhere."""
    elsewhere = {"seed", "dtype", "reduction", "examples", "oracles", "quiet",
                 "verbose", "shrink_seconds", "report_path", "json_path",
                 "junit_path"}
    return {k.replace("_", " "): ", ".join(map(str, v)) if isinstance(v, tuple)
            else str(v) for k, v in options.items()
            if k not in elsewhere and v not in (None, False)}


def _config(options: dict[str, Any]) -> CampaignConfig:
    from reports.campaign import CampaignConfig

    return CampaignConfig(
        examples=options["examples"], seed=options["seed"], dtype=options["dtype"],
        activations=options["activations"], costs=options.get("costs", tuple(COSTS)),
        max_depth=options["max_depth"], max_width=options["max_width"],
        max_batch=options["max_batch"], reduction=options["reduction"],
        oracles=options.get("oracles", ()),
        strict_kinks=options.get("strict_kinks", False),
    )


def _new_report(name: str, config: CampaignConfig, oracles: dict[str, Oracle],
                options: dict[str, Any]) -> CampaignReport:
    from reports.model import CampaignReport, OracleInfo

    return CampaignReport(
        title=f"gradproof: {name}",
        command=shlex.join(["gradproof", *sys.argv[1:]]),
        code_under_test=name,
        started=datetime.datetime.now().isoformat(timespec="seconds"),
        seed=config.seed, dtype=config.dtype, reduction=config.reduction,
        examples_requested=config.examples,
        oracles=[OracleInfo(n, o.version) for n, o in oracles.items()],
        options=_shown_options(options),
    )


def _check_outputs(options: dict[str, Any]) -> None:
    """Refuse outputs that could not be written and size limits that would not
    fit in memory, before any work is done."""
    check_outputs({"--report": options["report_path"],
                   "--json": options["json_path"],
                   "--junit": options["junit_path"]})
    check_memory(options["max_depth"], options["max_width"], options["max_batch"],
                 physical_memory())


# What checking one example holds, all told, in the main process and the two
# oracle helpers together, measured on networks of 10 million parameters and on
# batches of 4,096: per parameter, the weights, the code under test's gradients,
# each oracle's copies (the JAX oracle's padded ones, the arrays handed to the
# helpers) and the finite differences' directions and perturbed layers; per
# activation (a sample's value at a unit), every pass's copies; and the three
# processes with PyTorch, JAX and SciPy loaded.
_BYTES_PER_PARAMETER = 200
_BYTES_PER_ACTIVATION = 600
_BYTES_AT_START = 600 * 2**20


def memory_needed(max_depth: int, max_width: int, max_batch: int) -> int:
    """Bytes that checking the largest example these limits allow would take."""
    activations = max_batch * max_width * (max_depth + 1)
    return (_BYTES_AT_START
            + _largest_parameters(max_depth, max_width) * _BYTES_PER_PARAMETER
            + activations * _BYTES_PER_ACTIVATION)


def _largest_parameters(max_depth: int, max_width: int) -> int:
    """Parameters of the largest network the limits allow: every layer as wide
    as the widest, with its biases."""
    return max_depth * max_width * (max_width + 1)


def check_memory(max_depth: int, max_width: int, max_batch: int,
                 memory: int | None) -> None:
    """Refuse size limits whose largest example would take more than half of
    ``memory`` bytes (``None``: unknown, nothing refused)."""
    needed = memory_needed(max_depth, max_width, max_batch)
    if memory is None or needed <= memory / 2:
        return
    width = _widest_fitting(max_depth, max_batch, max_width - 1, memory)
    remedy = (f"lower --max-width (to {width} at this depth and batch), "
              "--max-depth or --max-batch" if width
              else "lower --max-depth or --max-batch")
    raise InvalidArgument(
        f"--max-depth {max_depth}, --max-width {max_width} and --max-batch "
        f"{max_batch} allow an example of "
        f"{_largest_parameters(max_depth, max_width):,} parameters and batch "
        f"{max_batch}, which needs about {needed / 1e9:.1f} GB to check; at most "
        f"half of this machine's {memory / 1e9:.1f} GB is taken: {remedy}")


def _widest_fitting(max_depth: int, max_batch: int, widest: int, memory: int) -> int:
    """The largest width up to ``widest`` that fits in half of ``memory`` at
    this depth and batch, 0 if none does."""
    def fits(width: int) -> bool:
        return memory_needed(max_depth, width, max_batch) <= memory / 2

    low, high = 0, widest
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def physical_memory() -> int | None:
    """This machine's memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _campaign(make_candidate: Callable[[], Candidate], options: dict[str, Any]) -> int:
    """Run one campaign from the command line and return its exit code.

    The oracles' helper processes start first, so that PyTorch and JAX import
    there while the campaign's own modules and the code under test load here.
    """
    set_up_logging(options["verbose"])
    oracles: dict[str, Oracle] = {}
    try:
        _check_outputs(options)
        oracles = _oracles(options["oracles"])
    except GradproofError as error:
        _close(oracles)
        from reports.console import ConsoleReporter
        ConsoleReporter(quiet=options["quiet"]).error(str(error))
        return EXIT_HARNESS
    try:
        return _campaign_with(make_candidate, oracles, options)
    finally:
        _close(oracles)


def _campaign_with(make_candidate: Callable[[], Candidate],
                   oracles: dict[str, Oracle], options: dict[str, Any]) -> int:
    from property_tests.strategies import architectures
    from reports.console import ConsoleReporter

    reporter = ConsoleReporter(quiet=options["quiet"])
    keep_hypothesis_files_in_cache()
    try:
        candidate = make_candidate()
        config = _config(options)
        # The strategy checks its arguments when built: costs that no allowed
        # activation fits are reported here, before the first example.
        architectures(max_depth=config.max_depth, max_width=config.max_width,
                      activations=config.activations, costs=config.costs)
        report = _new_report(candidate.name, config, oracles, options)
    except GradproofError as error:
        reporter.error(str(error))
        return EXIT_HARNESS
    _run(config, candidate, oracles, report, reporter)
    _finish(config, candidate, oracles, report, options, reporter)
    return report.exit_code


def _close(oracles: dict[str, Oracle]) -> None:
    """Stop the helper processes of ``oracles``."""
    for oracle in oracles.values():
        if isinstance(oracle, RemoteOracle):
            oracle.close()


def _oracles(names: Sequence[str]) -> dict[str, Oracle]:
    """The oracles called ``names``; JAX's in a helper process, where it imports
    and compiles while this process imports the rest."""
    oracles: dict[str, Oracle] = {}
    try:
        for name in names:
            oracles[name] = RemoteOracle(name, cache_directory() / "jax") \
                if name in ("jax", "torch") and helpers_available() \
                else make_oracle(name)
    except BaseException:
        _close(oracles)  # the helpers already started
        raise
    helper = _plot_helper(oracles)
    if helper is not None:  # matplotlib warms up there while the campaign runs
        from reports.plots import warm_up
        helper.call(warm_up)
    return oracles


def _plot_helper(oracles: dict[str, Oracle]) -> Helper | None:
    """The helper process that draws the report's plots: the first oracle's."""
    return next((o.helper for o in oracles.values()
                 if isinstance(o, RemoteOracle) and o.helper is not None), None)


def _component_campaign(kind: str, target: str, options: dict[str, Any]) -> int:
    """Check a user's activation or cost (``kind``) from the command line: the
    elementwise check as example 0, then networks; return the exit code."""
    from reports.components import prepare
    from reports.console import ConsoleReporter

    reporter = ConsoleReporter(quiet=options["quiet"])
    set_up_command(options["verbose"])
    try:
        _check_outputs(options)
        checked = prepare(kind, target, options["dtype"], options["seed"])
    except GradproofError as error:
        reporter.error(str(error))
        return EXIT_HARNESS
    except Exception as error:  # a bug in the harness
        logging.getLogger(__name__).info("internal error", exc_info=True)
        reporter.error(f"internal error in the elementwise check: "
                       f"{type(error).__name__}: {error} (run with -v for the "
                       "traceback)")
        return EXIT_HARNESS

    with checked.registered():
        candidate, oracles = checked.candidate, checked.oracles()
        config = _config(options)
        try:
            config.architectures = checked.architectures(config)
        except GradproofError as error:
            reporter.error(str(error))
            return EXIT_HARNESS
        report = _new_report(candidate.name, config, oracles, options)
        report.options.update(checked.notes)
        report.examples_requested = config.examples + 1
        report.examples.append(checked.record(config.reduction, report.command))
        _run(config, candidate, oracles, report, reporter, first_index=1)
        _finish(config, candidate, oracles, report, options, reporter,
                component={"kind": kind, "target": target})
    return report.exit_code


def _run(config: CampaignConfig, candidate: Candidate, oracles: dict[str, Oracle],
         report: CampaignReport, reporter: ConsoleReporter, first_index: int = 0
         ) -> None:
    """Run the campaign into ``report`` (after any example it already holds),
    under a progress bar; an error of the harness is kept in the report."""
    from reports.campaign import run_campaign

    with reporter.start(config.examples + len(report.examples), candidate.name):
        for record in report.examples:
            reporter.example_done(record)
        try:
            run_campaign(config, candidate, oracles, report, reporter.example_done,
                         first_index=first_index)
        except GradproofError as error:
            report.error = str(error)
            reporter.error(str(error))
        except Exception as error:  # a bug in the harness: keep what was computed
            logging.getLogger(__name__).info("internal error", exc_info=True)
            report.error = f"internal error: {type(error).__name__}: {error}"
            reporter.error(f"{report.error} (run with -v for the traceback; the "
                           "examples finished so far are in the report)")


def _finish(config: CampaignConfig, candidate: Candidate, oracles: dict[str, Oracle],
            report: CampaignReport, options: dict[str, Any], reporter: ConsoleReporter,
            component: dict[str, str] | None = None) -> None:
    """Shrink a failing network, write the outputs and print the summary."""
    networks_fail = any(r.depth > 0 for r in report.failures)
    if networks_fail and not report.interrupted and options["shrink_seconds"] > 0:
        _shrink(config, candidate, oracles, report, options, reporter, component)
    written = _write_outputs(report, options, reporter, _plot_helper(oracles))
    reporter.summary(report, written)


def _shrink(config: CampaignConfig, candidate: Candidate,
            oracles: dict[str, Oracle], report: CampaignReport,
            options: dict[str, Any], reporter: ConsoleReporter,
            component: dict[str, str] | None = None) -> None:
    """Find the smallest failing example, save it, and add it to the report.

    Hypothesis shrinks a failure it finds anew; a failing example of the
    campaign itself wins when it is smaller still. The reproducer of a
    component check names the ``component`` (its kind and target), which
    ``gradproof replay`` registers again.
    """
    from reports.campaign import check as check_with_results  # `check` is a command
    from reports.campaign import record_of, smallest_failure
    from reports.replay import BUILT_IN, example_of, replay_command, save_example

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
        checked = check_with_results(example, candidate, oracles, config.dtype,
                                     config.strict_kinks)
    path = Path(options["report_path"]).with_suffix("")
    path = path.with_name(path.name + "-smallest.npz")
    target = BUILT_IN if component else candidate.name
    try:
        save_example(example, path, target=target, dtype=config.dtype,
                     strict_kinks=config.strict_kinks, component=component)
        command = replay_command(path, config.dtype, target)
    except OSError as error:
        command = f"(could not save the example: {error.strerror})"
    report.smallest = record_of(-1, example, checked, command)


def _write_outputs(report: CampaignReport, options: dict[str, Any],
                   reporter: ConsoleReporter, helper: Helper | None = None
                   ) -> list[str]:
    """Write every output asked for, the plainest first; a failed write is
    reported, not raised, and the other outputs are still written. A
    ``helper`` process draws the report's plots meanwhile."""
    from reports.html import write_html
    from reports.outputs import write_json, write_junit
    from reports.plots import campaign_plots

    drawing = None
    if helper is not None and options.get("report_path"):
        drawing = helper.call(campaign_plots, report)
    written = []
    for writer, key in ((write_json, "json_path"), (write_junit, "junit_path"),
                        (functools.partial(write_html, drawing=drawing),
                         "report_path")):
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
