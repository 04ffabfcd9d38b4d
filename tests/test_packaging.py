"""The README's commands and CI stay in step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README's first screen must hold a sh block with the commands"
    return [line for line in block.group(1).splitlines()
            if line and not line.startswith("#")]


def test_the_readme_opens_with_one_command_for_the_main_job_and_one_for_the_tests():
    run, test = readme_commands()
    assert "gradproof run" in run and "constraints.txt" in run
    assert test.endswith("pytest") and "constraints.txt" in test


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def test_the_constraints_pin_the_cpu_build_of_torch():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
