"""Similarity: normalisation, winnowing, and the flagged pairs on a corpus of honest and copied code."""

from __future__ import annotations

import csv
import itertools
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
from similarity_class import CORPUS, ROOT, write_class

from grader.classview.build import write_class_report
from grader.cli import main
from grader.similarity.compare import Settings, compare_function
from grader.similarity.fingerprint import fingerprints
from grader.similarity.normalize import Token, graded_function
from grader.similarity.run import find_similar


def _texts(source: str, name: str = "f") -> list[str]:
    code = graded_function(textwrap.dedent(source), name)
    assert code is not None
    return [t.text for t in code.tokens]


def test_renaming_comments_docstrings_layout_and_operand_order_do_not_change_the_tokens():
    original = """
        def f(X, K):
            h, w = K.shape
            Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
            for i in range(Y.shape[0]):
                Y[i] += (X[i:i + h] * K).sum() + 1
            return Y if Y.numel() > 0 else None
    """
    disguised = '''
        def f(img, ker):
            """Cross-correlation, written by me."""
            # kernel size
            a,b = ker.shape
            out = torch.zeros((img.shape[0]-a+1,
                               img.shape[1]-b+1))
            for row in range(out.shape[0]):  # every row
                out[row] = out[row] + (1 + (ker * img[row:h_ + row]).sum())
            return out if 0 < out.numel() else None
    '''.replace("h_ + row", "row + a")
    assert _texts(original) == _texts(disguised)


def test_different_code_gives_different_tokens():
    assert _texts("def f(x):\n    return x.sum(dim=0)") != _texts("def f(x):\n    return x.sum(dim=1)")
    assert _texts("def f(x, y):\n    return x - y") != _texts("def f(x, y):\n    return y - x")


def test_the_graded_function_is_cut_from_its_cell_with_its_lines():
    code = graded_function("#| grade: f\nimport math\n%time\n\ndef helper():\n    pass\n\ndef f(x):\n    return x\n", "f")
    assert code is not None and code.first_line == 8 and code.source == "def f(x):\n    return x"
    assert {t.line for t in code.tokens} == {8, 9}
    assert graded_function("def f(:\n", "f") is None
    assert graded_function("def f(x):\n    return " + "(" * 5000 + "x" + ")" * 5000, "f") is None


def test_winnowing_finds_every_long_enough_shared_run():
    k, w = 5, 4
    shared = [Token(f"s{i}", 1) for i in range(w + k - 1)]
    for pad in range(6):
        a = [Token(f"a{i}", 1) for i in range(pad)] + shared + [Token("a", 1)] * 3
        b = [Token(f"b{i}", 1) for i in range(7 - pad)] + shared
        assert set(fingerprints(a, k, w)) & set(fingerprints(b, k, w))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, list[tuple[str, str]]]]:
    folder = tmp_path_factory.mktemp("class")
    return folder, write_class(folder)


def test_copied_pairs_are_flagged_and_no_independent_pair_is(corpus):
    folder, copied = corpus
    result = find_similar(folder)
    flagged = {frozenset((m.submission_a, m.submission_b)) for m in result.flagged}
    expected = {frozenset(pair) for pairs in copied.values() for pair in pairs}
    assert flagged == expected
    # False-positive rate on the independent implementations: every pair of honest students
    # (textbook answers included), every function.
    honest = {name: sorted(p.name for p in folder.glob(f"*_{name}.ipynb") if not p.name.startswith("copier"))
              for name in CORPUS}
    comparisons = sum(len(list(itertools.combinations(subs, 2))) * len(CORPUS[name]) for name, subs in honest.items())
    false_positives = [m for m in result.flagged if frozenset((m.submission_a, m.submission_b)) not in expected]
    assert comparisons >= 190 and not false_positives
    print(f"false positives: {len(false_positives)} of {comparisons} independent pair-functions")


def test_code_the_course_lists_as_known_is_no_evidence(corpus, tmp_path):
    # Two learners typed in the book's code: flagged only if the course does not list the book.
    folder, _ = corpus
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments", course / "assignments", ignore=shutil.ignore_patterns("known"))
    shutil.copytree(ROOT / "solutions", course / "solutions")
    pairs = {frozenset((m.submission_a, m.submission_b)) for m in find_similar(folder, course_dir=course).flagged}
    assert frozenset(("d2l1_hw5.ipynb", "d2l2_hw5.ipynb")) in pairs  # their pool2d is the book's


def test_the_textbook_answer_and_the_stub_are_no_evidence(tmp_path):
    # Many students hand in the reference solution (renamed or not) or leave the stub: no pair.
    for i in range(3):
        nbformat.write(nbformat.read(ROOT / "solutions" / "hw3.ipynb", as_version=4), tmp_path / f"book{i}_hw3.ipynb")
        nbformat.write(nbformat.read(ROOT / "assignments" / "hw3" / "hw3.ipynb", as_version=4), tmp_path / f"stub{i}_hw3.ipynb")
    assert find_similar(tmp_path).flagged == []


def test_a_short_function_needs_enough_evidence_to_be_flagged():
    short = "def softmax(X):\n    e = torch.exp(X - X.amax(1, keepdim=True))\n    return e / e.sum(1, keepdim=True)\n"
    codes = {f"s{i}": graded_function(short, "softmax") for i in range(2)}
    assert compare_function("hw3", "softmax", codes, set(), Settings()) == []  # identical, but three lines
    long = short.replace("return", "Z = torch.where(torch.isnan(e), torch.zeros_like(e), e)\n    W = Z.clamp(min=1e-12)\n    return")
    long += "    # padding\n" + "".join(f"    q{i} = torch.cumsum(X, dim={i % 2}) * {i}\n" for i in range(6))
    codes = {f"s{i}": graded_function(long, "softmax") for i in range(2)}
    assert len(compare_function("hw3", "softmax", codes, set(), Settings())) == 1


def test_grade_similarity_writes_the_csv_and_the_report_shows_regions_side_by_side(corpus, tmp_path, capsys):
    folder, copied = corpus
    out = tmp_path / "out"
    assert main(["similarity", str(folder), "-o", str(out)]) == 0
    with open(out / "similarity.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"submission_a", "submission_b", "function", "score"}
    pairs = {frozenset((r["submission_a"], r["submission_b"])) for r in rows}
    assert pairs == {frozenset(p) for ps in copied.values() for p in ps}
    assert all(0.6 <= float(r["score"]) <= 1 for r in rows)
    assert "flagged pairs" in capsys.readouterr().out
    page = write_class_report(out).read_text(encoding="utf-8")  # rebuilt from OUT alone
    assert page.count('<details id="pair-') == len(rows) and page.count("<mark>") > 2 * len(rows)


def test_grade_similarity_rejects_a_missing_folder(tmp_path, capsys):
    assert main(["similarity", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_broken_notebooks_are_listed_not_compared(tmp_path):
    (tmp_path / "a_hw3.ipynb").write_text("{ broken")
    nb = nbformat.read(ROOT / "assignments" / "hw3" / "hw3.ipynb", as_version=4)
    nbformat.write(nb, tmp_path / "b_hw3.ipynb")
    result = find_similar(tmp_path)
    assert "a_hw3.ipynb" in result.skipped and result.compared == {"hw3": 1}


def test_hostile_notebooks_are_skipped_or_compared_without_crashing(tmp_path):
    stub = nbformat.read(ROOT / "assignments" / "hw3" / "hw3.ipynb", as_version=4)
    nb = nbformat.from_dict(stub)
    nb.cells[3].source = "#| grade: softmax\ndef softmax(X):\n    return X\x00"  # a NUL byte: not Python
    nbformat.write(nb, tmp_path / "nul_hw3.ipynb")
    raw = nbformat.writes(stub).replace('"source": "#| grade: softmax', '"source_": "x', 1)
    (tmp_path / "nosource_hw3.ipynb").write_text(raw)  # a cell without source: off-spec JSON
    import json

    data = json.loads(nbformat.writes(stub))
    data["cells"][3]["source"] = 12345  # a number where the code should be
    (tmp_path / "number_hw3.ipynb").write_text(json.dumps(data))
    deep = nbformat.from_dict(stub)
    deep.cells[3].source = "#| grade: softmax\ndef softmax(X):\n    return " + "[" * 3000 + "]" * 3000
    nbformat.write(deep, tmp_path / "deep_hw3.ipynb")
    (tmp_path / "latin1_hw3.ipynb").write_bytes(b"\xff\xfe not utf-8")
    result = find_similar(tmp_path)
    assert result.flagged == []
    assert "latin1_hw3.ipynb" in result.skipped
    # The loader turns a number where the code should be into an empty cell (with a warning), so that
    # notebook is compared as far as it goes, like the NUL, deep and source-less ones.
    assert "number_hw3.ipynb" not in result.skipped
    assert result.compared == {"hw3": 4}


def test_a_graded_class_is_cut_from_its_cell_like_a_function():
    cell = "#| grade: Net\nimport torch\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n\nnet = Net()\n"
    code = graded_function(cell, "Net")
    assert code is not None and code.first_line == 4 and code.source.startswith("class Net") and "net = Net()" not in code.source


def test_helpers_the_student_named_beside_the_function_are_renamed_too():
    mine = "def _row(r):\n    return r\n\ndef f(X):\n    return torch.stack([_row(r) for r in X])\n"
    theirs = "def helper_one(q):\n    return q\n\ndef f(Z):\n    return torch.stack([helper_one(v) for v in Z])\n"
    assert _texts(mine) == _texts(theirs)
    assert _texts(mine) != _texts(mine.replace("torch.stack", "torch.cat"))
