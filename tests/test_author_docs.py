"""Every document the project cites is in the repository: docs/ holds what comments point to.

A comment "see design.md" sent readers to a file outside the repository; a fresh clone had no
such file. Here every tracked text file is searched for doc citations: any `*.md` name and any
`docs/...` path must resolve (relative to the repository, to the citing file, or under docs/),
and nothing may point outside the repository (`../shared`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

TEXT = {".py", ".md", ".toml", ".txt", ".sh", ".yml", ".yaml", ".cfg", ".ipynb", ".html", ".j2", ""}
# The CI runner's own note about where it runs is not part of the project's text; this file
# names missing documents on purpose.
NOT_THE_PROJECT = (".ci/", "tests/test_author_docs.py")
# Files the grader writes (bulk grading's summary), not documents.
GENERATED = {"summary.md"}
# A path in another project's repository, cited with it: "owner/repo `docs/specs.md`".
UPSTREAM = re.compile(r"[\w.-]+/[\w.-]+\s+`[^`]+`")
MD_NAME = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
DOCS_PATH = re.compile(r"(?<![\w/.-])(docs/[\w./-]*[\w/])")
OUTSIDE = re.compile(r"\.\./shared|/work/shared")
URL = re.compile(r"https?://\S+")


def _tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in listed.splitlines():
        path = ROOT / name
        if name.startswith(NOT_THE_PROJECT) or path.suffix not in TEXT or not path.is_file():
            continue
        if path.stat().st_size < 1_000_000:
            files.append(path)
    return files


def _resolves(cited: str, citing: Path) -> bool:
    cited = cited.rstrip("/.")
    candidates = [ROOT / cited, citing.parent / cited, ROOT / "docs" / Path(cited).name]
    return any(c.exists() for c in candidates)


def citations(path: Path) -> list[tuple[int, str]]:
    """(line, what) for each citation in `path` that points nowhere in the repository."""
    broken = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        line = UPSTREAM.sub("", URL.sub("", line))
        if OUTSIDE.search(line):
            broken.append((number, OUTSIDE.search(line).group(0)))  # type: ignore[union-attr]
        for cited in {*MD_NAME.findall(line), *DOCS_PATH.findall(line)}:
            if Path(cited).name not in GENERATED and not _resolves(cited, path):
                broken.append((number, cited))
    return broken


def test_no_file_cites_a_document_that_is_not_in_the_repository():
    broken = {
        f"{path.relative_to(ROOT)}:{line}": cited
        for path in _tracked_text_files()
        for line, cited in citations(path)
    }
    assert broken == {}


def test_the_scan_finds_a_missing_doc_and_a_path_outside(tmp_path):
    citing = ROOT / "grader" / "example.py"  # a citing file's location; it need not exist
    assert not _resolves("design.md", citing)
    assert _resolves("architecture.md", citing) and _resolves("docs/formats.md", citing)
    assert _resolves("docs/examples/hw7/", citing) and not _resolves("docs/examples/hw9/", citing)
    sample = tmp_path / "sample.py"
    sample.write_text('"""See design.md and ../shared/formats.md; docs/assignments.md is fine."""\n')
    assert {cited for _, cited in citations(sample)} == {"design.md", "../shared"}
