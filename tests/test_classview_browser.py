"""The class report and a feedback page in a real headless Chromium, on a small graded class.

The class is graded once per session (kernels run); everything else reads its output folder.
Chromium is Debian's package: installed here when we are root and it is missing, else skipped.
Screenshots go to out/screenshots/ of the checkout (or a temp dir); their paths are printed.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
from cdp import Browser, Page, find_chromium
from filelock import FileLock
from similarity_class import HW3, RENAMES, ROOT, _notebook
from similarity_corpus import disguise

from grader.cli import main
from grader.course import Course
from grader.report import read_report


def _shared(tmp_path_factory) -> Path:
    """A folder all xdist workers of this run share (the parent of each worker's base temp)."""
    return tmp_path_factory.getbasetemp().parent


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> str:
    found = find_chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        with FileLock(_shared(tmp_path_factory) / "chromium.lock"):  # one apt-get at a time
            found = find_chromium()
            if found is None:
                env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
                subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
                               env=env, capture_output=True, timeout=900)
                found = find_chromium()
    if found is None:
        pytest.skip("no chromium: install Debian's `chromium` package (apt-get install chromium) to run browser tests")
    return found


@pytest.fixture(scope="session")
def browser(chromium):
    running = Browser(chromium)
    yield running
    running.close()


def _mistake(nb: nbformat.NotebookNode, name: str, body: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code" and f"#| grade: {name}" in cell.source:
            cell.source = f"#| grade: {name}\n" + textwrap.dedent(body).strip() + "\n"
    return nb


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> Path:
    """Graded once per run, whichever xdist worker gets there first; the others read its output."""
    base = _shared(tmp_path_factory) / "classview-graded"
    with FileLock(_shared(tmp_path_factory) / "classview-graded.lock"):
        if not (base / "done").is_file():
            shutil.rmtree(base, ignore_errors=True)
            out = _grade_class(base)
            (base / "done").write_text(str(out))
    return base / "out"


def _grade_class(base: Path) -> Path:
    """Solutions, typical mistakes, a stub, broken notebooks and a disguised copied pair, graded."""
    folder = base / "class"
    folder.mkdir(parents=True)
    solution = ROOT / "solutions" / "hw3.ipynb"
    shutil.copy(solution, folder / "ada_hw3.ipynb")
    shutil.copy(ROOT / "assignments" / "hw3" / "hw3.ipynb", folder / "stub_hw3.ipynb")
    for who in ("ben", "cat"):  # the same typical mistake, with different numbers in its messages
        nb = _mistake(nbformat.read(solution, as_version=4), "softmax",
                      "def softmax(X):\n    X_exp = torch.exp(X - X.max())\n    return X_exp / X_exp.sum(dim=1)")
        nb.cells.append(nbformat.v4.new_code_cell(f"print('{who}')"))
        nbformat.write(nb, folder / f"{who}_hw3.ipynb")
    (folder / "dan_hw3.ipynb").write_text("{ this is not a notebook")
    (folder / "eve_hw3.ipynb").write_text("")
    student = {f: impls[2] for f, impls in HW3.items()}
    nbformat.write(_notebook("hw3", student), folder / "fay_hw3.ipynb")
    copy = {f: disguise(impls[2], RENAMES["hw3"][0]) for f, impls in HW3.items()}
    nbformat.write(_notebook("hw3", copy, reorder=True), folder / "gil_hw3.ipynb")
    nbformat.write(_notebook("hw3", {f: impls[4] for f, impls in HW3.items()}), folder / "hal_hw3.ipynb")
    out = base / "out"
    assert main([str(folder), "-o", str(out), "--similarity", "--jobs", "2"]) in (0, 1)
    return out


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """out/screenshots/ of the checkout (git ignores out/), else a temp dir when that is read-only."""
    folder = ROOT / "out" / "screenshots"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return tmp_path_factory.mktemp("screenshots")


def _grades(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_report_renders_offline_with_charts_and_no_console_errors(browser, graded_class, screenshots):
    page = Page(browser)
    page.open(graded_class / "report.html")
    assert page.console_errors() == []
    assert [u for u in page.requested_urls() if not u.startswith(("file:", "data:"))] == []
    charts = page.evaluate("""[...document.querySelectorAll('.figure svg')].map(s => {
        const r = s.getBoundingClientRect(); return [r.width, r.height, s.querySelectorAll('rect').length]; })""")
    assert len(charts) == 2 and all(w > 300 and h > 150 and rects > 0 for w, h, rects in charts), charts
    print("class report screenshot:", page.screenshot(screenshots / "report-1280.png"))
    page.open(graded_class / "report.html", width=390, height=844, mobile=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391  # no sideways scrolling on a phone
    print("class report on a phone:", page.screenshot(screenshots / "report-390.png"))


def test_histogram_and_pass_rates_match_grades_csv_and_the_summary(browser, graded_class):
    page = Page(browser)
    page.open(graded_class / "report.html")
    counts = page.evaluate("[...document.querySelectorAll('table.histogram tbody td.num')].map(t => +t.textContent)")
    expected = [0] * 10
    for row in _grades(graded_class):
        if row["status"] == "graded":
            expected[min(int(float(row["percent"]) // 10), 9)] += 1
    assert counts == expected
    # The chart shows the same numbers as its table (pygal prints each non-zero bar's value).
    values = page.evaluate("[...document.querySelectorAll('.figure svg')][0].querySelectorAll('text.value')")
    bar_values = page.evaluate(
        "[...[...document.querySelectorAll('.figure svg')][0].querySelectorAll('.series text.value')]"
        ".map(t => +t.textContent)")
    assert values is not None and sorted(v for v in bar_values if v) == sorted(c for c in counts if c)
    shown = dict(page.evaluate("[...document.querySelectorAll('table.checks tbody tr')]"
                               ".map(r => [r.dataset.check, r.cells[2].textContent.trim()])"))
    summary = (graded_class / "summary.md").read_text(encoding="utf-8")
    from_summary = {m.group(1).strip(): m.group(2) for m in re.finditer(r"^\| hw3 \| (.+?) \| (\d+)% \|", summary, re.M)}
    assert from_summary and {k: f"{v} %" for k, v in from_summary.items()} == shown


def test_every_failure_group_links_to_exactly_the_students_who_hit_it(browser, graded_class):
    page = Page(browser)
    page.open(graded_class / "report.html")
    groups = page.evaluate("""[...document.querySelectorAll('details[id]')].flatMap(d =>
        [...d.querySelectorAll('.failure-group')].map(g => ({check: d.querySelector('summary').textContent,
          count: +g.dataset.count,
          targets: [...g.querySelectorAll('a')].map(a => [a.getAttribute('href').slice(1), a.textContent,
             document.getElementById(a.getAttribute('href').slice(1)) !== null])})))""")
    assert groups
    reports = {r["submission"]: read_report(graded_class / r["report"]) for r in _grades(graded_class) if r["report"]}
    for group in groups:
        assert len(group["targets"]) == group["count"]
        for _, submission, exists in group["targets"]:
            assert exists, submission
            check = group["check"].split(" · ")[0].removesuffix(" (hidden)")
            lost = {t.name for t in reports[submission].tests if t.status in ("failed", "error", "timeout")}
            assert check in lost, (check, submission)
    keepdim = [g for g in groups if g["check"].startswith("softmax: rows sum to 1")]
    assert any({"ben_hw3.ipynb", "cat_hw3.ipynb"} <= {t[1] for t in g["targets"]} for g in keepdim)


def test_copied_pair_is_flagged_and_shown_side_by_side(browser, graded_class):
    with open(graded_class / "similarity.csv", encoding="utf-8") as fh:
        pairs = {frozenset((r["submission_a"], r["submission_b"])) for r in csv.DictReader(fh)}
    assert pairs == {frozenset(("fay_hw3.ipynb", "gil_hw3.ipynb"))}
    page = Page(browser)
    page.open(graded_class / "report.html")
    marked = page.evaluate("[...document.querySelectorAll('details.match')].map(d => d.querySelectorAll('mark').length)")
    assert marked and all(n > 0 for n in marked)


def _hidden_values(submission: Path) -> set[str]:
    """How the hidden inputs' numbers would print, for this submission's seed."""
    import hashlib

    seed = int(hashlib.sha256(submission.read_bytes()).hexdigest()[:8], 16)
    values = set()
    for probe in Course.locate(ROOT).load("hw3").probes:
        if probe.hidden:
            for array in probe.make_inputs(seed).values():
                flat = np.asarray(array, dtype=float).ravel()
                values.update(f"{v:.4f}" for v in flat if abs(v) > 0.01 and v != round(v))
    return values


def test_a_feedback_page_per_submission_without_hidden_inputs(browser, graded_class, screenshots):
    rows = _grades(graded_class)
    folder = graded_class.parent / "class"
    page = Page(browser)
    for row in rows:
        path = graded_class / "feedback" / Path(row["submission"]).with_suffix(".html")
        assert path.is_file(), row["submission"]
        text = path.read_text(encoding="utf-8")
        if row["status"] == "graded":
            assert not {v for v in _hidden_values(folder / row["submission"]) if v in text}
    page.open(graded_class / "feedback" / "ben_hw3.html")
    assert page.console_errors() == []
    rows_shown = page.evaluate("[...document.querySelectorAll('table.feedback tbody tr')].map(r => r.dataset.status)")
    report = read_report(graded_class / "ben_hw3.json")
    assert rows_shown == [t.status for t in report.tests]
    print("feedback page screenshot:", page.screenshot(screenshots / "feedback-ben-1280.png"))
    page.open(graded_class / "feedback" / "ben_hw3.html", width=390, height=844, mobile=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    print("feedback page on a phone:", page.screenshot(screenshots / "feedback-ben-390.png"))
