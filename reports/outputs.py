"""Machine-readable outputs of a campaign: JSON and JUnit XML, and the atomic
write that every writer, the HTML one included, goes through.

A reader of a report (a browser, a CI server collecting JUnit files) never sees
a half-written file: text goes to a temporary file in the target's directory,
which then replaces the target in one ``os.replace``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from oracles.compare import CANDIDATE, Verdict
from reports.model import CampaignReport, ExampleRecord

SUITE_NAME = "gradproof"
_NEW_FILE_MODE = 0o644
# Characters XML 1.0 cannot carry, even escaped (ANSI colours in a traceback).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def check_output_path(path: str | os.PathLike[str]) -> None:
    """Raise ``OSError`` unless ``path`` is a regular file or does not exist yet."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        raise OSError(errno.EEXIST, "it exists and is not a regular file", str(path))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path.

    The text goes to a temporary file in the same directory, which replaces
    ``path`` once complete; on any error the temporary file is removed and
    ``path`` is left as it was. Missing parent directories are created. A new
    file gets mode 0644; a replaced file keeps its mode. A symbolic link is
    followed, so its target is what gets replaced; anything but a regular file
    (a device, a pipe, a folder) is refused.
    """
    target = Path(os.path.realpath(path))
    check_output_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = _NEW_FILE_MODE

    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return target


def write_json(report: CampaignReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.to_dict()`` as JSON (indent 2; NaN and infinity as the
    strings ``"nan"``, ``"inf"``) to ``path``, atomically."""
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def junit_xml(report: CampaignReport) -> str:
    """The report as JUnit XML: one ``testsuite`` named ``gradproof``, one
    ``testcase`` per example named by its label and architecture.

    Failing verdicts become ``<failure>``, ill-conditioned examples
    ``<skipped>``; a harness error and an interruption each add a ``testcase``
    with an ``<error>``.
    """
    suite = ET.Element("testsuite", name=SUITE_NAME)
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(report):
        ET.SubElement(properties, "property", name=name, value=_xml_text(value))

    skipped = 0
    for record in report.examples:
        case = ET.SubElement(suite, "testcase", classname=SUITE_NAME,
                             name=_xml_text(f"{record.label}: {record.architecture}"),
                             time=f"{record.seconds:.3f}")
        if record.failed:
            failure = ET.SubElement(case, "failure", type=record.verdict,
                                    message=_xml_text(_first_line(record.message)))
            failure.text = _xml_text(_failure_text(record))
        elif record.verdict == Verdict.ILL_CONDITIONED.value:
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml_text(record.message))
    # A run that could not finish is an error, so that no dashboard shows it
    # green: a harness error, or an interruption (exit code 2 either way).
    unfinished = []
    if report.error:
        unfinished.append(("gradproof harness", "harness error", report.error))
    if report.interrupted:
        unfinished.append((
            "gradproof campaign", "interrupted",
            f"interrupted after {len(report.examples)} of "
            f"{report.examples_requested} examples: the rest were not checked"))
    for name, kind, text in unfinished:
        case = ET.SubElement(suite, "testcase", classname=SUITE_NAME, name=name,
                             time="0.000")
        error = ET.SubElement(case, "error", type=kind,
                              message=_xml_text(_first_line(text)))
        error.text = _xml_text(text)
    errors = len(unfinished)

    suite.set("tests", str(len(report.examples) + errors))
    suite.set("failures", str(len(report.failures)))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{report.duration:.3f}")
    suite.set("timestamp", _xml_text(report.started))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: CampaignReport, path: str | os.PathLike[str]) -> Path:
    """Write :func:`junit_xml` of ``report`` to ``path``, atomically."""
    return atomic_write_text(path, junit_xml(report))


def _properties(report: CampaignReport) -> list[tuple[str, str]]:
    oracles = ", ".join(f"{o.name} {o.version}" for o in report.oracles)
    return [
        ("code under test", report.code_under_test),
        ("command", report.command),
        ("oracles", oracles),
        ("dtype", report.dtype),
        ("reduction", report.reduction),
        ("seed", str(report.seed)),
        ("examples requested", str(report.examples_requested)),
        ("interrupted", "true" if report.interrupted else "false"),
    ]


def _failure_text(record: ExampleRecord) -> str:
    """The message, then the failing comparisons of the code under test (or,
    for an oracle disagreement, of the oracles), worst first."""
    lines = [record.message]
    if record.details is not None:
        failing = [b for b in record.details.blocks if not b.passed]
        own = [b for b in failing if b.subject == CANDIDATE]
        for b in own or failing:
            index = "[" + ", ".join(map(str, b.index)) + "]" if b.index else ""
            lines.append(
                f"  {b.name}{index} (layer {b.layer}): {b.subject} "
                f"{b.subject_value:.6g}, {b.against} {b.against_value:.6g}, "
                f"error {b.max_abs_error:.3g} = {b.excess:.3g} x tolerance "
                f"{b.tolerance:.3g}"
            )
        lines.append(f"reproduce: {record.details.reproducer}")
    return "\n".join(lines)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
