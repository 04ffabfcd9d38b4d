"""PyTorch autograd (reverse mode) as an oracle, in float64.

``dJ/dl_i`` comes from a zero probe added to each pre-activation: the gradient
of ``J`` with respect to the probe is the gradient with respect to ``l_i``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from manual_backprop import ACTIVATIONS, Example, Gradients

Tensor = torch.Tensor

# Kinks follow the smaller one-sided slope; PyTorch's own backward already does
# (relu'(0) = 0, leaky_relu'(0) = 0.01, hardtanh'(+-1) = 0).
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda l: l,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda l: F.leaky_relu(l, 0.01),
    "elu": F.elu,
    # Past its threshold softplus returns l itself, whose slope 1 differs from
    # sigmoid(l) by exp(-threshold); at 40 that is below float64 rounding.
    "softplus": lambda l: F.softplus(l, threshold=40.0),
    "gelu": F.gelu,
    "gelu_tanh": lambda l: F.gelu(l, approximate="tanh"),
    "silu": F.silu,
    "softsign": F.softsign,
    "hard_tanh": F.hardtanh,
    "softmax": lambda l: F.softmax(l, dim=1),
}

_COSTS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "half_sse": lambda h, y: 0.5 * ((h - y) ** 2).sum(dim=1),
    "mse": lambda h, y: F.mse_loss(h, y, reduction="none").mean(dim=1),
    "cross_entropy": lambda h, y: -torch.xlogy(y, h).sum(dim=1),
    # Written out: F.binary_cross_entropy clamps log at -100 and its backward
    # clamps h(1-h) at 1e-12, which changes J and J' on saturated outputs.
    "binary_cross_entropy": lambda h, y: -(
        torch.xlogy(y, h) + torch.special.xlog1py(1 - y, -h)
    ).sum(dim=1),
    "softmax_cross_entropy": lambda h, y: -(y * F.log_softmax(h, dim=1)).sum(dim=1),
}


class TorchOracle:
    """Reverse-mode gradients from PyTorch autograd."""

    name = "torch"
    version = torch.__version__

    def __init__(self) -> None:
        self.activations = dict(_ACTIVATIONS)
        # Per layer (0-based) replacements, for references with a planted fault
        # or another slope at a kink.
        self.layer_activations: dict[int, Callable[[Tensor], Tensor]] = {}

    def compute(self, example: Example) -> Gradients:
        """Float64 ``J``, ``dJ/dw_i``, ``dJ/db_i`` and ``dJ/dl_i`` of ``example``."""
        a = example.architecture

        def leaf(array: np.ndarray) -> Tensor:
            return torch.tensor(array, dtype=torch.float64, requires_grad=True)

        weights = [leaf(w) for w in example.weights]
        biases = [leaf(b) for b in example.biases]
        probes = [leaf(np.zeros((example.batch, n))) for n in a.widths]
        f = torch.tensor(example.X, dtype=torch.float64)
        Y = torch.tensor(example.Y, dtype=torch.float64)

        outputs = [f]
        for k, (w, b, probe, name) in enumerate(zip(weights, biases, probes,
                                                    a.activations)):
            activation = self.layer_activations.get(k, self.activations[name])
            outputs.append(activation(outputs[-1] @ w.T + b + probe))
        per_sample = _COSTS[a.cost](outputs[-1], Y)
        J = per_sample.mean() if example.reduction == "mean" else per_sample.sum()

        grads = torch.autograd.grad(J, [*weights, *biases, *probes])
        arrays = [g.detach().numpy() for g in grads]
        n = a.n
        return Gradients(
            dJ_dw=arrays[:n], dJ_db=arrays[n : 2 * n], dJ_dl=arrays[2 * n :],
            J=float(J.detach()), outputs=[f.detach().numpy() for f in outputs],
        )


def one_sided_gradients(example: Example, on_kinks: dict[int, np.ndarray],
                        larger: set[int]) -> Gradients:
    """Gradients whose activations take, at the pre-activations marked in
    ``on_kinks`` (masks by 0-based layer), the larger one-sided slope in the
    layers ``larger`` and the smaller one elsewhere; the forward pass is
    unchanged."""
    oracle = TorchOracle()
    for layer, mask in on_kinks.items():
        name = example.architecture.activations[layer]
        kinks = ACTIVATIONS[name].kinks
        slopes = [s for k in kinks for s in (k.left_slope, k.right_slope)]
        slope = max(slopes) if layer in larger else min(slopes)
        oracle.layer_activations[layer] = _sloped(_ACTIVATIONS[name],
                                                  torch.tensor(mask), slope)
    return oracle.compute(example)


def with_backward(activation: Callable[[Tensor], Tensor],
                  backward: Callable[[Tensor, Tensor], Tensor]
                  ) -> Callable[[Tensor], Tensor]:
    """``activation`` unchanged forward, with ``backward(l, dJ_df)`` giving
    ``dJ/dl``: a reference with another slope, or with a planted fault."""

    class Replaced(torch.autograd.Function):
        @staticmethod
        def forward(ctx, l):  # type: ignore[no-untyped-def,override]
            ctx.save_for_backward(l)
            return activation(l)

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def,override]
            l, = ctx.saved_tensors
            return backward(l, g)

    return Replaced.apply


def derivative_of(activation: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The elementwise derivative of ``activation`` at ``x``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        slope, = torch.autograd.grad(activation(x).sum(), x)
    return slope


def _sloped(activation: Callable[[Tensor], Tensor], mask: Tensor,
            slope: float) -> Callable[[Tensor], Tensor]:
    """``activation`` with its derivative replaced by ``slope`` where ``mask``."""
    return with_backward(activation, lambda l, g: g * torch.where(
        mask, torch.full_like(l, slope), derivative_of(activation, l)))
