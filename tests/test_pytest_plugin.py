"""The pytest plug-in: --gradproof-report and --gradproof-json write the session's
gradient checks as one report, under pytest-xdist too, and without them nothing
is written; a report that cannot be written fails the session."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from manual_backprop import Architecture, Example, gradients
from reports.api import COLLECTED, assert_gradients_agree, collected_report
from reports.html import render_html

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def libraries_imported_before_the_inner_sessions():
    """pytester's in-process sessions drop every module they import when they
    end, and NumPy cannot be imported twice in a process: judge an example and
    render a report here first, so that the inner sessions import nothing new."""
    start = len(COLLECTED.judged)
    architecture = Architecture(1, (1,), ("identity",), "half_sse")
    example = Example(architecture, [np.ones((1, 1))], [np.zeros(1)],
                      np.ones((2, 1)), np.zeros((2, 1)))
    assert_gradients_agree(gradients, example)
    render_html(collected_report(COLLECTED.since(start), "pytest", "now", 0.0))


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


# Two tests that judge a known number of examples: under pytest-xdist's load
# scheduling, two tests on two workers go one to each.
XDIST_TESTS = """
    from manual_backprop import gradients
    from reports.api import assert_gradients_agree
    from test_user import doubled, fixed_example


    def test_three_correct_examples():
        for _ in range(3):
            assert_gradients_agree(gradients, fixed_example())


    def test_one_doubled_example():
        assert_gradients_agree(doubled, fixed_example())
"""


def test_under_xdist_the_json_report_holds_every_example_from_both_workers(pytester):
    pytester.makepyfile(test_user=USER_TESTS, test_xdist=XDIST_TESTS)

    result = pytester.runpytest("-n", "2", "test_xdist.py",
                                "--gradproof-json", "out.json")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["gradproof: 4 examples, discrepancies found: *"])
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    labels = [e["label"] for e in report["examples"]]
    assert len(labels) == report["examples_run"] == 4
    assert report["counts"]["agree"] == 3 and report["counts"]["discrepancy"] == 1
    assert sum("test_three_correct_examples" in label for label in labels) == 3
    assert {label.rsplit(" on ", 1)[1] for label in labels} == {"gw0", "gw1"}
    assert [e["index"] for e in report["examples"]] == [0, 1, 2, 3]
    failing = next(e for e in report["examples"] if e["verdict"] == "discrepancy")
    assert failing["details"]["heat_maps"]  # details cross from worker to controller


def test_a_worker_that_crashes_is_named_in_the_summary(pytester):
    pytester.makepyfile(test_user=USER_TESTS, test_crash="""
        import os

        from manual_backprop import gradients
        from reports.api import assert_gradients_agree
        from test_user import fixed_example


        def test_judges_then_crashes():
            assert_gradients_agree(gradients, fixed_example())
            os._exit(1)
    """)

    result = pytester.runpytest("-n", "1", "test_crash.py",
                                "--gradproof-json", "out.json")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["gradproof: worker gw0 went down (*) before sending "
                                 "its examples; the report lacks them"])
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    assert report["examples_run"] == 0


def test_without_xdist_the_plugin_still_loads_and_writes_the_report(pytester):
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest("-p", "no:xdist", "--gradproof-json", "out.json",
                                "-k", "doubled")

    result.assert_outcomes(failed=1, deselected=1)
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    assert report["examples_run"] == 1


def _no_space_left(path, text):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


TAKES_THE_PATH = """
    import os

    def test_takes_the_report_path():
        os.mkdir("out.json")
"""


@pytest.mark.parametrize("cause, reason", [
    ("folder", "it exists and is not a regular file"),
    ("full disk", os.strerror(errno.ENOSPC)),
], ids=["a folder made at the path during the session", "a full disk"])
def test_a_report_that_cannot_be_written_ends_a_passing_session_with_exit_status_3(
    pytester, monkeypatch, cause, reason
):
    pytester.makepyfile(test_user=USER_TESTS)
    if cause == "folder":
        pytester.makepyfile(test_takes=TAKES_THE_PATH)
    else:
        monkeypatch.setattr("reports.outputs.atomic_write_text", _no_space_left)

    result = pytester.runpytest("--gradproof-json", "out.json", "-k",
                                "not doubled")

    assert result.ret == pytest.ExitCode.INTERNAL_ERROR == 3
    result.stdout.fnmatch_lines([
        f"gradproof: could not write --gradproof-json *out.json: {reason}; choose a "
        "writable path",
        "gradproof: the tests passed but a report could not be written: exit "
        "status 3 (pytest's INTERNAL_ERROR)",
    ])


def test_a_failing_session_keeps_exit_status_1_when_the_report_cannot_be_written(
    pytester, monkeypatch
):
    pytester.makepyfile(test_user=USER_TESTS)
    monkeypatch.setattr("reports.outputs.atomic_write_text", _no_space_left)

    result = pytester.runpytest("--gradproof-json", "out.json")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["gradproof: could not write --gradproof-json *"])
    assert "exit status 3" not in result.stdout.str()
