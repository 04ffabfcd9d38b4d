"""Detection: the mutant catalogue under ``torch.autograd.gradcheck`` slow mode
and under gradproof's own kill campaign against the PyTorch oracle.

Each mutant of :data:`property_tests.mutants.MUTANTS` is gradient code with one
planted fault, behind the plug-in contract ``gradients(weights, biases,
activations, cost, X, Y) -> (dJ_dw, dJ_db)``. Both tools get the same examples:
those ``gradproof mutants`` draws for the mutant against the torch oracle
(:func:`reports.mutants.campaign_config` and
:func:`reports.campaign.for_each_example`), drawn in this process, where
Hypothesis mixes the same local constants into both draws; a fingerprint of
every example's architecture, batch and arrays checks that it did.

- gradproof: :func:`reports.mutants.kill`, the mutant against the torch oracle,
  stopping at the first failing example.
- gradcheck: on each example, ``gradcheck(fast_mode=False)`` with its default
  tolerances on a ``torch.autograd.Function`` whose forward is the correct
  ``J`` (:func:`gradcheck_campaign.torch_cost`) and whose backward calls the
  mutant on the parameters and returns its ``dJ_dw``, ``dJ_db`` times the
  incoming gradient, in float64: what a user does to check hand-written
  gradients with gradcheck. It stops at the first example gradcheck flags.

Gradient code that raises, or returns something that is not one array shaped
like each parameter, is caught by both: gradproof calls it "code under test
failed", and here it counts as flagged. Each campaign gets a fresh mutant
(``Mutant.fresh``), since some mutants keep state between calls.

The unmodified manual backprop then runs over every configuration the mutants
drew from, every example of the budget, through both tools: the examples each
flags there are false alarms.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gradcheck_campaign import fingerprint, torch_cost
from hypothesis.configuration import set_hypothesis_home_dir

from manual_backprop import ACTIVATIONS, Example, forward, gradients
from oracles.base import Oracle, make_oracle
from oracles.compare import Verdict
from property_tests.mutants import MUTANTS, Draws, GradientFunction, Mutant
from reports.campaign import check, for_each_example
from reports.mutants import (
    DEFAULT_EXAMPLES,
    UNMODIFIED,
    campaign_config,
    configurations,
    control,
)
from reports.mutants import kill as gradproof_kill
from reports.plugin import CandidateFailure, ContractCandidate, returned_gradients

ORACLE = "torch"
GRADCHECK_STEP = 1e-6  # gradcheck's default eps, the step of its central difference
TOOLS = ("gradproof", "gradcheck_slow")  # the keys of each tool's figures
FAILED = "code under test failed"  # gradproof's verdict, and the same here

# --quick: mutants that show on nearly any example (the batch mean, a sign, an
# added term, an in-place write, state kept between calls), so that gradproof
# kills each within the quick budget whatever the draws; all but one draw from
# the default configuration, so that the unmodified code runs through two.
QUICK_MUTANTS = ("batch_mean_missing", "bias_gradient_from_one_sample",
                 "weight_decay_leaks", "sign_flipped_in_layer_1",
                 "weight_gradient_written_into_weights", "error_signal_accumulated")
QUICK_EXAMPLES = 10


def example_line(example: Example) -> str:
    """``architecture | batch | digest of every array``: one line of a
    fingerprint, which tells two draws of the same shapes apart."""
    digest = hashlib.sha256()
    for array in (*example.weights, *example.biases, example.X, example.Y):
        digest.update(np.ascontiguousarray(array).tobytes())
    return (f"{example.architecture.describe()} | batch {example.batch} | "
            f"{digest.hexdigest()[:12]}")


# ----------------------------------------------------------------------------
# gradcheck on hand-written gradients


class CodeUnderTestFailed(Exception):
    """The gradient code raised, or returned something that is not one float
    array shaped like each parameter."""


def hand_written_cost(example: Example, gradient_code: GradientFunction
                      ) -> tuple[Callable[..., torch.Tensor], list[torch.Tensor]]:
    """``J`` of ``example`` as a ``torch.autograd.Function`` of ``w_1, b_1, ...,
    w_n, b_n`` whose backward is ``gradient_code``, and those parameters.

    The forward is :func:`gradcheck_campaign.torch_cost`'s ``J``. The backward
    hands ``gradient_code`` the saved parameters as NumPy arrays that share
    their memory (``Tensor.numpy()``, as a user would write it), ``X``
    ``(batch, d)`` and ``Y`` ``(batch, n_n)``, and scales what it returns by
    the incoming gradient.
    """
    J, parameters = torch_cost(example)
    a = example.architecture
    X, Y = example.cast("float64")[2:]

    class HandWritten(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *parameters: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(*parameters)
            return J(*parameters)

        @staticmethod
        def backward(ctx: Any, dJ: torch.Tensor) -> tuple[torch.Tensor, ...]:
            saved = ctx.saved_tensors
            weights = [p.detach().numpy() for p in saved[0::2]]
            biases = [p.detach().numpy() for p in saved[1::2]]
            try:
                returned = gradient_code(weights, biases, list(a.activations), a.cost,
                                         X, Y)
            except Exception as error:
                raise CodeUnderTestFailed(f"the gradient code raised "
                                          f"{type(error).__name__}: {error}") from None
            try:
                dJ_dw, dJ_db = returned_gradients(returned, "the gradient code",
                                                  example)
            except CandidateFailure as failure:
                raise CodeUnderTestFailed(str(failure)) from None
            return tuple(dJ * torch.as_tensor(g, dtype=torch.float64)
                         for pair in zip(dJ_dw, dJ_db) for g in pair)

    def cost(*parameters: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = HandWritten.apply(*parameters)
        return result

    return cost, parameters


def gradcheck_flags(example: Example, gradient_code: GradientFunction) -> str | None:
    """Why ``gradcheck`` slow mode flags ``gradient_code`` on ``example``
    (default tolerances), or ``None`` if it passes."""
    cost, parameters = hand_written_cost(example, gradient_code)
    try:
        passed = torch.autograd.gradcheck(cost, parameters, fast_mode=False,
                                          raise_exception=False)
    except CodeUnderTestFailed as failure:
        return f"{FAILED}: {failure}"
    return None if passed else "gradcheck returned False"


# ----------------------------------------------------------------------------
# Campaigns of either tool


@dataclass
class Hunt:
    """One campaign of one tool against one piece of gradient code.

    ``flagged`` holds ``(index, why)`` of every example the tool flagged (a
    campaign that stops at the first has at most one), ``flagged_examples``
    those examples; ``drawn`` holds :func:`example_line` of every example it
    checked.
    """

    examples_run: int = 0
    seconds: float = 0.0
    flagged: list[tuple[int, str]] = field(default_factory=list)
    flagged_examples: list[Example] = field(default_factory=list, repr=False)
    drawn: list[str] = field(default_factory=list, repr=False)

    @property
    def examples_to_kill(self) -> int | None:
        """The index of the first flagged example + 1, or ``None``."""
        return self.flagged[0][0] + 1 if self.flagged else None

    def to_dict(self) -> dict[str, Any]:
        return {"examples_run": self.examples_run, "seconds": self.seconds,
                "flagged": [list(f) for f in self.flagged],
                "killed": bool(self.flagged), "examples_to_kill": self.examples_to_kill,
                "fingerprint": fingerprint(self.drawn)}


class _Flagged(BaseException):
    """Ends a gradcheck campaign at its first flagged example; a
    ``BaseException`` so that Hypothesis passes it straight through."""


def gradcheck_hunt(gradient_code: GradientFunction, draws: Draws, examples: int,
                   seed: int, stop_at_first: bool) -> Hunt:
    """``gradcheck`` slow mode on the examples of the campaign ``gradproof
    mutants`` runs against the torch oracle for ``draws``."""
    hunt = Hunt()

    def visit(index: int, example: Example) -> None:
        hunt.drawn.append(example_line(example))
        hunt.examples_run += 1
        why = gradcheck_flags(example, gradient_code)
        if why is not None:
            hunt.flagged.append((index, why))
            hunt.flagged_examples.append(example)
            if stop_at_first:
                raise _Flagged

    started = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            for_each_example(campaign_config(draws, ORACLE, examples, seed), visit)
    except _Flagged:
        pass
    hunt.seconds = time.perf_counter() - started
    return hunt


class RecordingOracle:
    """An oracle that keeps every example it sees, and its
    :func:`example_line` (the oracles see each example before the code under
    test does)."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.name = oracle.name
        self.version = oracle.version
        self.examples: list[Example] = []
        self.drawn: list[str] = []

    def compute(self, example: Example) -> object:
        self.examples.append(example)
        self.drawn.append(example_line(example))
        return self.oracle.compute(example)


def gradproof_hunt(mutant: Mutant, oracle: Oracle, examples: int, seed: int) -> Hunt:
    """``gradproof mutants``'s campaign of ``mutant`` (fresh) against the torch
    oracle, stopping at the first failing example."""
    recording = RecordingOracle(oracle)
    outcome = gradproof_kill(mutant, ORACLE, recording, examples, seed)
    hunt = Hunt(examples_run=outcome.examples_run, seconds=outcome.seconds,
                drawn=recording.drawn)
    if outcome.examples_to_kill is not None:
        index = outcome.examples_to_kill - 1
        hunt.flagged.append((index, outcome.verdict or ""))
        hunt.flagged_examples.append(recording.examples[index])
    return hunt


def gradproof_verdict(example: Example, oracle: Oracle) -> Verdict:
    """gradproof's verdict on the unmodified manual backprop at ``example``
    against the torch oracle: the judgement its control campaign makes there."""
    candidate = ContractCandidate(gradients, UNMODIFIED)
    with np.errstate(all="ignore"):
        checked = check(example, candidate, {ORACLE: oracle}, "float64")
    return checked.judgement.verdict


def flags_unmodified_code(tool: str, example: Example, oracle: Oracle) -> bool:
    """Whether ``tool`` flags the unmodified manual backprop on ``example`` too:
    a kill there shows nothing about the mutant."""
    if tool == "gradproof":
        return gradproof_verdict(example, oracle).fails
    with np.errstate(all="ignore"):
        return gradcheck_flags(example, gradients) is not None


def near_kink(example: Example, step: float = GRADCHECK_STEP) -> bool:
    """Whether a pre-activation ``l_i`` of a kinked activation (``relu``,
    ``leaky_relu``, ``hard_tanh``) lies within ``step`` of its kink, where a
    central difference of that step straddles the kink."""
    a = example.architecture
    passed = forward(a, example.weights, example.biases, example.X, example.Y,
                     example.reduction)
    return any(np.any(np.abs(l - kink.at) <= step)
               for l, name in zip(passed.l, a.activations)
               for kink in ACTIVATIONS[name].kinks)


def same_examples(first: Hunt, second: Hunt) -> bool:
    """Whether two campaigns checked the same examples as far as both went."""
    common = min(len(first.drawn), len(second.drawn))
    return common > 0 and first.drawn[:common] == second.drawn[:common]


# ----------------------------------------------------------------------------
# The section


def detection(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Every mutant (the quick set and budget with ``quick``) through gradproof
    and gradcheck slow mode on the same examples, then the unmodified manual
    backprop over every configuration they drew from; every figure."""
    chosen = [m for m in MUTANTS if not quick or m.name in QUICK_MUTANTS]
    examples = QUICK_EXAMPLES if quick else DEFAULT_EXAMPLES
    oracle = make_oracle(ORACLE)

    # Hypothesis keeps its cache of local constants in a folder of its own,
    # not in the current directory.
    scratch = tempfile.TemporaryDirectory()
    set_hypothesis_home_dir(scratch.name)
    mutants: dict[str, dict[str, Any]] = {}
    controls: list[dict[str, Any]] = []
    with scratch:
        # The first campaigns pay for PyTorch's and Hypothesis's first calls
        # (most of a second): run the first mutant's once before timing any.
        gradproof_hunt(chosen[0], oracle, examples, seed)
        gradcheck_hunt(chosen[0].fresh(), chosen[0].draws, examples, seed,
                       stop_at_first=True)
        started = time.perf_counter()

        for mutant in chosen:
            ours = gradproof_hunt(mutant, oracle, examples, seed)
            theirs = gradcheck_hunt(mutant.fresh(), mutant.draws, examples, seed,
                                    stop_at_first=True)
            mutants[mutant.name] = {
                "description": mutant.description, "draws": mutant.draws.describe(),
                "same_examples": same_examples(ours, theirs)}
            for tool, hunt in zip(TOOLS, (ours, theirs)):
                mutants[mutant.name][tool] = {
                    **hunt.to_dict(),
                    "flags_unmodified_code_there": any(
                        flags_unmodified_code(tool, e, oracle)
                        for e in hunt.flagged_examples)}

        for draws, users in configurations(chosen).items():
            recording = RecordingOracle(oracle)
            ours_control = control(draws, ORACLE, recording, examples, seed, users)
            theirs = gradcheck_hunt(gradients, draws, examples, seed,
                                    stop_at_first=False)
            # What gradproof said where gradcheck raised a false alarm.
            flagged = [{"example": f"example {index}: {e.architecture.describe()} | "
                                   f"batch {e.batch}",
                        "gradproof_verdict": gradproof_verdict(e, oracle).value,
                        "near_kink": near_kink(e)}
                       for (index, _), e in zip(theirs.flagged,
                                                theirs.flagged_examples)]
            controls.append({
                "draws": draws.describe(), "mutants": users,
                "gradproof": {"examples_run": ours_control.examples_run,
                              "alarms": ours_control.alarms,
                              "first_alarm": ours_control.first_alarm,
                              "seconds": ours_control.seconds,
                              "fingerprint": fingerprint(recording.drawn)},
                "gradcheck_slow": {
                    **theirs.to_dict(), "alarms": len(theirs.flagged),
                    "flagged": flagged},
                "same_examples": recording.drawn == theirs.drawn})

    return {"oracle": ORACLE, "examples": examples, "seed": seed, "quick": quick,
            "mutants_run": len(chosen), "catalogue_size": len(MUTANTS),
            "mutants": mutants, "controls": controls,
            "totals": totals(mutants, controls),
            "same_examples": all(m["same_examples"] for m in mutants.values())
            and all(c["same_examples"] for c in controls),
            "seconds": time.perf_counter() - started}


def totals(mutants: dict[str, dict[str, Any]], controls: list[dict[str, Any]]
           ) -> dict[str, dict[str, Any]]:
    """Per tool: mutants killed, the median examples to kill over the mutants
    it killed and over those both killed, false alarms on the unmodified code
    and seconds in all; for gradcheck, gradproof's verdicts where it raised
    its false alarms."""
    both = [m for m in mutants.values() if all(m[t]["killed"] for t in TOOLS)]
    result = {}
    for tool in TOOLS:
        counts = [m[tool]["examples_to_kill"] for m in mutants.values()
                  if m[tool]["killed"]]
        result[tool] = {
            "killed": len(counts),
            "killed_where_unmodified_code_passes": sum(
                m[tool]["killed"] and not m[tool]["flags_unmodified_code_there"]
                for m in mutants.values()),
            "killed_where_unmodified_code_is_flagged": [
                name for name, m in mutants.items()
                if m[tool]["flags_unmodified_code_there"]],
            "survived": [name for name, m in mutants.items() if not m[tool]["killed"]],
            "median_examples_to_kill": statistics.median(counts) if counts else None,
            "median_examples_to_kill_where_both_killed": (
                statistics.median(m[tool]["examples_to_kill"] for m in both)
                if both else None),
            "false_alarms": sum(c[tool]["alarms"] for c in controls),
            "control_examples": sum(c[tool]["examples_run"] for c in controls),
            "seconds_on_mutants": sum(m[tool]["seconds"] for m in mutants.values()),
            "seconds_on_unmodified": sum(c[tool]["seconds"] for c in controls),
        }
    said = Counter(f["gradproof_verdict"] for c in controls
                   for f in c["gradcheck_slow"]["flagged"])
    result["gradcheck_slow"]["false_alarms_by_gradproof_verdict"] = dict(said)
    result["gradcheck_slow"]["false_alarms_near_kink"] = sum(
        f["near_kink"] for c in controls for f in c["gradcheck_slow"]["flagged"])
    return result
