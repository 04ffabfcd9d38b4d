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

With ``--examples-from PATH`` it checks the examples pickled in ``PATH`` instead
(``compare_with_gradcheck.py`` saves there those its own campaign drew), so that
both sides check exactly the same examples: Hypothesis mixes constants from the
source of every local module loaded into its draws, so two processes that load
different modules draw different examples from the same strategy and seed.
``examples_drawn`` lists ``architecture | batch`` of every example checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from hypothesis.configuration import set_hypothesis_home_dir

from manual_backprop import Example
from oracles.torch_oracle import _ACTIVATIONS as TORCH_ACTIVATIONS
from oracles.torch_oracle import _COSTS as TORCH_COSTS
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


def fingerprint(drawn: Sequence[str]) -> str:
    """A short hash of the ``architecture | batch`` lines of a campaign."""
    return hashlib.sha256("\n".join(drawn).encode()).hexdigest()[:16]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--max-depth", type=int, default=4)
    parser.add_argument("--max-width", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples-from", default=None,
                        help="a pickled list of examples to check instead of drawing")
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
    if args.examples_from is None:
        campaign_examples(config, check)
    else:
        with open(args.examples_from, "rb") as given:
            for index, example in enumerate(pickle.load(given)):
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
