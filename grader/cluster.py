"""Bulk grading on a Dask cluster: one task per submission, graded on a worker exactly as locally.

The submitting process decides what to grade and writes every report (see bulk.grade_folder);
a worker receives the notebook's bytes, grades them with its own kernel fork server, and returns
the report as JSON. Workers need this package and the course folder (assignments/, and
solutions/ for hidden checks) installed as on the submitting machine.

Failure handling is Dask's own: a task whose worker dies is re-run on another worker, until
the scheduler's `distributed.scheduler.allowed-failures` is reached; then the submission
becomes an error row ("it ended every worker that graded it") and the batch goes on.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from distributed import Client, WorkerPlugin, as_completed, get_worker
from distributed.scheduler import KilledWorker

from grader.bulk import Item, Runner, crash_report
from grader.course import Course, UnknownAssignment
from grader.grade import GradeOptions, grade_notebook, zygote_environment
from grader.notebook import SubmissionError, load_notebook, metadata_assignment
from grader.report import GradeReport, error_report
from grader.zygote.client import Zygote

PLUGIN_NAME = "grader-zygote"
Task = Callable[[bytes, str, dict], str]


class ZygotePlugin(WorkerPlugin):
    """Gives each worker one kernel fork server, started on the first task, stopped with the worker."""

    name = PLUGIN_NAME

    def __init__(self) -> None:
        self._zygote: Zygote | None = None
        self._dir: str | None = None
        self._lock: threading.Lock | None = None  # made on the worker: the plugin travels pickled
        self._threads = 1

    def setup(self, worker) -> None:  # noqa: ANN001 - distributed.Worker
        self._threads = worker.state.nthreads
        self._lock = threading.Lock()

    def zygote(self) -> Zygote:
        assert self._lock is not None, "setup() runs before any task"
        with self._lock:  # tasks run in the worker's thread pool
            if self._zygote is None:
                self._dir = tempfile.mkdtemp(prefix="grader-worker-")
                zygote = Zygote(Path(self._dir), zygote_environment(self._threads))
                zygote.start()
                self._zygote = zygote
            return self._zygote

    def teardown(self, worker) -> None:  # noqa: ANN001
        if self._zygote is not None:
            self._zygote.stop()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


def _worker_options(options: GradeOptions) -> dict:
    plain = asdict(options)
    plain["course_dir"] = str(options.course_dir) if options.course_dir else None
    return plain


def grade_on_worker(content: bytes, filename: str, options: dict) -> str:
    """The Dask task: grade one notebook (sent as bytes) and return its report as JSON."""
    plugin = get_worker().plugins.get(PLUGIN_NAME)
    zygote = plugin.zygote() if isinstance(plugin, ZygotePlugin) else None
    course_dir = Path(options["course_dir"]) if options.get("course_dir") else None
    with tempfile.TemporaryDirectory(prefix="grader-task-") as tmp:
        path = Path(tmp) / filename  # the file name can identify the assignment
        path.write_bytes(content)
        report = grade_notebook(path, GradeOptions(**(options | {"course_dir": course_dir})), zygote)
    return report.model_dump_json()


def _needs_gpu(item: Item, options: GradeOptions, course: Course) -> bool:
    if options.device != "cuda":
        return False
    try:
        name = course.identify(options.assignment, metadata_assignment(load_notebook(item.path)), item.path.name).name
        return name is not None and course.load(name).needs_device
    except (SubmissionError, UnknownAssignment):
        return False


def _killed_report(item: Item, exc: KilledWorker) -> GradeReport:
    return error_report(item.relative, f"grading this submission ended every worker that tried it ({exc});"
                        " it was not retried further")


def dask_runner(address: str, task: Task = grade_on_worker) -> Runner:
    async def run(todo: list[Item], options: GradeOptions, finish: Callable[[Item, GradeReport], None]) -> None:
        course = Course.locate(options.course_dir)
        plain = _worker_options(options)
        async with Client(address, asynchronous=True) as client:
            await client.register_plugin(ZygotePlugin())
            futures = {}
            for index, item in enumerate(todo):
                resources = {"GPU": 1} if _needs_gpu(item, options, course) else None
                future = client.submit(task, item.path.read_bytes(), item.path.name, plain,
                                       key=f"grade-{index}-{item.relative}", resources=resources, pure=False)
                futures[future] = item
            async for future in as_completed(list(futures)):
                item = futures[future]
                try:
                    report = GradeReport.model_validate_json(await future)
                except KilledWorker as exc:
                    report = _killed_report(item, exc)
                except Exception as exc:
                    report = crash_report(item, exc)
                finish(item, report)

    return run
