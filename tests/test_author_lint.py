"""`make test` lints before it tests: ruff on the whole repository, mypy on the grader package."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def test_ruff_and_mypy_are_configured_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["ruff"]["line-length"] == 120
    assert {"E", "F", "W", "I", "B", "UP"} <= set(config["tool"]["ruff"]["lint"]["select"])
    assert config["tool"]["mypy"]["files"] == ["grader"]
    test_deps = " ".join(config["project"]["optional-dependencies"]["test"])
    assert "ruff" in test_deps and "mypy" in test_deps


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_test_runs_ruff_and_mypy_before_pytest():
    plan = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = plan.splitlines()
    ruff = next(i for i, line in enumerate(lines) if "ruff check ." in line)
    mypy = next(i for i, line in enumerate(lines) if line.strip().endswith("mypy"))
    pytest_line = next(i for i, line in enumerate(lines) if "pytest" in line)
    assert ruff < pytest_line and mypy < pytest_line
