"""The probe batch's progress channel is the kernel's word: planting the result files of the probes
after one's own, then hanging, must not buy more than the batch's own time limit, nor a pass, nor a
kernel left stuck for the checks after it.

The grader follows a batch by its result files appearing (grader/student_kernel.py). A function
that writes every `.out` file of its batch itself fools that into thinking the batch is done, so
only the batch's outer limit (the sum of its probes' limits + the ping) stops it; the planted
files are read like any result (validated, judged against the reference), and the kernel is made
usable again before the next check.
"""

from __future__ import annotations

from tests.helpers import by_name, grade, lost, solution, with_cells

PLANT_THEN_HANG = '''
def accuracy(y_hat, y):
    import os, signal, sys, pathlib
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # and deaf to the interrupt at the batch's limit
    frame = sys._getframe(1)
    while frame is not None and "out_path" not in frame.f_locals:
        frame = frame.f_back
    folder = pathlib.Path(frame.f_locals["out_path"]).parent
    for name in os.listdir(folder):
        if name.endswith(".in"):
            (folder / (name[:-3] + ".out")).write_bytes(b"not a result")
    while True:
        pass
'''
LIMIT_S = 2.0  # each probe's (--timeout); hw3's batch holds 9 probes: its outer limit is 9 x 2 + 5 s


def test_planting_the_batch_results_then_hanging_buys_nothing(tmp_path):
    nb = with_cells(solution("hw3"), replace={"accuracy": PLANT_THEN_HANG})
    for cell in nb.cells:  # only the probes call accuracy
        if cell.cell_type == "code" and "accuracy(" in cell.source and "#| grade" not in cell.source:
            cell.source = "pass"
    report = grade(nb, tmp_path, cell_timeout_s=10, probe_timeout_s=LIMIT_S)
    tests = by_name(report)
    assert not any(t.status == "passed" for t in report.tests if t.name.startswith("accuracy"))
    assert report.timings["probes"] < 9 * LIMIT_S + 5 + 20, report.timings  # the batch's limit, a restart at most
    # the check after the batch ran in a usable kernel: the stuck one was replaced
    assert any("stopped responding during the checks of" in w for w in report.warnings), report.warnings
    assert tests["end to end: trained model reaches 0.85 held-out accuracy"].status == "passed"
    assert lost(report) <= {t.name for t in report.tests if not t.name.startswith("end to end")}
