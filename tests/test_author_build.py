"""`grade-author build` proves an assignment before writing it, and explains author mistakes.

The worked example of docs/writing-an-assignment.md (docs/examples/hw7) is copied into a fresh
course folder and built there, as a new author would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from grader.author.cli import main
from tests.helpers import ROOT, assert_full_marks, assert_stub_scores_zero, grade

EXAMPLE = ROOT / "docs" / "examples" / "hw7"


def new_course(root: Path) -> Path:
    """A course folder with hw7's checks.py and solution only, as its author wrote them."""
    (root / "assignments" / "hw7").mkdir(parents=True)
    (root / "solutions").mkdir()
    shutil.copy(EXAMPLE / "checks.py", root / "assignments" / "hw7" / "checks.py")
    shutil.copy(EXAMPLE / "hw7.ipynb", root / "solutions" / "hw7.ipynb")
    return root


def grade_author(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRADER_COURSE_DIR"}
    command = [str(Path(sys.executable).parent / "grade-author"), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_hw7_from_the_guide_builds_in_its_own_course_and_a_broken_hidden_probe_fails_the_build(tmp_path):
    course = new_course(tmp_path / "course")
    built = grade_author("build", "hw7", cwd=course)
    assert built.returncode == 0, built.stderr
    assert "solution 12/12, stub 0/12" in built.stdout
    stub_path = course / "assignments" / "hw7" / "hw7.ipynb"
    assert stub_path.is_file() and (course / "assignments" / "hw7" / "expected" / "drop_30.safetensors").is_file()
    assert not (ROOT / "assignments" / "hw7").exists()  # built there, not in the grader's checkout

    assert_full_marks(grade(course / "solutions" / "hw7.ipynb", tmp_path, course_dir=course, assignment="hw7"), 12)
    assert_stub_scores_zero(grade(stub_path, tmp_path, course_dir=course))

    # An author's change: the hidden rates now reach 1.5, which the solution rejects (assert 0 <= dropout <= 1).
    checks = course / "assignments" / "hw7" / "checks.py"
    text = checks.read_text()
    assert "rng.uniform(0.2, 0.8)" in text
    checks.write_text(text.replace("rng.uniform(0.2, 0.8)", "rng.uniform(1.2, 1.5)"))
    stub_before = stub_path.read_bytes()
    broken = grade_author("build", "hw7", cwd=course)
    assert broken.returncode != 0
    assert "probe drop_hidden" in broken.stderr and "AssertionError" in broken.stderr, broken.stderr
    assert "assert 0 <= dropout <= 1" in broken.stderr  # the solution's line that failed
    assert "Traceback" not in broken.stderr + broken.stdout
    assert stub_path.read_bytes() == stub_before  # a failed build writes nothing


def test_a_missing_checks_py_says_what_to_create(tmp_path, capsys):
    course = new_course(tmp_path / "course")
    (course / "assignments" / "hw7" / "checks.py").unlink()
    (course / "assignments" / "hw6").mkdir()
    (course / "assignments" / "hw6" / "checks.py").write_text("")
    assert main(["build", "hw7", "--course-dir", str(course)]) == 1
    err = capsys.readouterr().err
    assert f"no {course / 'assignments' / 'hw7' / 'checks.py'}" in err and "Create it" in err and "ASSIGNMENT" in err


def test_a_checks_py_that_does_not_import_names_its_line(tmp_path, capsys):
    course = new_course(tmp_path / "course")
    checks = course / "assignments" / "hw7" / "checks.py"
    checks.write_text(checks.read_text().replace("THRESHOLD = 0.85", "THRESHOLD = undefined_constant"))
    assert main(["build", "hw7", "--course-dir", str(course), "--no-grading"]) == 1
    err = capsys.readouterr().err
    assert "NameError" in err and "undefined_constant" in err and "line" in err and "Traceback" not in err


def test_a_forgotten_setup_mark_says_which_cell_to_mark(tmp_path, capsys):
    course = new_course(tmp_path / "course")
    path = course / "solutions" / "hw7.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].source.startswith("#| grade: setup")
    nb.cells[1].source = nb.cells[1].source.replace("#| grade: setup\n", "")
    nbformat.write(nb, path)
    assert main(["build", "hw7", "--course-dir", str(course), "--no-grading"]) == 1
    err = capsys.readouterr().err
    assert "NameError: name 'torch' is not defined" in err
    assert "`torch` is defined in cell 1 of hw7.ipynb" in err and "add `#| grade: setup`" in err
    assert not (course / "assignments" / "hw7" / "hw7.ipynb").exists()


def test_a_probe_without_its_import_fails_the_build_naming_it(tmp_path, capsys):
    course = new_course(tmp_path / "course")
    checks = course / "assignments" / "hw7" / "checks.py"
    text = checks.read_text()
    probe_start = text.index("def probe_dropout")
    fixed = text[:probe_start] + text[probe_start:].replace("    import torch\n\n", "", 1)
    checks.write_text(fixed)
    assert main(["build", "hw7", "--course-dir", str(course), "--no-grading"]) == 1
    err = capsys.readouterr().err
    assert "probe keep_all, drop_all, drop_30, drop_hidden: probe_dropout" in err and "`torch`" in err


def test_calibrate_shows_the_spread_of_a_training_check_over_seeds(tmp_path, capsys):
    course = new_course(tmp_path / "course")
    assert main(["calibrate", "hw7", "train", "--seeds", "3", "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    assert out.count("held-out accuracy 0.") == 3
    assert "trains a network to 0.85 held-out accuracy: full points on 3 of 3 seeds" in out
    assert main(["calibrate", "hw7", "no_such_probe", "--course-dir", str(course)]) == 1
    assert "its probes: keep_all" in capsys.readouterr().err


def test_outside_any_course_build_says_where_it_looked(tmp_path):
    empty = tmp_path / "not-a-course"
    empty.mkdir()
    result = grade_author("build", "--course-dir", str(empty), cwd=empty)
    assert result.returncode == 2 and "no assignment with a solution" in result.stderr
    assert "Traceback" not in result.stderr
