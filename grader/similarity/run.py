"""Run the comparison over a folder and write similarity.csv (and the matches the report shows)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pydantic import BaseModel

from grader.course import Course
from grader.report import write_atomic
from grader.similarity.collect import collect
from grader.similarity.compare import Match, Settings, clusters, compare_function

CSV_FIELDS = ["submission_a", "submission_b", "function", "score"]
CSV_NAME = "similarity.csv"
# The matches with their sources, so report.html can be rebuilt from OUT alone. Not `.json`:
# every OUT/<name>.json may be a submission's report.
MATCHES_NAME = "similarity-matches.jsonl"


class SimilarityResult(BaseModel):
    settings: Settings
    flagged: list[Match]
    clusters: list[list[str]]
    compared: dict[str, int]  # assignment -> submissions compared
    skipped: dict[str, str]


def find_similar(root: Path, course_dir: Path | None = None, out_dir: Path | None = None,
                 assignment: str | None = None, settings: Settings | None = None) -> SimilarityResult:
    settings = settings or Settings()
    found = collect(Path(root), Course.locate(course_dir), settings.k, out_dir, assignment)
    flagged: list[Match] = []
    compared = {}
    for name, entry in sorted(found.assignments.items()):
        compared[name] = len({sub for codes in entry.code.values() for sub in codes})
        for function in entry.functions:
            flagged += compare_function(name, function, entry.code.get(function, {}), entry.ignored, settings)
    return SimilarityResult(settings=settings, flagged=flagged, clusters=clusters(flagged), compared=compared,
                            skipped=found.skipped)


def write_similarity(result: SimilarityResult, out_dir: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for match in result.flagged:
        writer.writerow({"submission_a": match.submission_a, "submission_b": match.submission_b,
                         "function": match.function, "score": f"{match.score:.3f}"})
    write_atomic(out_dir / CSV_NAME, buffer.getvalue())
    write_atomic(out_dir / MATCHES_NAME, result.model_dump_json() + "\n")
    return out_dir / CSV_NAME


def read_similarity(out_dir: Path) -> SimilarityResult | None:
    path = out_dir / MATCHES_NAME
    if not path.is_file():
        return None
    try:
        return SimilarityResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def clear_similarity(out_dir: Path) -> None:
    for name in (CSV_NAME, MATCHES_NAME):
        (out_dir / name).unlink(missing_ok=True)
