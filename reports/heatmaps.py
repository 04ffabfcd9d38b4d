"""Heat maps of a failing example: how far each entry of every ``dJ/dw_i`` of
the code under test is from the first autograd oracle, in tolerances.

Only failing examples that keep their details get them, and only weight
matrices of at most :data:`MAX_SIDE` rows and columns, so that a report stays
small whatever the length of the run.
"""

from __future__ import annotations

import numpy as np

from manual_backprop import Example, Gradients
from oracles.tolerance import tolerances
from reports.model import HeatMap

MAX_SIDE = 64


def first_autograd(results: dict[str, object]) -> tuple[str, Gradients] | None:
    """The first oracle that gave full gradients (with layer outputs and every
    ``dJ/dl_i``), by name; ``None`` if none did."""
    for name, result in results.items():
        if (isinstance(result, Gradients) and result.outputs is not None
                and result.dJ_dl is not None):
            return name, result
    return None


def weight_heat_maps(example: Example, gradients: Gradients,
                     results: dict[str, object], dtype: str
                     ) -> tuple[list[HeatMap], list[int]]:
    """``|dJ/dw_i - reference| / tolerance`` entry by entry for each layer ``i``
    (shape ``(n_i, n_{i-1})``), against the first autograd oracle in
    ``results``, and the layers skipped as wider than :data:`MAX_SIDE`.

    The tolerances are those the verdict used; a NaN error counts as infinite,
    as in the comparison.
    """
    found = first_autograd(results)
    if found is None:
        return [], []
    against, reference = found
    with np.errstate(all="ignore"):
        tol = tolerances(example, reference, dtype)

    maps: list[HeatMap] = []
    skipped: list[int] = []
    for i, (value, ref, allowed) in enumerate(
            zip(gradients.dJ_dw, reference.dJ_dw, tol.dJ_dw, strict=False), start=1):
        value = np.asarray(value, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if value.shape != ref.shape or value.ndim != 2 or value.size == 0:
            continue
        if max(value.shape) > MAX_SIDE:
            skipped.append(i)
            continue
        with np.errstate(all="ignore"):
            error = np.abs(value - ref)
            error = np.where(np.isnan(error), np.inf, error)
            excess = np.where(error == 0, 0.0, error / np.maximum(
                np.broadcast_to(allowed, error.shape), np.finfo(np.float64).tiny))
        worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
        maps.append(HeatMap(layer=i, against=against, excess=excess.tolist(),
                            worst=[int(k) for k in worst],
                            worst_excess=float(excess[worst])))
    return maps, skipped
