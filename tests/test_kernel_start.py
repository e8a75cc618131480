"""How a kernel starts: ready as soon as it demonstrably is, with nothing a grading never reads."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest

from grader.execute import PromptKernelClient
from tests.helpers import assert_full_marks, grade, solution, with_cells


class _Channel:
    """A channel whose messages are given in advance; then it is silent (Empty, as a timeout)."""

    def __init__(self, messages: list[dict]) -> None:
        self.messages = list(messages)
        self.asked = 0

    async def get_msg(self, timeout: float | None = None) -> dict:
        self.asked += 1
        if not self.messages:
            raise Empty
        return self.messages.pop(0)


def _message(msg_type: str, parent_id: str | None) -> dict:
    return {"header": {"msg_type": msg_type}, "parent_header": {"msg_id": parent_id} if parent_id else {}}


def _ready(shell: list[dict], iopub: list[dict]) -> tuple[bool, _Channel]:
    iopub_channel = _Channel(iopub)
    # Not a client with sockets: only its readiness rule, on channels that replay `shell` and `iopub`.
    fake = type("Fake", (), {"shell_channel": _Channel(shell), "iopub_channel": iopub_channel})()
    ready = asyncio.run(PromptKernelClient._reply_and_iopub_for(fake, "info-1", time.monotonic() + 5))  # type: ignore[arg-type]
    return ready, iopub_channel


def test_the_iopub_greeting_proves_our_subscription_is_connected():
    """ipykernel 7 greets each new IOPub subscriber: a start whose status message went out before
    we were subscribed (ZMQ's slow joiner) is ready without asking again (0.2 s per such start)."""
    ready, iopub = _ready([_message("kernel_info_reply", "info-1")], [_message("iopub_welcome", None)])
    assert ready and iopub.asked == 1


def test_a_status_message_about_our_request_also_proves_it():
    ready, _ = _ready([_message("kernel_info_reply", "info-1")],
                      [_message("status", "other"), _message("status", "info-1")])
    assert ready


def test_without_a_greeting_or_our_status_the_kernel_is_asked_again():
    """An IOPub message about another request is no proof (it may predate our subscription's
    filter); silence means: send kernel_info again."""
    ready, iopub = _ready([_message("kernel_info_reply", "info-1")], [_message("status", "other")])
    assert not ready and iopub.asked == 2
    ready, _ = _ready([_message("kernel_info_reply", "another")], [_message("iopub_welcome", None)])
    assert not ready  # the reply was not to our request


HISTORY_CHECK = ("import pathlib\n"
                 "assert _ == 21 and Out[len(In) - 2] == 21, (_, Out)  # the last result, as in Jupyter\n"
                 "assert _i == '3 * 7' and In[-2] == '3 * 7', (_i, In)  # the inputs, in memory\n"
                 "assert not list(pathlib.Path.home().rglob('*.sqlite')), 'a history database was written'")


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "exec"])
def test_a_grading_kernel_keeps_jupyters_history_variables_but_writes_no_database(tmp_path, fork):
    """A notebook may use `_`, `Out[n]`, `_i` or `In` as it would in Jupyter; IPython's SQLite
    history file, which cost ~15 ms of every kernel start, is never written (nobody reads it)."""
    nb = with_cells(solution("hw3"), append=["3 * 7", HISTORY_CHECK])
    assert_full_marks(grade(nb, tmp_path, fork=fork), 18)  # every cell ran without error


BIG_ARRAY = ("import numpy as np\n"
             "big = np.ones(1 << 30, dtype=np.uint8)  # an honest 1 GB array (a data set held in memory)\n"
             "assert int(big[::4096].sum()) == (1 << 30) // 4096\n"
             "del big")


def test_a_notebook_has_its_memory_budget_beyond_what_torch_reserves(tmp_path):
    """The address-space limit counts what importing torch reserves (~3.3 GB, mostly not memory)
    on top of the notebook's own budget: with 4 GB in all, a 1 GB array raised MemoryError."""
    report = grade(with_cells(solution("hw3"), append=[BIG_ARRAY]), tmp_path)
    assert_full_marks(report, 18)
