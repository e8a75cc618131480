"""The platform scripts in examples/, run against fake platform trees: Gradescope's
run_autograder in a fake /autograder unpacked from the zip build_zip.py makes, PrairieLearn's
entrypoint in a fake /grade. Whatever goes wrong (no notebook, grader missing, crash, killed,
too slow, garbage output), each leaves a results.json the platform accepts (validated against
the schemas written from its spec, tests/fixtures/consumers/).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from grader.cli import build_parser
from tests.helpers import ROOT, stub, write

FIXTURES = Path(__file__).parent / "fixtures" / "consumers"
GRADESCOPE = ROOT / "examples" / "gradescope"
PL_RUN = ROOT / "examples" / "prairielearn" / "run"
GRADE = str(Path(sys.executable).with_name("grade"))

sys.path.insert(0, str(GRADESCOPE))
import build_zip  # noqa: E402  (an example script, not part of the package)


def validate(path: Path, schema: str) -> dict:
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(json.loads((FIXTURES / schema).read_text())).validate(data)
    return data


def quick_hw3(path: Path) -> Path:
    """hw3 with only its set-up cells: every check runs and loses its points, in seconds."""
    nb = stub("hw3")
    nb.cells = nb.cells[:2]
    return write(nb, path)


# Stand-ins for a grader that goes wrong in each way a real one can.
FAKE_GRADERS = {
    "crash": "echo 'Traceback (most recent call last): ...' >&2; exit 1",
    "killed": "kill -9 $$",  # what the kernel's OOM killer does
    "too slow": "sleep 30",
    "garbage": 'while [ $# -gt 0 ]; do case "$1" in --gradescope|--prairielearn) printf \'{"score": \' > "$2";; esac; '
               "shift; done; exit 0",
}
EXPECTED_WORDS = {"missing": "not installed", "crash": "failed", "killed": "memory", "too slow": "longer than",
                  "garbage": "failed", "no notebook": ".ipynb"}


def fake_grader(tmp_path: Path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "nowhere" / "grade")
    script = tmp_path / f"grade-{kind.replace(' ', '-')}"
    script.write_text("#!/bin/sh\n" + FAKE_GRADERS[kind] + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(script)


# ---------------------------------------------------------------- Gradescope


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gradescope") / "hw3.zip"
    assert build_zip.main(["hw3", "-o", str(path), "--hidden", "after_due_date"]) == 0
    return path


def unpack(zip_path: Path, root: Path) -> Path:
    """What Gradescope does with the upload: unzip to source/, copy run_autograder beside it."""
    source = root / "source"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(source)
        for info in archive.infolist():  # extractall drops the modes: restore them like unzip does
            (source / info.filename).chmod((info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    (root / "run_autograder").write_bytes((source / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    return root


def run_autograder(root: Path, **env: str) -> dict:
    subprocess.run([str(root / "run_autograder")], env={**os.environ, "AUTOGRADER_ROOT": str(root), **env},
                   check=True, timeout=300, capture_output=True)
    return validate(root / "results" / "results.json", "gradescope.schema.json")


def test_the_zip_has_what_gradescope_needs_at_its_root(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        env = archive.read("gradescope.env").decode()
    assert {"setup.sh", "run_autograder", "pyproject.toml", "grader/cli.py", "assignments/hw3/checks.py",
            "solutions/hw3.ipynb"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert not any(n.startswith(("tests/", ".venv/", "solutions/hw1")) or "__pycache__" in n for n in names)
    assert "ASSIGNMENT=hw3\n" in env and "GRADESCOPE_HIDDEN=after_due_date\n" in env


def test_the_zip_builder_refuses_what_cannot_work(tmp_path, capsys):
    assert build_zip.main(["../hw3", "-o", str(tmp_path / "x.zip")]) == 2
    assert build_zip.main(["hw3", "-o", str(tmp_path / "x.zip"), "--course-dir", str(tmp_path)]) == 2
    course = tmp_path / "course"
    course.mkdir()
    (course / "assignments").symlink_to(ROOT / "assignments", target_is_directory=True)  # no solutions/
    assert build_zip.main(["hw3", "-o", str(tmp_path / "x.zip"), "--course-dir", str(course)]) == 2
    assert "hidden checks, which need the solution" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_run_autograder_grades_in_a_fake_autograder_tree(autograder_zip, tmp_path):
    root = unpack(autograder_zip, tmp_path / "autograder")
    quick_hw3(root / "submission" / "my_homework.ipynb")
    results = run_autograder(root, GRADER_BIN=GRADE)  # the source/ of the zip is the course
    assert results["score"] == 0 and len(results["tests"]) == 12
    hidden = {t["visibility"] for t in results["tests"]} - {"visible"}
    assert hidden == {"after_due_date"}  # the policy in gradescope.env
    assert "/ 18" not in results["output"]
    assert json.loads((root / "results" / "report.json").read_text())["assignment"] == "hw3"


@pytest.mark.parametrize("kind", ["missing", "crash", "killed", "too slow", "garbage", "no notebook"])
def test_run_autograder_always_leaves_a_valid_results_json(autograder_zip, tmp_path, kind):
    root = unpack(autograder_zip, tmp_path / "autograder")
    if kind != "no notebook":
        quick_hw3(root / "submission" / "hw3.ipynb")
    grader = GRADE if kind == "no notebook" else fake_grader(tmp_path, kind)
    results = run_autograder(root, GRADER_BIN=grader, GRADER_TIME_LIMIT="1")
    assert results["score"] == 0 and EXPECTED_WORDS[kind] in results["output"]
    assert "Traceback" not in results["output"]


# ---------------------------------------------------------------- PrairieLearn


def grade_tree(tmp_path: Path, notebook: bool = True) -> Path:
    root = tmp_path / "grade"
    (root / "student").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text("{}")
    if notebook:
        quick_hw3(root / "student" / "hw3.ipynb")
    return root


def run_pl(root: Path, **env: str) -> dict:
    env = {**os.environ, "GRADE_ROOT": str(root), "ASSIGNMENT": "hw3", "GRADER_COURSE_DIR": str(ROOT), **env}
    subprocess.run([str(PL_RUN)], env=env, check=True, timeout=300, capture_output=True)
    return validate(root / "results" / "results.json", "prairielearn.schema.json")


def test_prairielearn_entrypoint_grades_in_a_fake_grade_tree(tmp_path):
    results = run_pl(grade_tree(tmp_path), GRADER_BIN=GRADE)
    assert results["gradable"] is True and results["score"] == 0 and len(results["tests"]) == 12
    assert results["message"] == "0 / 18 points"


@pytest.mark.parametrize("kind", ["missing", "crash", "killed", "too slow", "garbage", "no notebook"])
def test_prairielearn_entrypoint_always_leaves_a_valid_results_json(tmp_path, kind):
    root = grade_tree(tmp_path, notebook=kind != "no notebook")
    grader = GRADE if kind == "no notebook" else fake_grader(tmp_path, kind)
    results = run_pl(root, GRADER_BIN=grader, GRADER_TIME_LIMIT="1")
    assert results["gradable"] is False and EXPECTED_WORDS[kind] in results["format_errors"][0]


# ---------------------------------------------------------------- GitHub Classroom

WORKFLOWS = ROOT / "examples" / "github-actions"


def workflow_steps(name: str) -> tuple[str, dict, list[dict]]:
    text = (WORKFLOWS / name).read_text()
    workflow = yaml.safe_load(text)
    (job,) = workflow["jobs"].values()
    return text, job, job["steps"]


def grade_words(script: str) -> list[str]:
    """The `grade ...` command of a step, as argv (line continuations joined)."""
    joined = script.replace("\\\n", " ")
    line = next(line.strip() for line in joined.splitlines() if line.strip().startswith("grade "))
    return shlex.split(line.split("||")[0])


def test_classroom_workflow_uses_no_secret_and_always_reports():
    text, job, steps = workflow_steps("classroom.yml")
    assert "secrets." not in text and "GRADER_TOKEN" not in text  # students can edit this file
    assert not any("token" in (step.get("with") or {}) for step in steps)
    course = next(s for s in steps if (s.get("with") or {}).get("path") == "course")
    assert course["with"]["persist-credentials"] is False
    grade = next(s for s in steps if s.get("id") == "grade")
    assert grade["if"] in ("${{ !cancelled() }}", "always()")  # runs even if the install failed
    reporter = next(s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter@v1"))
    assert reporter["if"] == "always()"  # --fail-under fails the Grade step: report all the same
    assert reporter["with"]["runners"] == "grade"
    assert reporter["env"] == {"GRADE_RESULTS": "${{ steps.grade.outputs.result }}"}
    args = build_parser().parse_args(grade_words(grade["run"])[1:])  # exits 2 on an unknown option
    assert args.github_classroom and args.fail_under == 60 and args.course_dir == Path("course")


def run_grade_step(tmp_path: Path, path_dirs: list[str]) -> tuple[int, str]:
    """The workflow's Grade step, run by bash as the Actions runner would, in a student's checkout."""
    _, job, steps = workflow_steps("classroom.yml")
    script = next(s for s in steps if s.get("id") == "grade")["run"]
    work = tmp_path / "runner"
    quick_hw3(work / "submission" / "hw3.ipynb")
    (work / "course").mkdir()
    (work / "course" / "assignments").symlink_to(ROOT / "assignments", target_is_directory=True)  # no solutions/
    output = work / "github_output"
    output.touch()
    env = {**os.environ, **{k: str(v) for k, v in job["env"].items()}, "GITHUB_OUTPUT": str(output),
           "PATH": os.pathsep.join(path_dirs)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, timeout=300)
    lines = [line for line in output.read_text().splitlines() if line.startswith("result=")]
    assert len(lines) == 1, (done.stdout, done.stderr)
    payload = json.loads(base64.b64decode(lines[0].removeprefix("result=")))
    jsonschema.Draft202012Validator(json.loads((FIXTURES / "classroom.schema.json").read_text())).validate(payload)
    return done.returncode, lines[0]


def test_classroom_workflow_grade_step_feeds_classrooms_reporter(tmp_path):
    from tests.test_consumers import run_reporter

    status, line = run_grade_step(tmp_path, [str(Path(GRADE).parent), "/usr/bin", "/bin"])
    assert status == 1  # under --fail-under 60: the step fails, the result is there all the same
    proc, recorded = run_reporter(line)
    assert recorded == {"totalPoints": 0, "maxPoints": 18}, proc.stdout


def test_classroom_workflow_reports_even_when_the_grader_is_missing(tmp_path):
    from tests.test_consumers import run_reporter

    status, line = run_grade_step(tmp_path, ["/usr/bin", "/bin"])
    assert status == 127
    proc, recorded = run_reporter(line)
    assert recorded == {"totalPoints": 0, "maxPoints": 18}, proc.stdout
    assert "the grader did not finish" in proc.stdout and proc.returncode == 1


def test_hidden_checks_workflow_keeps_its_token_away_from_student_code():
    _, job, steps = workflow_steps("hidden-checks.yml")
    with_secret = [s for s in steps if "secrets." in json.dumps(s)]
    assert [s["name"] for s in with_secret] == ["Download the submissions"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False
    grade = next(s for s in steps if "grade " in s.get("run", ""))
    args = build_parser().parse_args(grade_words(grade["run"])[1:])
    assert args.output == Path("grades") and args.notebook == Path("submissions")


def test_hidden_checks_workflow_collects_one_notebook_per_student(tmp_path):
    """The download step, with a stand-in for the GitHub CLI: what it leaves is what `grade` sees."""
    _, job, steps = workflow_steps("hidden-checks.yml")
    script = next(s for s in steps if s.get("name") == "Download the submissions")["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text("""#!/bin/sh
case "$1 $2" in
  "repo list") printf 'hw3-alice\\nhw3-bob\\nhw4-alice\\ncourse-private\\n' ;;
  "repo clone") mkdir -p "$4"; case "$3" in */hw3-alice) echo '{}' > "$4/hw3.ipynb" ;; esac ;;
esac
""")
    gh.chmod(0o755)
    work = tmp_path / "runner"
    work.mkdir()
    summary = tmp_path / "summary.md"
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "GITHUB_STEP_SUMMARY": str(summary),
           "ORG": "my-class", "GH_TOKEN": "x", "PREFIX": "hw3", "NOTEBOOK": "hw3.ipynb"}
    subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, check=True, timeout=60)
    assert sorted(p.name for p in (work / "submissions").iterdir()) == ["hw3-alice.ipynb"]
    assert not (work / "clones").exists()
    assert "hw3-bob: no hw3.ipynb" in summary.read_text()
