"""Read a bulk run's output folder and write report.html and feedback/<submission>.html into it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pydantic import BaseModel

from grader.classview.model import Student, build_view
from grader.classview.pages import anchor, render_class_report, render_feedback
from grader.report import GradeReport, read_report, write_atomic
from grader.similarity.run import SimilarityResult, read_similarity

REPORT_HTML = "report.html"
FEEDBACK_DIR = "feedback"
# Not a .json name: every OUT/<name>.json may be a submission's report.
TIMING_FILE = "run-timing.txt"


class RunTiming(BaseModel):
    wall_s: float
    jobs: int | None = None


def feedback_name(submission: str) -> str:
    """feedback/<submission>.html, keeping the submission's sub-folders (as its JSON report does)."""
    path = Path(submission)
    return (Path(FEEDBACK_DIR) / path.with_suffix(".html")).as_posix()


def write_feedback(report: GradeReport, path: Path) -> None:
    write_atomic(path, render_feedback(report))


def _rows_from_csv(out_dir: Path) -> list[dict[str, str]]:
    with open(out_dir / "grades.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _rows_from_jsons(out_dir: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted(out_dir.rglob("*.json")):
        relative = path.relative_to(out_dir)
        rows.append({"submission": relative.with_suffix(".ipynb").as_posix(), "report": relative.as_posix(),
                     "status": "", "reason": ""})
    return rows


def load_students(out_dir: Path) -> list[Student]:
    """The submissions of a run, in grades.csv order (or every report JSON when there is no CSV)."""
    from_csv = (out_dir / "grades.csv").is_file()
    rows = _rows_from_csv(out_dir) if from_csv else _rows_from_jsons(out_dir)
    students, used = [], set()
    for row in rows:
        report = None
        if row.get("report"):
            try:
                report = read_report(out_dir / row["report"])
            except Exception:
                if from_csv:  # without the CSV, a .json that is not a report is simply not one
                    row["reason"] = row.get("reason") or f"its report {row['report']} cannot be read"
                else:
                    continue
        if report is not None:
            report.submission.path = row["submission"]
        tag = anchor("s-" + row["submission"])
        while tag in used:
            tag += "-"
        used.add(tag)
        reason = (report.errors[0] if report and report.errors else "") if report else row.get("reason", "")
        students.append(Student(row["submission"], tag, feedback_name(row["submission"]) if report else None,
                                report, reason or ("could not be graded" if report is None else "")))
    return students


def record_timing(out_dir: Path, wall_s: float, jobs: int | None) -> None:
    write_atomic(out_dir / TIMING_FILE, RunTiming(wall_s=round(wall_s, 3), jobs=jobs).model_dump_json() + "\n")


def _timing(out_dir: Path) -> RunTiming | None:
    try:
        return RunTiming.model_validate(json.loads((out_dir / TIMING_FILE).read_text(encoding="utf-8")))
    except Exception:
        return None


def write_class_report(out_dir: Path, source: str | None = None, similarity: SimilarityResult | None = None) -> Path:
    """Write every feedback page and report.html from the reports in `out_dir`; returns report.html.

    Without `similarity`, the matches of an earlier similarity run in `out_dir` are shown, if any.
    """
    out_dir = Path(out_dir)
    similarity = similarity or read_similarity(out_dir)
    students = load_students(out_dir)
    for student in students:
        if student.report is not None and student.feedback:
            write_feedback(student.report, out_dir / student.feedback)
    timing = _timing(out_dir)
    view = build_view(students, wall_s=timing.wall_s if timing else None)
    html = render_class_report(view, students, source or str(out_dir), similarity)
    write_atomic(out_dir / REPORT_HTML, html)
    return out_dir / REPORT_HTML

