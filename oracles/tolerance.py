"""Tolerances from the dtype and the size of the terms behind each gradient entry.

A first-order forward-error bound, in units of the unit roundoff ``u`` of the
dtype checked (``2^-53`` for float64, ``2^-24`` for float32), computed from a
float64 reference (its layer outputs ``f_i`` and error signals
``delta_i = dJ/dl_i``):

- forward: ``F_i = (Phi_{i-1} + 2|f_{i-1}|) |w_i|^T + 2|b_i|`` bounds the error
  in ``l_i``, ``Phi_i = L_i F_i + |f_i|`` the error in ``f_i(l_i)``, from
  ``Phi_0 = |X|`` (rounding the inputs to the dtype); ``L_i`` bounds ``|f_i'|``.
- backward: ``E_n = (G_n + |delta_n| + max_k |delta_n|) (1 + 2 F_n)``, where
  ``G_n = L_n |J'(h)| (1 + c)`` bounds the output layer's product with the cost
  slope (for softmax, ``|s| (e + sum_k |s_k| e_k)`` with ``e = |J'| (1 + c)``),
  and ``c = 1 / |1 - h|`` where ``binary_cross_entropy`` weights ``log(1 - h)``,
  else 0 (rounding ``h`` near 1 leaves ``1 - h`` few correct digits);
  ``E_i = (E_{i+1} |w_{i+1}|) L_i + (|delta_{i+1}| |w_{i+1}|) K_i F_i + |delta_i|``,
  with ``K_i = 2`` for curved activations (a bound on ``|f''|``) and 0 for
  piecewise-linear ones.
- parameters: ``T(dJ/dw_i) = s (E_i^T |f_{i-1}| + |delta_i|^T Phi_{i-1})``,
  never below ``u`` times the largest ``T`` of the example,
  ``T(dJ/db_i) = s sum_batch E_i`` with ``s = 1 + log2(batch)``,
  ``T(dJ/dl_i) = E_i`` and
  ``T(J) = |J| (1 + log2(batch n_n)) + sum |delta_n| F_n + sum |J'| Phi_n``.

The tolerance of an entry is ``SAFETY * u * T``. Every absolute value multiplies
what the code under test must compute, so cancellation between large terms
widens the tolerance exactly where rounding can hurt, and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from manual_backprop import ACTIVATIONS, COSTS, Example, Gradients

Array = np.ndarray

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
SAFETY = 16.0
_PIECEWISE_LINEAR = frozenset({"identity", "relu", "leaky_relu", "hard_tanh"})


@dataclass
class Tolerances:
    """Absolute tolerances shaped like the gradients they bound."""

    dJ_dw: list[Array]
    dJ_db: list[Array]
    dJ_dl: list[Array]
    J: float


def unit_roundoff(dtype: str) -> float:
    """``u`` of ``dtype``: half the distance from 1 to the next float."""
    return UNIT_ROUNDOFF[str(np.dtype(dtype))]


def _cost_slope(cost: str, h: Array, y: Array) -> Array:
    """The size of the terms of ``dJ_sample/dh``, ``(batch, n_n)``.

    Terms, not their sum: ``h - y`` is computed from ``h`` and ``y``, and when
    ``h`` is close to ``y`` its rounding error is that of ``h``, not of ``h - y``.
    A user's cost under check sizes its own terms (``Cost.slope_terms``).
    """
    slope_terms = COSTS[cost].slope_terms
    if slope_terms is not None:
        return slope_terms(h, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        if cost == "half_sse":
            return np.abs(h) + np.abs(y)
        if cost == "mse":
            return 2 * (np.abs(h) + np.abs(y)) / h.shape[1]
        if cost == "cross_entropy":
            return np.abs(y) / np.abs(h)
        if cost == "binary_cross_entropy":
            return np.abs(y) / np.abs(h) + np.abs(1 - y) / np.abs(1 - h)
        p = np.exp(h - np.max(h, axis=1, keepdims=True))
        p /= np.sum(p, axis=1, keepdims=True)
        return p * np.sum(np.abs(y), axis=1, keepdims=True) + np.abs(y)


def _one_minus_h_amplification(cost: str, h: Array, y: Array, u: float) -> Array:
    """``1 / |1 - h|`` where binary cross-entropy weights ``log(1 - h)``, else 0.

    Rounding ``h`` costs ``1 - h`` a relative error ``u / |1 - h|``; capped at
    ``1 / u``, past which :func:`conditioning` calls the example ill-conditioned.
    """
    if not (COSTS[cost].on_probabilities and COSTS[cost].targets == "binary"):
        return np.zeros_like(h)
    gap = np.maximum(np.abs(1 - h), u)
    return np.where(y < 1, 1 / gap, 0.0)


def conditioning(example: Example, reference: Gradients, dtype: str) -> str | None:
    """Why ``dtype`` cannot represent this example's cost, or ``None`` if it can.

    Under a log cost, an output that underflows to 0 in ``dtype`` (or, for
    binary cross-entropy, rounds to 1) puts ``J`` on its singularity however
    correct the code is; a user's cost of probabilities against probabilities
    is taken to be such a cost.
    """
    assert reference.outputs is not None
    cost, h, y = example.architecture.cost, reference.outputs[-1], example.Y
    if not COSTS[cost].on_probabilities:
        return None
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    weighted_h = np.where(y > 0, np.abs(h), np.inf)
    if float(np.min(weighted_h)) <= tiny:
        return (f"an output h = {float(np.min(weighted_h)):.3g} that a target "
                f"weights underflows to 0 in {dtype}, where log h is infinite")
    if COSTS[cost].targets == "binary":
        gap = float(np.min(np.where(y < 1, np.abs(1 - h), np.inf)))
        if gap <= 4 * unit_roundoff(dtype):
            return (f"an output h lies {gap:.3g} from 1, so 1 - h rounds to 0 "
                    f"in {dtype}, where log(1 - h) is infinite")
    return None


def forward_error_bounds(example: Example, outputs: list[Array]
                         ) -> tuple[list[Array], list[Array]]:
    """``F_i`` (bounds on the error in ``l_i``) and ``Phi_i`` (in ``f_i(l_i)``), in
    units of ``u``, from the layer outputs ``f_0 = X, ..., f_n``."""
    W = [np.abs(w) for w in example.weights]
    F: list[Array] = []
    Phi: list[Array] = [np.abs(example.X)]
    for i, name in enumerate(example.architecture.activations):
        F.append((Phi[i] + 2 * np.abs(outputs[i])) @ W[i].T
                 + 2 * np.abs(example.biases[i]))
        Phi.append(ACTIVATIONS[name].slope_bound * F[i] + np.abs(outputs[i + 1]))
    return F, Phi


def tolerances(example: Example, reference: Gradients, dtype: str) -> Tolerances:
    """Tolerances for gradients computed in ``dtype``, judged against ``reference``.

    ``reference`` must give ``outputs`` and ``dJ_dl`` (every autograd oracle does).
    """
    assert reference.outputs is not None and reference.dJ_dl is not None
    a = example.architecture
    f, delta = reference.outputs, reference.dJ_dl
    W = [np.abs(w) for w in example.weights]
    F, Phi = forward_error_bounds(example, f)

    scale = 1.0 / example.batch if example.reduction == "mean" else 1.0
    slope = scale * _cost_slope(a.cost, f[-1], example.Y)
    slope = np.where(np.isfinite(slope), slope, 0.0)
    slope_error = slope * (1 + _one_minus_h_amplification(
        a.cost, f[-1], example.Y, unit_roundoff(dtype)))
    output = ACTIVATIONS[a.activations[-1]]
    if output.derivative is None:
        s_n = np.abs(f[-1])
        G = s_n * (slope_error + np.sum(s_n * slope_error, axis=1, keepdims=True))
    else:
        G = output.slope_bound * slope_error
    E: list[Array] = [np.empty(0)] * a.n
    d_n = np.abs(delta[-1])
    E[-1] = (G + d_n + np.max(d_n, axis=1, keepdims=True)) * (1 + 2 * F[-1])
    for i in reversed(range(a.n - 1)):
        name = a.activations[i]
        L = ACTIVATIONS[name].slope_bound
        K = 0.0 if name in _PIECEWISE_LINEAR else 2.0
        E[i] = ((E[i + 1] @ W[i + 1]) * L
                + (np.abs(delta[i + 1]) @ W[i + 1]) * K * F[i]
                + np.abs(delta[i]))

    u = unit_roundoff(dtype)
    s = 1 + math.log2(example.batch)
    J_terms = abs(reference.J or 0.0) * (1 + math.log2(example.batch * a.sizes[-1]))
    J_terms += float(np.sum(d_n * F[-1])) + float(np.sum(slope_error * Phi[-1]))
    T_w = [s * (E[i].T @ np.abs(f[i]) + np.abs(delta[i]).T @ Phi[i])
           for i in range(a.n)]
    T_b = [s * np.sum(E[i], axis=0) for i in range(a.n)]

    # Where every term is exactly 0 the bound is 0; an error below u^2 times the
    # example's largest term is still no error worth the name.
    largest = max(float(np.max(t, initial=0.0)) for t in [*T_w, *T_b, *E])
    floor = u * largest + np.finfo(np.float64).tiny
    factor = SAFETY * u
    return Tolerances(
        dJ_dw=[factor * np.maximum(t, floor) for t in T_w],
        dJ_db=[factor * np.maximum(t, floor) for t in T_b],
        dJ_dl=[factor * np.maximum(e, floor) for e in E],
        J=factor * max(J_terms, floor),
    )
