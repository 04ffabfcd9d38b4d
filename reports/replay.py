"""Standalone reproducers: one example saved as ``.npz``, and ``gradproof replay``
to judge it again, alone, with the same code under test and oracles.

An example from ``gradproof check-activation`` or ``check-cost`` names the
user's component (its kind and ``MODULE:NAME``); replaying it imports and
registers the component again, and judges the built-in manual backprop running
it against finite differences (and the complex step, where the component takes
complex input)."""

from __future__ import annotations

import contextlib
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from manual_backprop import Architecture, Example, GradproofError, InvalidArgument
from oracles.base import DEFAULT_ORACLES, ORACLE_NAMES, make_oracle
from reports.campaign import (
    INTERRUPTED,
    ManualBackprop,
    check_example,
    handling_interrupts,
)
from reports.console import ConsoleReporter
from reports.model import ExampleRecord
from reports.options import comma_separated

BUILT_IN = "manual_backprop (built in)"


def save_example(example: Example, path: Path, *, target: str, dtype: str,
                 strict_kinks: bool = False,
                 component: dict[str, str] | None = None) -> Path:
    """Write ``example`` and how it was checked to ``path`` (``.npz``);
    ``component``, for a component check, is ``{"kind": ..., "target": ...}``."""
    a = example.architecture
    meta = {"d": int(a.d), "widths": [int(w) for w in a.widths],
            "activations": list(a.activations), "cost": a.cost,
            "reduction": example.reduction, "target": target, "dtype": dtype,
            "strict_kinks": strict_kinks}
    if component is not None:
        meta["component"] = dict(component)
    arrays: dict[str, Any] = {"X": example.X, "Y": example.Y,
                              "meta": np.array(json.dumps(meta))}
    for i, (w, b) in enumerate(zip(example.weights, example.biases), start=1):
        arrays[f"w_{i}"], arrays[f"b_{i}"] = w, b
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def read_example(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays saved in ``path`` and how the example was checked."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            n = len(meta["widths"])
            arrays = {"weights": [data[f"w_{i}"] for i in range(1, n + 1)],
                      "biases": [data[f"b_{i}"] for i in range(1, n + 1)],
                      "X": data["X"], "Y": data["Y"]}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
        # numpy's own message about a file that is not .npz suggests loading it
        # with pickles allowed: not advice to pass on about an untrusted file.
        reason = "not an .npz archive" if "pickle" in str(error) else str(error)
        raise InvalidArgument(f"{path}: not a gradproof reproducer ({reason}); "
                              "give a .npz that gradproof wrote") from None
    return arrays, meta


def example_from(arrays: dict[str, Any], meta: dict[str, Any]) -> Example:
    """The example of :func:`read_example` (any user component it names must
    be registered)."""
    architecture = Architecture(meta["d"], tuple(meta["widths"]),
                                tuple(meta["activations"]), meta["cost"])
    return Example(architecture, arrays["weights"], arrays["biases"], arrays["X"],
                   arrays["Y"], reduction=meta["reduction"], label="replayed example")


def load_example(path: Path) -> tuple[Example, dict[str, Any]]:
    """The example saved in ``path`` and how it was checked."""
    arrays, meta = read_example(path)
    return example_from(arrays, meta), meta


def example_of(record: ExampleRecord) -> Example | None:
    """The example behind a report row that kept its arrays, or ``None`` (also
    for the elementwise check of a component, which has no network)."""
    if record.details is None or "weights" not in record.details.arrays:
        return None
    arrays = record.details.arrays
    architecture = Architecture(record.d, tuple(record.widths),
                                tuple(record.activations), record.cost)
    sizes = architecture.sizes
    weights = [np.array(w, dtype=np.float64).reshape(sizes[i + 1], sizes[i])
               for i, w in enumerate(arrays["weights"])]
    biases = [np.array(b, dtype=np.float64) for b in arrays["biases"]]
    X = np.array(arrays["X"], dtype=np.float64).reshape(record.batch, sizes[0])
    Y = np.array(arrays["Y"], dtype=np.float64).reshape(record.batch, sizes[-1])
    return Example(architecture, weights, biases, X, Y, reduction=record.reduction,
                   label=record.label)


def replay_command(path: Path, dtype: str, target: str) -> str:
    """The command that replays ``path``."""
    command = f"gradproof replay {path} --dtype {dtype}"
    return command if target == BUILT_IN else f"{command} --target {target}"


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", default=None, metavar="MODULE:NAME",
              help="Gradient code to judge; by default the one saved in PATH.")
@click.option("--dtype", default=None, type=click.Choice(["float64", "float32"]),
              help="dtype of the code under test; by default the saved one.")
@click.option("--oracles", default=None, callback=comma_separated(ORACLE_NAMES),
              help="Oracles to compare with (comma-separated); by default "
                   f"{','.join(DEFAULT_ORACLES)}, and for the example of a component "
                   "check, those it was checked with.")
def replay(path: Path, target: str | None, dtype: str | None,
           oracles: tuple[str, ...] | None) -> None:
    """Judge the one example saved in PATH again and print the verdict."""
    reporter = ConsoleReporter(quiet=True)
    with _interrupts_stop_at_once():
        try:
            with contextlib.ExitStack() as stack:
                arrays, meta = read_example(path)
                dtype = dtype or meta["dtype"]
                candidate, references = _replayed(meta, target, dtype, oracles,
                                                  stack)
                example = example_from(arrays, meta)
                with np.errstate(all="ignore"):
                    judgement = check_example(example, candidate, references,
                                              dtype, meta["strict_kinks"])
        except GradproofError as error:
            reporter.error(str(error))
            sys.exit(2)
        except KeyboardInterrupt:
            reporter.error("interrupted before the example was judged: no "
                           "verdict, not a pass")
            sys.exit(2)

    reporter.out.print(f"{example.architecture.describe()}, batch {example.batch}, "
                       f"{example.reduction}")
    reporter.out.print(f"{judgement.verdict.value}: {judgement.message}",
                       markup=False)
    sys.exit(1 if judgement.verdict.fails else 0)


@contextlib.contextmanager
def _interrupts_stop_at_once() -> Iterator[None]:
    """Within the block, a first Ctrl-C or SIGTERM sets :data:`INTERRUPTED` and
    raises ``KeyboardInterrupt`` at once (one example has nothing to finish
    first), which the code under test lets through instead of calling it its own
    failure; any later one is ignored while the interrupt is being reported."""
    def handler(signum: int, frame: object) -> None:
        if not INTERRUPTED.is_set():
            INTERRUPTED.set()
            raise KeyboardInterrupt

    try:
        with handling_interrupts(handler):
            yield
    finally:
        INTERRUPTED.clear()


def _replayed(meta: dict[str, Any], target: str | None, dtype: str,
              oracles: tuple[str, ...] | None, stack: contextlib.ExitStack
              ) -> tuple[Any, dict[str, Any]]:
    """The code under test and the oracles to replay an example with; a user's
    component the example names is registered on ``stack``."""
    component = meta.get("component")
    if component is None:
        target = target or meta["target"]
        if target == BUILT_IN:
            candidate: Any = ManualBackprop()
        else:
            from reports.plugin import load_candidate
            candidate = load_candidate(target)
        return candidate, {n: make_oracle(n) for n in oracles or DEFAULT_ORACLES}

    from reports.components import prepare

    checked = prepare(component["kind"], component["target"], dtype)
    references = checked.oracles()
    if oracles is not None:
        unusable = [n for n in oracles if n not in references]
        if unusable:
            raise InvalidArgument(
                f"--oracles {','.join(oracles)}: {', '.join(unusable)} cannot check "
                f"the user's {component['kind']} {component['target']}; expected "
                f"{' or '.join(references)} (PyTorch and JAX cannot differentiate "
                "NumPy code)")
        references = {n: references[n] for n in oracles}
    stack.enter_context(checked.registered())
    return checked.candidate, references
