"""Suite-wide set-up."""

from __future__ import annotations

import os

import pytest

from grader.grade import kernel_threads


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist, N test processes each run kernels at the same time, exactly like bulk
    # grading with --jobs N: give every kernel cores / N OpenMP threads (kernels inherit this
    # environment), or spinning OpenMP threads fight over the cores and training checks time
    # out. The worker count is known here, not when this module is imported.
    # The xdist controller runs this hook too, before its workers start: it must leave the
    # decision to them (they would inherit whatever it set).
    worker = getattr(config, "workerinput", None)
    if worker is None and config.getoption("numprocesses", default=None):
        return
    workers = int(worker["workercount"]) if worker else 1
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(kernel_threads(workers)))
