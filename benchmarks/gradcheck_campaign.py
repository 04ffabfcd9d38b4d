"""The baseline campaign: ``torch.autograd.gradcheck`` in slow mode on the random
examples a ``gradproof run`` campaign draws, with the same strategy and seed.

Each example's ``J`` is written as a function of all the weights ``w_i`` and
biases ``b_i`` (PyTorch's own activations and costs, as in the PyTorch oracle)
and handed to ``gradcheck(fast_mode=False)``, which compares every entry of the
autograd gradient with a central difference. Nothing here looks at the manual
backprop: this is what checking the same architectures with PyTorch's own tool
costs.

Run on its own it draws its examples and prints one JSON line::

    python benchmarks/gradcheck_campaign.py --examples 300 --max-depth 4 \\
        --max-width 32 --seed 0

With ``--shapes-from REPORT.json`` it checks instead the architectures and
batches that a ``gradproof run`` wrote in its JSON report, with values drawn
afresh (``compare_with_gradcheck.py`` does this, so that both sides check the
same networks): ``gradcheck``'s time depends on the shapes alone, and drawing
the same examples again is not reliable, since Hypothesis mixes into its draws
constants from the source of every local module loaded, and two processes that
load different modules draw different examples from the same strategy and seed.
``examples_drawn`` lists ``architecture | batch`` of every example checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from hypothesis.configuration import set_hypothesis_home_dir

from manual_backprop import COSTS, Architecture, Example
from oracles.torch_oracle import _ACTIVATIONS as TORCH_ACTIVATIONS
from oracles.torch_oracle import _COSTS as TORCH_COSTS
from property_tests.strategies import targets
from reports.campaign import CampaignConfig, for_each_example


def torch_cost(example: Example) -> tuple[Callable[..., torch.Tensor],
                                          list[torch.Tensor]]:
    """``J`` of ``example`` as a function of ``w_1, b_1, ..., w_n, b_n``, and
    those parameters as float64 leaf tensors that require gradients.

    ``X`` is ``(batch, d)`` and ``Y`` ``(batch, n_n)``, both held fixed.
    """
    a = example.architecture
    X = torch.tensor(example.X, dtype=torch.float64)
    Y = torch.tensor(example.Y, dtype=torch.float64)
    activations = [TORCH_ACTIVATIONS[name] for name in a.activations]
    cost = TORCH_COSTS[a.cost]
    mean = example.reduction == "mean"

    def J(*parameters: torch.Tensor) -> torch.Tensor:
        f = X
        for i, activation in enumerate(activations):
            f = activation(f @ parameters[2 * i].T + parameters[2 * i + 1])
        per_sample = cost(f, Y)
        return per_sample.mean() if mean else per_sample.sum()

    parameters = []
    for w, b in zip(example.weights, example.biases):
        parameters.append(torch.tensor(w, dtype=torch.float64, requires_grad=True))
        parameters.append(torch.tensor(b, dtype=torch.float64, requires_grad=True))
    return J, parameters


def campaign_examples(config: CampaignConfig,
                      on_example: Callable[[int, Example], None]) -> None:
    """Call ``on_example(index, example)`` on the examples ``run_campaign`` draws
    for ``config``: the same strategy, the same seed, the same settings."""
    scratch = tempfile.TemporaryDirectory()  # for Hypothesis's files, not the cwd
    set_hypothesis_home_dir(scratch.name)
    with np.errstate(all="ignore"), scratch:
        for_each_example(config, on_example)


def with_shapes_of(records: Sequence[dict[str, Any]], seed: int = 0) -> list[Example]:
    """Examples with the architecture, batch and reduction of each record of a
    JSON report, and values drawn from ``seed``: weights on the scale
    ``1/sqrt(n_{i-1})``, standard normal biases and inputs, targets the cost
    takes."""
    rng = np.random.default_rng(seed)
    rebuilt = []
    for r in records:
        architecture = Architecture(r["d"], tuple(r["widths"]),
                                    tuple(r["activations"]), r["cost"])
        sizes, batch = architecture.sizes, r["batch"]
        weights = [rng.standard_normal((m, n)) / np.sqrt(n)
                   for n, m in zip(sizes, sizes[1:])]
        biases = [rng.standard_normal(m) for m in sizes[1:]]
        X = rng.standard_normal((batch, architecture.d))
        Y = targets(rng, COSTS[architecture.cost].targets, (batch, sizes[-1]),
                    one_hot=True)
        rebuilt.append(Example(architecture, weights, biases, X, Y,
                               reduction=r["reduction"]))
    return rebuilt


def fingerprint(drawn: Sequence[str]) -> str:
    """A short hash of the ``architecture | batch`` lines of a campaign."""
    return hashlib.sha256("\n".join(drawn).encode()).hexdigest()[:16]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--max-depth", type=int, default=4)
    parser.add_argument("--max-width", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes-from", default=None,
                        help="a gradproof JSON report whose architectures and "
                             "batches to check instead of drawing")
    args = parser.parse_args(argv)
    config = CampaignConfig(examples=args.examples, max_depth=args.max_depth,
                            max_width=args.max_width, seed=args.seed)

    drawn: list[str] = []
    failed: list[str] = []
    parameters_checked = [0]

    def check(index: int, example: Example) -> None:
        drawn.append(f"{example.architecture.describe()} | batch {example.batch}")
        J, parameters = torch_cost(example)
        parameters_checked[0] += example.architecture.n_parameters
        # Default tolerances (atol 1e-5, rtol 1e-3); a failure here is often a
        # kink or saturation that gradproof calls non-differentiable instead.
        passed = torch.autograd.gradcheck(J, parameters, fast_mode=False,
                                          raise_exception=False)
        if not passed:
            failed.append(f"example {index}: {drawn[-1]}")

    started = time.perf_counter()
    if args.shapes_from is None:
        campaign_examples(config, check)
    else:
        with open(args.shapes_from, encoding="utf-8") as report:
            records = json.load(report)["examples"]
        for index, example in enumerate(with_shapes_of(records, args.seed)):
            check(index, example)
    seconds = time.perf_counter() - started

    json.dump({
        "examples": len(drawn),
        "seconds_in_loop": seconds,
        "parameters_checked": parameters_checked[0],
        "gradcheck_failures": len(failed),
        "failed": failed,
        "fingerprint": fingerprint(drawn),
        "examples_drawn": drawn,
    }, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
