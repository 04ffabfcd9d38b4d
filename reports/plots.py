"""Plots across a campaign, drawn with matplotlib as SVG and inlined in the
report: the relative errors of the code under test against each oracle, and
its worst error over tolerance against depth ``n`` and the number of
parameters.

matplotlib is optional: without it :func:`campaign_plots` returns ``None`` and
the page says so. The SVG is made deterministic (a fixed hash salt, no date,
glyphs as paths, a fixed size) and fit for a page whose Content-Security-Policy
allows no inline style: the ``style`` attributes become presentation
attributes, metadata and comments go, and every id gets the plot's prefix so
that several plots share one page.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oracles.compare import CANDIDATE
from reports.model import CampaignReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Where zero (exact agreement) and infinity land on the log axes.
REL_FLOOR, REL_CEILING = 1e-18, 1e3
EXCESS_FLOOR, EXCESS_CEILING = 1e-4, 1e18
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_FAIL, _PASS = "#b42318", "#067647"


@dataclass
class Plot:
    """One inline SVG figure and what it shows, in words."""

    id: str
    title: str
    caption: str
    svg: str


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        return False
    return True


def warm_up() -> bool:
    """Import matplotlib and draw an empty figure as SVG, so that a later
    :func:`campaign_plots` finds its modules, fonts and caches loaded (a helper
    process does this while the campaign runs). False without matplotlib."""
    if not matplotlib_available():
        return False
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.0, 1.0))
    figure.add_subplot().set_xlabel("warm")
    with _style():
        figure.savefig(io.StringIO(), format="svg")
    return True


def campaign_plots(report: CampaignReport) -> list[Plot] | None:
    """The campaign's plots, or ``None`` when matplotlib does not import; an
    empty list when no example was compared."""
    if not matplotlib_available():
        return None
    compared = [r for r in report.examples if r.rel_errors]
    if not compared:
        return []
    with _style():
        return [_relative_errors(report), _worst_error(report)]


def _style() -> contextlib.AbstractContextManager[None]:
    """The settings every plot is drawn and saved with: a fixed hash salt for
    the SVG ids, glyphs as paths, one font bundled with matplotlib."""
    import matplotlib

    return matplotlib.rc_context({
        "svg.hashsalt": "gradproof", "svg.fonttype": "path",
        "font.family": "DejaVu Sans", "font.size": 9.0,
        "axes.spines.top": False, "axes.spines.right": False,
    })


def _relative_errors(report: CampaignReport) -> Plot:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    oracles = list(dict.fromkeys(
        [o.name for o in report.oracles]
        + sorted({k for r in report.examples for k in r.rel_errors})))
    values = {name: [_clip(r.rel_errors[name], REL_FLOOR, REL_CEILING)
                     for r in report.examples if name in r.rel_errors]
              for name in oracles}
    values = {name: v for name, v in values.items() if v}
    low = min(min(v) for v in values.values())
    high = max(max(v) for v in values.values())
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    hi = max(hi, lo + 1)
    bins = [10 ** (lo + k / 4) for k in range(4 * (hi - lo) + 1)]

    figure = Figure(figsize=(7.0, 3.2), dpi=72)
    axes = figure.add_subplot()
    for k, (name, v) in enumerate(values.items()):
        axes.hist(v, bins=bins, histtype="step", linewidth=1.6,
                  color=_COLOURS[k % len(_COLOURS)],
                  label=f"against {_plain(name)} ({len(v)})")
    axes.set_xscale("log")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("worst relative error of the code under test, per example")
    axes.set_ylabel("examples")
    axes.legend(frameon=False, fontsize=8)
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.96, wspace=0.08)
    return Plot(
        "plot-relative-errors", "Relative errors against each oracle",
        "One count per example and oracle: the worst relative error of the code "
        f"under test over its blocks. Exact agreement is drawn at {REL_FLOOR:.0e}.",
        inline_svg(figure, "plot-relative-errors"))


def _worst_error(report: CampaignReport) -> Plot:
    from matplotlib.figure import Figure

    records = [r for r in report.examples if r.depth and r.pairs and any(
        k.startswith(CANDIDATE) for k in r.pairs)]
    figure = Figure(figsize=(7.0, 3.2), dpi=72)
    left, right = figure.subplots(1, 2, sharey=True)
    for axes, attribute, label in ((left, "depth", "depth n (layers)"),
                                   (right, "n_parameters", "parameters")):
        for failed, colour, name in ((False, _PASS, "passes"),
                                     (True, _FAIL, "fails")):
            chosen = [r for r in records if r.failed is failed]
            axes.scatter([getattr(r, attribute) for r in chosen],
                         [_clip(r.worst_excess, EXCESS_FLOOR, EXCESS_CEILING)
                          for r in chosen],
                         s=16, color=colour, alpha=0.7, linewidths=0,
                         label=f"{name} ({len(chosen)})")
        axes.axhline(1.0, color="#667085", linewidth=0.8, linestyle="--")
        axes.set_yscale("log")
        axes.set_xlabel(label)
    right.set_xscale("log")
    left.xaxis.get_major_locator().set_params(integer=True)
    left.set_ylabel("worst error / tolerance")
    left.legend(frameon=False, fontsize=8, loc="best")
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.96, wspace=0.08)
    return Plot(
        "plot-worst-error", "Worst error against depth and size",
        "One point per example: the worst error of the code under test over its "
        "tolerance (above the dashed line at 1 it fails). Exact agreement is drawn "
        f"at {EXCESS_FLOOR:.0e}.",
        inline_svg(figure, "plot-worst-error"))


def _clip(value: float, low: float, high: float) -> float:
    if isinstance(value, str):  # the JSON-safe model writes infinities as text
        value = float(value)
    if math.isnan(value) or value > high:
        return high
    return max(value, low)


def _plain(text: str) -> str:
    """A name as matplotlib should print it, not as mathtext."""
    return text.replace("$", r"\$")


def inline_svg(figure: Figure, prefix: str) -> str:
    """The figure as SVG markup to inline in an HTML page (see the module's
    docstring): deterministic, no inline style, ids under ``prefix``."""
    buffer = io.StringIO()
    with _style():
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<defs>\s*</defs>\s*", "", svg)
    svg = re.sub(r' (xmlns(:\w+)?|version)="[^"]*"', "", svg)
    svg = re.sub(r' (width|height)="[\d.]+pt"', "", svg, count=2)
    svg = svg.replace("<svg", '<svg class="plot-svg" role="img" '
                      'stroke-linejoin="round" stroke-linecap="butt"', 1)
    svg = re.sub(r'style="([^"]*)"', _presentation, svg)
    svg = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)
    return svg.strip()


def _presentation(match: re.Match[str]) -> str:
    """``style="fill: #fff; stroke-width: 0.8"`` as ``fill="#fff"
    stroke-width="0.8"``."""
    attributes = []
    for declaration in match.group(1).split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if re.fullmatch(r"[a-z-]+", name) and value:
            attributes.append(f'{name}="{value}"')  # escaped as it was
    return " ".join(attributes)
