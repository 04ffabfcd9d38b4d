"""Standalone reproducers: one example saved as ``.npz``, and ``gradproof replay``
to judge it again, alone, with the same code under test and oracles."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from manual_backprop import Architecture, Example, GradproofError, InvalidArgument
from oracles.base import DEFAULT_ORACLES, ORACLE_NAMES, make_oracle
from reports.campaign import ManualBackprop, check_example
from reports.console import ConsoleReporter
from reports.model import ExampleRecord
from reports.options import comma_separated

BUILT_IN = "manual_backprop (built in)"


def save_example(example: Example, path: Path, *, target: str, dtype: str,
                 strict_kinks: bool = False) -> Path:
    """Write ``example`` and how it was checked to ``path`` (``.npz``)."""
    a = example.architecture
    meta = {"d": int(a.d), "widths": [int(w) for w in a.widths],
            "activations": list(a.activations), "cost": a.cost,
            "reduction": example.reduction, "target": target, "dtype": dtype,
            "strict_kinks": strict_kinks}
    arrays: dict[str, Any] = {"X": example.X, "Y": example.Y,
                              "meta": np.array(json.dumps(meta))}
    for i, (w, b) in enumerate(zip(example.weights, example.biases), start=1):
        arrays[f"w_{i}"], arrays[f"b_{i}"] = w, b
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_example(path: Path) -> tuple[Example, dict[str, Any]]:
    """The example saved in ``path`` and how it was checked."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            n = len(meta["widths"])
            weights = [data[f"w_{i}"] for i in range(1, n + 1)]
            biases = [data[f"b_{i}"] for i in range(1, n + 1)]
            X, Y = data["X"], data["Y"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise InvalidArgument(f"{path}: not a gradproof reproducer ({error}); "
                              "give a .npz that gradproof wrote") from None
    architecture = Architecture(meta["d"], tuple(meta["widths"]),
                                tuple(meta["activations"]), meta["cost"])
    return Example(architecture, weights, biases, X, Y, reduction=meta["reduction"],
                   label="replayed example"), meta


def example_of(record: ExampleRecord) -> Example | None:
    """The example behind a report row that kept its arrays, or ``None``."""
    if record.details is None:
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
@click.option("--oracles", default=",".join(DEFAULT_ORACLES),
              callback=comma_separated(ORACLE_NAMES),
              help="Oracles to compare with (comma-separated).")
def replay(path: Path, target: str | None, dtype: str | None,
           oracles: tuple[str, ...]) -> None:
    """Judge the one example saved in PATH again and print the verdict."""
    reporter = ConsoleReporter(quiet=True)
    try:
        example, meta = load_example(path)
        target = target or meta["target"]
        if target == BUILT_IN:
            candidate: Any = ManualBackprop()
        else:
            from reports.plugin import load_candidate
            candidate = load_candidate(target)
        references = {n: make_oracle(n) for n in oracles}
    except GradproofError as error:
        reporter.error(str(error))
        sys.exit(2)

    with np.errstate(all="ignore"):
        judgement = check_example(example, candidate, references,
                                  dtype or meta["dtype"], meta["strict_kinks"])
    reporter.out.print(f"{example.architecture.describe()}, batch {example.batch}, "
                       f"{example.reduction}")
    reporter.out.print(f"{judgement.verdict.value}: {judgement.message}",
                       markup=False)
    sys.exit(1 if judgement.verdict.fails else 0)
