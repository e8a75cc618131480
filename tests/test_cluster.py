"""Dask backend: a real scheduler and two worker processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import cloudpickle
import dask
import pytest
from distributed import Client, LocalCluster

from grader.bulk import grade_folder, local_runner
from grader.cluster import dask_runner, grade_on_worker
from grader.grade import GradeOptions
from grader.report import read_report
from tests.helpers import solution, stub, with_cells, write

MISTAKES = [
    {"softmax": "def softmax(X):\n    X_exp = X.exp()\n    return X_exp / X_exp.sum(dim=1, keepdim=True)"},
    {"cross_entropy": "def cross_entropy(y_hat, y):\n    return -torch.log(y_hat[:, y])"},
    {"accuracy": "def accuracy(y_hat, y):\n    return (y_hat.argmax(dim=1) == y).float().mean().item()"},
    {"evaluate_accuracy": "def evaluate_accuracy(net, data_iter):\n    return 0.5"},
]


@pytest.fixture(scope="module")
def cluster():
    # One death while running a task is forgiven (the task moves to another worker); a second is not.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None)
        yield local
        local.close()


def make_ten(folder: Path) -> None:
    for i in range(4):
        write(with_cells(solution("hw3"), append=[f"student = {i}"]), folder / f"ok{i}_hw3.ipynb")
    for i, mistake in enumerate(MISTAKES):
        write(with_cells(solution("hw3"), replace=mistake), folder / f"mistake{i}_hw3.ipynb")
    write(stub("hw3"), folder / "stub_hw3.ipynb")
    (folder / "broken_hw3.ipynb").write_text("not a notebook")


def grades(out: Path) -> dict[str, list[tuple[str, float]]]:
    return {str(p.relative_to(out)): [(t.name, t.score) for t in read_report(p).tests] + [("total", read_report(p).score)]
            for p in sorted(out.rglob("*.json"))}


def run(folder: Path, out: Path, runner, on_done=lambda item, report: None):
    return asyncio.run(grade_folder(folder, out, GradeOptions(), runner, on_done=on_done))


def test_cluster_grades_equal_local_grades_even_when_a_worker_dies(tmp_path, cluster):
    subs = tmp_path / "subs"
    make_ten(subs)
    run(subs, tmp_path / "local", local_runner(2))
    local = grades(tmp_path / "local")
    assert len(local) == 10 and sum(1 for g in local.values() if ("total", 18.0) in g) == 4

    result = run(subs, tmp_path / "dask", dask_runner(cluster.scheduler_address))
    assert len(result.graded) == 10
    assert grades(tmp_path / "dask") == local

    with Client(cluster.scheduler_address) as client:
        victim = next(iter(client.run(os.getpid).values()))
    killed = []

    def kill_one_worker(item, report):
        if report is not None and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = run(subs, tmp_path / "dask2", dask_runner(cluster.scheduler_address), on_done=kill_one_worker)
    assert killed and len(result.graded) == 10
    assert grades(tmp_path / "dask2") == local


def crash_on_killer(content: bytes, filename: str, options: dict) -> str:
    """A task that ends its worker process for one submission, as a grader bug or OOM kill would."""
    if "killer" in filename:
        os._exit(1)
    return grade_on_worker(content, filename, options)


def test_a_submission_that_kills_every_worker_is_an_error_row(tmp_path, cluster):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    subs = tmp_path / "subs"
    write(stub("hw3"), subs / "fine_hw3.ipynb")
    write(stub("hw3"), subs / "killer_hw3.ipynb")
    result = run(subs, tmp_path / "out", dask_runner(cluster.scheduler_address, task=crash_on_killer))
    assert len(result.graded) == 2
    killer = read_report(tmp_path / "out" / "killer_hw3.json")
    assert killer.status == "error" and "ended every worker" in killer.errors[0]
    fine = read_report(tmp_path / "out" / "fine_hw3.json")
    assert fine.status == "graded" and len(fine.tests) == 12
