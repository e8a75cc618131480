"""One deadline per submission: whatever the notebook does, one grading ends within budget + 30 s."""

from __future__ import annotations

import time

import pytest

from grader.grade import OVERHEAD_S
from tests.helpers import grade, solution, with_cells

# Fast the first time, slow on every replay after a restart (it leaves a marker in the scratch dir).
SLOW_ON_REPLAY = """
import os, time
if os.path.exists("ran-{n}"):
    time.sleep(600)
open("ran-{n}", "w").close()
"""

# A softmax whose call ignores SIGINT and never returns: each probe costs a timeout and a restart.
STUCK = """
def softmax(X):
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
"""


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "exec"])
def test_slow_replays_and_stuck_probes_stay_within_the_budget(tmp_path, fork):
    budget = 25.0
    nb = with_cells(solution("hw3"), replace={"softmax": STUCK},
                    append=[SLOW_ON_REPLAY.format(n=i) for i in range(4)])
    started = time.monotonic()
    report = grade(nb, tmp_path, fork=fork, budget_s=budget, cell_timeout_s=20, probe_timeout_s=20)
    elapsed = time.monotonic() - started
    assert elapsed <= budget + OVERHEAD_S, elapsed
    assert report.status == "graded" and report.max_score == 18
    assert all(t.status != "passed" for t in report.tests if "softmax" in t.functions)


# Completes the first time; on replay after a restart it ignores SIGINT and never ends.
STUCK_ON_REPLAY = """
import os, signal
if os.path.exists("ran-stuck-{n}"):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
open("ran-stuck-{n}", "w").close()
"""

# cross_entropy kills the kernel when checked: the restart that replays the cells above.
EXITS = "import os\ndef cross_entropy(y_hat, y):\n    os._exit(3)"


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "exec"])
def test_cells_that_hang_only_on_replay_cost_the_honest_functions_nothing(tmp_path, fork):
    budget = 200.0
    nb = with_cells(solution("hw3"), replace={"cross_entropy": EXITS},
                    append=[STUCK_ON_REPLAY.format(n=i) for i in range(2)])
    started = time.monotonic()
    report = grade(nb, tmp_path, fork=fork, budget_s=budget, cell_timeout_s=60, probe_timeout_s=20)
    elapsed = time.monotonic() - started
    assert report.status == "graded"
    # everything but cross_entropy's two checks and the end-to-end check that trains with it
    assert report.score == 12.0, [(t.name, t.status, t.message) for t in report.tests if t.status != "passed"]
    assert sum("when re-run after the restart" in n for n in report.warnings) == 2, report.warnings
    assert elapsed < 90, elapsed  # not the 60 s cell timeout per replay, let alone the budget
