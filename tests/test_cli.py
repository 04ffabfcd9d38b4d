"""The command line end to end, in a subprocess: exit codes, messages, files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FAST = ["--examples", "12", "--oracles", "torch,fd", "--max-depth", "3", "-q"]


def gradproof(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_run_exits_0_and_writes_the_report_and_json(tmp_path):
    result = gradproof("run", *FAST, "--json", "out.json", "--junit", "out.xml",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every example agrees" in result.stdout
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["examples_run"] == 12 and data["exit_code"] == 0
    assert sum(data["counts"].values()) == 12
    assert (tmp_path / "gradproof-report.html").stat().st_size > 1000
    assert (tmp_path / "out.xml").read_text().count("<testcase") == 12
    assert not (tmp_path / ".hypothesis").exists()


BAD_ARGUMENTS = [
    pytest.param(["--examples", "0"], "--examples", id="no-examples"),
    pytest.param(["--activations", "swish"], "swish", id="unknown-activation"),
    pytest.param(["--costs", "hinge,mse"], "hinge", id="unknown-cost"),
    pytest.param(["--dtype", "float16"], "float16", id="unsupported-dtype"),
    pytest.param(["--oracles", "tensorflow"], "tensorflow", id="unknown-oracle"),
    pytest.param(["--activations", "tanh", "--costs", "cross_entropy"],
                 "none of the costs cross_entropy fits", id="cost-without-output"),
    pytest.param(["--max-width", "-3"], "--max-width", id="negative-width"),
    pytest.param(["--max-width", "100000"], "--max-width", id="width-beyond-memory"),
    pytest.param(["--max-depth", "1000"], "--max-depth", id="depth-beyond-memory"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_exit_2_with_a_short_message(tmp_path, args, message):
    result = gradproof("run", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 6


def write_module(tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))


CORRECT = """
    from manual_backprop import gradients
"""
SCALED = """
    from manual_backprop import gradients as correct

    def gradients(weights, biases, activations, cost, X, Y):
        dJ_dw, dJ_db = correct(weights, biases, activations, cost, X, Y)
        return [g * len(X) for g in dJ_dw], dJ_db
"""
RAISES = """
    def gradients(weights, biases, activations, cost, X, Y):
        return helper(weights)

    def helper(weights):
        raise RuntimeError("my backprop is not finished")
"""
TRANSPOSED = """
    from manual_backprop import gradients as correct

    def gradients(weights, biases, activations, cost, X, Y):
        dJ_dw, dJ_db = correct(weights, biases, activations, cost, X, Y)
        return [g.T for g in dJ_dw], dJ_db
"""
IN_PLACE = """
    from manual_backprop import gradients as correct

    def gradients(weights, biases, activations, cost, X, Y):
        X *= 1.0
        X[0, 0] = 7.0
        return correct(weights, biases, activations, cost, X, Y)
"""


def test_check_passes_correct_code(tmp_path):
    write_module(tmp_path, "good", CORRECT)
    result = gradproof("check", "good:gradients", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param(SCALED, "dJ/dw_", id="weight-gradient-times-batch"),
    pytest.param(RAISES, "my backprop is not finished", id="raises"),
    pytest.param(TRANSPOSED, "of shape", id="transposed-weight-gradient"),
    pytest.param(IN_PLACE, "changed its input X in place", id="modifies-its-input"),
])
def test_check_fails_wrong_code_with_exit_1_and_says_why(tmp_path, body, expected):
    write_module(tmp_path, "bad", body)
    result = gradproof("check", "bad:gradients", *FAST, "--json", "out.json",
                       cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stdout
    assert json.loads((tmp_path / "out.json").read_text())["exit_code"] == 1


def test_the_traceback_of_failing_user_code_is_its_own(tmp_path):
    write_module(tmp_path, "bad", RAISES)
    gradproof("check", "bad:gradients", *FAST, "--json", "out.json", cwd=tmp_path)
    message = json.loads((tmp_path / "out.json").read_text())["examples"][0]["message"]
    assert "bad.py" in message and "in helper" in message
    assert "plugin.py" not in message


def test_a_module_not_found_says_where_it_was_looked_for_and_how_to_find_it(
    tmp_path, monkeypatch
):
    from manual_backprop import InvalidArgument
    from reports.plugin import import_target

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument, match=rf"looked in {tmp_path} and on "
                       r"sys.path\): run from the folder that holds it, or add"):
        import_target("no_such_module_here:gradients")


@pytest.mark.parametrize(("target", "message"), [
    pytest.param("no_such_module:gradients", "could not import 'no_such_module'",
                 id="missing-module"),
    pytest.param("good:nothing_here", "has no attribute 'nothing_here'",
                 id="missing-function"),
    pytest.param("good", "expected MODULE:NAME", id="no-colon"),
    pytest.param("good:VALUE", "is not callable", id="not-callable"),
])
def test_a_target_that_cannot_be_loaded_exits_2(tmp_path, target, message):
    write_module(tmp_path, "good", CORRECT + "    VALUE = 3\n")
    result = gradproof("check", target, *FAST, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM],
                         ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_writes_what_it_has_and_exits_2(tmp_path, signum):
    process = subprocess.Popen(
        [sys.executable, "-m", "reports", "run", "--examples", "100000",
         "--oracles", "torch", "--json", "out.json", "-q"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, out + err
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["interrupted"] is True
    assert 0 < data["examples_run"] < 100000
    assert (tmp_path / "gradproof-report.html").exists()


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--report", "a-file/report.html"], "cannot write in",
                 id="inside-a-file"),
    pytest.param(["--report", "a-folder"], "is a directory", id="a-folder"),
    pytest.param(["--report", "/dev/null"], "not a regular file", id="a-device"),
    pytest.param(["--report", "/proc/r.html"],
                 "cannot write in /proc (making a file there failed",
                 id="a-folder-that-refuses-new-files",
                 marks=pytest.mark.skipif(not Path("/proc").is_dir(),
                                          reason="no /proc on this system")),
    pytest.param(["--report", ""], "--report is empty", id="empty"),
    pytest.param(["--json", "same", "--junit", "same"], "name the same file",
                 id="one-file-twice"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_example(
    tmp_path, args, message
):
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-folder").mkdir()
    result = gradproof("run", *FAST, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "examples in" not in result.stdout


def test_checking_outputs_leaves_the_folder_and_an_existing_output_as_they_were(
    tmp_path
):
    from reports.options import check_outputs

    (tmp_path / "old.json").write_text("kept")
    check_outputs({"--json": tmp_path / "old.json",
                   "--report": tmp_path / "new.html",
                   "--junit": tmp_path / "not-yet" / "made.xml"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]
    assert (tmp_path / "old.json").read_text() == "kept"


def test_a_report_path_that_is_a_symbolic_link_writes_through_the_link(tmp_path):
    (tmp_path / "real.html").write_text("old")
    (tmp_path / "link.html").symlink_to(tmp_path / "real.html")
    result = gradproof("run", *FAST, "--report", "link.html", cwd=tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "link.html").is_symlink()
    assert "<html" in (tmp_path / "real.html").read_text()


def test_a_failing_check_saves_the_smallest_example_and_replay_judges_it_alone(
    tmp_path
):
    write_module(tmp_path, "bad", SCALED)
    write_module(tmp_path, "good", CORRECT)
    result = gradproof("check", "bad:gradients", *FAST, "--shrink-seconds", "30",
                       "--json", "out.json", cwd=tmp_path)
    assert result.returncode == 1
    data = json.loads((tmp_path / "out.json").read_text())
    smallest = data["smallest"]
    failing = [e for e in data["examples"] if e["verdict"] == "discrepancy"]
    assert smallest["n_parameters"] <= min(e["n_parameters"] for e in failing)
    assert smallest["batch"] > 1  # the fault multiplies by the batch size
    assert "likely fault: a factor of the batch size" in smallest["message"]
    assert smallest["details"]["reproducer"].startswith(
        "gradproof replay gradproof-report-smallest.npz")
    assert result.stdout.count("smallest failing example") == 1, result.stdout

    replayed = gradproof("replay", "gradproof-report-smallest.npz", cwd=tmp_path)
    assert replayed.returncode == 1
    assert "discrepancy: replayed example: dJ/dw_" in replayed.stdout
    fixed = gradproof("replay", "gradproof-report-smallest.npz", "--target",
                      "good:gradients", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_replay_refuses_a_file_it_did_not_write(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    result = gradproof("replay", "junk.npz", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a gradproof reproducer" in result.stderr
    assert "pickle" not in result.stderr  # numpy's advice to load it unsafely


SLEEPS = """
    import pathlib
    import time

    def gradients(weights, biases, activations, cost, X, Y):
        pathlib.Path("inside").write_text("the code under test is running")
        time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM],
                         ids=["ctrl-c", "sigterm"])
def test_an_interrupted_replay_says_so_and_exits_2(tmp_path, signum):
    import numpy as np

    from manual_backprop import Architecture, Example
    from reports.replay import save_example

    write_module(tmp_path, "sleeps", SLEEPS)
    example = Example(Architecture(2, (1,), ("identity",), "half_sse"),
                      [np.ones((1, 2))], [np.zeros(1)], np.ones((1, 2)),
                      np.zeros((1, 1)))
    save_example(example, tmp_path / "one.npz", target="sleeps:gradients",
                 dtype="float64")
    process = subprocess.Popen(
        [sys.executable, "-m", "reports", "replay", "one.npz", "--oracles", "fd"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "inside").exists() and process.poll() is None:
        assert time.monotonic() < deadline, "the replay never reached the user's code"
        time.sleep(0.1)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, out + err
    assert "interrupted before the example was judged" in err
    assert "code under test failed" not in out + err
    assert "Traceback" not in out + err


EXITS = """
    def gradients(weights, biases, activations, cost, X, Y):
        raise SystemExit(0)
"""
INTERRUPTS = """
    def gradients(weights, biases, activations, cost, X, Y):
        raise KeyboardInterrupt
"""
POPS = """
    from manual_backprop import gradients as correct

    def gradients(weights, biases, activations, cost, X, Y):
        result = correct(weights, biases, activations, cost, X, Y)
        weights.pop()
        return result
"""


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param(EXITS, "SystemExit", id="exits"),
    pytest.param(INTERRUPTS, "KeyboardInterrupt", id="raises-keyboard-interrupt"),
    pytest.param(POPS, "changed the list weights or biases", id="pops-a-layer"),
])
def test_code_that_exits_interrupts_or_edits_its_lists_fails_with_exit_1(
    tmp_path, body, expected
):
    write_module(tmp_path, "bad", body)
    result = gradproof("check", "bad:gradients", *FAST, "--shrink-seconds", "0",
                       cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stdout


def test_a_module_that_exits_on_import_is_a_failed_import(tmp_path):
    (tmp_path / "leaves.py").write_text("import sys\nsys.exit(0)\n")
    result = gradproof("check", "leaves:gradients", *FAST, cwd=tmp_path)
    assert result.returncode == 2
    assert "could not import 'leaves': SystemExit" in result.stderr


def test_replay_refuses_a_damaged_reproducer_with_exit_2(tmp_path):
    write_module(tmp_path, "bad", SCALED)
    gradproof("check", "bad:gradients", *FAST, "--shrink-seconds", "5", cwd=tmp_path)
    whole = (tmp_path / "gradproof-report-smallest.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[:300])
    result = gradproof("replay", "cut.npz", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a gradproof reproducer" in result.stderr
    assert "Traceback" not in result.stderr


def test_mutants_refuses_one_file_for_json_and_report(tmp_path):
    result = gradproof("mutants", "--mutants", "batch_mean_missing", "--oracles",
                       "torch", "--json", "same", "--report", "same", cwd=tmp_path)
    assert result.returncode == 2
    assert "name the same file" in result.stderr


def test_size_limits_whose_largest_example_outgrows_memory_are_refused():
    from manual_backprop import InvalidArgument
    from reports.cli import check_memory

    check_memory(5, 16, 8, 8 * 2**30)  # the defaults fit on any machine
    check_memory(64, 4096, 4096, None)  # memory unknown: nothing refused
    with pytest.raises(InvalidArgument,
                       match=r"1,074,003,968 parameters and batch 8.*half of this "
                             r"machine's 25.8 GB.*lower --max-width \(to \d+ at "
                             r"this depth and batch\)"):
        check_memory(64, 4096, 8, 24 * 2**30)


def test_the_width_a_refusal_suggests_is_itself_accepted():
    import re

    from manual_backprop import InvalidArgument
    from reports.cli import check_memory

    memory = 24 * 2**30
    for depth, width, batch in [(20, 2750, 8), (64, 1571, 8), (1, 4096, 4096)]:
        with pytest.raises(InvalidArgument) as refused:
            check_memory(depth, width, batch, memory)
        suggested = int(re.search(r"--max-width \(to (\d+)", str(refused.value))[1])
        check_memory(depth, suggested, batch, memory)
        with pytest.raises(InvalidArgument):
            check_memory(depth, suggested + 1, batch, memory)


def test_a_batch_too_large_for_memory_is_refused_even_at_a_small_width():
    from manual_backprop import InvalidArgument
    from reports.cli import check_memory

    check_memory(64, 512, 8, 24 * 2**30)
    with pytest.raises(InvalidArgument, match="--max-batch 4096"):
        check_memory(64, 512, 4096, 24 * 2**30)


def test_verbose_logs_each_example_and_the_jax_helper_s_compilations(tmp_path):
    result = gradproof("run", "--examples", "2", "-q", "-v", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "INFO reports.campaign: example 1 (d=" in result.stderr
    assert "INFO oracles.jax_oracle: JAX compiles for bucket" in result.stderr
    assert "libtpu" not in result.stderr


def test_a_run_whose_limits_outgrow_memory_exits_2_before_starting(tmp_path):
    result = gradproof("run", "--max-depth", "64", "--max-width", "4096", "-q",
                       cwd=tmp_path)
    assert result.returncode == 2
    assert "lower --max-width" in result.stderr
    assert not list(tmp_path.iterdir())
