"""Build the zip to upload as a Gradescope programming assignment's autograder.

    python examples/gradescope/build_zip.py hw3 -o hw3-gradescope.zip

The zip has `setup.sh` and `run_autograder` at its root (Gradescope looks for them there), the
grader's source (installed by setup.sh), the assignment's folder and its solution (the hidden
checks need it; students never see /autograder/source), and `gradescope.env`, which tells
run_autograder the assignment, how to show hidden checks and its time limit. Standard library
only, so it runs from any checkout. See docs/platforms.md.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent  # the grader's repository
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache"}
HIDDEN_POLICIES = ("after_published", "after_due_date", "hidden")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not SKIP_PARTS.intersection(p.parts) and p.suffix != ".pyc")


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same input, same zip
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16  # regular file + mode
    archive.writestr(info, data)


def build(assignment: str, output: Path, course_dir: Path, hidden: str, time_limit: int) -> list[str]:
    """Write the zip; return its member names. Raises ValueError for what the author must fix."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", assignment):
        raise ValueError(f"{assignment!r} is not an assignment name (letters, digits, _ and - only)")
    folder = course_dir / "assignments" / assignment
    solution = course_dir / "solutions" / f"{assignment}.ipynb"
    if not (folder / "checks.py").is_file():
        raise ValueError(f"{folder} has no checks.py: is {assignment!r} an assignment of {course_dir}?")
    if not solution.is_file():
        raise ValueError(f"{solution} is missing: Gradescope runs the hidden checks, which need the solution")
    if hidden not in HIDDEN_POLICIES:
        raise ValueError(f"--hidden must be one of {', '.join(HIDDEN_POLICIES)}")
    env = f"ASSIGNMENT={assignment}\nGRADESCOPE_HIDDEN={hidden}\nGRADER_TIME_LIMIT={time_limit}\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w") as archive:
        _add(archive, "setup.sh", (HERE / "setup.sh").read_bytes(), executable=True)
        _add(archive, "run_autograder", (HERE / "run_autograder").read_bytes(), executable=True)
        _add(archive, "gradescope.env", env.encode())
        for name in PACKAGE_FILES:
            _add(archive, name, (CHECKOUT / name).read_bytes())
        for path in _files(CHECKOUT / "grader"):
            _add(archive, path.relative_to(CHECKOUT).as_posix(), path.read_bytes())
        for path in _files(folder):
            _add(archive, f"assignments/{assignment}/{path.relative_to(folder).as_posix()}", path.read_bytes())
        _add(archive, f"solutions/{assignment}.ipynb", solution.read_bytes())
        return archive.namelist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="the assignment to grade, e.g. hw3")
    parser.add_argument("-o", "--output", type=Path, help="the zip to write (default: <assignment>-gradescope.zip)")
    parser.add_argument("--course-dir", type=Path, default=CHECKOUT,
                        help="the course folder holding assignments/ and solutions/ (default: this checkout)")
    parser.add_argument("--hidden", default="after_published", choices=HIDDEN_POLICIES,
                        help="when students see the hidden checks (default: after_published)")
    parser.add_argument("--time-limit", type=int, default=540,
                        help="seconds before run_autograder gives up (keep it under Gradescope's timeout; default 540)")
    args = parser.parse_args(argv)
    output = args.output or Path(f"{args.assignment}-gradescope.zip")
    try:
        names = build(args.assignment, output, args.course_dir.resolve(), args.hidden, args.time_limit)
    except (ValueError, OSError) as exc:
        print(f"build_zip: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {output} ({len(names)} files): upload it under Configure Autograder, as a zip file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
