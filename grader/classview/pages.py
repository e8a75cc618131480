"""Render the class report and feedback pages to HTML strings (Jinja2, autoescaped).

Report messages and submission names can carry text a student controls (exception messages,
file names), so every value is escaped; only pygal's SVG is inserted as markup.
"""

from __future__ import annotations

import datetime
import re
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from grader import __version__
from grader.classview.charts import histogram_svg, pass_rate_svg
from grader.classview.model import ClassView, Student
from grader.render import SYMBOL
from grader.report import GradeReport
from grader.similarity.run import SimilarityResult

# The terminal table's marks, so a student reads the same words and symbols on the page.
SYMBOLS = SYMBOL


def _points(value: float) -> str:
    return f"{value:g}"


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s"


def anchor(text: str) -> str:
    """An id usable in a URL fragment: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("grader.classview", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(points=_points, seconds=_seconds, anchor=anchor)
    return env


def _css() -> str:
    return files("grader.classview").joinpath("templates/base.css").read_text(encoding="utf-8")


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(css=_css(), version=__version__, **context)


def render_feedback(report: GradeReport) -> str:
    skipped = sum(t.max_score for t in report.tests if t.status == "skipped")
    return _render("feedback.html.j2", report=report, symbols=SYMBOLS, skipped=skipped)


def _side(submission: str, source: str, first_line: int, marked: list[int]) -> dict[str, Any]:
    lines = source.splitlines()
    hits = set(marked)
    return {"submission": submission,
            "lines": [(first_line + i, text, first_line + i in hits) for i, text in enumerate(lines)]}


def _sides(similarity: SimilarityResult | None) -> list[list[dict[str, Any]]]:
    if similarity is None:
        return []
    return [[_side(m.submission_a, m.source_a, m.first_line_a, m.lines_a),
             _side(m.submission_b, m.source_b, m.first_line_b, m.lines_b)] for m in similarity.flagged]


def render_class_report(view: ClassView, students: list[Student], source: str,
                        similarity: SimilarityResult | None = None) -> str:
    charts = {
        a.name: {
            "histogram": histogram_svg(a.bins, f"Histogram of scores in {a.name}: see the table beside it"),
            "pass_rate": pass_rate_svg(a.checks, f"Pass rate per check in {a.name}: see the table beside it"),
        }
        for a in view.assignments
    }
    slowest = sorted((s for s in students if s.report), key=lambda s: -s.report.duration_s)[:5]  # type: ignore[union-attr]
    built = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _render("report.html.j2", view=view, students=students, charts=charts, source=source, built=built,
                   slowest=slowest, similarity=similarity, sides=_sides(similarity),
                   anchors={s.submission: s.anchor for s in students})
