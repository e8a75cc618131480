"""`grade-author`: the course author's command.

`build` regenerates each assignment's stub and public expected outcomes from solutions/, after
checking the assignment against its own solution (every probe, hidden ones on several seeds; the
solution graded to full marks, the stub to zero); `check` fails when the committed files are stale;
`calibrate NAME PROBE` runs one probe's checks on the solution over many seeds (to set thresholds).
Both work on the course found like `grade` finds it: --course-dir, else the folder you are in (or
one above it) that has `assignments/`, else $GRADER_COURSE_DIR, else the grader's own checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.author import calibrate
from grader.author.build import AuthorError, stale_files
from grader.author.verify import build_verified
from grader.course import Course


def _build(course: Course, name: str, grade: bool) -> int:
    verified = build_verified(course, name, grade=grade)
    notes = f" ({'; '.join(verified.notes)})" if verified.notes else ""
    if verified.problems:
        print(f"{name}: build failed, nothing was written{notes}:", file=sys.stderr)
        for problem in verified.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    assert verified.result is not None
    print(f"{name}: wrote {verified.result.stub.relative_to(course.root)} and"
          f" {len(verified.result.expected)} expected outcomes{notes}")
    return 0


def _check(course: Course, name: str) -> int:
    stale = stale_files(course, name)
    for path in stale:
        print(f"{name}: stale: {path}")
    if not stale:
        print(f"{name}: up to date")
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grade-author", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["build", "check", "calibrate"])
    parser.add_argument("names", nargs="*",
                        help="assignments (default: every one with a solution); for calibrate: ASSIGNMENT PROBE")
    parser.add_argument("--course-dir", type=Path, help="the course folder (holds assignments/ and solutions/)")
    parser.add_argument("--no-grading", action="store_true",
                        help="build: skip grading the solution and the stub (faster; probes are still checked)")
    parser.add_argument("--seeds", type=int, default=20, help="calibrate: how many seeds (default 20)")
    args = parser.parse_args(argv)
    course = Course.locate(args.course_dir)
    print(f"course: {course.root}")
    if args.action == "calibrate":
        if len(args.names) != 2:
            parser.error("calibrate takes an assignment and one of its probes: grade-author calibrate hw7 train")
        try:
            print(calibrate.render(calibrate.calibrate(course, args.names[0], args.names[1], args.seeds)))
        except AuthorError as exc:
            print(f"grade-author: {exc}", file=sys.stderr)
            return 1
        return 0
    names = args.names or [n for n in course.names() if course.has_solution(n)]
    if not names:
        print(f"grade-author: no assignment with a solution in {course.root} (expected assignments/NAME/checks.py"
              " and solutions/NAME.ipynb); run it inside your course folder or pass --course-dir", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            status |= _build(course, name, not args.no_grading) if args.action == "build" else _check(course, name)
        except AuthorError as exc:
            print(f"grade-author: {exc}", file=sys.stderr)
            status |= 1
    if status and args.action == "check":
        print("run `grade-author build` to regenerate", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
