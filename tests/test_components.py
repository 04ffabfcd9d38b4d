"""A user's activation or cost, checked on its own and in networks:
``gradproof check-activation`` and ``gradproof check-cost``.

In-process tests judge components built here; the end-to-end tests run the
command line in a subprocess on modules a user would write."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import special

from manual_backprop import ACTIVATIONS, COSTS, Activation, Architecture, Example
from manual_backprop.errors import InvalidArgument
from manual_backprop.registry import registered
from oracles.compare import Verdict
from oracles.finite_differences import ComplexStepOracle, FiniteDifferenceOracle
from property_tests.strategies import architectures, examples, with_activation
from reports.campaign import ManualBackprop, check
from reports.components import (
    UserComponent,
    check_activation_elementwise,
    check_cost_elementwise,
    guard_elementwise,
    registered_activation,
)


def sigmoid(l):
    return 0.5 * (1 + np.tanh(0.5 * l))


def swish(l):
    return l * sigmoid(l)


def swish_derivative(l):
    s = sigmoid(l)
    return s * (1 + l * (1 - s))


def activation(f, derivative, kinks=()) -> UserComponent:
    return UserComponent("activation", "mine:act", "user:act", f, derivative,
                         tuple(kinks))


def cost(J, derivative, targets="real", outputs=None) -> UserComponent:
    return UserComponent("cost", "mine:cost", "user:cost", J, derivative,
                         targets=targets, outputs=outputs)


def huber(h, y):
    r = np.abs(h - y)
    return np.sum(np.where(r <= 1, 0.5 * r * r, r - 0.5), axis=1)


def huber_derivative(h, y):
    return np.clip(h - y, -1, 1)


def half_sse(h, y):
    return 0.5 * np.sum((h - y) ** 2, axis=1)


def judged(component: UserComponent, dtype: str = "float64"):
    check = (check_activation_elementwise if component.kind == "activation"
             else check_cost_elementwise)
    return check(component, dtype, seed=0)


# Elementwise: the derivative against the slopes of the user's own function.

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_correct_swish_agrees_with_the_slopes_of_its_f(dtype):
    result = judged(activation(swish, swish_derivative), dtype)
    assert result.judgement.verdict is Verdict.AGREE, result.judgement.message
    assert result.complex_step  # np.tanh takes complex input
    assert "central differences and complex step" in result.judgement.message


@pytest.mark.parametrize(("derivative", "cause"), [
    pytest.param(lambda l: 2 * swish_derivative(l), "a constant factor 2",
                 id="factor-2"),
    pytest.param(lambda l: -swish_derivative(l), "a flipped sign", id="sign-flipped"),
    pytest.param(lambda l: swish_derivative(swish(l)),
                 "the derivative evaluated at f(l) instead of at l", id="at-f-of-l"),
])
def test_a_wrong_swish_derivative_is_caught_with_its_likely_cause(derivative, cause):
    result = judged(activation(swish, derivative))
    assert result.judgement.verdict is Verdict.DISCREPANCY
    message = result.judgement.message
    assert message.startswith("elementwise check: derivative(l) at l = ")
    assert "given" in message and "slope measured" in message
    assert f"likely cause: {cause}" in message


def test_a_derivative_written_for_the_output_is_recognised():
    result = judged(activation(np.tanh, lambda a: 1 - a**2))
    assert result.judgement.verdict is Verdict.DISCREPANCY
    assert "a derivative written as a function of the output f(l)" in \
        result.judgement.message


def test_a_correct_derivative_is_given_no_likely_cause_of_failure():
    result = judged(activation(np.tanh, lambda l: 1 - np.tanh(l) ** 2))
    assert result.judgement.verdict is Verdict.AGREE
    assert result.judgement.diagnoses == ()


@pytest.mark.parametrize("slope_at_zero", [0.0, 0.5, 1.0])
def test_on_a_declared_kink_any_slope_between_the_one_sided_ones_is_accepted(
    slope_at_zero
):
    def derivative(l):
        return np.where(l > 0, 1.0, np.where(l < 0, 0.0, slope_at_zero))

    result = judged(activation(lambda l: np.maximum(l, 0), derivative, kinks=[0.0]))
    assert result.judgement.verdict is Verdict.AGREE, result.judgement.message
    assert result.kink_slopes[0.0] == pytest.approx((0.0, 1.0))


def test_on_a_declared_kink_a_slope_outside_the_one_sided_ones_is_wrong():
    def derivative(l):
        return np.where(l > 0, 1.0, np.where(l < 0, 0.0, 2.0))

    result = judged(activation(lambda l: np.maximum(l, 0), derivative, kinks=[0.0]))
    assert result.judgement.verdict is Verdict.DISCREPANCY
    assert "at l = 0: given 2" in result.judgement.message


def test_a_kink_left_undeclared_is_named_with_what_to_add():
    result = judged(activation(lambda l: np.maximum(l, 0),
                               lambda l: (l > 0).astype(l.dtype)))
    assert result.judgement.verdict is Verdict.DISCREPANCY
    assert "f is not differentiable at or near l = 0" in result.judgement.message
    assert "add 0 to kinks" in result.judgement.message


def test_a_derivative_wrong_below_a_declared_kink_is_named_so_not_as_a_missing_kink():
    leaky = activation(lambda l: np.where(l > 0, l, 0.1 * l),
                       lambda l: np.where(l > 0, 1.0, 0.0), kinks=(0.0,))
    result = judged(leaky)
    assert result.judgement.verdict is Verdict.DISCREPANCY
    assert "likely cause: a derivative wrong only for l < 0" in result.judgement.message
    assert "kinks does not declare" not in result.judgement.message


def test_a_swish_derivative_wrong_for_negative_inputs_alone_is_named_so():
    result = judged(activation(swish, lambda l: np.where(l < 0, 0.5,
                                                         swish_derivative(l))))
    assert "likely cause: a derivative wrong only for l < 0" in result.judgement.message


def test_code_that_takes_no_complex_input_is_measured_by_central_differences_alone():
    result = judged(activation(special.expit,
                               lambda l: special.expit(l) * (1 - special.expit(l))))
    assert result.judgement.verdict is Verdict.AGREE
    assert not result.complex_step
    assert "does not take complex input" in result.complex_step_note


def test_a_huber_cost_agrees_with_the_slopes_of_its_J():
    result = judged(cost(huber, huber_derivative))
    assert result.judgement.verdict is Verdict.AGREE, result.judgement.message


def test_a_log_cosh_cost_that_cancels_internally_gives_no_false_alarm():
    def log_cosh(h, y):
        r = h - y
        return np.sum(np.logaddexp(r, -r) - np.log(2), axis=1)

    result = judged(cost(log_cosh, lambda h, y: np.tanh(h - y)))
    assert result.judgement.verdict is Verdict.AGREE, result.judgement.message


@pytest.mark.parametrize(("derivative", "cause"), [
    pytest.param(lambda h, y: 0.5 * (h - y), "a constant factor 1/2",
                 id="missing-factor-2"),
    pytest.param(lambda h, y: (h - y) * h.shape[1], "a factor of n_n",
                 id="times-n_n"),
])
def test_a_cost_derivative_missing_a_factor_is_caught_and_the_factor_named(
    derivative, cause
):
    result = judged(cost(half_sse, derivative))
    assert result.judgement.verdict is Verdict.DISCREPANCY
    assert "derivative(h, y)[" in result.judgement.message
    assert f"likely cause: {cause}" in result.judgement.message


def test_a_cost_of_probabilities_is_checked_on_sigmoid_outputs_and_binary_targets():
    def bce(h, y):
        return -np.sum(special.xlogy(y, h) + special.xlog1py(1 - y, -h), axis=1)

    def derivative(h, y):
        return np.where(y != 0, -y / h, 0.0) + np.where(y != 1, (1 - y) / (1 - h), 0.0)

    result = judged(cost(bce, derivative, "binary", frozenset({"sigmoid"})))
    assert result.judgement.verdict is Verdict.AGREE, result.judgement.message


def test_a_log_cost_that_gives_nan_for_0_log_0_is_told_where():
    def naive(h, y):
        return -np.sum(y * np.log(h) + (1 - y) * np.log1p(-h), axis=1)

    result = judged(cost(naive, lambda h, y: (h - y) / (h * (1 - h)), "binary",
                         frozenset({"sigmoid"})))
    assert result.judgement.verdict is Verdict.CODE_ERROR
    assert "mine:cost.J returned NaN for the finite h[" in result.judgement.message
    assert "0 log 0 is 0" in result.judgement.message


@pytest.mark.parametrize(("J", "what"), [
    pytest.param(lambda h, y: half_sse(h, y) / len(h), "J", id="cost"),
    pytest.param(half_sse, "derivative", id="derivative"),
])
def test_a_cost_divided_by_the_batch_size_is_refused_as_not_per_sample(J, what):
    result = judged(cost(J, lambda h, y: (h - y) / len(h)))
    assert result.judgement.verdict is Verdict.CODE_ERROR
    assert f"mine:cost.{what} is not per sample" in result.judgement.message
    assert "gradproof takes the batch mean or sum itself" in result.judgement.message


# Misbehaving code: the messages gradproof check gives.

def _raises(l):
    raise RuntimeError("my derivative is not finished")


def _changes_l(l):
    l *= 2
    return np.ones_like(l)


@pytest.mark.parametrize(("derivative", "message"), [
    pytest.param(_raises, "RuntimeError: my derivative is not finished", id="raises"),
    pytest.param(lambda l: np.ones(1), "mine:act.derivative returned shape (1,) for l "
                 "of shape", id="wrong-shape"),
    pytest.param(lambda l: (l > 0).astype(int), "returned an array of dtype int64: "
                 "expected a float array", id="integers"),
    pytest.param(lambda l: np.full_like(l, np.nan), "returned NaN at l = ",
                 id="nan"),
    pytest.param(_changes_l, "mine:act.derivative changed its input l in place",
                 id="in-place"),
    pytest.param(lambda l: None, "returned NoneType", id="returns-none"),
])
def test_a_misbehaving_derivative_fails_with_a_precise_message(derivative, message):
    result = judged(activation(np.tanh, derivative))
    assert result.judgement.verdict is Verdict.CODE_ERROR
    assert message in result.judgement.message


def test_the_traceback_of_a_raising_derivative_is_the_users_own():
    message = judged(activation(np.tanh, _raises)).judgement.message
    assert "tests/test_components.py" in message and "in _raises" in message
    assert "reports/components.py" not in message and "plugin.py" not in message


def _changes_y(h, y):
    y[0] = 7.0
    return h - y


@pytest.mark.parametrize(("J", "derivative", "message"), [
    pytest.param(lambda h, y: np.sum(h), lambda h, y: h - y,
                 "mine:cost.J returned shape () for h and y of shape", id="J-summed"),
    pytest.param(half_sse, lambda h, y: np.sum(h - y, axis=1),
                 "expected (3, 1), dJ/dh per sample", id="derivative-summed"),
    pytest.param(half_sse, _changes_y, "changed its input y in place", id="in-place"),
])
def test_a_misbehaving_cost_fails_with_a_precise_message(J, derivative, message):
    result = judged(cost(J, derivative))
    assert result.judgement.verdict is Verdict.CODE_ERROR
    assert message in result.judgement.message


# Registration, strategies and the oracles with a user's component.

def _user_tanh() -> Activation:
    user = activation(np.tanh, lambda l: 1 - np.tanh(l) ** 2)
    return registered_activation(user, judged(user))


def test_a_component_is_registered_only_inside_its_block():
    component = _user_tanh()
    with registered(component) as name:
        assert ACTIVATIONS[name] is component
    assert "user:act" not in ACTIVATIONS
    with pytest.raises(RuntimeError), registered(component):
        raise RuntimeError
    assert "user:act" not in ACTIVATIONS


def test_registering_a_name_without_the_user_prefix_is_refused():
    component = ACTIVATIONS["tanh"]
    with pytest.raises(InvalidArgument, match="starts with 'user:'"), \
            registered(component):
        pass
    assert ACTIVATIONS["tanh"] is component


def test_every_drawn_network_puts_the_users_activation_on_some_layer():
    with registered(_user_tanh()) as name:
        strategy = with_activation(architectures(max_depth=3, costs=(
            "cross_entropy", "half_sse")), name)

        @settings(max_examples=40, database=None, deadline=None)
        @given(strategy)
        def drawn(a: Architecture) -> None:
            assert name in a.activations
            assert a.activations[-1] != name or a.cost == "half_sse"

        drawn()


def test_finite_differences_of_a_users_tanh_equal_those_of_the_built_in_tanh():
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]
    biases = [rng.standard_normal(4), rng.standard_normal(2)]
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    oracle = FiniteDifferenceOracle()
    with registered(_user_tanh()) as name:
        users = oracle.compute(Example(Architecture(3, (4, 2), (name, "identity"),
                                                    "half_sse"), weights, biases, X, Y))
    built_in = oracle.compute(Example(Architecture(3, (4, 2), ("tanh", "identity"),
                                                   "half_sse"), weights, biases, X, Y))
    for a, b in zip(users.entries, built_in.entries):
        np.testing.assert_array_equal(a.estimate, b.estimate)


def test_a_users_function_that_raises_inside_an_oracle_fails_the_code_under_test():
    failing = Activation("user:act", guard_elementwise("mine:act.f", _raises),
                         np.ones_like, 1.0)
    with registered(failing) as name:
        example = Example(Architecture(2, (2,), (name,), "half_sse"),
                          [np.ones((2, 2))], [np.zeros(2)], np.ones((3, 2)),
                          np.zeros((3, 2)))
        checked = check(example, ManualBackprop(), {"fd": FiniteDifferenceOracle()},
                        "float64")
    assert checked.judgement.verdict is Verdict.CODE_ERROR
    assert "my derivative is not finished" in checked.judgement.message


def test_rounding_to_the_other_side_of_a_kink_is_no_discrepancy_without_autograd():
    # l = 1e-12 in float64 but 0 in float32, where b rounds to -1: the code under
    # test takes leaky_relu's slope 0.01, the complex step (which moves nothing
    # across the kink) the slope 1.
    example = Example(Architecture(1, (1,), ("leaky_relu",), "half_sse"),
                      [np.ones((1, 1))], [np.array([-1 + 1e-12])], np.ones((2, 1)),
                      np.full((2, 1), 3.0))
    checked = check(example, ManualBackprop(), {"cs": ComplexStepOracle()},
                    "float32")
    assert checked.judgement.verdict is Verdict.NON_DIFFERENTIABLE
    assert "within the rounding of float32 (2 of leaky_relu)" in \
        checked.judgement.message


def _square_then_saturating_sigmoid(derivative) -> Activation:
    user = activation(np.square, derivative)
    return registered_activation(user, judged(user))


def _saturating_example(name: str) -> Example:
    """``d=1 -> 1 name (l^2) -> 1 sigmoid``: ``f_1 = 1e12`` meets a tiny
    ``w_2``, so that a finite-difference step in ``w_2`` drives the sigmoid deep
    into saturation on both sides, where ``J`` is linear and the estimates at
    every step agree with each other, and wrongly."""
    return Example(Architecture(1, (1, 1), (name, "sigmoid"), "binary_cross_entropy"),
                   [np.array([[1e6]]), np.array([[1e-12]])],
                   [np.zeros(1), np.array([0.2])], np.ones((1, 1)),
                   np.full((1, 1), 0.3))


def test_finite_differences_misled_by_saturation_are_noise_if_the_complex_step_agrees():
    oracles = {"fd": FiniteDifferenceOracle(), "cs": ComplexStepOracle()}
    with registered(_square_then_saturating_sigmoid(lambda l: 2 * l)) as name:
        example = _saturating_example(name)
        alone = check(example, ManualBackprop(), {"fd": oracles["fd"]}, "float64")
        both = check(example, ManualBackprop(), oracles, "float64")
    # Finite differences alone cannot tell: the code under test is blamed.
    assert alone.judgement.verdict is Verdict.DISCREPANCY
    assert both.judgement.verdict is Verdict.FD_NOISE, both.judgement.message
    assert "complex step" in both.judgement.message


def test_a_wrong_derivative_is_a_discrepancy_even_where_finite_differences_drift():
    oracles = {"fd": FiniteDifferenceOracle(), "cs": ComplexStepOracle()}
    with registered(_square_then_saturating_sigmoid(lambda l: 2.02 * l)) as name:
        checked = check(_saturating_example(name), ManualBackprop(), oracles,
                        "float64")
    assert checked.judgement.verdict is Verdict.DISCREPANCY
    assert "cs" in checked.judgement.disagreeing_oracles


def test_a_finite_difference_step_that_overflows_makes_the_example_ill_conditioned():
    # exp(709.779) is 1.8e308: a step of 0.004 in w_1 overflows to infinity.
    exp = activation(np.exp, np.exp)
    oracles = {"fd": FiniteDifferenceOracle(), "cs": ComplexStepOracle()}
    with registered(registered_activation(exp, judged(exp))) as name:
        example = Example(Architecture(1, (1, 1), (name, "identity"), "half_sse"),
                          [np.array([[709.779]]), np.array([[1e-308]])],
                          [np.zeros(1), np.zeros(1)], np.ones((1, 1)),
                          np.full((1, 1), 1.75))
        checked = check(example, ManualBackprop(), oracles, "float64")
    assert all(np.isfinite(g).all() for g in checked.gradients.dJ_dw)
    assert checked.judgement.verdict is Verdict.ILL_CONDITIONED, \
        checked.judgement.message


def test_drawn_examples_still_draw_the_targets_each_built_in_cost_takes():
    @settings(max_examples=40, database=None, deadline=None)
    @given(examples(architectures(max_depth=2)))
    def drawn(example: Example) -> None:
        kind = COSTS[example.architecture.cost].targets
        if kind == "probabilities":
            np.testing.assert_allclose(example.Y.sum(axis=1), 1.0)
        elif kind == "binary":
            assert np.all((example.Y >= 0) & (example.Y <= 1))

    drawn()


# The command line, end to end.

SWISH = """
    import numpy as np

    def _sigmoid(l):
        return 0.5 * (1 + np.tanh(0.5 * l))

    def f(l):
        return l * _sigmoid(l)

    def derivative(l):
        s = _sigmoid(l)
        return s * (1 + l * (1 - s))
"""
HUBER = """
    import numpy as np

    def J(h, y):
        r = np.abs(h - y)
        return np.sum(np.where(r <= 1.0, 0.5 * r * r, r - 0.5), axis=1)

    def derivative(h, y):
        return np.clip(h - y, -1.0, 1.0)
"""
FAST = ["--examples", "4", "--max-depth", "3", "--shrink-seconds", "0", "-q",
        "--json", "out.json"]


def gradproof(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def write_module(tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.mark.slow
def test_check_activation_passes_a_correct_swish_and_reports_both_levels(tmp_path):
    write_module(tmp_path, "swish", SWISH)
    result = gradproof("check-activation", "swish", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["examples_run"] == 5
    first = data["examples"][0]
    assert first["label"] == "elementwise check" and first["verdict"] == "agree"
    assert all("user:swish" in e["architecture"] for e in data["examples"][1:])
    assert [o["name"] for o in data["oracles"]] == ["fd", "cs"]
    assert "cannot differentiate" in data["options"]["oracles not used"]
    assert "elementwise check" in (tmp_path / "gradproof-report.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("derivative", "expected"), [
    pytest.param("2 * s * (1 + l * (1 - s))", "a constant factor 2", id="factor-2"),
    pytest.param("-s * (1 + l * (1 - s))", "a flipped sign", id="sign-flipped"),
    pytest.param("_sigmoid(f(l)) * (1 + f(l) * (1 - _sigmoid(f(l))))",
                 "evaluated at f(l) instead of at l", id="at-f-of-l"),
])
def test_check_activation_fails_a_wrong_derivative_with_exit_1_and_says_why(
    tmp_path, derivative, expected
):
    body = SWISH.replace("return s * (1 + l * (1 - s))", f"return {derivative}")
    write_module(tmp_path, "swish", body)
    result = gradproof("check-activation", "swish", *FAST, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "elementwise check: derivative(l) at l = " in result.stdout
    assert expected in result.stdout
    networks = json.loads((tmp_path / "out.json").read_text())["examples"][1:]
    assert any("the layer closest to the output that disagrees is" in e["message"]
               for e in networks)


@pytest.mark.slow
def test_check_cost_passes_a_correct_huber_cost(tmp_path):
    write_module(tmp_path, "huber", HUBER)
    result = gradproof("check-cost", "huber", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert all(e["cost"] == "user:huber" for e in data["examples"][1:])


@pytest.mark.slow
def test_check_cost_fails_a_derivative_missing_a_factor_and_replay_judges_it(
    tmp_path
):
    write_module(tmp_path, "mse", """
        import numpy as np

        def J(h, y):
            return np.mean((h - y) ** 2, axis=1)

        def derivative(h, y):
            return (h - y) / h.shape[1]
    """)
    result = gradproof("check-cost", "mse", *FAST, "--shrink-seconds", "5",
                       cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "likely cause: a constant factor 1/2" in result.stdout
    replayed = gradproof("replay", "gradproof-report-smallest.npz", cwd=tmp_path)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "user:mse" in replayed.stdout and "discrepancy" in replayed.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("body", "message"), [
    pytest.param(SWISH + """
    def derivative(l):
        raise ValueError("not written yet")
    """, "ValueError: not written yet", id="raises"),
    pytest.param(SWISH + """
    def derivative(l):
        return l.sum(axis=-1)
    """, "swish.derivative returned shape", id="wrong-shape"),
])
def test_check_activation_fails_misbehaving_code_with_exit_1(tmp_path, body, message):
    write_module(tmp_path, "swish", body)
    result = gradproof("check-activation", "swish", *FAST, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout
    assert "code under test failed" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("command", "target", "message"), [
    pytest.param("check-activation", "swish:nothing", "has no attribute 'nothing'",
                 id="missing-object"),
    pytest.param("check-activation", "only_f", "only_f has no derivative: found a "
                 "module with f; expected an object or module with f(l) and "
                 "derivative(l)", id="missing-derivative"),
    pytest.param("check-cost", "swish", "swish has no J: found a module with "
                 "derivative; expected", id="an-activation-given-as-a-cost"),
    pytest.param("check-activation", "broken", "could not import 'broken': "
                 "ImportError: mylib is not installed", id="import-error"),
    pytest.param("check-activation", "bad_kinks", "bad_kinks.kinks is 'zero'",
                 id="bad-kinks"),
])
def test_a_target_that_cannot_be_checked_exits_2_naming_what_it_found(
    tmp_path, command, target, message
):
    write_module(tmp_path, "swish", SWISH)
    write_module(tmp_path, "only_f", "import numpy as np\nf = np.tanh\n")
    write_module(tmp_path, "broken", "raise ImportError('mylib is not installed')\n")
    write_module(tmp_path, "bad_kinks", SWISH + "\n    kinks = 'zero'\n")
    result = gradproof(command, target, *FAST, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_cost_no_allowed_output_activation_fits_exits_2(tmp_path):
    write_module(tmp_path, "bce", """
        import numpy as np
        targets = "binary"
        outputs = ("sigmoid",)

        def J(h, y):
            return -np.sum(y * np.log(h) + (1 - y) * np.log1p(-h), axis=1)

        def derivative(h, y):
            return (h - y) / (h * (1 - h))
    """)
    result = gradproof("check-cost", "bce", *FAST, "--activations", "tanh",
                       cwd=tmp_path)
    assert result.returncode == 2
    assert "none of the costs user:bce fits an output activation among tanh" in \
        result.stderr
