"""Each likely fault is named on code that has it, and never on correct code."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from manual_backprop import Architecture, Example, backprop
from oracles import make_oracle
from oracles.diagnosis import diagnose, faulty_torch_references
from property_tests.strategies import examples


@pytest.fixture(scope="module")
def torch_oracle():
    return make_oracle("torch")


def square_example(activations=("tanh", "sigmoid", "softmax"), cost="cross_entropy",
                   batch=5, seed=0) -> Example:
    rng = np.random.default_rng(seed)
    architecture = Architecture(4, (4, 4, 3), activations, cost)
    sizes = architecture.sizes
    return Example(architecture,
                   [rng.standard_normal((sizes[i + 1], sizes[i])) for i in range(3)],
                   [rng.standard_normal(sizes[i + 1]) for i in range(3)],
                   rng.standard_normal((batch, 4)),
                   np.eye(3)[rng.integers(0, 3, batch)])


def scaled(factor):
    def fault(g, example):
        g.dJ_dw = [w * factor(example) for w in g.dJ_dw]
        g.dJ_db = [b * factor(example) for b in g.dJ_db]
    return fault


def in_block(change):
    def fault(g, example):
        change(g)
    return fault


FAULTS = [
    pytest.param(scaled(lambda e: e.batch), "a factor of the batch size (5)",
                 "every gradient that disagrees", id="times-the-batch-size"),
    pytest.param(scaled(lambda e: 1 / e.batch), "a factor of 1/the batch size",
                 "every gradient that disagrees", id="mean-applied-twice"),
    pytest.param(scaled(lambda e: 2.0), "a factor of 2", "every gradient",
                 id="times-two"),
    pytest.param(in_block(lambda g: g.dJ_dw.__setitem__(1, -g.dJ_dw[1])),
                 "a flipped sign", "dJ/dw_2", id="sign-flip-in-one-layer"),
    pytest.param(in_block(lambda g: g.dJ_dw.__setitem__(0, g.dJ_dw[0].T.copy())),
                 "a transposed weight gradient", "dJ/dw_1", id="transposed"),
    pytest.param(in_block(lambda g: g.dJ_db.__setitem__(1, g.dJ_dl[1].mean(axis=0))),
                 "averaged over the batch instead of summed", "dJ/db_2",
                 id="bias-averaged"),
    pytest.param(in_block(lambda g: g.dJ_db.__setitem__(0, g.dJ_dl[0][3].copy())),
                 "taken from sample 3 alone", "dJ/db_1", id="bias-from-one-sample"),
]


@pytest.mark.parametrize(("fault", "named", "where"), FAULTS)
def test_a_fault_seen_in_the_gradients_is_named(torch_oracle, fault, named, where):
    example = square_example()
    wrong = backprop(example)
    fault(wrong, example)
    reference = torch_oracle.compute(example)
    found = [d.describe() for d in diagnose(example, wrong, reference, "float64")]
    assert any(named in d and where in d for d in found), found


@pytest.mark.parametrize(("factor", "named"), [
    pytest.param(2.0, "a factor of 2 (every gradient that disagrees)", id="two"),
    pytest.param(0.5, "a factor of 1/2 (every gradient that disagrees)", id="half"),
    pytest.param(3.0, "a factor of n_n (3) (every gradient that disagrees)",
                 id="n_n-keeps-its-value"),
])
def test_a_factor_shows_its_value_only_when_its_name_does_not_say_it(
        torch_oracle, factor, named):
    example = square_example()
    wrong = backprop(example)
    scaled(lambda e: factor)(wrong, example)
    found = [d.describe() for d in diagnose(example, wrong,
                                            torch_oracle.compute(example), "float64")]
    assert found == [named]


def test_a_bias_summed_over_the_units_instead_of_the_batch_is_named(torch_oracle):
    example = square_example(batch=4)
    wrong = backprop(example)
    wrong.dJ_db[0] = wrong.dJ_dl[0].sum(axis=1)
    found = [d.describe() for d in diagnose(example, wrong,
                                            torch_oracle.compute(example), "float64")]
    assert found == ["summed over the units instead of the batch (dJ/db_1)"]


def test_one_fault_in_several_blocks_is_named_once_with_every_block(torch_oracle):
    from reports.campaign import check

    class TwoFaults:
        """dJ/dw_1 and dJ/dw_2 transposed, dJ/db_3 with its sign flipped."""

        name = "two faults"

        def __call__(self, example, dtype):
            g = backprop(example, dtype)
            g.dJ_dw[0], g.dJ_dw[1] = g.dJ_dw[0].T.copy(), g.dJ_dw[1].T.copy()
            g.dJ_db[2] = -g.dJ_db[2]
            return g

    message = check(square_example(), TwoFaults(), {"torch": torch_oracle},
                    "float64").judgement.message
    assert message.endswith("likely fault: a transposed weight gradient (dJ/dw_1, "
                            "dJ/dw_2); or a flipped sign (dJ/db_3)"), message


@pytest.mark.parametrize(("layer", "fault"), [
    (1, "the derivative f_1' left out (layer 1, tanh)"),
    (2, "the derivative f_2' left out (layer 2, sigmoid)"),
    (1, "f_1' evaluated at the layer output f_1(l_1) instead of at l_1 (layer 1, "
        "tanh)"),
    (3, "the softmax Jacobian cut to its diagonal (layer 3)"),
])
def test_a_fault_in_the_backward_pass_is_named_with_its_layer(torch_oracle, layer,
                                                              fault):
    example = square_example()
    faulty = faulty_torch_references(example)
    planted = next(g for d, g in faulty.items() if d.describe() == fault)
    found = diagnose(example, copy.deepcopy(planted), torch_oracle.compute(example),
                     "float64", faulty)
    assert fault in [d.describe() for d in found]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(example=examples())
def test_no_fault_is_claimed_on_correct_gradients(torch_oracle, example):
    with np.errstate(all="ignore"):
        reference = torch_oracle.compute(example)
        if not np.isfinite(reference.J):
            return
        for dtype in ("float64", "float32"):
            found = diagnose(example, backprop(example, dtype), reference, dtype,
                             faulty_torch_references(example))
            assert found == [], [d.describe() for d in found]
