"""The pytest plug-in: --gradproof-report and --gradproof-json write the session's
gradient checks as one report, and without them nothing is written."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
    import numpy as np
    import pytest
    from hypothesis import given, settings

    from manual_backprop import Architecture, Example, gradients
    from reports.api import architectures, assert_gradients_agree, examples


    def doubled(weights, biases, activations, cost, X, Y):
        dJ_dw, dJ_db = gradients(weights, biases, activations, cost, X, Y)
        return [2 * g for g in dJ_dw], dJ_db


    def fixed_example():
        rng = np.random.default_rng(0)
        architecture = Architecture(2, (3, 1), ("tanh", "identity"), "half_sse")
        return Example(architecture,
                       [rng.standard_normal((3, 2)), rng.standard_normal((1, 3))],
                       [rng.standard_normal(3), rng.standard_normal(1)],
                       rng.standard_normal((4, 2)), rng.standard_normal((4, 1)))


    @settings(max_examples=3, deadline=None, database=None)
    @given(examples(architectures(max_depth=2, max_width=4,
                                  activations=("tanh", "identity"),
                                  costs=("half_sse",))))
    def test_my_gradients_agree(example):
        assert_gradients_agree(gradients, example)


    def test_my_doubled_gradients_disagree():
        assert_gradients_agree(doubled, fixed_example())
"""


def test_the_report_option_writes_every_judged_example_into_one_html_file(pytester):
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest("--gradproof-report", "out.html")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*dJ/dw_*likely fault*",
        "gradproof: * examples, discrepancies found: *out.html",
    ])
    html = (pytester.path / "out.html").read_text(encoding="utf-8")
    assert "test_user.py::test_my_doubled_gradients_disagree: example" in html
    assert "test_user.py::test_my_gradients_agree: example" in html
    assert "discrepancy" in html


def test_the_json_option_counts_the_verdicts_of_the_session(pytester):
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest("--gradproof-json", "out.json",
                                "-k", "doubled")

    result.assert_outcomes(failed=1, deselected=1)
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    assert report["examples_run"] == 1
    assert report["counts"]["discrepancy"] == 1
    assert report["exit_code"] == 1
    assert "doubled" in report["code_under_test"]


def test_without_the_option_the_plugin_writes_nothing(pytester):
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=1)
    assert not [p for p in pytester.path.iterdir() if p.suffix in (".html", ".json")]
    assert "gradproof:" not in result.stdout.str()


def test_a_report_path_that_is_a_folder_is_a_usage_error(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.mkdir("out.html")

    result = pytester.runpytest("--gradproof-report", "out.html")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gradproof-report *out.html*choose a file name*"])


def test_the_report_refuses_xdist_workers_rather_than_write_an_empty_report(pytester):
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest("--gradproof-report", "out.html", "-n", "2")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-xdist workers: run without -n*"])
    assert not (pytester.path / "out.html").exists()
