"""The report writers: the HTML page (parsed structure, escaping, no outside
requests, a real browser), JSON, JUnit XML and the atomic write they share."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import manual_backprop
from manual_backprop import Architecture, Example
from oracles import make_oracle
from oracles.compare import CANDIDATE, Verdict
from reports.campaign import CampaignConfig, run_campaign
from reports.heatmaps import MAX_SIDE, weight_heat_maps
from reports.html import format_number, render_html, write_html
from reports.model import (
    BlockRow,
    CampaignReport,
    ExampleDetails,
    ExampleRecord,
    HeatMap,
    OracleInfo,
)
from reports.outputs import atomic_write_text, junit_xml, write_json, write_junit

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<script>alert(1)</script> \"'& <img src=x onerror=alert(2)>"


# Building reports by hand: small, every verdict, failing details.

def _block(name: str = "dJ/dw_1", layer: int = 1, parameter: str = "w",
           passed: bool = True, subject: str = CANDIDATE, against: str = "torch",
           excess: float = 0.01, cosine: float = 1.0) -> BlockRow:
    return BlockRow(
        subject=subject, against=against, name=name, layer=layer,
        parameter=parameter, passed=passed, excess=excess, max_abs_error=1e-3,
        max_rel_error=0.5, index=[0, 1] if parameter == "w" else [0],
        subject_value=0.25, against_value=0.125, tolerance=1e-14, cosine=cosine,
        norm_ratio=2.0, skipped=0,
    )


def _record(index: int, verdict: Verdict, message: str = "",
            details: ExampleDetails | None = None, label: str | None = None,
            worst_excess: float = 0.02) -> ExampleRecord:
    return ExampleRecord(
        index=index, label=label or f"example {index}",
        architecture="d=3 -> 4 tanh -> 2 identity | half_sse", depth=2, d=3,
        widths=[4, 2], activations=["tanh", "identity"], cost="half_sse", batch=5,
        reduction="mean", n_parameters=26, verdict=verdict.value,
        message=message or f"example {index}: {verdict.value}",
        worst_excess=worst_excess, worst_rel_error=1e-9, seconds=0.01,
        details=details,
    )


def _details(blocks: list[BlockRow], reproducer: str = "gradproof run --seed 4"
             ) -> ExampleDetails:
    arrays = {"weights": [[[0.5] * 3] * 4, [[0.25] * 4] * 2],
              "biases": [[0.0] * 4, [0.0] * 2], "X": [[1.0] * 3] * 5,
              "Y": [[0.0] * 2] * 5}
    return ExampleDetails(blocks=blocks, arrays=arrays, reproducer=reproducer,
                          disagreeing=["torch"], first_layer_from_output=1)


def _report(examples: list[ExampleRecord], **changes: object) -> CampaignReport:
    report = CampaignReport(
        title="gradproof run", command="gradproof run --examples 6 --seed 4",
        code_under_test="manual_backprop (built in)", started="2025-01-01T12:00:00",
        seed=4, dtype="float64", reduction="mean", examples_requested=6,
        oracles=[OracleInfo("torch", "2.3.0"), OracleInfo("fd", "numpy 2.0")],
        options={"max_depth": 5}, examples=examples, duration=1.5,
    )
    for name, value in changes.items():
        setattr(report, name, value)
    return report


@pytest.fixture
def mixed_report() -> CampaignReport:
    """One example of most verdicts; examples 3 and 5 fail."""
    discrepancy = _details([
        _block(passed=False, excess=4e13),
        _block("dJ/db_1", 1, "b"),
        _block("dJ/dl_2", 2, "l"),
        _block("dJ/dw_2", 2, "w", subject="torch", against="fd", cosine=math.nan),
    ])
    return _report([
        _record(0, Verdict.AGREE),
        _record(1, Verdict.NON_DIFFERENTIABLE),
        _record(2, Verdict.ILL_CONDITIONED, "example 2: saturated sigmoid"),
        _record(3, Verdict.DISCREPANCY, "example 3: dJ/dw_1[0, 1]: wrong",
                discrepancy, worst_excess=4e13),
        _record(4, Verdict.FD_NOISE),
        _record(5, Verdict.CODE_ERROR, "example 5: the code under test raised:\n"
                "ValueError: shapes (3, 4) and (4, 3)", _details([])),
    ])


@pytest.fixture
def passing_report() -> CampaignReport:
    return _report([_record(i, Verdict.AGREE) for i in range(3)])


@pytest.fixture
def hostile_report() -> CampaignReport:
    """Every string the user's code can reach holds markup and quotes, and the
    message an ANSI escape, which XML cannot carry."""
    details = _details([_block(passed=False, subject=CANDIDATE, against=HOSTILE)],
                       reproducer=f"gradproof check '{HOSTILE}'")
    record = _record(0, Verdict.DISCREPANCY, f"{HOSTILE}\x1b[31m red", details,
                     label=f"example 0 {HOSTILE}")
    record.architecture = HOSTILE
    return _report([record], code_under_test=HOSTILE, command=HOSTILE,
                   title=HOSTILE, oracles=[OracleInfo(HOSTILE, HOSTILE)],
                   options={HOSTILE: HOSTILE}, error=HOSTILE)


class _DoublesFirstWeightGradient:
    """A broken candidate: ``dJ/dw_1`` twice what it should be."""

    name = "doubles dJ/dw_1"

    def __call__(self, example, dtype):
        gradients = manual_backprop.backprop(example, dtype)
        gradients.dJ_dw[0] = 2 * gradients.dJ_dw[0]
        return gradients


def _broken_campaign() -> CampaignReport:
    """A real campaign with a broken candidate: 12 examples against torch."""
    config = CampaignConfig(examples=12, seed=1, oracles=("torch",))
    oracles = {name: make_oracle(name) for name in config.oracles}
    report = CampaignReport(
        title="gradproof check", command="gradproof check broken:grads --seed 1",
        code_under_test=_DoublesFirstWeightGradient.name,
        started=datetime.datetime(2025, 1, 1).isoformat(), seed=1, dtype="float64",
        reduction="mean", examples_requested=12,
        oracles=[OracleInfo(n, o.version) for n, o in oracles.items()], options={},
    )
    return run_campaign(config, _DoublesFirstWeightGradient(), oracles, report)


@pytest.fixture(scope="module")
def campaign_report() -> CampaignReport:
    return _broken_campaign()


# A small tree of the parsed page.

_VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def iter(self, tag: str | None = None):
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            yield from child.iter(tag)

    def find_id(self, id_: str) -> Node | None:
        return next((n for n in self.iter() if n.attrs.get("id") == id_), None)

    def with_class(self, name: str):
        return [n for n in self.iter() if name in (n.attrs.get("class") or "").split()]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.stack[-1].tag == tag, (
            f"</{tag}> closes <{self.stack[-1].tag}>: the page is not well nested")
        self.stack.pop()

    def handle_data(self, data):
        for node in self.stack:
            node.parts.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements at the end"
    return builder.root


def _squash(text: str) -> str:
    return " ".join(text.split())


# The HTML page: structure.

def test_the_page_has_a_summary_an_examples_table_and_a_failures_section(
        mixed_report):
    page = parse(render_html(mixed_report))

    for section in ("summary", "examples", "failures"):
        node = page.find_id(section)
        assert node is not None and node.tag == "section", section


def test_a_plot_that_cannot_be_drawn_leaves_the_rest_of_the_page(
        mixed_report, monkeypatch):
    import reports.html

    def broken(report: CampaignReport) -> None:
        raise ValueError("Data cannot be log-scaled")

    monkeypatch.setattr(reports.html, "campaign_plots", broken)
    page = parse(render_html(mixed_report))

    assert "log-scaled" in page.find_id("plots-failed").text
    assert page.find_id("examples-table") is not None


def test_the_examples_table_has_one_row_per_example_with_its_verdict(mixed_report):
    page = parse(render_html(mixed_report))

    table = page.find_id("examples-table")
    rows = list(next(table.iter("tbody")).iter("tr"))
    assert [r.attrs["data-verdict"] for r in rows] == [
        r.verdict for r in mixed_report.examples]
    assert [int(r.attrs["data-index"]) for r in rows] == [
        r.index for r in mixed_report.examples]


def test_the_verdict_counts_shown_match_the_report(mixed_report):
    page = parse(render_html(mixed_report))

    counts = page.find_id("summary").with_class("count")
    shown = {c.attrs["data-verdict"]: int(c.attrs["data-count"]) for c in counts}
    assert shown == mixed_report.counts
    for count in counts:
        number = count.with_class("count-n")[0].text
        assert int(number) == mixed_report.counts[count.attrs["data-verdict"]]


def test_failing_example_sections_appear_exactly_for_the_failing_examples(
        mixed_report):
    page = parse(render_html(mixed_report))

    ids = {n.attrs["id"] for n in page.iter() if
           re.fullmatch(r"example-\d+", n.attrs.get("id") or "")}
    assert ids == {f"example-{r.index}" for r in mixed_report.failures}
    assert ids == {"example-3", "example-5"}


def test_a_failing_example_shows_every_compared_block_and_marks_the_failing_one(
        mixed_report):
    page = parse(render_html(mixed_report))
    record = mixed_report.examples[3]

    section = page.find_id("example-3")
    rows = [tr for table in section.with_class("blocks")
            for tr in next(table.iter("tbody")).iter("tr")]
    assert len(rows) == len(record.details.blocks)
    assert [r.attrs["data-passed"] for r in rows] == ["false", "true", "true", "true"]
    chips = {c.text.split()[0]: c.attrs["data-status"]
             for c in section.with_class("chip") if "data-status" in c.attrs}
    assert chips["w_1"] == "fail"
    assert chips["b_1"] == chips["l_2"] == "pass"
    assert chips["w_2"] == "pass"  # only the oracles were compared on it
    assert record.details.reproducer in section.text


def test_the_failure_pattern_names_the_failing_block_across_examples(mixed_report):
    page = parse(render_html(mixed_report))

    pattern = _squash(page.find_id("pattern").text)
    assert ("Every disagreeing block is a weight gradient dJ/dw_i, in layer 1."
            in pattern)
    assert "dJ/dw_1 1 example: 3" in pattern
    assert "malformed gradients 1 example: 5" in pattern


def test_the_failure_pattern_says_how_many_failing_examples_it_draws_on():
    failing = _details([_block(passed=False, excess=4e13)])
    kept = [_record(i, Verdict.DISCREPANCY, details=failing) for i in range(20)]
    unkept = [_record(i, Verdict.DISCREPANCY) for i in range(20, 176)]
    page = parse(render_html(_report(kept + unkept, examples_requested=176)))

    pattern = _squash(page.find_id("pattern").text)
    assert ("20 of 176 failing examples kept in detail; the others are rows in the "
            "table below." in pattern)
    assert "dJ/dw_1 20 examples:" in pattern


def test_the_failure_pattern_adds_no_count_when_it_draws_on_every_failing_example(
        mixed_report):
    page = parse(render_html(mixed_report))

    assert page.find_id("pattern") is not None
    assert page.find_id("pattern-kept") is None


def test_the_block_table_shows_floats_in_short_scientific_form(mixed_report):
    section = parse(render_html(mixed_report)).find_id("example-3")

    text = _squash(section.text)
    assert "4e+13 \u00d7" in text
    assert "1e-14" in text
    assert "nan" in text


@pytest.mark.parametrize("value, shown", [
    (3.2e-07, "3.2e-07"), (0.0176824, "0.0177"), (2.0, "2"), (math.inf, "inf"),
    (-math.inf, "-inf"), (math.nan, "nan"), (None, "-"), (12, "12"), ("inf", "inf"),
], ids=["small", "plain", "integral float", "inf", "-inf", "nan", "missing", "int",
        "string from the JSON-safe model"])
def test_numbers_are_formatted_with_three_significant_digits(value, shown):
    assert format_number(value) == shown


def test_a_passing_report_has_a_green_banner_and_no_failing_sections(passing_report):
    page = parse(render_html(passing_report))

    banner = page.with_class("banner")[0]
    assert "banner-pass" in banner.attrs["class"]
    assert "Every example agrees" in banner.text
    assert banner.attrs["data-exit-code"] == "0"
    assert not [n for n in page.iter() if (n.attrs.get("id") or "").startswith(
        "example-")]
    assert page.find_id("interrupted") is None
    assert page.find_id("harness-error") is None


def test_an_interrupted_run_and_a_harness_error_are_announced(passing_report):
    passing_report.interrupted = True
    passing_report.error = "internal error: KeyError: 'w'"

    page = parse(render_html(passing_report))

    assert "banner-warn" in page.with_class("banner")[0].attrs["class"]
    assert "3 of 6" in _squash(page.find_id("interrupted").text)
    assert "KeyError: 'w'" in page.find_id("harness-error").text


def test_an_interrupted_run_without_discrepancies_is_not_called_a_pass(passing_report):
    passing_report.interrupted = True

    assert passing_report.exit_code == 2
    assert "not a pass" in passing_report.overall
    assert "not a pass" in _squash(parse(render_html(passing_report)).text)


def test_an_interrupted_run_is_an_error_in_junit_so_no_dashboard_shows_it_green(
        passing_report):
    passing_report.interrupted = True
    suite = ET.fromstring(junit_xml(passing_report))

    assert suite.get("errors") == "1"
    error = suite.find("testcase[@name='gradproof campaign']/error")
    assert error is not None and error.get("type") == "interrupted"
    assert "3 of 6" in error.get("message", "")


def test_the_summary_names_the_code_the_oracles_and_the_command(mixed_report):
    summary = _squash(parse(render_html(mixed_report)).find_id("summary").text)

    for expected in ("manual_backprop (built in)", "torch 2.3.0", "fd numpy 2.0",
                     "float64", "gradproof run --examples 6 --seed 4",
                     "6 of 6", "1.5 s"):
        assert expected in summary, expected


def test_the_filter_controls_are_hidden_until_the_script_shows_them(mixed_report):
    page = parse(render_html(mixed_report))

    filters = page.find_id("examples").with_class("filters")[0]
    assert "hidden" in filters.attrs
    assert {b.attrs["data-filter"] for b in filters.iter("button")} >= {
        "all", "failing", "discrepancy", "code under test failed"}


def test_a_real_campaign_renders_one_section_per_failing_example(campaign_report):
    page = parse(render_html(campaign_report))

    rows = list(next(page.find_id("examples-table").iter("tbody")).iter("tr"))
    assert len(rows) == len(campaign_report.examples) == 12
    sections = {n.attrs["id"] for n in page.find_id("failures").iter("article")}
    assert sections == {f"example-{r.index}" for r in campaign_report.failures}
    assert campaign_report.failures, "the broken candidate should fail somewhere"
    assert "dJ/dw_1" in page.find_id("pattern").text


# The HTML page: escaping and self-containment.

def test_hostile_strings_are_escaped_and_add_no_element(hostile_report):
    html = render_html(hostile_report)
    page = parse(html)

    assert "<script>alert" not in html
    assert "<img" not in html
    scripts = list(page.iter("script"))
    assert len(scripts) == 1 and "alert" not in scripts[0].text
    assert not list(page.iter("img"))
    handlers = [(n.tag, k) for n in page.iter() for k in n.attrs if k.startswith("on")]
    assert handlers == []
    code = page.find_id("summary").with_class("facts")[0].iter("code")
    assert HOSTILE in [c.text for c in code]
    assert HOSTILE in page.find_id("harness-error").text


def test_the_page_refers_to_no_other_host(mixed_report):
    html = render_html(mixed_report)
    page = parse(html)

    assert "http://" not in html and "https://" not in html
    for node in page.iter():
        for name in ("src", "href", "action", "data"):
            value = node.attrs.get(name)
            assert value is None or value.startswith("#"), (node.tag, name, value)
    assert not list(page.iter("link"))


def test_the_content_security_policy_pins_the_inline_style_and_script(mixed_report):
    page = parse(render_html(mixed_report))

    policy = next(m.attrs["content"] for m in page.iter("meta")
                  if m.attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        body = next(page.iter(tag)).text
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy, tag


# Across the campaign: the agreement matrix and the plots.

def _paired(index: int, verdict: Verdict, pairs: dict[str, float],
            rel: dict[str, float], **changes: object) -> ExampleRecord:
    record = _record(index, verdict)
    record.pairs, record.rel_errors = pairs, rel
    for name, value in changes.items():
        setattr(record, name, value)
    return record


@pytest.fixture
def paired_report() -> CampaignReport:
    """Four examples against torch and fd, counted by hand below: the code
    under test fails against both on example 1, and only fd drifts on 2."""
    c = CANDIDATE
    return _report([
        _paired(0, Verdict.AGREE, {f"{c}|torch": 0.5, f"{c}|fd": 0.25,
                                   "torch|fd": 0.125}, {"torch": 1e-16, "fd": 1e-9}),
        _paired(1, Verdict.DISCREPANCY, {f"{c}|torch": 3e13, f"{c}|fd": 2e7,
                                         "torch|fd": 0.5}, {"torch": 1.0, "fd": 1.0},
                worst_excess=3e13, depth=3, n_parameters=400),
        _paired(2, Verdict.ORACLE_DISAGREEMENT, {f"{c}|torch": 0.0, f"{c}|fd": 7.0,
                                                 "torch|fd": 9.0},
                {"torch": 0.0, "fd": 1e-6}),
        _paired(3, Verdict.CODE_ERROR, {}, {}),
    ])


def _matrix_cells(page: Node) -> dict[tuple[str, str], tuple[int, int, float]]:
    matrix = page.find_id("agreement-matrix")
    return {(td.attrs["data-row"], td.attrs["data-column"]):
            (int(td.attrs["data-compared"]), int(td.attrs.get("data-agreed") or 0),
             float(td.attrs.get("data-worst") or 0.0))
            for td in matrix.iter("td") if "data-row" in td.attrs}


def test_the_agreement_matrix_counts_each_pair_as_counted_by_hand(paired_report):
    page = parse(render_html(paired_report))

    cells = _matrix_cells(page)
    c = CANDIDATE
    expected = {(c, "torch"): (3, 2, 3e13), (c, "fd"): (3, 1, 2e7),
                ("torch", "fd"): (3, 2, 9.0)}
    for (a, b), counts in expected.items():
        assert cells[a, b] == counts, (a, b)
        assert cells[b, a] == counts, (b, a)
    assert len(cells) == 6
    header = [th.text for th in next(page.find_id("agreement-matrix").iter("thead"))
              .iter("th")]
    assert header == [c, "torch", "fd"]
    assert "2 / 3 agree" in _squash(page.find_id("agreement-matrix").text)


def test_a_real_campaign_fills_the_matrix_from_every_comparison(campaign_report):
    cells = _matrix_cells(parse(render_html(campaign_report)))

    compared = [r for r in campaign_report.examples if r.pairs]
    failing = [r for r in compared if r.failed]
    assert cells[CANDIDATE, "torch"] == (
        len(compared), len(compared) - len(failing),
        max(r.worst_excess for r in compared))


def test_plots_are_inline_svg_with_no_inline_style_and_unique_ids(paired_report):
    pytest.importorskip("matplotlib", reason="the plots are drawn with matplotlib")
    html = render_html(paired_report)
    page = parse(html)

    campaign = page.find_id("campaign")
    figures = campaign.with_class("plot")
    assert [f.attrs["id"] for f in figures] == ["plot-relative-errors",
                                                "plot-worst-error"]
    for figure in figures:
        svg = list(figure.iter("svg"))
        assert len(svg) == 1 and "viewbox" in svg[0].attrs  # the parser lowers names
        assert len(list(svg[0].iter("path"))) > 10
    # The policy refuses inline style: none may be left for the SVG to need.
    assert not [n for n in campaign.iter() if "style" in n.attrs]
    assert len(list(page.iter("style"))) == 1
    ids = [n.attrs["id"] for n in page.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids))
    assert "http://" not in html and "<img" not in html


def test_without_matplotlib_the_page_says_plots_need_it(paired_report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    page = parse(render_html(paired_report))

    assert not list(page.find_id("campaign").iter("svg"))
    assert "Plots need matplotlib" in _squash(page.find_id("plots-missing").text)
    assert page.find_id("agreement-matrix") is not None


def test_the_same_report_renders_to_the_same_page_twice(paired_report,
                                                        campaign_report):
    pytest.importorskip("matplotlib", reason="the plots are drawn with matplotlib")

    assert render_html(paired_report) == render_html(paired_report)
    assert render_html(campaign_report) == render_html(campaign_report)


def test_two_runs_of_one_campaign_render_alike_apart_from_timings(campaign_report):
    again = _broken_campaign()

    for report in (campaign_report, again):
        report.duration = 0.0
    timings = [(r, r.seconds) for r in campaign_report.examples + again.examples]
    try:
        for record, _ in timings:
            record.seconds = 0.0
        assert render_html(again) == render_html(campaign_report)
    finally:
        for record, seconds in timings:
            record.seconds = seconds


# Heat maps of a failing example's weight gradients.

def test_a_heat_map_has_a_cell_per_entry_and_marks_the_worst(mixed_report):
    excess = [[0.0, 0.5, 2.0, 1e3], [1e9, math.inf, 0.1, 0.0], [3.0, 0.0, 0.0, 1.0]]
    details = mixed_report.examples[3].details
    details.heat_maps = [HeatMap(1, "torch", excess, [1, 1], math.inf)]

    section = parse(render_html(mixed_report)).find_id("example-3")

    heat = section.with_class("heat")
    assert len(heat) == 1 and heat[0].attrs["data-layer"] == "1"
    rows = list(heat[0].iter("tr"))
    assert [len(list(r.iter("td"))) for r in rows] == [4, 4, 4]
    worst = [(i, j) for i, r in enumerate(rows) for j, td in enumerate(r.iter("td"))
             if td.attrs.get("data-worst") == "true"]
    assert worst == [(1, 1)]
    levels = [[td.attrs["class"].split()[0] for td in r.iter("td")] for r in rows]
    assert levels[0] == ["h0", "h2", "h3", "h4"]
    assert levels[1][:2] == ["h5", "h5"]
    assert "worst [1, 1]" in _squash(heat[0].text)


def test_only_kept_failing_examples_of_a_campaign_carry_heat_maps(campaign_report):
    kept = [r for r in campaign_report.examples if r.details is not None]

    assert kept and all(r.failed for r in kept)
    page = parse(render_html(campaign_report))
    for record in kept:
        maps = record.details.heat_maps
        assert [m.layer for m in maps] == list(range(1, record.depth + 1))
        block = next(b for b in record.details.blocks if b.name == "dJ/dw_1"
                     and b.subject == CANDIDATE and b.against == "torch")
        assert maps[0].worst == block.index
        assert maps[0].worst_excess == pytest.approx(block.excess)
        cells = [td for table in page.find_id(f"example-{record.index}")
                 .with_class("heat-map") for td in table.iter("td")]
        assert len(cells) == sum(len(m.excess) * len(m.excess[0]) for m in maps)
    for record in campaign_report.examples:
        assert record.details is None or record.failed
        assert set(record.rel_errors) <= {"torch"}
        assert len(record.pairs) <= 1


# Gradients whose dJ/dw_i are all the batch size times too large.
SCALED_BY_THE_BATCH = """
from manual_backprop import gradients as correct

def gradients(weights, biases, activations, cost, X, Y):
    dJ_dw, dJ_db = correct(weights, biases, activations, cost, X, Y)
    return [g * len(X) for g in dJ_dw], dJ_db
"""


@pytest.mark.slow
def test_the_smallest_failing_example_shows_its_heat_maps_and_block_table(tmp_path):
    (tmp_path / "scaled.py").write_text(SCALED_BY_THE_BATCH)

    run = subprocess.run(
        [sys.executable, "-m", "reports", "check", "scaled:gradients", "--examples",
         "12", "--oracles", "torch,fd", "--max-depth", "3", "--shrink-seconds", "5",
         "-q", "--json", "out.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert run.returncode == 1, run.stdout + run.stderr
    smallest = json.loads((tmp_path / "out.json").read_text())["smallest"]
    section = parse((tmp_path / "gradproof-report.html").read_text()).find_id(
        "smallest")
    maps = section.with_class("heat-map")
    assert len(maps) == smallest["depth"]
    cells = [td for table in maps for td in table.iter("td")]
    widths = [smallest["d"], *smallest["widths"]]
    assert len(cells) == sum(a * b for a, b in zip(widths, widths[1:]))
    assert any(td.attrs["class"].split()[0] == "h5" for td in cells)
    failing = [tr for table in section.with_class("blocks")
               for tr in next(table.iter("tbody")).iter("tr")
               if tr.attrs.get("data-passed") == "false"]
    assert failing


def test_weight_matrices_wider_than_the_cap_get_no_heat_map():
    rng = np.random.default_rng(0)
    d = MAX_SIDE + 1
    example = Example(Architecture(d, (3, 2), ("tanh", "identity"), "half_sse"),
                      [rng.normal(size=(3, d)), rng.normal(size=(2, 3))],
                      [np.zeros(3), np.zeros(2)], rng.normal(size=(4, d)),
                      rng.normal(size=(4, 2)))
    reference = manual_backprop.backprop(example)
    broken = manual_backprop.backprop(example)
    broken.dJ_dw[1] = 2 * broken.dJ_dw[1]

    maps, skipped = weight_heat_maps(example, broken, {"fd": object(),
                                                       "torch": reference}, "float64")

    assert skipped == [1]
    assert [(m.layer, m.against, m.shape) for m in maps] == [(2, "torch", (2, 3))]
    assert maps[0].worst_excess > 1


# JSON and JUnit.

def test_json_round_trips_with_counts_and_exit_code(mixed_report, tmp_path):
    path = write_json(mixed_report, tmp_path / "report.json")

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert data["exit_code"] == 1
    assert data["counts"] == mixed_report.counts
    assert len(data["examples"]) == 6
    assert data["examples"][3]["details"]["blocks"][3]["cosine"] == "nan"


def test_junit_has_a_testcase_per_example_and_a_failure_per_failing_one(
        mixed_report, tmp_path):
    suite = ET.parse(write_junit(mixed_report, tmp_path / "junit.xml")).getroot()

    cases = suite.findall("testcase")
    assert suite.tag == "testsuite" and suite.get("name") == "gradproof"
    assert len(cases) == int(suite.get("tests")) == 6
    assert cases[2].get("name") == (
        "example 2: d=3 -> 4 tanh -> 2 identity | half_sse")
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name").split(":")[0] for c in failed] == ["example 3", "example 5"]
    assert int(suite.get("failures")) == 2
    assert failed[0].find("failure").get("message") == "example 3: dJ/dw_1[0, 1]: wrong"
    assert "dJ/dw_1[0, 1] (layer 1)" in failed[0].find("failure").text
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == int(suite.get("skipped")) == 1
    assert skipped[0].find("skipped").get("message") == "example 2: saturated sigmoid"


def test_junit_stays_parseable_with_hostile_text_and_reports_a_harness_error(
        hostile_report):
    suite = ET.fromstring(junit_xml(hostile_report).encode("utf-8"))

    cases = suite.findall("testcase")
    assert len(cases) == 2
    assert HOSTILE in cases[0].get("name")
    assert cases[0].find("failure").get("message").startswith(HOSTILE)
    assert cases[1].find("error").text == HOSTILE
    assert suite.get("errors") == "1"


# Atomic writes.

def test_writers_leave_only_their_file_behind(mixed_report, tmp_path):
    written = [write_html(mixed_report, tmp_path / "report.html"),
               write_json(mixed_report, tmp_path / "report.json"),
               write_junit(mixed_report, tmp_path / "junit.xml")]

    assert sorted(os.listdir(tmp_path)) == ["junit.xml", "report.html", "report.json"]
    assert all(isinstance(p, Path) and p.stat().st_size > 0 for p in written)


def test_an_atomic_write_replaces_the_old_file_and_creates_missing_folders(tmp_path):
    target = tmp_path / "out" / "report.html"

    atomic_write_text(target, "old")
    atomic_write_text(target, "new \u00d7")

    assert target.read_text(encoding="utf-8") == "new \u00d7"
    assert os.listdir(target.parent) == ["report.html"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path,
                                                                  monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def refuse(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")

    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["report.html"]


# A real browser.

def _chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", *arguments],
        capture_output=True, text=True, timeout=120, check=False,
    )


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: install the chromium package to check "
           "the report in a real browser")


@needs_chromium
def test_the_report_renders_in_chromium_with_its_script_running(mixed_report,
                                                               tmp_path):
    image = pytest.importorskip("PIL.Image",
                                reason="Pillow is needed to read the screenshot")
    page = write_html(mixed_report, tmp_path / "report.html")
    png = tmp_path / "report.png"

    shot = _chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,1600",
                     page.as_uri())
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())

    assert png.exists(), shot.stderr[-2000:]
    with image.open(png) as picture:
        pixels = picture.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20)
        assert pixels.size == (1280, 1600)
    assert len(colours) > 50, "the screenshot is nearly blank"
    background = max(colours)[0] / (1280 * 1600)
    assert background < 0.9, "the screenshot is nearly one colour"
    # The script ran (the CSP let it): it marks the page and shows the filters.
    rendered = parse(dom.stdout)
    assert "js" in next(rendered.iter("html")).attrs["class"].split()
    assert "hidden" not in rendered.find_id("examples").with_class("filters")[0].attrs



# Clicks the "worst error / tolerance" header twice, then the "failing" filter,
# and leaves what it saw on <body>. The page's policy would refuse this script,
# so the test removes the policy first.
_DRIVER = """<script>
(function () {
  var table = document.getElementById("examples-table");
  var rows = function () { return Array.prototype.slice.call(table.tBodies[0].rows); };
  var order = function (list) {
    return list.map(function (r) { return r.getAttribute("data-index"); }).join(",");
  };
  var head = table.tHead.rows[0].cells[6];
  head.click();
  document.body.setAttribute("data-descending", order(rows()));
  head.click();
  document.body.setAttribute("data-ascending", order(rows()));
  document.querySelector('[data-filter="failing"]').click();
  document.body.setAttribute("data-visible",
    order(rows().filter(function (r) { return !r.hidden; })));
})();
</script>"""


@needs_chromium
def test_a_header_click_sorts_and_the_failing_filter_hides_passing_rows(
        mixed_report, tmp_path):
    html = render_html(mixed_report)
    html = re.sub(r'<meta http-equiv="Content-Security-Policy".*?>', "", html,
                  flags=re.DOTALL)
    page = tmp_path / "driven.html"
    page.write_text(html.replace("</body>", _DRIVER + "</body>"), encoding="utf-8")

    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())

    body = next(parse(dom.stdout).iter("body")).attrs
    # Example 5 raised: it has no error to sort by and stays last either way.
    assert body["data-descending"] == "3,0,1,2,4,5"
    assert body["data-ascending"] == "0,1,2,4,3,5"
    assert body["data-visible"] == "3,5"
