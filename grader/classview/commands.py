"""The `grade` command's hooks into the class view: after a bulk run, and `grade similarity DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.classview.build import FEEDBACK_DIR, record_timing, write_class_report
from grader.similarity.compare import Settings
from grader.similarity.run import SimilarityResult, clear_similarity, find_similar, write_similarity


def finish_bulk_run(out_dir: Path, source: Path, wall_s: float, jobs: int | None, similarity: bool = False,
                    course_dir: Path | None = None, assignment: str | None = None) -> list[str]:
    """After `grade DIR -o OUT`: record the run's time, compare code if asked, write the pages."""
    lines: list[str] = []
    try:
        record_timing(out_dir, wall_s, jobs)
        result = None
        if similarity:
            result = find_similar(source, course_dir, out_dir, assignment)
            lines.append(_similarity_line(result, write_similarity(result, out_dir)))
        else:  # an earlier comparison may no longer match these submissions: never show it as current
            clear_similarity(out_dir)
        path = write_class_report(out_dir, source=str(source), similarity=result)
    except OSError as exc:  # a full disk or a read-only folder: the grades are written already
        lines.append(f"could not write the class report in {out_dir}: {exc.strerror or exc}; grades.csv is complete")
        return lines
    lines.append(f"wrote {path} and {out_dir / FEEDBACK_DIR}/")
    return lines


def _similarity_line(result: SimilarityResult, csv_path: Path) -> str:
    pairs = {(m.submission_a, m.submission_b) for m in result.flagged}
    return f"similarity: {len(pairs)} pairs of submissions flagged ({len(result.flagged)} functions); wrote {csv_path}"


def similarity_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade similarity",
        description="Compare the graded functions across the submissions in a folder and list pairs that "
        "share more code than independent work explains (after discounting the stub, the course's given "
        "code, the reference solution and what much of the class shares).")
    parser.add_argument("folder", type=Path, help="the folder of submissions (.ipynb)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUTDIR",
                        help="write similarity.csv here (and show the pairs in OUTDIR/report.html when it has grades)")
    parser.add_argument("--assignment", metavar="NAME", help="assignment name when a notebook does not say")
    parser.add_argument("--course-dir", type=Path, metavar="DIR", help="the course folder holding assignments/")
    parser.add_argument("--min-shared", type=int, default=Settings().min_shared, metavar="N",
                        help="rare fingerprints a pair must share in one function (default: %(default)s)")
    parser.add_argument("--min-score", type=float, default=Settings().min_score, metavar="F",
                        help="share of the smaller function they must make up, 0..1 (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"grade similarity: error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    if not 0 < args.min_score <= 1 or args.min_shared < 1:
        print("grade similarity: error: --min-score is in (0, 1] and --min-shared at least 1", file=sys.stderr)
        return 2
    settings = Settings(min_shared=args.min_shared, min_score=args.min_score)
    result = find_similar(args.folder, args.course_dir, args.output, args.assignment, settings)
    console = Console(highlight=False)
    table = Table(title="flagged pairs", title_justify="left")
    for column in ("function", "submission A", "submission B", "score", "shared"):
        table.add_column(column, justify="right" if column in ("score", "shared") else "left")
    for m in result.flagged:
        table.add_row(m.function, m.submission_a, m.submission_b, f"{m.score:.2f}", str(m.shared))
    console.print(table)
    compared = ", ".join(f"{n} {name}" for name, n in result.compared.items()) or "no"
    console.print(f"compared {compared} submissions; {len(result.skipped)} not compared")
    for submission, why in result.skipped.items():
        console.print(f"  not compared: {submission}: {why}", style="dim")
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        print(_similarity_line(result, write_similarity(result, args.output)), file=sys.stderr)
        if (args.output / "grades.csv").is_file():
            print(f"wrote {write_class_report(args.output, source=str(args.folder), similarity=result)}", file=sys.stderr)
    return 0
