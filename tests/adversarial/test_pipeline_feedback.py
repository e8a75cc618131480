"""Feedback says where the problem is: the student's own cell and line, by its mark and a 1-based
number, and names common structural mistakes (renamed function or parameter, a missing
super().__init__()), with markup in the student's text kept literal."""

from __future__ import annotations

from tests.helpers import by_name, grade, solution, with_cells


def messages(report) -> str:
    return " ".join(t.message for t in report.tests)


def test_an_error_inside_torch_points_at_the_students_line_in_its_marked_cell(tmp_path):
    source = """
    def softmax(X):
        Y = torch.exp(X)
        return Y / Y.sum(dim=1, keepdims=True)[:, :, None].reshape(7, 7, 7)
    """
    report = grade(with_cells(solution("hw3"), replace={"softmax": source}), tmp_path)
    message = by_name(report)["softmax: values on a non-square batch"].message
    # The mark line is line 1 of the cell; the failing line is line 4, in the 4th cell of the notebook.
    assert "the `#| grade: softmax` cell (cell 4), line 4: return Y / Y.sum(" in message, message
    assert "site-packages" not in message and "ipykernel" not in message


def test_a_renamed_function_is_named(tmp_path):
    source = """
    def my_softmax(X):
        X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
        return X_exp / X_exp.sum(dim=1, keepdim=True)
    """
    report = grade(with_cells(solution("hw3"), replace={"softmax": source}), tmp_path)
    message = by_name(report)["softmax: rows sum to 1"].message
    assert "the cell marked `softmax`" in message and "`my_softmax`" in message, message


def test_a_renamed_parameter_is_named(tmp_path):
    source = """
    def to_matrix(values, n_cols):
        if values.numel() % n_cols != 0:
            raise ValueError("not a multiple")
        return values.view(-1, n_cols)
    """
    report = grade(with_cells(solution("hw1"), replace={"to_matrix": source}), tmp_path)
    text = messages(report)
    assert "called with keyword `x`" in text and "keep the stub's parameter names" in text, text


def test_a_missing_super_init_is_named(tmp_path):
    source = """
    class MyDense(nn.Module):
        def __init__(self, in_units, units):
            self.weight = nn.Parameter(torch.randn(in_units, units))
            self.bias = nn.Parameter(torch.randn(units))

        def forward(self, X):
            return torch.relu(torch.matmul(X, self.weight) + self.bias)
    """
    report = grade(with_cells(solution("hw4"), replace={"MyDense": source}), tmp_path)
    lost = [t for t in report.tests if "MyDense" in t.functions]
    assert lost and all(t.score == 0 for t in lost)
    assert any("super().__init__()" in t.message for t in lost), [t.message for t in lost]


def test_failing_ungraded_cells_are_listed_one_line_each(tmp_path):
    nb = with_cells(solution("hw3"), append=["print(undefined_name)", "raise ValueError('[bold]x[/bold]')"])
    report = grade(nb, tmp_path, cell_timeout_s=20)
    listed = [w for w in report.warnings if w.startswith("cell ")]
    assert len(listed) == 2 and all("\n" not in w for w in listed), report.warnings
    n = len(nb.cells)
    assert listed[0].startswith(f"cell {n - 1} raised NameError")
    assert listed[1] == f"cell {n} raised ValueError: [bold]x[/bold]"
    assert report.score == 18


def test_a_huge_exception_text_with_markup_is_capped_and_printed_literally(tmp_path):
    import io

    from rich.console import Console

    from grader.render import render_report

    source = """
    def softmax(X):
        raise ValueError("[/][bold]y_hat[range(len(y_hat)), y]\\x1b[2J" + "x" * 5_000_000)
    """
    report = grade(with_cells(solution("hw3"), replace={"softmax": source}), tmp_path)
    message = by_name(report)["softmax: values on a non-square batch"].message
    assert "[/][bold]y_hat[range(len(y_hat)), y]" in message and "\x1b" not in message
    assert len(report.model_dump_json()) < 200_000
    buffer = io.StringIO()
    render_report(report, Console(file=buffer, width=200, color_system=None))
    assert "[/][bold]y_hat[range(len(y_hat)), y]" in buffer.getvalue()
