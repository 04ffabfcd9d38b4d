"""What gradproof's checks cost next to ``torch.autograd.gradcheck`` and
``jax.test_util.check_grads``, and where a campaign spends its time.

One run measures and prints:

1. fixed MLPs of about 30, 2,000 and 25,000 parameters (``tanh`` hidden layers,
   ``identity`` output, ``half_sse``, batch 8, float64): ``gradcheck`` in slow
   and fast mode, ``check_grads`` (order 1, reverse mode), and gradproof's check
   of one example (the manual backprop judged against torch, jax and fd, then
   against torch and fd only), each against ``gradcheck`` slow mode; and the
   manual backprop alone against PyTorch's eager forward and backward;
2. a campaign of random architectures, ``gradproof run`` end to end in a
   subprocess, against a subprocess that runs ``gradcheck`` slow mode
   (``gradcheck_campaign.py``) on the architectures and batches that
   ``gradproof run`` checked;
3. the peak resident memory of those subprocesses;
4. how many programs JAX compiles during the same campaign, run in this process,
   and how that campaign's time splits between the code under test, the oracles
   and the judging;
5. the memory campaigns of 250 and 1,000 examples leave behind and peak at;
6. detection: how many examples gradproof (against the torch oracle) and
   ``gradcheck`` slow mode each need to catch every fault of the mutant
   catalogue, on the same examples, and how often each flags the unmodified
   manual backprop (``gradcheck_mutants.py``).

Times are medians of repeated runs (the first, cold call is shown apart); the
machine may be shared, so the load average is printed before and after.

    python benchmarks/compare_with_gradcheck.py            # a few minutes
    python benchmarks/compare_with_gradcheck.py --quick    # about a minute
    python benchmarks/compare_with_gradcheck.py --json figures.json
    python benchmarks/compare_with_gradcheck.py --threads 0  # PyTorch's own threads
    python benchmarks/compare_with_gradcheck.py --detection-only  # section 6 alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gradcheck_campaign import fingerprint, torch_cost  # noqa: E402
from gradcheck_mutants import (  # noqa: E402
    FAILED,
    QUICK_EXAMPLES,
    QUICK_MUTANTS,
    detection,
)

from manual_backprop import Architecture, Example, backward, forward  # noqa: E402

BATCH = 8
ONE_RUN_ABOVE = 10.0  # seconds: a check this slow is timed once
REPEAT_BUDGET = 30.0  # seconds: stop repeating a check once its runs add up to this

FULL_NETWORKS = {
    "small": Architecture(d=4, widths=(4, 2), activations=("tanh", "identity"),
                          cost="half_sse"),
    "medium": Architecture(d=32, widths=(32, 24, 8),
                           activations=("tanh", "tanh", "identity"), cost="half_sse"),
    "large": Architecture(d=128, widths=(128, 64, 10),
                          activations=("tanh", "tanh", "identity"), cost="half_sse"),
}
QUICK_NETWORKS = {
    "small": FULL_NETWORKS["small"],
    "medium": Architecture(d=16, widths=(16, 12, 4),
                           activations=("tanh", "tanh", "identity"), cost="half_sse"),
}

METHODS = {
    "gradcheck_slow": "torch gradcheck, slow mode",
    "gradcheck_fast": "torch gradcheck, fast mode",
    "jax_check_grads": "jax check_grads, order 1, rev",
    "gradproof_all": "gradproof: torch + jax + fd",
    "gradproof_torch_fd": "gradproof: torch + fd",
}


# ----------------------------------------------------------------------------
# Timing and printing


@dataclass
class Timing:
    """The cold first call and the warm repeats of one check, in seconds."""

    cold_seconds: float
    runs: list[float]
    result: str = ""
    fd_probes: int = 0

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.runs) if self.runs else self.cold_seconds

    def to_dict(self) -> dict[str, Any]:
        return {"cold_seconds": self.cold_seconds,
                "median_seconds": self.median_seconds, "runs": len(self.runs) or 1,
                "result": self.result, "fd_probes": self.fd_probes}


def time_check(check: Callable[[], str], repeats: int) -> Timing:
    """Time ``check`` once cold, then up to ``repeats`` warm times; a check slower
    than ``ONE_RUN_ABOVE`` is run once only, and repeats stop after
    ``REPEAT_BUDGET`` seconds (but not before three)."""
    start = time.perf_counter()
    result = check()
    timing = Timing(time.perf_counter() - start, [], result)
    if timing.cold_seconds > ONE_RUN_ABOVE:
        return timing
    while len(timing.runs) < repeats and (len(timing.runs) < 3
                                          or sum(timing.runs) < REPEAT_BUDGET):
        start = time.perf_counter()
        check()
        timing.runs.append(time.perf_counter() - start)
    return timing


def seconds_per_call(call: Callable[[], object], repeats: int) -> float:
    """Median over ``repeats`` of the time per call, each repeat long enough
    (at least 20 ms of calls) for the clock to resolve it."""
    call()
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            call()
        if time.perf_counter() - start >= 0.02:
            break
        loops *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            call()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                         for k, (c, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def heading(text: str) -> None:
    print(f"\n{text}\n{'=' * len(text)}", flush=True)


# ----------------------------------------------------------------------------
# 1. Fixed networks


def fixed_example(architecture: Architecture, batch: int = BATCH,
                  seed: int = 0) -> Example:
    """Weights ``w_i`` ~ N(0, 1/n_{i-1}), biases ``b_i`` ~ N(0, 0.01), ``X``
    ``(batch, d)`` and ``Y`` ``(batch, n_n)`` standard normal."""
    rng = np.random.default_rng(seed)
    s = architecture.sizes
    weights = [rng.standard_normal((s[i + 1], s[i])) / np.sqrt(s[i])
               for i in range(architecture.n)]
    biases = [0.1 * rng.standard_normal(s[i + 1]) for i in range(architecture.n)]
    X = rng.standard_normal((batch, s[0]))
    Y = rng.standard_normal((batch, s[-1]))
    return Example(architecture, weights, biases, X, Y, label=architecture.describe())


def jax_cost(example: Example) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """``J`` of ``example`` as a JAX function of ``w_1, b_1, ..., w_n, b_n`` and
    those parameters; call both inside ``jax.enable_x64(True)``.

    Written for the fixed networks only: ``tanh`` and ``identity`` layers and the
    ``half_sse`` cost, the batch mean.
    """
    import jax.numpy as jnp

    a = example.architecture
    assert a.cost == "half_sse" and example.reduction == "mean"
    table_ = {"tanh": jnp.tanh, "identity": lambda l: l}
    activations = [table_[name] for name in a.activations]
    X, Y = jnp.asarray(example.X), jnp.asarray(example.Y)

    def J(*parameters: Any) -> Any:
        f = X
        for i, activation in enumerate(activations):
            f = activation(f @ parameters[2 * i].T + parameters[2 * i + 1])
        return 0.5 * jnp.sum((f - Y) ** 2) / example.batch

    parameters = []
    for w, b in zip(example.weights, example.biases):
        parameters += [jnp.asarray(w), jnp.asarray(b)]
    return J, tuple(parameters)


def fd_probe_count(example: Example) -> int:
    """How many finite-difference probes gradproof's fd oracle makes."""
    from oracles.finite_differences import FiniteDifferenceOracle

    result = FiniteDifferenceOracle().compute(example)
    return (sum(p.estimate.size for p in result.entries)
            + sum(p.estimate.size for p in result.directions))


def benchmark_network(architecture: Architecture, repeats: int,
                      fast_repeats: int) -> dict[str, Any]:
    """Every check of section 1 on one network; prints its table."""
    import jax
    import torch
    from jax.test_util import check_grads

    from oracles.base import make_oracle
    from reports.campaign import ManualBackprop, check_example

    example = fixed_example(architecture)
    a = example.architecture
    n_parameters = a.n_parameters
    print(f"\n{a.describe()}   {n_parameters:,} parameters, batch {example.batch}, "
          "float64", flush=True)

    J, parameters = torch_cost(example)

    def gradcheck(fast_mode: bool) -> Callable[[], str]:
        def check() -> str:
            passed = torch.autograd.gradcheck(J, parameters, fast_mode=fast_mode,
                                              raise_exception=False)
            return "pass" if passed else "FAIL"
        return check

    with jax.enable_x64(True):
        J_jax, parameters_jax = jax_cost(example)

    def jax_check() -> str:
        with jax.enable_x64(True):
            try:
                check_grads(J_jax, parameters_jax, order=1, modes=("rev",))
            except AssertionError:
                return "FAIL"
        return "pass"

    candidate = ManualBackprop()

    def gradproof(names: Sequence[str]) -> Callable[[], str]:
        oracles = {name: make_oracle(name) for name in names}

        def check() -> str:
            return check_example(example, candidate, oracles, "float64").verdict.value
        return check

    checks = {
        "gradcheck_slow": (gradcheck(False), n_parameters),
        "gradcheck_fast": (gradcheck(True), 2 * a.n),
        "jax_check_grads": (jax_check, 1),
        "gradproof_all": (gradproof(("torch", "jax", "fd")), fd_probe_count(example)),
        "gradproof_torch_fd": (gradproof(("torch", "fd")), fd_probe_count(example)),
    }
    timings: dict[str, Timing] = {}
    for key, (check, probes) in checks.items():
        timings[key] = time_check(check, repeats)
        timings[key].fd_probes = probes

    slow = timings["gradcheck_slow"].median_seconds
    rows = []
    for key, timing in timings.items():
        rows.append([METHODS[key], fmt_seconds(timing.cold_seconds),
                     fmt_seconds(timing.median_seconds), len(timing.runs) or 1,
                     f"{timing.fd_probes:,}", timing.result,
                     f"{timing.median_seconds / slow:.4f}",
                     f"{slow / timing.median_seconds:,.1f}x"])
    print(table(["check", "cold", "median", "runs", "fd probes", "result",
                 "time / slow", "speed-up"], rows))

    weights, biases, X, Y = example.cast("float64")

    def manual() -> object:
        return backward(a, weights, Y, forward(a, weights, biases, X, Y))

    def torch_eager() -> object:
        return torch.autograd.grad(J(*parameters), parameters)

    manual_seconds = seconds_per_call(manual, fast_repeats)
    torch_seconds = seconds_per_call(torch_eager, fast_repeats)
    print(f"forward + backward alone (median of {fast_repeats}): manual backprop "
          f"{fmt_seconds(manual_seconds)}, PyTorch eager {fmt_seconds(torch_seconds)}, "
          f"manual / torch = {manual_seconds / torch_seconds:.2f}", flush=True)

    return {
        "architecture": a.describe(),
        "n_parameters": n_parameters,
        "batch": example.batch,
        "methods": {key: t.to_dict() for key, t in timings.items()},
        "ratio_to_gradcheck_slow": {key: t.median_seconds / slow
                                    for key, t in timings.items()},
        "backprop_alone": {"manual_seconds": manual_seconds,
                           "torch_eager_seconds": torch_seconds,
                           "manual_over_torch": manual_seconds / torch_seconds},
    }


# ----------------------------------------------------------------------------
# 2 and 3. Campaigns in subprocesses


@dataclass
class ChildRun:
    """One subprocess: wall time, peak resident memory, exit code, output."""

    command: list[str]
    seconds: float
    peak_rss_mb: float
    exit_code: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)


# A small launcher between this process and the one measured: a child forked
# straight from this process inherits its peak RSS (Linux keeps the larger of the
# two across exec), so ru_maxrss would report this process's memory, not the
# child's. The launcher's own few megabytes are the floor instead.
_LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "code": code}, out)
"""


def run_child(command: list[str], cwd: Path) -> ChildRun:
    """Run ``command``, timing it end to end; its peak resident set size comes
    from ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (KiB on Linux) in a launcher
    that runs nothing else."""
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "figures.json"
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        with out.open("w") as stdout, err.open("w") as stderr:
            subprocess.run([sys.executable, "-c", _LAUNCHER, str(figures), *command],
                           cwd=cwd, stdout=stdout, stderr=stderr, check=True)
        measured = json.loads(figures.read_text())
        return ChildRun(command, measured["seconds"], measured["maxrss_kib"] / 1024,
                        measured["code"], out.read_text(), err.read_text())


def run_children(command: list[str], cwd: Path, repeats: int) -> list[ChildRun]:
    """``repeats`` runs of ``command``, fewer if one takes over two minutes."""
    return run_alternately([command], cwd, repeats)[0]


def run_alternately(commands: list[list[str]], cwd: Path, repeats: int
                    ) -> list[list[ChildRun]]:
    """``repeats`` rounds, each running every command once, in order (so that a
    machine whose speed drifts slows each alike); a command whose first run
    took over two minutes is not run again."""
    runs: list[list[ChildRun]] = [[] for _ in commands]
    for _ in range(repeats):
        for command, done in zip(commands, runs):
            if not done or done[0].seconds < 120:
                done.append(run_child(command, cwd))
    return runs


def summarise_children(runs: list[ChildRun], examples: int) -> dict[str, Any]:
    seconds = statistics.median(r.seconds for r in runs)
    return {
        "command": shlex.join(runs[0].command),
        "seconds": seconds,
        "runs": len(runs),
        "all_seconds": [r.seconds for r in runs],
        "examples_per_second": examples / seconds,
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "exit_code": runs[0].exit_code,
    }


def gradproof_command() -> list[str]:
    script = Path(sys.executable).parent / "gradproof"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reports"]


def benchmark_campaigns(examples: int, max_depth: int, max_width: int, seed: int,
                        repeats: int, workdir: Path) -> dict[str, Any]:
    """``gradproof run`` and the gradcheck baseline, each in a subprocess; the
    baseline checks the architectures and batches that ``gradproof run`` wrote
    in its JSON report."""
    def gradproof(n: int, name: str) -> list[str]:
        return [*gradproof_command(), "run", "--examples", str(n), "--max-depth",
                str(max_depth), "--max-width", str(max_width), "--seed", str(seed),
                "-q", "--report", str(workdir / f"{name}.html"),
                "--json", str(workdir / f"{name}.json")]

    def baseline(report: Path) -> list[str]:
        return [sys.executable, str(HERE / "gradcheck_campaign.py"),
                "--shapes-from", str(report)]

    # A startup is the whole process for one example (gradproof: imports, the
    # helper processes, JAX's compilation, the report) or for none (gradcheck).
    nothing = workdir / "no-examples.json"
    nothing.write_text(json.dumps({"examples": []}))
    startups = [run_children(gradproof(1, "one"), workdir, repeats),
                run_children(baseline(nothing), workdir, repeats)]
    print(f"running, in turn: {shlex.join(gradproof(examples, 'x'))}\n"
          f"            and: {shlex.join(baseline(workdir / 'x.json'))}", flush=True)
    gradproof_runs, baseline_runs = run_alternately(
        [gradproof(examples, "x"), baseline(workdir / "x.json")], workdir, repeats)
    for run in (*startups[0], *startups[1], gradproof_runs[0], baseline_runs[0]):
        if run.exit_code not in (0, 1):
            raise SystemExit(f"{shlex.join(run.command)} exited {run.exit_code}:\n"
                             f"{run.stderr[-2000:]}")

    result = {
        "examples": examples, "max_depth": max_depth, "max_width": max_width,
        "seed": seed,
        "gradproof": summarise_children(gradproof_runs, examples),
        "gradcheck_slow": summarise_children(baseline_runs, examples),
    }
    for key, runs in zip(("gradproof", "gradcheck_slow"), startups):
        startup = summarise_children(runs, examples)
        result[key]["startup_seconds"] = startup["seconds"]
        result[key]["startup_peak_rss_mb"] = startup["peak_rss_mb"]
        result[key]["startup_command"] = startup["command"]
        after = examples - (key == "gradproof")  # its startup checked one
        result[key]["examples_per_second_after_startup"] = after / max(
            result[key]["seconds"] - startup["seconds"], 1e-9)
    result["gradproof"]["summary"] = gradproof_runs[0].stdout.strip().splitlines()[0]
    run_json = json.loads((workdir / "x.json").read_text())
    result["gradproof"]["fingerprint"] = fingerprint(
        [f"{r['architecture']} | batch {r['batch']}" for r in run_json["examples"]])
    result["gradproof"]["parameters_checked"] = sum(
        r["n_parameters"] for r in run_json["examples"])
    checked = json.loads(baseline_runs[0].stdout)
    result["gradcheck_slow"].update(
        gradcheck_failures=checked["gradcheck_failures"],
        parameters_checked=checked["parameters_checked"],
        fingerprint=checked["fingerprint"])
    result["speedup"] = (result["gradproof"]["examples_per_second"]
                         / result["gradcheck_slow"]["examples_per_second"])
    return result


def print_campaigns(c: dict[str, Any]) -> None:
    rows = []
    for key, label in (("gradproof", "gradproof run (torch + jax + fd)"),
                       ("gradcheck_slow", "torch gradcheck, slow mode")):
        r = c[key]
        rows.append([label, f"{r['seconds']:.1f} s", r["runs"],
                     f"{r['examples_per_second']:.2f}", f"{r['startup_seconds']:.1f} s",
                     f"{r['examples_per_second_after_startup']:.2f}",
                     f"{r['peak_rss_mb']:.0f} MB", f"{r['startup_peak_rss_mb']:.0f} MB",
                     r["exit_code"]])
    print(table(["whole process", "wall (median)", "runs", "examples/s", "startup",
                 "examples/s after startup", "peak RSS", "startup peak RSS", "exit"],
                rows))
    print("startup: the same command on one example (gradproof: imports, helper "
          "processes, JAX's compilation, the report) or none (gradcheck: imports). "
          "peak RSS: of the largest process (gradproof runs the torch and jax "
          "oracles in a helper process each).")
    print("each run, in the order run: " + "; ".join(
        f"{key} " + ", ".join(f"{t:.1f} s" for t in c[key]["all_seconds"])
        for key in ("gradproof", "gradcheck_slow")))
    print(f"gradproof examples/s / gradcheck slow examples/s = {c['speedup']:.2f}")
    print(f"gradproof said: {c['gradproof']['summary']}")
    g = c["gradcheck_slow"]
    print(f"gradcheck slow mode failed on {g['gradcheck_failures']} of {c['examples']} "
          f"examples (default atol 1e-5, rtol 1e-3; {g['parameters_checked']:,} "
          "parameters checked entry by entry)", flush=True)


# ----------------------------------------------------------------------------
# 4. The campaign in this process: JAX compilations and where the time goes


class TimedOracle:
    """An oracle that adds up the seconds its ``compute`` takes."""

    def __init__(self, oracle: Any) -> None:
        self.oracle = oracle
        self.name = oracle.name
        self.version = oracle.version
        self.seconds = 0.0

    def compute(self, example: Example) -> object:
        start = time.perf_counter()
        try:
            return self.oracle.compute(example)
        finally:
            self.seconds += time.perf_counter() - start


class TimedCandidate:
    """The manual backprop, adding up the seconds it takes."""

    def __init__(self) -> None:
        from reports.campaign import ManualBackprop

        self.candidate = ManualBackprop()
        self.name = self.candidate.name
        self.seconds = 0.0

    def __call__(self, example: Example, dtype: str) -> Any:
        start = time.perf_counter()
        try:
            return self.candidate(example, dtype)
        finally:
            self.seconds += time.perf_counter() - start


def campaign_in_process(examples: int, max_depth: int, max_width: int,
                        seed: int) -> dict[str, Any]:
    """Run the campaign here, counting JAX's compilations (``buckets_compiled``
    and every XLA compilation ``jax.monitoring`` reports) and timing its parts."""
    from hypothesis.configuration import set_hypothesis_home_dir
    from jax import monitoring

    from oracles.base import make_oracle
    from reports.campaign import CampaignConfig, run_campaign
    from reports.model import CampaignReport, OracleInfo

    compilations: list[tuple[str, float]] = []

    def on_duration(event: str, duration: float, **kwargs: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compilations.append((str(kwargs.get("fun_name", "?")), duration))

    # Hypothesis keeps files (its cache of the constants of local modules); not
    # in the current directory.
    scratch = tempfile.TemporaryDirectory()
    set_hypothesis_home_dir(scratch.name)
    monitoring.register_event_duration_secs_listener(on_duration)
    config = CampaignConfig(examples=examples, max_depth=max_depth,
                            max_width=max_width, seed=seed)
    oracles = {name: TimedOracle(make_oracle(name)) for name in config.oracles}
    candidate = TimedCandidate()
    report = CampaignReport(
        title="benchmark", command="in process", code_under_test=candidate.name,
        started="", seed=seed, dtype=config.dtype, reduction=config.reduction,
        examples_requested=examples,
        oracles=[OracleInfo(n, o.version) for n, o in oracles.items()], options={})
    try:
        run_campaign(config, candidate, oracles, report)  # type: ignore[arg-type]
    finally:
        monitoring.unregister_event_duration_listener(on_duration)
        scratch.cleanup()

    buckets = sorted(oracles["jax"].oracle.buckets_compiled)
    in_examples = sum(r.seconds for r in report.examples)
    parts = {f"oracle {name}": o.seconds for name, o in oracles.items()}
    parts["code under test"] = candidate.seconds
    parts["judging (tolerances, comparison, arbiter, kinks)"] = (
        in_examples - sum(parts.values()))
    parts["drawing examples (Hypothesis) and recording"] = (
        report.duration - in_examples)
    value_and_grad = [d for name, d in compilations if "padded_cost" in name]
    figures = {
        "examples": len(report.examples),
        "seconds": report.duration,
        "verdicts": {k: v for k, v in report.counts.items() if v},
        "buckets_compiled": len(buckets),
        "buckets": [list(b) for b in buckets],
        "buckets_per_1000_examples": 1000 * len(buckets) / len(report.examples),
        "xla_compilations": len(compilations),
        "xla_compile_seconds": sum(d for _, d in compilations),
        "oracle_program_compilations": len(value_and_grad),
        "oracle_program_compile_seconds": sum(value_and_grad),
        "time_by_part": parts,
        "fingerprint": fingerprint([f"{r.architecture} | batch {r.batch}"
                                    for r in report.examples]),
    }
    return figures


def print_in_process(c: dict[str, Any]) -> None:
    print(f"{c['examples']} examples in {c['seconds']:.1f} s; verdicts: "
          + ", ".join(f"{v} {k}" for k, v in c["verdicts"].items()))
    print(f"JAX oracle buckets compiled: {c['buckets_compiled']} "
          f"({c['buckets_per_1000_examples']:.1f} per 1,000 examples): "
          + ", ".join("depth {} width {} batch {}".format(*b) for b in c["buckets"]))
    print(f"XLA compilations seen by jax.monitoring: {c['xla_compilations']} in all "
          f"({c['xla_compile_seconds']:.1f} s), of which the oracle's padded program: "
          f"{c['oracle_program_compilations']} "
          f"({c['oracle_program_compile_seconds']:.1f} s)")
    total = c["seconds"]
    rows = [[part, f"{s:.2f} s", f"{100 * s / total:.0f} %",
             fmt_seconds(s / c["examples"])]
            for part, s in sorted(c["time_by_part"].items(), key=lambda p: -p[1])]
    print(table(["where the campaign's time goes", "total", "share", "per example"],
                rows), flush=True)


# ----------------------------------------------------------------------------
# 5. Memory over longer campaigns


def campaign_memory(sizes: Sequence[int], max_depth: int, max_width: int,
                    seed: int) -> dict[str, Any]:
    """Run campaigns of each size in ``sizes`` here under ``tracemalloc``: the
    memory each leaves behind (its report, one summary row per passing
    example) and the peak while it runs, both above what was allocated before
    it started. Arrays are not kept, so the peak should not grow with the size."""
    import gc
    import tracemalloc

    from hypothesis.configuration import set_hypothesis_home_dir

    from oracles.base import make_oracle
    from reports.campaign import CampaignConfig, ManualBackprop, run_campaign
    from reports.model import CampaignReport, OracleInfo

    scratch = tempfile.TemporaryDirectory()
    set_hypothesis_home_dir(scratch.name)
    oracles = {name: make_oracle(name) for name in ("torch", "jax", "fd")}

    def campaign(examples: int) -> CampaignReport:
        config = CampaignConfig(examples=examples, max_depth=max_depth,
                                max_width=max_width, seed=seed)
        report = CampaignReport(
            title="memory", command="in process", code_under_test="manual backprop",
            started="", seed=seed, dtype=config.dtype, reduction=config.reduction,
            examples_requested=examples,
            oracles=[OracleInfo(n, o.version) for n, o in oracles.items()],
            options={})
        return run_campaign(config, ManualBackprop(), oracles, report)

    campaign(min(sizes))  # JAX compiles and caches fill before anything is counted
    rows = []
    tracemalloc.start()
    try:
        for examples in sizes:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            report = campaign(examples)
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
            rows.append({"examples": examples,
                         "retained_mb": (after - before) / 1e6,
                         "retained_kb_per_example": (after - before) / 1e3 / examples,
                         "peak_mb": (peak - before) / 1e6,
                         "examples_with_details": sum(
                             r.details is not None for r in report.examples)})
            del report
    finally:
        tracemalloc.stop()
        scratch.cleanup()
    # Every bucket the largest campaign needed is among those the oracle has
    # compiled by now, so this count bounds its compilations from above.
    buckets = len(oracles["jax"].buckets_compiled)  # type: ignore[attr-defined]
    return {"campaigns": rows,
            "peak_growth": rows[-1]["peak_mb"] / max(rows[0]["peak_mb"], 1e-9),
            "jax_buckets_compiled": buckets,
            "jax_buckets_per_1000_examples": 1000 * buckets / max(sizes)}


def print_memory(m: dict[str, Any]) -> None:
    rows = [[f"{r['examples']:,}", f"{r['retained_mb']:.2f} MB",
             f"{r['retained_kb_per_example']:.1f} KB", f"{r['peak_mb']:.1f} MB",
             r["examples_with_details"]] for r in m["campaigns"]]
    print(table(["examples", "left behind (the report)", "per example",
                 "peak while running", "examples kept in detail"], rows))
    print(f"peak of the largest campaign / peak of the smallest: "
          f"{m['peak_growth']:.2f}")
    print(f"JAX oracle buckets compiled over all of these campaigns: "
          f"{m['jax_buckets_compiled']}, so at most "
          f"{m['jax_buckets_per_1000_examples']:.1f} per 1,000 examples for the "
          "largest", flush=True)


# ----------------------------------------------------------------------------
# 6. Detection: the mutant catalogue


def detection_cell(hunt: dict[str, Any]) -> str:
    """``3`` (flagged at the third example), ``1 (failed)`` (the code under test
    raised or returned something malformed, or for gradproof changed its
    inputs), ``3*`` (the tool flags the unmodified code on that example too) or
    ``survived 100``."""
    if not hunt["killed"]:
        return f"survived {hunt['examples_run']}"
    failed = hunt["flagged"][0][1].startswith(FAILED)
    return (f"{hunt['examples_to_kill']}"
            + ("*" if hunt["flags_unmodified_code_there"] else "")
            + (" (failed)" if failed else ""))


def print_detection(d: dict[str, Any]) -> None:
    rows = [[name, detection_cell(m["gradproof"]), detection_cell(m["gradcheck_slow"]),
             fmt_seconds(m["gradproof"]["seconds"]),
             fmt_seconds(m["gradcheck_slow"]["seconds"]),
             "yes" if m["same_examples"] else "NO"]
            for name, m in d["mutants"].items()]
    print(table(["mutant", "gradproof (torch)", "gradcheck slow", "gradproof time",
                 "gradcheck time", "same examples"], rows))
    print("examples to kill: the index of the first example flagged + 1; (failed): "
          "the code under test raised, returned something malformed or (gradproof "
          "only) changed its inputs, which counts as caught; *: the same tool flags "
          "the unmodified manual backprop on that example too")

    t = d["totals"]
    ours, theirs = t["gradproof"], t["gradcheck_slow"]
    n = len(d["mutants"])
    print(f"killed: gradproof {ours['killed']} of {n}, gradcheck slow "
          f"{theirs['killed']} of {n}; on an example where the unmodified code "
          f"passes: {ours['killed_where_unmodified_code_passes']} and "
          f"{theirs['killed_where_unmodified_code_passes']}")
    for tool, label in (("gradproof", "gradproof"), ("gradcheck_slow", "gradcheck")):
        if t[tool]["survived"]:
            print(f"  survived {label}: {', '.join(t[tool]['survived'])}")
        if t[tool]["killed_where_unmodified_code_is_flagged"]:
            print(f"  {label} killed where it flags the unmodified code too: "
                  f"{', '.join(t[tool]['killed_where_unmodified_code_is_flagged'])}")

    def median(value: float | None) -> str:
        return "none killed" if value is None else f"{value:g}"

    print(f"median examples to kill (over the mutants each killed): gradproof "
          f"{median(ours['median_examples_to_kill'])}, gradcheck slow "
          f"{median(theirs['median_examples_to_kill'])}; over those both killed: "
          f"{median(ours['median_examples_to_kill_where_both_killed'])} and "
          f"{median(theirs['median_examples_to_kill_where_both_killed'])}")
    print(f"false alarms on the unmodified manual backprop ({ours['control_examples']} "
          f"examples over {len(d['controls'])} configurations, every example of the "
          f"budget): gradproof {ours['false_alarms']}, gradcheck slow "
          f"{theirs['false_alarms']}")
    said = theirs["false_alarms_by_gradproof_verdict"]
    if said:
        print(f"  of gradcheck's {theirs['false_alarms']}, "
              f"{theirs['false_alarms_near_kink']} with a pre-activation within its "
              "step (1e-6) of a kink of relu, leaky_relu or hard_tanh; gradproof's "
              f"verdicts on the {theirs['false_alarms']}: "
              + ", ".join(f"{count} {verdict}" for verdict, count in said.items()))
    rows = [[c["draws"], c["gradproof"]["alarms"], c["gradcheck_slow"]["alarms"],
             c["gradcheck_slow"]["flagged"][0]["example"]
             if c["gradcheck_slow"]["flagged"] else ""]
            for c in d["controls"]]
    print(table(["unmodified code, configuration", "gradproof", "gradcheck slow",
                 "first example gradcheck flagged"], rows))
    print(f"seconds on the mutants: gradproof {ours['seconds_on_mutants']:.1f} s, "
          f"gradcheck slow {theirs['seconds_on_mutants']:.1f} s; on the unmodified "
          f"code: {ours['seconds_on_unmodified']:.1f} s and "
          f"{theirs['seconds_on_unmodified']:.1f} s (drawing the examples included)")
    if d["same_examples"]:
        print("both checked the same examples (fingerprints of every example's "
              "architecture, batch and arrays agree)", flush=True)
    else:
        print("the examples differ where marked NO: the two tools did not check the "
              "same draws there; compare those rows with care", flush=True)


# ----------------------------------------------------------------------------


def set_threads(threads: int) -> None:
    """Pin PyTorch's intra-op threads, here and in every subprocess.

    The networks are small: a second thread gains little, and on a machine
    shared with other processes PyTorch's threads wait for each other, so that a
    forward and backward pass swings from a fraction of a millisecond to half a
    second. One thread keeps the timings about the code, not the neighbours.
    """
    if threads <= 0:
        return
    import torch

    torch.set_num_threads(threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def environment() -> dict[str, Any]:
    import jax
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time gradproof against torch gradcheck and jax check_grads.")
    parser.add_argument("--quick", action="store_true",
                        help="smaller networks and campaigns: about a minute")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every figure to this JSON file")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads for PyTorch here and in the "
                             "subprocesses (OMP_NUM_THREADS); 0 keeps the "
                             "libraries' defaults (default: 1)")
    parser.add_argument("--detection-only", action="store_true",
                        help="run section 6 (the mutant catalogue) alone")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    seed = 0
    started = time.perf_counter()

    figures: dict[str, Any] = {"quick": args.quick,
                               "command": shlex.join([sys.executable, *sys.argv]),
                               "environment": environment()}
    env = figures["environment"]
    print(f"gradproof benchmark{' (--quick)' if args.quick else ''}: Python "
          f"{env['python']}, NumPy {env['numpy']}, PyTorch {env['torch']} "
          f"({env['torch_threads']} intra-op threads), JAX {env['jax']}, "
          f"{env['cpus']} CPUs, load average {env['load_average']:.2f}", flush=True)

    if not args.detection_only:
        performance(figures, args.quick, seed)
    detection_section(figures, args.quick, seed)

    figures["environment"]["load_average_end"] = os.getloadavg()[0]
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mb_this_process"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"\nbenchmark took {figures['seconds']:.0f} s; peak RSS of this process "
          f"{figures['peak_rss_mb_this_process']:.0f} MB; load "
          f"average at the end {figures['environment']['load_average_end']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


def performance(figures: dict[str, Any], quick: bool, seed: int) -> None:
    """Sections 4, 1, 2 and 3, and 5, in that order, into ``figures``."""
    networks = QUICK_NETWORKS if quick else FULL_NETWORKS
    repeats, fast_repeats, child_repeats = (3, 7, 1) if quick else (7, 25, 3)
    examples, max_depth, max_width = (12, 2, 8) if quick else (300, 4, 32)

    # The in-process campaign runs first, so that JAX has compiled nothing yet.
    heading(f"4. JAX compilations and time split: the campaign of {examples} "
            f"examples (max depth {max_depth}, max width {max_width}, seed {seed}) "
            "in this process")
    figures["in_process_campaign"] = campaign_in_process(
        examples, max_depth, max_width, seed)
    print_in_process(figures["in_process_campaign"])

    heading("1. One example per network: time of each check, and against gradcheck "
            "slow mode")
    print("fd probes: entries or directions checked by finite differences "
          "(gradcheck slow: every entry; fast: one random direction per parameter "
          "tensor; check_grads: one over all parameters; gradproof: every entry up "
          "to 600 parameters, else one direction per w_i and per b_i plus four "
          "over all, with every entry compared with two autograd oracles).")
    figures["networks"] = {
        name: benchmark_network(architecture, repeats, fast_repeats)
        for name, architecture in networks.items()}

    heading(f"2 and 3. A campaign of {examples} random examples, whole process "
            "(imports included), and peak memory")
    with tempfile.TemporaryDirectory() as workdir:
        figures["campaign"] = benchmark_campaigns(
            examples, max_depth, max_width, seed, child_repeats, Path(workdir))
    campaign = figures["campaign"]
    campaign["same_examples"] = (campaign["gradcheck_slow"]["fingerprint"]
                                 == campaign["gradproof"]["fingerprint"])
    print_campaigns(campaign)
    if campaign["same_examples"]:
        print("both checked the same architectures and batches (the baseline's "
              "values drawn afresh: gradcheck's time depends on the shapes alone)")
    else:
        print("the examples differ: the baseline did not check the architectures "
              "and batches of gradproof's JSON report")

    sizes = (10, 40) if quick else (250, 1000)
    heading(f"5. Memory: campaigns of {' and '.join(map(str, sizes))} examples in "
            "this process, under tracemalloc")
    figures["memory"] = campaign_memory(sizes, max_depth, max_width, seed + 1)
    print_memory(figures["memory"])


def detection_section(figures: dict[str, Any], quick: bool, seed: int) -> None:
    """Section 6 into ``figures["detection"]``."""
    heading("6. Detection: the mutant catalogue, gradcheck slow mode against "
            "gradproof")
    if quick:
        print(f"--quick: {len(QUICK_MUTANTS)} mutants of the catalogue (those that "
              f"show on nearly any example), a budget of {QUICK_EXAMPLES} examples; "
              "the full run takes every mutant and gradproof's default budget")
    print("each mutant through gradproof's kill campaign against the torch oracle "
          "and through gradcheck slow mode (default tolerances) on a "
          "torch.autograd.Function whose backward is the mutant, on the same "
          "examples, each stopping at the first it flags", flush=True)
    figures["detection"] = detection(quick=quick, seed=seed)
    d = figures["detection"]
    print(f"{d['mutants_run']} of {d['catalogue_size']} mutants, a budget of "
          f"{d['examples']} examples, seed {d['seed']}")
    print_detection(d)


if __name__ == "__main__":
    sys.exit(main())
