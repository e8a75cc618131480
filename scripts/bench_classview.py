"""Time the class report with similarity for a large class, without grading anyone.

Usage: python scripts/bench_classview.py [--count 300] [--assignment hw3]
Writes COUNT submissions (each function one of the corpus's independent implementations, with
names swapped per student, as in tests/similarity_corpus.py; every 50th a disguised copy of the
one before) and a synthetic grade report for each, then times, as separate processes the way `grade` runs them:
(a) `grade similarity DIR -o OUT` (which also rebuilds report.html, as OUT has grades.csv: what
`grade DIR -o OUT --similarity` adds after grading), (b) rebuilding report.html and every
feedback page from OUT alone. Prints the flagged pairs: exactly the copies should be there.
Issue 16 asks for a 300-submission class report with --similarity in under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import nbformat  # noqa: E402
from similarity_class import CORPUS, RENAMES, _notebook  # noqa: E402
from similarity_corpus import disguise  # noqa: E402

from grader.bulk import Row, write_csv  # noqa: E402
from grader.report import CheckResult, GradeReport, Submission, write_report  # noqa: E402

NAMES = ["a", "b", "c", "d", "t", "u", "acc", "res", "tmp", "val", "out2", "z9"]
REBUILD = "import sys, pathlib; from grader.classview.build import write_class_report; " \
          "write_class_report(pathlib.Path(sys.argv[1]))"


def _student(name: str, rng: random.Random) -> dict[str, str]:
    bodies = {}
    for function, implementations in CORPUS[name].items():
        body = textwrap.dedent(rng.choice(implementations))
        for old in ("e", "m", "rows", "out", "preds", "count", "acc", "h", "w", "Y", "k"):
            body = body.replace(f" {old} =", f" {rng.choice(NAMES)}_{old} =")
        bodies[function] = body
    return bodies


def _own_touch(body: str, i: int) -> str:
    """Lines only this student wrote (a check of their own whose shape depends on i): rare code."""
    terms = ["abs(k)", "len(str(k))", "(k % 3)", "max(k, 1)", "min(k, 2)", "round(k / 3)", "int(k > 1)", "k ** 2"]
    lines = body.strip().splitlines()
    extra = []
    for line in range(3):
        chosen = [terms[(i * (line + 3) + 5 * j * j + line) % len(terms)] for j in range(6)]
        ops = ["-" if (i >> (j + line)) & 1 else "//" for j in range(5)]
        expression = chosen[0] + "".join(f" {op} {term}" for op, term in zip(ops, chosen[1:]))
        extra.append(f"    check_{line} = [{expression} for k in range({line + 2})]")
    return "\n".join(lines[:1] + extra + lines[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--assignment", default="hw3", choices=sorted(CORPUS))
    args = parser.parse_args()
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="bench-classview-") as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "out"
        folder.mkdir()
        rows = []
        bodies: dict[str, str] = {}
        for i in range(args.count):
            sub = f"student{i:03d}/{args.assignment}.ipynb"
            (folder / sub).parent.mkdir()
            # Every 50th student hands in a disguised copy of the one before (pairs to show).
            if i % 50 == 49:
                bodies = {f: disguise(b, RENAMES[args.assignment][0]) for f, b in bodies.items()}
            else:
                bodies = _student(args.assignment, rng)
                if i % 50 == 48:
                    bodies = {f: _own_touch(b, i) for f, b in bodies.items()}
            nbformat.write(_notebook(args.assignment, bodies, reorder=i % 50 == 49), folder / sub)
            tests = [CheckResult(name=f"{f}: check {j}", score=float(ok), max_score=1.0, status="passed" if ok else "failed",
                                 message="" if ok else f"row {rng.randint(0, 9)} is off by {rng.random():.3f}")
                     for f in CORPUS[args.assignment] for j in range(3) for ok in [rng.random() < 0.75]]
            report = GradeReport(assignment=args.assignment, score=sum(t.score for t in tests), max_score=len(tests),
                                 status="graded", tests=tests, submission=Submission(path=sub), grader_version="bench",
                                 duration_s=rng.uniform(1, 4))
            write_report(report, out / Path(sub).with_suffix(".json"))
            rows.append(Row(sub, args.assignment, report.score, report.max_score, report.percent, "graded", "",
                            str(Path(sub).with_suffix(".json"))))
        write_csv(rows, out / "grades.csv")
        grade = str(Path(sys.executable).parent / "grade")
        started = time.perf_counter()
        subprocess.run([grade, "similarity", str(folder), "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
        similarity_s = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", REBUILD, str(out)], check=True)
        report_s = time.perf_counter() - started
        with open(out / "similarity.csv", encoding="utf-8") as fh:
            pairs = [line.split(",")[:3] for line in fh.read().splitlines()[1:]]
        flagged = len(pairs)
        print("flagged:", sorted({(a.split("/")[0], b.split("/")[0]) for a, b, _ in pairs}))
        size = (out / "report.html").stat().st_size / 1e6
        print(f"{args.count} {args.assignment} submissions: grade similarity {similarity_s:.1f} s "
              f"({flagged} flagged pair-functions), report.html + {args.count} feedback pages {report_s:.1f} s "
              f"({size:.1f} MB); total {similarity_s + report_s:.1f} s")


if __name__ == "__main__":
    main()
