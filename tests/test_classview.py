"""The class report and feedback pages, built from synthetic grade reports (no kernels)."""

from __future__ import annotations

import csv
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from grader.bulk import Row, summarize, write_csv
from grader.classview.build import load_students, write_class_report, write_feedback
from grader.classview.model import histogram, message_key
from grader.cli import main
from grader.report import CheckResult, GradeReport, Submission, write_report

CHECKS = [("softmax: rows sum to 1", 2, False), ("softmax: random batches", 1, True),
          ("cross_entropy: per-example loss", 2, False), ("accuracy: counts", 1, False)]
EVIL = "<script>alert('x')</script><img src=http://example.invalid/x.png>"
EVIL_NAME = "<img src=x onerror=alert(1)>"  # a folder name a student chose


def _report(sub: str, outcomes: dict[str, tuple[str, str]], **extra) -> GradeReport:
    tests = []
    for name, points, hidden in CHECKS:
        status, message = outcomes.get(name, ("passed", ""))
        score = points if status == "passed" else (points / 2 if status == "failed" and "half" in message else 0)
        tests.append(CheckResult(name=name, score=score, max_score=points, status=status, message=message,
                                 hidden=hidden))
    return GradeReport(assignment="hw3", score=sum(t.score for t in tests), max_score=sum(p for _, p, _ in CHECKS),
                       status="graded", tests=tests, submission=Submission(path=sub), grader_version="test",
                       duration_s=1.5, **extra)


def _broken(sub: str, why: str) -> GradeReport:
    return GradeReport(assignment=None, score=0, max_score=0, status="error", submission=Submission(path=sub),
                       grader_version="test", errors=[why])


def _class() -> dict[str, GradeReport]:
    """A small class with repeated mistakes whose messages differ only in their numbers."""
    reports = {
        "ann/hw3.ipynb": _report("ann", {}),
        "bob/hw3.ipynb": _report("bob", {"softmax: rows sum to 1": ("failed", "row 3 sums to 0.25, not 1")}),
        "cy/hw3.ipynb": _report("cy", {"softmax: rows sum to 1": ("failed", "row 7 sums to 1.75, not 1"),
                                       "accuracy: counts": ("error", "accuracy raised NameError: name 'yhat' is not defined")}),
        "dee/hw3.ipynb": _report("dee", {"softmax: random batches": ("failed", "half the rows are wrong"),
                                         "cross_entropy: per-example loss": ("timeout", "timed out after 10 s")},
                                 warnings=["sandbox: no landlock protection on this machine (kernel 5.4)"]),
        "eve/hw3.ipynb": _report("eve", {"accuracy: counts": ("error", EVIL)},
                                 warnings=["sandbox: no landlock protection on this machine (kernel 5.4)"]),
        "fay/hw3.ipynb": _report("fay", {"accuracy: counts": ("error", "accuracy raised NameError: name 'yhat' is not defined")}),
        "gus/hw3.ipynb": _broken("gus", "hw3.ipynb is not a valid Jupyter notebook (Expecting value)"),
        f"{EVIL_NAME}/hw3.ipynb": _report("evil", {"softmax: rows sum to 1": ("failed", "row 1 sums to 3, not 1")}),
    }
    for sub, report in reports.items():
        report.submission.path = sub
    return reports


def _write_run(out: Path, reports: dict[str, GradeReport], with_csv: bool = True) -> list[Row]:
    rows = []
    for sub, report in reports.items():
        report_path = out / Path(sub).with_suffix(".json")
        write_report(report, report_path)
        rows.append(Row(sub, report.assignment or "", report.score, report.max_score, report.percent, report.status,
                        report.errors[0] if report.errors else "", str(report_path.relative_to(out))))
    rows.append(Row("zed/hw3.ipynb", "", 0, 0, 0, "not graded", "no report (interrupted?)", ""))
    if with_csv:
        write_csv(rows, out / "grades.csv")
    return rows


@pytest.fixture
def built(tmp_path) -> tuple[Path, str, dict[str, GradeReport]]:
    reports = _class()
    _write_run(tmp_path, reports)
    path = write_class_report(tmp_path)
    return tmp_path, path.read_text(encoding="utf-8"), reports


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "xlink:href", "action")]


def _table_rows(page: str, css_class: str) -> list[list[str]]:
    table = re.search(rf'<table class="{css_class}( [^"]*)?"[^>]*>(.*?)</table>', page, re.DOTALL)
    assert table, css_class
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(2), re.DOTALL)
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
            for row in rows]


def test_histogram_table_counts_the_graded_percents_of_grades_csv(built):
    out, page, _ = built
    with open(out / "grades.csv", encoding="utf-8") as fh:
        percents = [float(r["percent"]) for r in csv.DictReader(fh) if r["status"] == "graded"]
    expected = [0] * 10
    for percent in percents:
        expected[min(int(percent // 10), 9)] += 1
    counts = [int(row[1]) for row in _table_rows(page, "histogram")[1:]]
    assert counts == expected and sum(counts) == 7


def test_histogram_bins_hold_their_edges():
    assert [b.count for b in histogram([0, 9.99, 10, 99.9, 100])] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_pass_rates_and_points_are_those_of_the_bulk_summary(built):
    _, page, reports = built
    rows = {r[0].replace(" (hidden)", ""): r for r in _table_rows(page, "checks")[1:]}
    summary = summarize({k: r for k, r in reports.items() if r.status == "graded"})
    assert len(rows) == len(summary) == len(CHECKS)
    for entry in summary:
        row = rows[entry.name]
        assert row[1] == f"{entry.max_points:g}"
        assert row[2] == f"{100 * entry.pass_rate:.0f} %"
        assert row[3] == f"{entry.passed}/{entry.attempts}"
    rates = dict(re.findall(r'<tr data-check="([^"]+)">.*?data-pass-rate="([\d.]+)"', page, re.DOTALL))
    assert rates == {html.escape(e.name): f"{e.pass_rate:.4f}" for e in summary}


def test_failures_differing_only_in_numbers_form_one_group_linking_to_each_student(built):
    _, page, _ = built
    assert message_key("row 3 sums to 0.25, not 1") == message_key("row 7 sums to 1.75, not 1")
    groups = re.findall(r'<div class="group failure-group" data-count="(\d+)">(.*?)</ul>', page, re.DOTALL)
    anchors = set(re.findall(r'<tr id="([^"]+)"', page))
    by_message = {}
    for count, body in groups:
        links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', body)
        assert len(links) == int(count), body
        assert all(target in anchors for target, _ in links)
        message = html.unescape(re.search(r'<span class="msg">(.*?)</span>', body, re.DOTALL).group(1))
        by_message[message] = sorted(html.unescape(name) for _, name in links)
    softmax = [v for k, v in by_message.items() if "sums to" in k]
    assert softmax == [sorted(["bob/hw3.ipynb", "cy/hw3.ipynb", f"{EVIL_NAME}/hw3.ipynb"])]
    assert by_message["accuracy raised NameError: name 'yhat' is not defined"] == ["cy/hw3.ipynb", "fay/hw3.ipynb"]


def test_ungraded_submissions_warnings_and_timing_are_listed(built):
    _, page, _ = built
    ungraded = re.search(r'<section id="ungraded">(.*?)</section>', page, re.DOTALL).group(1)
    assert "gus/hw3.ipynb" in ungraded and "not a valid Jupyter notebook" in ungraded
    assert "zed/hw3.ipynb" in ungraded and "no report (interrupted?)" in ungraded
    warnings = _table_rows(re.search(r'<section id="warnings">(.*?)</section>', page, re.DOTALL).group(0)
                           .replace("<table>", '<table class="w">'), "w")
    assert warnings[1][1] == "2" and "landlock" in warnings[1][0]
    assert "grading time, summed over submissions" in page


def test_the_page_is_self_contained_and_escapes_student_text(built):
    out, page, _ = built
    tags = _Tags()
    tags.feed(page)
    assert not {"script", "img", "link", "iframe", "object", "embed"} & tags.names
    assert all(not url.startswith(("http:", "https:", "//")) for url in tags.urls), tags.urls
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert str(escape(EVIL)) in page and str(escape(EVIL_NAME)) in page
    assert "<svg" in page and 'role="img"' in page
    feedback = (out / "feedback" / "eve" / "hw3.html").read_text(encoding="utf-8")
    assert EVIL not in feedback and str(escape(EVIL)) in feedback


def test_every_reported_submission_gets_a_feedback_page_linked_from_the_report(built):
    out, page, reports = built
    for sub in reports:
        path = out / "feedback" / Path(sub).with_suffix(".html")
        assert path.is_file(), sub
    links = re.findall(r'<a href="(feedback/[^"]+)">', page)
    assert len(links) == len(reports)
    from urllib.parse import unquote

    assert all((out / unquote(link)).is_file() for link in links)


def test_feedback_page_speaks_the_terminal_tables_vocabulary(tmp_path):
    report = _report("dee", {"softmax: random batches": ("failed", "half the rows are wrong"),
                             "accuracy: counts": ("skipped", "hidden check: runs when your instructor grades")},
                     warnings=["sandbox: no landlock protection"])
    report.submission.path = "dee/hw3.ipynb"
    write_feedback(report, tmp_path / "f.html")
    page = (tmp_path / "f.html").read_text(encoding="utf-8")
    rows = _table_rows(page, "feedback")
    assert rows[0][1:] == ["check", "points", "why points were lost"]
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["softmax: random batches (hidden)"] == ["✗", "softmax: random batches (hidden)", "0.5/1", "half the rows are wrong"]
    assert by_name["softmax: rows sum to 1"] == ["✓", "softmax: rows sum to 1", "2/2", ""]
    assert by_name["accuracy: counts"][0] == "–"
    assert "note: sandbox: no landlock protection" in page
    assert f"Score: {report.score:g} / 6" in page
    assert "[1 points from hidden checks are graded by your instructor]" in page


def test_feedback_page_rows_read_as_the_terminal_tables_rows(tmp_path):
    from rich.console import Console

    from grader.render import render_report

    report = _class()["dee/hw3.ipynb"]
    console = Console(record=True, width=400, highlight=False)
    render_report(report, console)
    text = console.export_text()
    terminal = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    write_feedback(report, tmp_path / "f.html")
    page = (tmp_path / "f.html").read_text(encoding="utf-8")
    assert terminal and _table_rows(page, "feedback")[1:] == terminal
    summary = [line for line in text.splitlines() if line.startswith("Score:")][0]
    assert summary in html.unescape(re.sub(r"<[^>]+>|\s+", " ", page)).replace("  ", " ")


def test_feedback_for_an_ungradable_notebook_says_why(tmp_path):
    write_feedback(_broken("gus.ipynb", "gus.ipynb is empty"), tmp_path / "g.html")
    page = (tmp_path / "g.html").read_text(encoding="utf-8")
    assert "could not be graded" in page and "gus.ipynb is empty" in page and "Score: 0 / 0" in page


def test_report_rebuilds_from_the_json_reports_alone(tmp_path):
    reports = _class()
    _write_run(tmp_path, reports, with_csv=False)
    (tmp_path / "stray.json").write_text('{"not": "a report"}')
    students = load_students(tmp_path)
    assert sorted(s.submission for s in students) == sorted(reports)
    page = write_class_report(tmp_path).read_text(encoding="utf-8")
    assert sum(int(r[1]) for r in _table_rows(page, "histogram")[1:]) == 7


def test_grade_notebook_feedback_writes_a_page_for_a_broken_notebook(tmp_path, capsys):
    broken = tmp_path / "hw3.ipynb"
    broken.write_text("{ not json")
    target = tmp_path / "out" / "hw3.html"
    assert main([str(broken), "--feedback", str(target)]) == 0
    page = target.read_text(encoding="utf-8")
    assert "could not be graded" in page and "not a valid Jupyter notebook" in page


def test_a_run_without_similarity_drops_an_earlier_comparison(tmp_path):
    from grader.classview.commands import finish_bulk_run

    out = tmp_path / "out"
    _write_run(out, _class())
    (out / "similarity.csv").write_text("submission_a,submission_b,function,score\nann,bob,softmax,1.000\n")
    (out / "similarity-matches.jsonl").write_text("{}\n")
    lines = finish_bulk_run(out, tmp_path, wall_s=12.5, jobs=2)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not (out / "similarity.csv").exists() and 'id="similarity"' not in page
    assert "12.5 s" in page and "wall-clock time of the run" in page and any("report.html" in line for line in lines)


def test_an_unwritable_output_folder_gets_a_sentence_not_a_traceback(tmp_path, monkeypatch):
    from grader.classview import commands

    out = tmp_path / "out"
    _write_run(out, _class())

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(commands, "write_class_report", full_disk)
    lines = commands.finish_bulk_run(out, tmp_path, wall_s=1.0, jobs=1)
    assert lines == [f"could not write the class report in {out}: No space left on device; grades.csv is complete"]
