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
