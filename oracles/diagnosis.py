"""Likely faults behind a discrepancy, named only when the evidence supports them.

Each hypothesis is a gradient that a known fault would produce. A hypothesis is
reported when the code under test matches it within the tolerances of
:mod:`oracles.tolerance`, block by block, where it does not match the reference:

- from the reference alone: a constant factor (the batch size, 2, ``n_n`` or
  their inverses, -1 for a flipped sign), a transposed weight gradient (square
  layers), a bias gradient averaged instead of summed, taken from one sample,
  or summed over the units instead of the batch;
- from PyTorch references with one fault put into their backward pass: the
  derivative factor ``f_i'`` dropped in layer ``i``, ``f_i'`` evaluated at the
  layer output ``f_i(l_i)`` instead of ``l_i``, the softmax Jacobian cut to its
  diagonal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from manual_backprop import ACTIVATIONS, Example, Gradients
from oracles.tolerance import Tolerances, tolerances

Array = np.ndarray


@dataclass(frozen=True)
class Diagnosis:
    """A fault whose gradients the code under test reproduces."""

    fault: str
    where: str

    def describe(self) -> str:
        return f"{self.fault} ({self.where})"


def _matches(value: Array, hypothesis: Array, tol: Array) -> bool:
    value = np.asarray(value, dtype=np.float64)
    if value.shape != hypothesis.shape or not np.all(np.isfinite(value)):
        return False
    return bool(np.all(np.abs(value - hypothesis) <= 4 * tol + 1e-300))


def _factors(example: Example) -> list[tuple[float, str]]:
    batch, n_out = example.batch, example.architecture.sizes[-1]
    named = [(-1.0, "a flipped sign")]
    for value, name in ((batch, "the batch size"), (2.0, "2"), (n_out, "n_n")):
        if value != 1:
            named.append((float(value), _factor_label(name, value)))
            named.append((1 / value, _factor_label(name, value, inverse=True)))
    return named


def _factor_label(name: str, value: float, inverse: bool = False) -> str:
    """``a factor of the batch size (5)``; the value only where the name does
    not already say it (``a factor of 2``)."""
    over = "1/" if inverse else ""
    shown = f"{value:g}"
    label = f"a factor of {over}{name}"
    return label if name == shown else f"{label} ({over}{shown})"


def _block_faults(example: Example, candidate: Gradients, reference: Gradients,
                  tol: Tolerances) -> list[Diagnosis]:
    """Faults visible in one block of the code under test at a time."""
    found = []
    for i in range(example.architecture.n):
        blocks = [("w", candidate.dJ_dw[i], reference.dJ_dw[i], tol.dJ_dw[i]),
                  ("b", candidate.dJ_db[i], reference.dJ_db[i], tol.dJ_db[i])]
        for parameter, value, ref, t in blocks:
            name = f"dJ/d{parameter}_{i + 1}"
            if _matches(value, ref, t):
                continue
            # Each entry against the transposed one, within either's tolerance.
            if parameter == "w" and ref.shape[0] == ref.shape[1] and _matches(
                    value, ref.T, np.maximum(t, t.T)):
                found.append(Diagnosis("a transposed weight gradient", name))
            for factor, label in _factors(example):
                if _matches(value, factor * ref, np.abs(factor) * t):
                    found.append(Diagnosis(label, name))
                    break
            if parameter == "b" and reference.dJ_dl is not None:
                found += _bias_faults(example, value, reference.dJ_dl[i], t, name)
    return found


def _bias_faults(example: Example, value: Array, dJ_dl: Array, t: Array,
                 name: str) -> list[Diagnosis]:
    if example.batch > 1:
        for k, row in enumerate(dJ_dl):
            if _matches(value, row, t):
                return [Diagnosis(f"taken from sample {k} alone, not summed over "
                                  "the batch", name)]
    if dJ_dl.shape[0] == dJ_dl.shape[1] and _matches(value, dJ_dl.sum(axis=1), t):
        return [Diagnosis("summed over the units instead of the batch", name)]
    return []


def _shared_factor(found: list[Diagnosis], failing: set[str]) -> list[Diagnosis]:
    """One diagnosis for a factor that every failing block shows."""
    labels = {d.fault for d in found if d.where in failing}
    for label in labels:
        blocks = {d.where for d in found if d.fault == label}
        if len(failing) > 1 and failing <= blocks:
            return [Diagnosis(label, "every gradient that disagrees")]
    return found


def diagnose(example: Example, candidate: Gradients, reference: Gradients,
             dtype: str, faulty_references: dict[Diagnosis, Gradients] | None = None
             ) -> list[Diagnosis]:
    """The faults the code under test reproduces, most specific first.

    ``reference`` is a float64 autograd result with ``dJ_dl`` and ``outputs``;
    ``faulty_references`` maps a fault to the gradients it gives (see
    :func:`faulty_torch_references`).
    """
    tol = tolerances(example, reference, dtype)
    failing = {f"dJ/d{p}_{i + 1}"
               for i in range(example.architecture.n)
               for p, value, ref, t in (("w", candidate.dJ_dw[i], reference.dJ_dw[i],
                                         tol.dJ_dw[i]),
                                        ("b", candidate.dJ_db[i], reference.dJ_db[i],
                                         tol.dJ_db[i]))
               if not _matches(value, ref, t)}
    if not failing:
        return []
    whole = []
    for fault, faulty in (faulty_references or {}).items():
        if all(_matches(candidate.dJ_dw[i], faulty.dJ_dw[i], tol.dJ_dw[i])
               and _matches(candidate.dJ_db[i], faulty.dJ_db[i], tol.dJ_db[i])
               for i in range(example.architecture.n)):
            whole.append(fault)
    blocks = _shared_factor(_block_faults(example, candidate, reference, tol), failing)
    averaged = _factor_label("the batch size", example.batch, inverse=True)
    return whole + [
        Diagnosis("averaged over the batch instead of summed", d.where)
        if d.fault == averaged and d.where.startswith("dJ/db") else d
        for d in blocks
    ]


def faulty_torch_references(example: Example) -> dict[Diagnosis, Gradients]:
    """PyTorch gradients with one fault each in the backward pass, by fault;
    empty when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return {}
    from oracles.torch_oracle import _ACTIVATIONS, derivative_of

    a = example.architecture
    faults: dict[Diagnosis, Gradients] = {}
    for i, name in enumerate(a.activations):
        act = _ACTIVATIONS[name]
        if name == "identity":
            continue
        if ACTIVATIONS[name].derivative is None:
            def diagonal(l: torch.Tensor, g: torch.Tensor, act=act) -> torch.Tensor:
                s = act(l)
                return g * s * (1 - s)
            faults[Diagnosis("the softmax Jacobian cut to its diagonal",
                             f"layer {i + 1}")] = _with_backward(example, i, diagonal)
            continue

        def dropped(l: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
            return g

        def at_output(l: torch.Tensor, g: torch.Tensor, act=act) -> torch.Tensor:
            return g * derivative_of(act, act(l))

        where = f"layer {i + 1}, {name}"
        faults[Diagnosis(f"the derivative f_{i + 1}' left out", where)] = \
            _with_backward(example, i, dropped)
        faults[Diagnosis(f"f_{i + 1}' evaluated at the layer output f_{i + 1}(l_"
                         f"{i + 1}) instead of at l_{i + 1}", where)] = \
            _with_backward(example, i, at_output)
    return faults


def _with_backward(example: Example, layer: int,
                   backward: Callable[..., Any]) -> Gradients:
    """PyTorch gradients with layer ``layer``'s activation given ``backward``."""
    from oracles.torch_oracle import _ACTIVATIONS, TorchOracle, with_backward

    act = _ACTIVATIONS[example.architecture.activations[layer]]
    oracle = TorchOracle()
    oracle.layer_activations = {layer: with_backward(act, backward)}
    return oracle.compute(example)
