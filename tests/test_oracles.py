"""The oracles on their own: conventions, padding, kinks, error estimates, and
what happens when a backend is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings

from manual_backprop import Architecture, Example
from oracles import OracleUnavailable, make_oracle, tolerances
from oracles.finite_differences import flat_parameters
from property_tests.strategies import architectures, examples


@pytest.fixture(scope="module")
def torch_oracle():
    return make_oracle("torch")


@pytest.fixture(scope="module")
def jax_oracle():
    return make_oracle("jax")


@pytest.fixture(scope="module")
def fd_oracle():
    return make_oracle("fd")


def on_the_kinks(activation: str, at: float) -> Example:
    """A network whose first-layer pre-activations all sit exactly at ``at``."""
    architecture = Architecture(2, (3, 2), (activation, "identity"), "half_sse")
    rng = np.random.default_rng(0)
    return Example(
        architecture,
        [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))],
        [np.full(3, at), rng.standard_normal(2)],
        np.zeros((4, 2)), rng.standard_normal((4, 2)),
    )


@pytest.mark.parametrize(("activation", "at"), [
    ("relu", 0.0), ("leaky_relu", 0.0), ("hard_tanh", 1.0), ("hard_tanh", -1.0),
])
def test_torch_and_jax_take_the_same_slope_at_a_kink(torch_oracle, jax_oracle,
                                                     activation, at):
    example = on_the_kinks(activation, at)
    t, j = torch_oracle.compute(example), jax_oracle.compute(example)
    for a, b in zip(t.dJ_db + t.dJ_dl, j.dJ_db + j.dJ_dl, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_finite_differences_mark_probes_that_straddle_a_kink(fd_oracle):
    result = fd_oracle.compute(on_the_kinks("relu", 0.0))
    b_1 = next(p for p in result.entries if p.layer == 1 and p.parameter == "b")
    assert b_1.across_kink.all()
    w_2 = next(p for p in result.entries if p.layer == 2 and p.parameter == "w")
    assert not w_2.across_kink.any()


@settings(max_examples=25, deadline=None)
@given(example=examples(architectures(activations=("tanh", "sigmoid", "softplus",
                                                   "gelu", "softmax"))))
def test_finite_differences_lie_within_their_error_estimate_of_the_exact_gradient(
    torch_oracle, fd_oracle, example
):
    from oracles.arbiter import ExtendedPrecisionOracle

    def beyond_estimate(reference) -> list[str]:
        misses = []
        for probe in probes:
            grads = reference.dJ_dw if probe.parameter == "w" else reference.dJ_db
            error = np.abs(probe.estimate - grads[probe.layer - 1])
            if np.any(error > probe.error + 1e-12 * np.abs(grads[probe.layer - 1])):
                misses.append(f"{probe.parameter}_{probe.layer}: error "
                              f"{error.max()} beyond estimate")
        return misses

    probes = fd_oracle.compute(example).entries
    reference = torch_oracle.compute(example)
    # A saturated output (h rounding to 0 under a log cost) overflows PyTorch's
    # gradient: the verdict there is ill-conditioned, and nothing is compared.
    assume(all(np.all(np.isfinite(g)) for g in [*reference.dJ_dw, *reference.dJ_db]))
    if beyond_estimate(reference):
        # From an output rounded near 1, PyTorch's log(1 - h) can be less
        # accurate than finite differences, which start from the logits: the
        # extended-precision arbiter says which is right.
        arbiter = ExtendedPrecisionOracle()
        assume(arbiter.can_judge(example))
        assert not beyond_estimate(arbiter.compute(example))


@settings(max_examples=25, deadline=None)
@given(example=examples(architectures(activations=("tanh", "elu", "silu", "softsign",
                                                   "sigmoid", "softmax"))))
def test_complex_steps_lie_within_their_error_estimate_of_torch(torch_oracle, example):
    reference = torch_oracle.compute(example)
    tol = tolerances(example, reference, "float64")
    for probe in make_oracle("cs").compute(example).entries:
        i = probe.layer - 1
        grads, bound = ((reference.dJ_dw[i], tol.dJ_dw[i]) if probe.parameter == "w"
                        else (reference.dJ_db[i], tol.dJ_db[i]))
        error = np.abs(probe.estimate - grads)
        allowed = probe.error + bound
        assert np.all(error <= allowed), f"{probe.parameter}_{probe.layer}: {error}"


def test_complex_steps_mark_probes_that_move_a_pre_activation_on_a_kink():
    result = make_oracle("cs").compute(on_the_kinks("relu", 0.0))
    b_1 = next(p for p in result.entries if p.layer == 1 and p.parameter == "b")
    assert b_1.across_kink.all()


def test_large_networks_get_per_layer_and_random_directions(torch_oracle):
    fd = make_oracle("fd")
    fd.entrywise_limit = 10
    architecture = Architecture(4, (6, 5, 3), ("tanh", "elu", "identity"), "mse")
    rng = np.random.default_rng(3)
    sizes = architecture.sizes
    example = Example(architecture,
                      [rng.standard_normal((sizes[i + 1], sizes[i])) for i in range(3)],
                      [rng.standard_normal(sizes[i + 1]) for i in range(3)],
                      rng.standard_normal((5, 4)), rng.standard_normal((5, 3)))
    result = fd.compute(example)
    reference = torch_oracle.compute(example)
    assert not result.entries
    assert {(d.layer, d.parameter) for d in result.directions} == {
        (1, "w"), (1, "b"), (2, "w"), (2, "b"), (3, "w"), (3, "b"), (0, "all")}
    for probes in result.directions:
        expected = probes.project(flat_parameters(reference.dJ_dw, reference.dJ_db))
        assert np.all(np.abs(probes.estimate - expected) <= probes.error)


def one_sigmoid_unit(l: float, y: float) -> Example:
    """``d=1 -> 1 sigmoid``, binary cross-entropy on one sample whose
    pre-activation is ``l``."""
    architecture = Architecture(1, (1,), ("sigmoid",), "binary_cross_entropy")
    return Example(architecture, [np.ones((1, 1))], [np.zeros(1)],
                   np.array([[l]]), np.array([[y]]))


@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
def test_the_jax_oracle_s_binary_cross_entropy_is_within_a_few_ulp_for_outputs_near_0_4(
    jax_oracle, y
):
    from oracles.arbiter import ExtendedPrecisionOracle

    # Outputs h from 0.2 to 0.6: XLA's float64 log1p is far off for -h in there.
    arbiter = ExtendedPrecisionOracle()
    worst = 0.0
    for l in np.linspace(-1.4, 0.4, 61):
        example = one_sigmoid_unit(float(l), y)
        expected = arbiter.compute(example).J
        error = abs(jax_oracle.compute(example).J - expected)
        worst = max(worst, error / np.spacing(abs(expected)))
    assert worst <= 8, f"J is {worst:.0f} ulp from mpmath's"


@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("l", [-30.0, float(np.log(1 / 3)), 30.0])
def test_the_jax_oracle_s_binary_cross_entropy_gradient_is_torch_s_near_saturation(
    torch_oracle, jax_oracle, l, y
):
    # h = 1 - 1e-13, h = 0.25 (where the JAX oracle changes formula) and h = 1e-13.
    example = one_sigmoid_unit(l, y)
    t, j = torch_oracle.compute(example), jax_oracle.compute(example)
    assert np.isfinite(j.J) and np.isfinite(j.dJ_dl[0]).all()
    np.testing.assert_allclose(j.J, t.J, rtol=1e-13)
    np.testing.assert_allclose(j.dJ_dl[0], t.dJ_dl[0], rtol=1e-9, atol=1e-300)


def test_the_jax_oracle_leaves_float64_switched_off_for_everyone_else(jax_oracle):
    import jax.numpy as jnp

    jax_oracle.compute(on_the_kinks("tanh", 0.3))
    assert jnp.ones(1).dtype == jnp.float32


def test_the_jax_oracle_compiles_once_per_bucket_not_once_per_shape():
    from hypothesis import HealthCheck, Phase, seed
    from hypothesis import settings as hsettings

    oracle = make_oracle("jax")
    shapes = set()

    @seed(7)
    @hsettings(max_examples=60, database=None, phases=[Phase.generate], deadline=None,
               suppress_health_check=list(HealthCheck))
    @given(examples(architectures(max_depth=5, max_width=16)))
    def run(example):
        shapes.add((example.architecture.sizes, example.batch))
        oracle.compute(example)

    run()
    assert len(shapes) > 20
    assert len(oracle.buckets_compiled) == 1


def test_a_wide_deep_network_is_padded_by_at_most_a_quarter_in_each_dimension(
    torch_oracle,
):
    architecture = Architecture(3, (300, 2), ("tanh", "identity"), "half_sse")
    rng = np.random.default_rng(1)
    sizes = architecture.sizes
    example = Example(architecture,
                      [rng.standard_normal((sizes[i + 1], sizes[i])) / 10
                       for i in range(2)],
                      [rng.standard_normal(s) for s in sizes[1:]],
                      rng.standard_normal((300, 3)), rng.standard_normal((300, 2)))
    oracle = make_oracle("jax")
    result = oracle.compute(example)
    # Not (8, 512, 512): widths and batches over 256 go up by an eighth of 512.
    assert oracle.buckets_compiled == {(8, 320, 320)}
    reference = torch_oracle.compute(example)
    np.testing.assert_allclose(result.dJ_dw[0], reference.dJ_dw[0], rtol=1e-10)


def test_an_unknown_oracle_is_refused_with_the_known_names():
    with pytest.raises(OracleUnavailable, match="expected one of torch, jax, fd, cs"):
        make_oracle("tensorflow")


def test_a_missing_backend_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "oracles.torch_oracle", raising=False)
    with pytest.raises(OracleUnavailable, match=r"pip install 'gradproof\[torch\]'"):
        make_oracle("torch")


def test_a_compilation_cache_folder_that_cannot_be_made_is_only_a_warning(
        tmp_path, caplog):
    import jax

    from oracles.jax_oracle import keep_compiled_programs

    a_file = tmp_path / "a-file"
    a_file.write_text("")
    before = jax.config.jax_compilation_cache_dir
    keep_compiled_programs(a_file / "jax")
    assert jax.config.jax_compilation_cache_dir == before
    assert "cannot keep JAX's compiled programs" in caplog.text
