"""The pytest plug-in: ``--gradproof-report PATH.html`` (and ``--gradproof-json
PATH``) write every example judged by :func:`reports.api.assert_gradients_agree`
during the session as one report. Without either option it does nothing.

Under pytest-xdist (``-n``) each worker sends the examples it judged to the
controller when its session finishes (as JSON text in xdist's
``workeroutput``), and the controller writes the one report. A worker that
crashes sends nothing; the terminal summary names it.

A report that cannot be written (a path that became unwritable during the
session, a full disk) is a line in the summary and an exit status of
``pytest.ExitCode.INTERNAL_ERROR`` (3) for a session that would have passed; a
session that already fails keeps its own status.

This file only wires options and hooks; :mod:`reports.api` builds the report.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from reports.model import CampaignReport

_OUTPUTS = (("gradproof_report", "--gradproof-report"),
            ("gradproof_json", "--gradproof-json"))
# The key of a worker's examples in pytest-xdist's workeroutput.
_WORKER_OUTPUT = "gradproof_judged"


@dataclass
class _Session:
    paths: dict[str, str]
    start: int
    started: str
    clock: float = field(default_factory=time.perf_counter)
    lines: list[str] = field(default_factory=list)
    # Examples that pytest-xdist workers judged, as JSON text, by worker id.
    from_workers: dict[str, str] = field(default_factory=dict)


_STATE = pytest.StashKey[_Session]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradproof", "gradient checks with gradproof")
    group.addoption("--gradproof-report", metavar="PATH.html", default=None,
                    help="Write every example judged by assert_gradients_agree "
                         "during the session as one HTML report.")
    group.addoption("--gradproof-json", metavar="PATH", default=None,
                    help="Write the same report as JSON.")


def pytest_configure(config: pytest.Config) -> None:
    paths = {flag: config.getoption(key) for key, flag in _OUTPUTS}
    here = config.invocation_params.dir
    paths = {flag: str(here / path) for flag, path in paths.items() if path}
    if not paths:
        return

    from manual_backprop import InvalidArgument
    from reports.api import COLLECTED, now
    from reports.options import check_outputs

    if not _is_xdist_worker(config):  # a worker only collects; the controller writes
        try:
            check_outputs(dict(paths))
        except InvalidArgument as error:
            raise pytest.UsageError(str(error)) from None
    config.stash[_STATE] = _Session(paths, len(COLLECTED.judged), now())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """pytest-xdist, in the controller: keep what a finished worker judged."""
    state = node.config.stash.get(_STATE, None)
    if state is None:
        return
    worker = node.gateway.id
    judged = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if judged is not None:
        state.from_workers.setdefault(worker, judged)
    elif worker not in state.from_workers:
        state.lines.append(f"gradproof: worker {worker} went down ({error}) before "
                           "sending its examples; the report lacks them")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return

    from reports.api import COLLECTED, Collector, collected_report, combined

    own = COLLECTED.since(state.start)
    if _is_xdist_worker(config):
        outbox = config.workeroutput  # type: ignore[attr-defined]
        outbox[_WORKER_OUTPUT] = own.to_json()
        return
    workers = [Collector.from_json(state.from_workers[worker])
               for worker in sorted(state.from_workers, key=_worker_order)]
    judged = combined([own, *workers])

    command = shlex.join(["pytest", *config.invocation_params.args])
    report = collected_report(judged, command, state.started,
                              time.perf_counter() - state.clock)
    if not _write(report, state) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        state.lines.append("gradproof: the tests passed but a report could not be "
                           "written: exit status 3 (pytest's INTERNAL_ERROR)")


def _write(report: CampaignReport, state: _Session) -> bool:
    """Write every output asked for and say, in ``state.lines``, what was
    written or why not; true if every output was written."""
    from reports.html import write_html
    from reports.outputs import write_json

    writers = {"--gradproof-report": write_html, "--gradproof-json": write_json}
    written_all = True
    for flag, path in state.paths.items():
        try:
            written = writers[flag](report, Path(path))
        except OSError as error:
            reason = f"{error.strerror or error}; choose a writable path"
        except Exception as error:  # a bug in a writer: keep the other outputs
            reason = f"internal error: {type(error).__name__}: {error}"
        else:
            state.lines.append(f"gradproof: {len(report.examples)} examples, "
                               f"{report.overall}: {written}")
            continue
        written_all = False
        state.lines.append(f"gradproof: could not write {flag} {path}: {reason}")
    return written_all


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _worker_order(worker: str) -> tuple[int, str]:
    """``gw2`` before ``gw10``."""
    digits = worker.lstrip("gw")
    return (int(digits), worker) if digits.isdigit() else (-1, worker)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    for line in state.lines if state else []:
        terminalreporter.write_line(line)
