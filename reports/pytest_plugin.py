"""The pytest plug-in: ``--gradproof-report PATH.html`` (and ``--gradproof-json
PATH``) write every example judged by :func:`reports.api.assert_gradients_agree`
during the session as one report. Without either option it does nothing.

This file only wires options and hooks; :mod:`reports.api` builds the report.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_OUTPUTS = (("gradproof_report", "--gradproof-report"),
            ("gradproof_json", "--gradproof-json"))


@dataclass
class _Session:
    paths: dict[str, str]
    start: int
    started: str
    clock: float = field(default_factory=time.perf_counter)
    lines: list[str] = field(default_factory=list)


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
    if not paths or hasattr(config, "workerinput"):  # an xdist worker writes nothing
        return
    if getattr(config.option, "numprocesses", None) and config.option.dist != "no":
        # TODO: collect the judgements of pytest-xdist workers in the controller.
        raise pytest.UsageError(f"{', '.join(paths)} cannot yet collect the checks "
                                "of pytest-xdist workers: run without -n")

    from manual_backprop import InvalidArgument
    from reports.api import COLLECTED, now
    from reports.options import check_outputs

    try:
        check_outputs(dict(paths))
    except InvalidArgument as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_STATE] = _Session(paths, len(COLLECTED.judged), now())


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return

    from reports.api import COLLECTED, collected_report
    from reports.html import write_html
    from reports.outputs import write_json

    command = shlex.join(["pytest", *session.config.invocation_params.args])
    report = collected_report(COLLECTED.since(state.start), command, state.started,
                              time.perf_counter() - state.clock)
    writers = {"--gradproof-report": write_html, "--gradproof-json": write_json}
    for flag, path in state.paths.items():
        try:
            written = writers[flag](report, Path(path))
            state.lines.append(f"gradproof: {len(report.examples)} examples, "
                               f"{report.overall}: {written}")
        except OSError as error:
            state.lines.append(f"gradproof: could not write {path}: "
                               f"{error.strerror}; choose a writable path")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    for line in state.lines if state else []:
        terminalreporter.write_line(line)
