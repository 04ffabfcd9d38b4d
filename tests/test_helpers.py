"""Oracles in helper processes: the same answers as in this process, the same
campaign, and no answer lost when a helper fails."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time

import numpy as np
import pytest

import manual_backprop
from manual_backprop import Architecture, Example
from oracles import OracleUnavailable, make_oracle
from oracles.remote import Helper, HelperFailed, RemoteOracle, helpers_available
from reports.campaign import CampaignConfig, ManualBackprop, run_campaign
from reports.html import render_html
from reports.model import CampaignReport, OracleInfo

pytestmark = pytest.mark.skipif(not helpers_available(),
                                reason="helper processes need a POSIX system")


@pytest.fixture(scope="module")
def remote_torch():
    oracle = RemoteOracle("torch")
    yield oracle
    oracle.close()


def an_example(seed: int = 0) -> Example:
    architecture = Architecture(3, (4, 2), ("tanh", "sigmoid"), "half_sse")
    rng = np.random.default_rng(seed)
    return Example(architecture,
                   [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))],
                   [rng.standard_normal(4), rng.standard_normal(2)],
                   rng.standard_normal((5, 3)), rng.random((5, 2)))


def test_a_helper_answers_exactly_what_the_oracle_answers_in_this_process(
        remote_torch):
    example = an_example()
    here, there = make_oracle("torch").compute(example), remote_torch.compute(example)
    for a, b in zip(here.dJ_dw + here.dJ_db + here.dJ_dl,
                    there.dJ_dw + there.dJ_db + there.dJ_dl, strict=True):
        np.testing.assert_array_equal(a, b)
    assert here.J == there.J


def test_answers_handed_over_together_come_back_to_their_own_examples(remote_torch):
    examples = [an_example(seed) for seed in range(6)]
    answers = [remote_torch.submit(e) for e in examples]
    for example, answer in zip(reversed(examples), reversed(answers), strict=True):
        expected = make_oracle("torch").compute(example)
        np.testing.assert_array_equal(answer.result().dJ_dw[0], expected.dJ_dw[0])


def test_what_a_call_raises_in_the_helper_is_raised_here():
    helper = Helper("test")
    try:
        with pytest.raises(ValueError, match="invalid literal"):
            helper.call(int, "not a number").result()
        assert helper.call(int, "42").result() == 42  # and it goes on answering
    finally:
        helper.close()


def test_a_helper_sits_in_a_session_of_its_own_so_ctrl_c_does_not_reach_it():
    helper = Helper("test")
    try:
        pid = helper.call(os.getpid).result()
        assert pid != os.getpid()
        assert os.getsid(pid) != os.getsid(0)
        assert helper.call(signal.getsignal, signal.SIGINT).result() \
            == signal.SIG_IGN
    finally:
        helper.close()


def test_a_helper_whose_main_process_goes_away_stops_by_itself():
    helper = Helper("test")
    process = helper._process
    helper.call(os.getpid).result()
    helper._send.close()  # what the main process's end does when it dies
    assert process.wait(timeout=10) == 0


def test_when_a_helper_dies_its_oracle_answers_from_this_process_and_says_so(
        caplog):
    oracle = RemoteOracle("torch")
    try:
        first = oracle.compute(an_example(0))
        assert oracle.helper is not None
        oracle.helper._process.kill()
        oracle.helper._process.wait()
        with caplog.at_level(logging.WARNING, logger="oracles.remote"):
            again = oracle.compute(an_example(0))
            later = oracle.compute(an_example(1))
        assert oracle.helper is None
        assert "torch oracle helper" in caplog.text
        assert "computing the torch oracle in this process" in caplog.text
        assert len(caplog.records) == 1
        np.testing.assert_array_equal(again.dJ_dw[0], first.dJ_dw[0])
        assert later.J != first.J
    finally:
        oracle.close()


def test_a_call_whose_helper_dies_before_answering_fails_and_says_why():
    helper = Helper("test")
    try:
        sleeping = helper.call(time.sleep, 30)
        helper._process.kill()
        with pytest.raises(HelperFailed, match="stopped answering"):
            sleeping.result()
    finally:
        helper.close()


def test_a_helper_that_cannot_start_its_oracle_hands_over_to_this_process(caplog):
    oracle = RemoteOracle("torch")
    try:
        assert oracle.helper is not None
        failed = oracle.helper.call(int, "x")  # stands in for a failed build
        oracle._built = failed
        with caplog.at_level(logging.WARNING, logger="oracles.remote"):
            answer = oracle.compute(an_example())
        assert "could not build it: ValueError" in caplog.text
        np.testing.assert_array_equal(
            answer.dJ_dw[1], make_oracle("torch").compute(an_example()).dJ_dw[1])
    finally:
        oracle.close()


def test_an_oracle_that_cannot_be_built_here_either_raises_without_saying_it_goes_on(
    caplog, monkeypatch
):
    import oracles.remote as remote

    def unavailable(name, cache):
        raise OracleUnavailable(f"the {name} oracle needs PyTorch: pip install torch")

    oracle = RemoteOracle("torch")
    try:
        assert oracle.helper is not None
        oracle._built = oracle.helper.call(int, "x")  # stands in for a failed build
        monkeypatch.setattr(remote, "_oracles", {})
        monkeypatch.setattr(remote, "_build_oracle", unavailable)
        with caplog.at_level(logging.WARNING, logger="oracles.remote"), \
                pytest.raises(OracleUnavailable, match="pip install torch"):
            oracle.compute(an_example())
        assert "from now on" not in caplog.text
    finally:
        oracle.close()


def campaign(oracles) -> CampaignReport:
    config = CampaignConfig(examples=40, seed=3, max_depth=3, max_width=6,
                            oracles=tuple(oracles))
    report = CampaignReport(
        title="t", command="gradproof run", code_under_test="manual",
        started="2025-01-01T00:00:00", seed=3, dtype="float64", reduction="mean",
        examples_requested=40,
        oracles=[OracleInfo(n, o.version) for n, o in oracles.items()], options={})
    return run_campaign(config, ManualBackprop(), oracles, report)


def test_a_campaign_with_oracles_in_helpers_records_what_one_without_them_does(
        remote_torch):
    here = campaign({"torch": make_oracle("torch"), "fd": make_oracle("fd")})
    there = campaign({"torch": remote_torch, "fd": make_oracle("fd")})

    def comparable(report: CampaignReport) -> list[dict[str, object]]:
        return [{**dataclasses.asdict(r), "seconds": 0.0} for r in report.examples]

    assert [r.index for r in there.examples] == list(range(40))
    assert comparable(there) == comparable(here)


class _Broken:
    name = "broken"

    def __call__(self, example, dtype):
        gradients = manual_backprop.backprop(example, dtype)
        gradients.dJ_db[-1] = gradients.dJ_db[-1] + 1.0
        return gradients


def test_plots_drawn_in_a_helper_are_the_plots_drawn_here(remote_torch):
    from reports.plots import campaign_plots

    report = campaign({"torch": remote_torch})
    assert remote_torch.helper is not None
    drawing = remote_torch.helper.call(campaign_plots, report)
    page = render_html(report, drawing)
    assert page == render_html(report)
    assert page.count("<svg") == 2


def test_plots_a_failed_helper_cannot_draw_are_drawn_here():
    from reports.plots import campaign_plots

    report = campaign({"torch": make_oracle("torch")})
    helper = Helper("plots")
    helper.close()
    drawing = helper.call(campaign_plots, report)
    with pytest.raises(HelperFailed):
        drawing.result()
    assert render_html(report, drawing) == render_html(report)


def test_a_helper_whose_answers_nobody_reads_stops_quietly():
    import subprocess
    import sys
    from multiprocessing.connection import Connection
    from pathlib import Path

    import oracles.remote

    to_helper, from_helper = os.pipe(), os.pipe()
    script = Path(oracles.remote.__file__).with_name("helper_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(to_helper[0]), str(from_helper[1]),
         str(script.parent.parent)],
        pass_fds=(to_helper[0], from_helper[1]), stderr=subprocess.PIPE)
    os.close(to_helper[0])
    os.close(from_helper[1])
    os.close(from_helper[0])  # the main process has gone: nobody reads
    with Connection(to_helper[1], readable=False) as send:
        send.send((0, os.getpid, ()))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert err == b""


def test_an_answer_lost_to_an_interruption_fails_instead_of_waiting_forever():
    helper = Helper("test")
    try:
        lost = helper.call(os.getpid)
        helper._waiting.clear()  # taken off the pipe, then Ctrl-C before it landed
        with pytest.raises(HelperFailed, match="lost to an interruption"):
            lost.result()
        assert helper.call(int, "7").result() == 7
    finally:
        helper.close()
