"""The manual backprop equals every oracle, on examples Hypothesis draws.

Each property runs the manual backprop in float64 and in float32 and judges it
against one oracle (references always in float64), as a campaign judges it: where
the oracle's pre-activations sit on a kink, against the one-sided slopes too. An
ill-conditioned example (an output that rounds onto the singularity of a log
cost) is flagged by the verdict and accepted: there is nothing to prove there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, note

from manual_backprop import DTYPES, Example, backprop
from oracles import Verdict
from oracles.base import Oracle
from oracles.tolerance import conditioning, tolerances
from property_tests.strategies import examples
from reports.campaign import ManualBackprop, check_example

ACCEPTED = {Verdict.AGREE, Verdict.NON_DIFFERENTIABLE, Verdict.FD_NOISE,
            Verdict.ILL_CONDITIONED}


def assert_agrees(example: Example, dtype: str, oracle: Oracle) -> None:
    note(f"{example.architecture.describe()}, batch {example.batch}, "
         f"{example.reduction}, {dtype}")
    with np.errstate(all="ignore"):
        judgement = check_example(example, ManualBackprop(), {oracle.name: oracle},
                                  dtype)
    assert judgement.verdict in ACCEPTED, judgement.message


@pytest.mark.parametrize("dtype", DTYPES)
@given(example=examples())
def test_manual_gradients_and_every_dJ_dl_equal_torch_autograd(
    example: Example, dtype: str, torch_oracle: Oracle
) -> None:
    assert_agrees(example, dtype, torch_oracle)


@pytest.mark.parametrize("dtype", DTYPES)
@given(example=examples())
def test_manual_gradients_and_every_dJ_dl_equal_jax_autograd(
    example: Example, dtype: str, jax_oracle: Oracle
) -> None:
    assert_agrees(example, dtype, jax_oracle)


@pytest.mark.parametrize("dtype", DTYPES)
@given(example=examples())
def test_manual_gradients_agree_with_finite_differences(
    example: Example, dtype: str, fd_oracle: Oracle
) -> None:
    assert_agrees(example, dtype, fd_oracle)


@pytest.mark.parametrize("dtype", DTYPES)
@given(example=examples())
def test_manual_gradients_agree_with_complex_step_differentiation(
    example: Example, dtype: str, cs_oracle: Oracle
) -> None:
    assert_agrees(example, dtype, cs_oracle)


@given(example=examples())
def test_the_cost_J_is_the_same_in_every_implementation(
    example: Example, torch_oracle: Oracle, jax_oracle: Oracle, fd_oracle: Oracle
) -> None:
    with np.errstate(all="ignore"):
        reference: Any = torch_oracle.compute(example)
        values: dict[str, float] = {"manual": float(backprop(example).J or 0.0)}
        for oracle in (jax_oracle, fd_oracle):
            result: Any = oracle.compute(example)
            values[oracle.name] = float(result.J)
    note(f"J: torch {reference.J!r}, {values}")
    gradients = [*reference.dJ_dw, *reference.dJ_db, *(reference.dJ_dl or [])]
    if (conditioning(example, reference, "float64") or not np.isfinite(reference.J)
            or not all(np.all(np.isfinite(g)) for g in gradients)):
        # An output on the singularity of a log cost: J is inf where h is, and
        # where an output underflows to 0 PyTorch's gradient is 0/0. The
        # verdict there is ill-conditioned; nothing is compared.
        return
    tolerance = 2 * tolerances(example, reference, "float64").J
    for name, value in values.items():
        assert abs(value - reference.J) <= tolerance, (
            f"J of {name} is {value!r}, of torch {reference.J!r}: "
            f"beyond {tolerance:.3g}"
        )


@pytest.mark.parametrize("dtype", DTYPES)
@given(example=examples())
def test_gradients_come_back_in_the_dtype_and_shape_of_the_parameters(
    example: Example, dtype: str
) -> None:
    with np.errstate(all="ignore"):
        result = backprop(example, dtype)
    for i in range(example.architecture.n):
        assert result.dJ_dw[i].shape == example.weights[i].shape
        assert result.dJ_db[i].shape == example.biases[i].shape
        assert result.dJ_dw[i].dtype == np.dtype(dtype)
        assert result.dJ_db[i].dtype == np.dtype(dtype)
