"""Inline SVG charts (pygal): no script, no web font, nothing fetched when the page opens.

Each chart is decoration over a real table in the page; the SVG is marked as an image with a
text alternative, and the numbers a reader needs are in the table beside it.
"""

from __future__ import annotations

import re

import pygal
from markupsafe import Markup
from pygal.style import Style

from grader.classview.model import Bin, CheckStats

_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)

_STYLE = Style(
    background="transparent", plot_background="transparent", foreground="#222", foreground_strong="#111",
    foreground_subtle="#999", colors=("#2f6db3", "#c0392b", "#888"), font_family="system-ui, sans-serif",
    label_font_size=13, major_label_font_size=13, value_font_size=12, title_font_size=15, legend_font_size=13,
)


def _config(**extra) -> dict:
    # js=[]: pygal's default pulls a tooltip script from the web; the page must work offline.
    return dict(style=_STYLE, js=[], disable_xml_declaration=True, show_legend=False, print_values=True,
                margin=8, **extra)


def _svg(chart: pygal.graph.graph.Graph, label: str) -> Markup:
    svg = chart.render(is_unicode=True)
    # pygal always embeds a script with its tooltip config; the page runs no script (its CSP
    # forbids them), so drop it rather than have the browser log a blocked script.
    svg = _SCRIPT.sub("", svg)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1)
    return Markup(svg)  # noqa: S704 - pygal escapes every label and value it writes


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _short(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def histogram_svg(bins: list[Bin], title: str) -> Markup:
    chart = pygal.Bar(**_config(height=300, width=720, x_label_rotation=0, y_title="submissions",
                                x_title="score (percent of the maximum)", min_scale=1, max_scale=8))
    chart.x_labels = [f"{b.low}–{b.high}" for b in bins]
    chart.add("submissions", [b.count for b in bins])
    return _svg(chart, title)


def pass_rate_svg(checks: list[CheckStats], title: str) -> Markup:
    height = 60 + 34 * max(1, len(checks))
    chart = pygal.HorizontalBar(**_config(height=height, width=720, range=(0, 100), x_title="pass rate (%)",
                                          x_labels_major_count=6, show_minor_x_labels=False,
                                          value_formatter=lambda v: f"{v:.0f} %"))
    # pygal draws horizontal bars bottom-up; reversed, the chart reads in the table's order.
    # Long check names would squeeze the bars; the full names are in the table beside the chart.
    chart.x_labels = [_short(c.name) for c in reversed(checks)]
    chart.add("pass rate", [round(100 * c.pass_rate, 1) for c in reversed(checks)])
    return _svg(chart, title)
