"""Grade a realistic class of 40 hw3 submissions with the class report and similarity, and check it.

Usage: python scripts/demo_class.py [OUTDIR] [--jobs 2]
The class: 5 solutions, 8 typical mistakes twice each, 5 broken notebooks, 3 stubs, 6 learners
with independent implementations, 2 who typed in the book, and 3 who copied one of the
independent learners (names swapped, cells reordered, comments changed). Runs
`grade DIR -o OUT --similarity`, prints its wall time, and checks that exactly the 3 copied pairs
are flagged and that report.html and a feedback page per submission exist.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from similarity_class import HW3, RENAMES, _notebook, _textbook  # noqa: E402
from similarity_corpus import disguise  # noqa: E402

from tests.helpers import solution, with_cells, write  # noqa: E402
from tests.test_hw3 import MISTAKES  # noqa: E402


def make_class(folder: Path) -> set[frozenset[str]]:
    for i in range(5):
        write(with_cells(solution("hw3"), append=[f"print('solution {i}')"]), folder / f"sol{i}" / "hw3.ipynb")
    for i, (_, replace, _, _) in enumerate(MISTAKES):
        for twin in "ab":
            write(with_cells(solution("hw3"), replace=replace, append=[f"print('{twin}')"]),
                  folder / f"mistake{i}{twin}" / "hw3.ipynb")
    broken = {"notjson": "{ this is not json", "empty": "",
              "nocode": nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("hi")]))}
    for name, text in broken.items():
        (folder / f"broken_{name}").mkdir()
        (folder / f"broken_{name}" / "hw3.ipynb").write_text(text)
    write(with_cells(solution("hw3"), replace={"softmax": "def softmax(X):\n    return X.exp( / 2"}),
          folder / "broken_syntax" / "hw3.ipynb")
    write(with_cells(solution("hw3"), prepend=["import module_that_does_not_exist"]), folder / "broken_import" / "hw3.ipynb")
    for i in range(3):
        shutil.copytree(ROOT / "assignments" / "hw3", folder / f"stub{i}", ignore=shutil.ignore_patterns("expected", "*.py", "known"))
    for i in range(6):
        write(_notebook("hw3", {f: impls[i] for f, impls in HW3.items()}), folder / f"indep{i}" / "hw3.ipynb")
    write(_textbook("hw3", {}), folder / "book_a" / "hw3.ipynb")
    write(_textbook("hw3", {"X_exp": "ex", "metric": "acc", "cmp": "hit"}), folder / "book_b" / "hw3.ipynb")
    copied = set()
    for n, i in enumerate((1, 3, 5)):
        bodies = {f: disguise(impls[i], RENAMES["hw3"][n]) for f, impls in HW3.items()}
        write(_notebook("hw3", bodies, reorder=True), folder / f"copier{n}" / "hw3.ipynb")
        copied.add(frozenset((f"copier{n}/hw3.ipynb", f"indep{i}/hw3.ipynb")))
    return copied


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="demo-class-"))
    folder, out = tmp / "class", args.out or tmp / "out"
    copied = make_class(folder)
    count = len(list(folder.rglob("*.ipynb")))
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "grade"), str(folder), "-o", str(out), "--similarity",
                    "--jobs", str(args.jobs)], stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    with open(out / "similarity.csv", encoding="utf-8") as fh:
        flagged = {frozenset((r["submission_a"], r["submission_b"])) for r in csv.DictReader(fh)}
    with open(out / "grades.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pages = [out / "feedback" / Path(r["submission"]).with_suffix(".html") for r in rows]
    print(f"{count} submissions graded with --similarity in {elapsed:.1f} s; report: {out / 'report.html'}")
    print(f"flagged pairs: {sorted(tuple(sorted(p)) for p in flagged)}")
    ok = flagged == copied and (out / "report.html").is_file() and all(p.is_file() for p in pages)
    print("copied pairs flagged, no other pair, a feedback page each:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
