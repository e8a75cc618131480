"""`grade-author`: the course author's command. `build` regenerates stubs and public expected
outcomes from solutions/; `check` fails when the committed ones are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.author.build import build_assignment, stale_files
from grader.course import Course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grade-author", description=__doc__)
    parser.add_argument("action", choices=["build", "check"])
    parser.add_argument("names", nargs="*", help="assignments (default: every one with a solution)")
    parser.add_argument("--course-dir", type=Path)
    args = parser.parse_args(argv)
    course = Course.locate(args.course_dir)
    names = args.names or [n for n in course.names() if course.has_solution(n)]
    missing = [n for n in names if not course.has_solution(n)]
    if missing:
        print(f"grade-author: no solution notebook for {', '.join(missing)} under {course.root / 'solutions'}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        if args.action == "build":
            result = build_assignment(course, name)
            print(f"{name}: wrote {result.stub.relative_to(course.root)} and {len(result.expected)} expected outcomes")
        else:
            stale = stale_files(course, name)
            for path in stale:
                print(f"{name}: stale: {path}")
            if stale:
                status = 1
            else:
                print(f"{name}: up to date")
    if status:
        print("run `grade-author build` to regenerate", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
