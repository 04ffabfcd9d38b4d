"""The HTML discrepancy report: one self-contained file, rendered from
``templates/report.html.j2`` with autoescaping on.

Every string in a report may come from user code (names, messages,
tracebacks), so nothing reaches the page unescaped. The page's own style sheet
and script are inlined and pinned by hash in a Content-Security-Policy, which
also forbids every request to another host or file: a script that slipped in
would not run, and the page loads nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2

from oracles.compare import CANDIDATE, Verdict
from oracles.remote import HelperFailed
from reports.model import BlockRow, CampaignReport, ExampleRecord
from reports.outputs import atomic_write_text
from reports.plots import Plot, campaign_plots

TEMPLATES = Path(__file__).parent / "templates"
# The parameters drawn on each layer's box, in order: weights, biases, l_i.
_LAYER_PARAMETERS = ("w", "b", "l")
# How far a failing block's cosine or norm ratio may be from 1 and go unmarked.
_NOTABLE = 1e-3


class Drawing(Protocol):
    """Plots being drawn elsewhere (in a helper process): ``result()`` waits
    for them, or raises what drawing them raised."""

    def result(self) -> list[Plot] | None: ...


def render_html(report: CampaignReport, drawing: Drawing | None = None) -> str:
    """The report as one self-contained HTML page (inline CSS and JS), with the
    plots of ``drawing`` when given, else plots drawn here."""
    env = environment()
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    detailed = [r for r in report.examples if r.failed or r.details is not None]
    try:
        plots, plot_error = _plots(report, drawing), None
    except Exception as error:  # a plot that cannot be drawn must not cost the page
        logging.getLogger(__name__).info("plots failed", exc_info=True)
        plots, plot_error = [], f"{type(error).__name__}: {error}"
    return env.get_template("report.html.j2").render(
        report=report,
        verdicts=[v.value for v in Verdict],
        detailed=detailed,
        pattern=failure_pattern(report),
        agreement=report.agreement,
        plots=plots,
        plot_error=plot_error,
        heat_levels=HEAT_LEVELS,
        style=style,
        script=script,
        style_hash=csp_hash(style),
        script_hash=csp_hash(script),
    )


def write_html(report: CampaignReport, path: str | os.PathLike[str],
               drawing: Drawing | None = None) -> Path:
    """Write :func:`render_html` of ``report`` to ``path``, atomically."""
    return atomic_write_text(path, render_html(report, drawing))


def _plots(report: CampaignReport, drawing: Drawing | None) -> list[Plot] | None:
    if drawing is not None:
        try:
            return drawing.result()
        except HelperFailed as error:
            logging.getLogger(__name__).info("%s; drawing the plots here", error)
    return campaign_plots(report)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of gradproof's pages: autoescaped, strict, with the
    number and name filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=format_number, times=format_multiple, sortkey=sort_key,
                       slug=verdict_slug, index=format_index, duration=format_duration,
                       arrays=format_arrays, heat=heat_level)
    env.globals.update(layers=layer_boxes, failing_names=failing_block_names,
                       notable_cosine=_notable_cosine, notable_ratio=_notable_ratio)
    return env


def csp_hash(text: str) -> str:
    """The Content-Security-Policy hash that allows one inline style or script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


# Filters: numbers and names as the page shows them.

def format_number(value: Any, digits: int = 3) -> str:
    """``3.2e-07``, ``0.0177``, ``inf``, ``nan``; ``-`` for a missing value.

    Strings pass through (the JSON-safe model writes infinities as strings).
    """
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def format_multiple(value: Any) -> str:
    """An error as a multiple of its tolerance: ``4.4e+13 ×``, ``0.02 ×``."""
    if isinstance(value, float) and value == 0.0:
        return "0"
    return f"{format_number(value, 2)} \u00d7"


def sort_key(value: Any) -> str:
    """A value for ``data-sort`` that the page's script reads with
    ``parseFloat``: infinities as ``Infinity``, NaN as an empty string."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    return str(value)


def verdict_slug(verdict: str) -> str:
    """``"non-differentiable point"`` -> ``"non-differentiable-point"``, for
    class names."""
    return "-".join(verdict.split())


def format_index(index: list[int]) -> str:
    """``[2, 5]``; empty for a scalar such as ``J``."""
    return "[" + ", ".join(map(str, index)) + "]" if index else ""


def format_duration(seconds: float) -> str:
    """``4.9 ms``, ``0.84 s``, ``12.3 s``, ``4 min 05 s``."""
    if seconds < 0.1:
        return f"{seconds * 1000:.2g} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def format_arrays(arrays: dict[str, Any]) -> str:
    """The arrays of an example as JSON, one row of a matrix per line."""
    lines = ["{"]
    items = list(arrays.items())
    for k, (name, value) in enumerate(items):
        body = _json_rows(value, depth=1)
        lines.append(f'  {json.dumps(name)}: {body}' + ("," if k + 1 < len(items)
                                                        else ""))
    lines.append("}")
    return "\n".join(lines)


def _json_rows(value: Any, depth: int) -> str:
    """Lists of numbers on one line; lists of lists, one item per line."""
    if not isinstance(value, list) or not any(isinstance(v, list) for v in value):
        return json.dumps(value)
    pad = "  " * (depth + 1)
    inner = [pad + _json_rows(v, depth + 1) for v in value]
    return "[\n" + ",\n".join(inner) + "\n" + "  " * depth + "]"


# Heat maps: an entry's error over tolerance as one of a few colour levels
# (classes, since the page's policy allows no inline style), each an upper
# bound and its legend.
HEAT_LEVELS = (
    (0.0, "0"), (1e-2, "\u2264 0.01"), (1.0, "\u2264 1 (agrees)"),
    (1e2, "\u2264 100"), (1e6, "\u2264 10\u2076"), (math.inf, "> 10\u2076"),
)


def heat_level(excess: Any) -> int:
    """The colour level of an entry's error over tolerance: 0 exact, 1-2 within
    tolerance, 3-5 past it; NaN is past everything."""
    if isinstance(excess, str):
        excess = float(excess)
    for level, (bound, _) in enumerate(HEAT_LEVELS):
        if excess <= bound:
            return level
    return len(HEAT_LEVELS) - 1


# Views of a failing example: where it disagrees.

@dataclass
class Chip:
    """One block on a layer's box: ``w_2``, ``b_2``, ``l_2`` or ``J``."""

    label: str
    status: str  # "fail", "oracle", "pass" or "none"
    title: str


@dataclass
class LayerBox:
    """One box of the architecture drawing."""

    kind: str  # "input", "layer" or "cost"
    heading: str
    detail: str
    chips: list[Chip]
    status: str


def block_status(blocks: list[BlockRow], layer: int, parameter: str) -> str:
    """``fail`` if the code under test fails on this block against any oracle,
    ``oracle`` if only the oracles disagree on it, ``pass`` if every comparison
    of it passed, ``none`` if it was not compared."""
    rows = [b for b in blocks if b.layer == layer and b.parameter == parameter]
    if not rows:
        return "none"
    if any(not b.passed and b.subject == CANDIDATE for b in rows):
        return "fail"
    if any(not b.passed for b in rows):
        return "oracle"
    return "pass"


_STATUS_WORDS = {
    "fail": "the code under test disagrees with an oracle",
    "oracle": "the oracles disagree with each other",
    "pass": "every comparison agrees",
    "none": "not compared",
}


def layer_boxes(record: ExampleRecord) -> list[LayerBox]:
    """The architecture as boxes: input ``d``, each layer ``n_i`` and ``f_i``
    with its ``w_i``, ``b_i``, ``l_i`` blocks marked, then the cost ``J``."""
    blocks = record.details.blocks if record.details is not None else []
    boxes = [LayerBox("input", "input", f"d = {record.d}", [], "none")]
    for i, (width, activation) in enumerate(
            zip(record.widths, record.activations, strict=True), start=1):
        chips = []
        for parameter in _LAYER_PARAMETERS:
            status = block_status(blocks, i, parameter)
            name = f"dJ/d{parameter}_{i}"
            chips.append(Chip(f"{parameter}_{i}", status,
                              f"{name}: {_STATUS_WORDS[status]}"))
        heading = f"layer {i} (output)" if i == record.depth else f"layer {i}"
        boxes.append(LayerBox("layer", heading, f"{width} {activation}", chips,
                              _worst_status(c.status for c in chips)))
    status = block_status(blocks, 0, "J")
    boxes.append(LayerBox("cost", "cost J", record.cost,
                          [Chip("J", status, f"J: {_STATUS_WORDS[status]}")], status))
    return boxes


def _worst_status(statuses: Any) -> str:
    order = ("fail", "oracle", "pass", "none")
    return min(statuses, key=order.index, default="none")


def failing_block_names(record: ExampleRecord) -> list[str]:
    """Names of the blocks the code under test fails on, worst first; for an
    oracle disagreement, the blocks the oracles disagree on."""
    if record.details is None:
        return []
    failing = [b for b in record.details.blocks if not b.passed]
    own = [b for b in failing if b.subject == CANDIDATE]
    names: list[str] = []
    for b in sorted(own or failing, key=lambda b: -_finite_or_max(b.excess)):
        if b.name not in names:
            names.append(b.name)
    return names


def _notable_cosine(cosine: float) -> bool:
    """A failing block pointing another way than the reference: a sign, a
    transpose or a wrong term rather than a scale."""
    return not (isinstance(cosine, float) and cosine > 1 - _NOTABLE)


def _notable_ratio(ratio: float) -> bool:
    """A failing block whose norm differs from the reference's: a constant
    factor such as the batch size shows here."""
    return not (isinstance(ratio, float) and abs(ratio - 1) < _NOTABLE)


def _finite_or_max(value: float) -> float:
    return math.inf if math.isnan(value) else value


@dataclass
class Pattern:
    """Where the failing examples of a run disagree, across examples: each
    failing block (or a raising code under test) with the examples showing it,
    and notes on what every disagreement has in common. The rows draw on
    ``detailed`` of the ``failing`` examples: past the campaign's limit, a
    failing example keeps no comparisons to draw on."""

    rows: list[tuple[str, list[int]]]
    notes: list[str]
    failing: int = 0
    detailed: int = 0


_PARAMETER_WORDS = {"w": "a weight gradient dJ/dw_i", "b": "a bias gradient dJ/db_i",
                    "l": "an error signal dJ/dl_i", "J": "the cost J"}


def failure_pattern(report: CampaignReport, limit: int = 8) -> Pattern:
    """The failing blocks across the failing examples, most frequent first.

    A fault in one place shows as one name against every failing example; the
    note says when every disagreeing block of the code under test is of one
    kind (``dJ/dw_i``, ``dJ/db_i``, ``dJ/dl_i``, ``J``), in one layer ``i`` or in
    the output layer ``n``.
    """
    examples: dict[str, list[int]] = {}
    layers: set[int] = set()
    parameters: set[str] = set()
    all_at_output = True
    raised: list[int] = []
    detailed = 0
    for record in report.failures:
        if record.verdict == Verdict.CODE_ERROR.value:
            raised.append(record.index)
            detailed += 1
            continue
        if record.details is None:
            continue
        detailed += 1
        for name in failing_block_names(record):
            examples.setdefault(name, []).append(record.index)
        for b in record.details.blocks:
            if not b.passed and b.subject == CANDIDATE:
                parameters.add(b.parameter)
                layers.add(b.layer)
                all_at_output &= b.layer == record.depth

    rows = sorted(examples.items(), key=lambda item: -len(item[1]))[:limit]
    if raised:
        rows.append(("the code under test raised or returned malformed gradients",
                     raised))
    notes = []
    if layers and 0 not in layers:
        where = (f"in layer {min(layers)}" if len(layers) == 1
                 else "in the output layer n" if all_at_output else None)
        what = _PARAMETER_WORDS.get(min(parameters)) if len(parameters) == 1 else None
        said = ", ".join(part for part in (what, where) if part)
        if said:
            notes.append(f"Every disagreeing block is {said}.")
    return Pattern(rows, notes, failing=len(report.failures), detailed=detailed)
