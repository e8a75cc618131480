"""Run notebook cells and probe code in a separate kernel process, with timeouts that always end.

nbclient does the Jupyter protocol work. This module adds what grading needs on top:
- a per-cell status (ok / error / timeout / dead) and duration instead of an exception that
  stops the run;
- a guarantee that a timeout ends: nbclient interrupts the kernel, and if the student's code
  swallows the KeyboardInterrupt the kernel is declared stuck (a cheap ping also times out) and
  the caller can restart it;
- a kernelspec of our own (this Python, never whatever `python3` a machine has registered).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Literal

import nbformat
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode

from grader.sandbox.limits import MESSAGE_LIMIT, MESSAGE_QUEUE
from grader.sandbox.output import CappedNotebookClient
from grader.sandbox.session import KERNEL_OPTIONS
from grader.zygote.client import Zygote, ZygoteProvisioner

RunStatus = Literal["ok", "error", "timeout", "dead"]

KERNEL_NAME = "grader-python"
TIMEOUT_ENAME = "GraderCellTimeout"
PING_TIMEOUT_S = 5.0
STARTUP_TIMEOUT_S = 60
LOST_CONNECTION = (f"the cell sent a message larger than {MESSAGE_LIMIT >> 20} MB (one huge print, display or"
                   " error text); the grader refused it and restarted the kernel. Print less: a summary,"
                   " a shape or a few values")


class PromptKernelClient(AsyncKernelClient):
    """A kernel client that is ready as soon as the kernel demonstrably is.

    jupyter_client's wait_for_ready ends by waiting for 0.2 s of IOPub silence, on every kernel
    start, to drain start-up messages; nbclient filters IOPub by parent message id, so those do
    not matter here. Ready means: the kernel answered kernel_info on the shell channel, and an
    IOPub message about that same request arrived (so our subscription is connected).
    """

    _monitors: dict[str, zmq.Socket]

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> zmq.Socket:
        # A message over the limit makes libzmq drop the connection (a protocol error: no
        # reconnect) instead of receiving it whole into the grader's memory; the monitor tells
        # `connection_lost` so the kernel can be replaced at once, not after a timeout.
        self.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)  # defaults for sockets made from now on
        self.context.setsockopt(zmq.RCVHWM, MESSAGE_QUEUE)
        sock = super()._create_connected_socket(channel, identity)
        if not hasattr(self, "_monitors"):
            self._monitors = {}
        self._monitors[channel] = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        return sock

    lost: str | None = None  # the channel whose connection broke, once one has

    async def connection_lost(self) -> str:
        """Wait until a channel's connection to the kernel breaks; return the channel's name."""
        waits = {asyncio.ensure_future(m.recv_multipart()): name for name, m in getattr(self, "_monitors", {}).items()}
        if not waits:
            await asyncio.Future()  # no channel yet: nothing can break
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self.lost = waits[next(iter(done))]
        return self.lost

    def stop_channels(self) -> None:
        for monitor in getattr(self, "_monitors", {}).values():
            monitor.close(linger=0)
        self._monitors = {}
        super().stop_channels()

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while time.monotonic() < deadline:
            msg_id = self.kernel_info()
            if await self._reply_and_iopub_for(msg_id, deadline):
                return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    async def _reply_and_iopub_for(self, msg_id: str, deadline: float) -> bool:
        replied = iopub_seen = False
        while not (replied and iopub_seen) and time.monotonic() < deadline:
            try:
                if not replied:
                    msg = await self.shell_channel.get_msg(timeout=1)
                    replied = msg["parent_header"].get("msg_id") == msg_id
                else:
                    msg = await self.iopub_channel.get_msg(timeout=0.2)
                    # ipykernel >= 7 greets each new subscriber on IOPub (`iopub_welcome`, an XPUB
                    # socket): proof that ours is connected, before any status message about the
                    # request, which a late subscription misses (half of all starts waited 0.2 s).
                    iopub_seen = (msg["header"].get("msg_type") == "iopub_welcome"
                                  or msg["parent_header"].get("msg_id") == msg_id)
            except Empty:
                return False  # not connected yet (ZMQ's slow joiner): ask again
        return replied and iopub_seen


def _being_cancelled() -> bool:
    """Is the running task being cancelled (Ctrl-C: asyncio.run cancels the main task)?

    nbclient turns a cancellation that reaches it mid-cell into DeadKernelError, which would make
    an interrupted grading restart the kernel and go on. Python 3.10 has no Task.cancelling(),
    but there Ctrl-C raises KeyboardInterrupt instead of cancelling.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling is not None and cancelling())


async def _kill_and_wait(km: AsyncKernelManager, timeout: float = 5.0) -> None:
    """SIGKILL the kernel, watch it end every 5 ms, and let go of the process, so that
    `shutdown_kernel` only cleans up. Otherwise it first sends the kernel an interrupt request it
    can no longer receive, and its clean-up then waits 100 ms for that message
    (`context.destroy(linger=100)`), then polls for the exit every 100 ms: ~110 ms of every kernel
    stop, 12% of a bulk grading."""
    provisioner = km.provisioner
    if provisioner is None:
        return
    await provisioner.kill()
    deadline = time.monotonic() + timeout
    while await provisioner.poll() is None:
        if time.monotonic() > deadline:
            return  # shutdown_kernel tries again, its own way
        await asyncio.sleep(0.005)
    await provisioner.wait()  # reaped already: returns at once, and has_kernel becomes False


def short_tmp() -> str | None:
    """/tmp when it is usable (short paths for sockets), else the default temporary directory."""
    return "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK | os.X_OK) else None


@dataclass
class RunResult:
    status: RunStatus
    duration_s: float
    error: str | None = None
    stdout: str = ""


def write_kernelspec(directory: Path, argv: list[str] | None = None) -> Path:
    """A kernelspec that starts ipykernel with this very interpreter (or the given argv)."""
    spec_dir = directory / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": argv or [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", *KERNEL_OPTIONS],
        "display_name": "grader sandboxed Python",
        "language": "python",
        # Interrupt over the control channel, not by a signal: a sandboxed kernel may sit behind
        # bubblewrap or a PID-namespace init, neither of which forwards SIGINT to it.
        "interrupt_mode": "message",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return directory / "kernels"


def _reply_error(reply: dict | None) -> tuple[str | None, str | None]:
    """(ename, one-line description) from an execute reply; (None, None) when it succeeded.

    The reply, not the cell's outputs, is the source of truth: nbclient's fabricated reply for a
    timeout never becomes an output.
    """
    content = (reply or {}).get("content", {})
    status = content.get("status", "ok")
    if status == "ok":
        return None, None
    if status == "aborted":
        return "Aborted", "Aborted: the kernel aborted this cell"
    ename = str(content.get("ename", "Error"))
    lines = str(content.get("evalue", ""))[:1000].strip().splitlines()  # any size: the student's text
    return ename, f"{ename}: {lines[0][:300] if lines else ''}".strip().rstrip(":")


def _stdout_text(cell: NotebookNode, limit: int = 4000) -> str:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return text[-limit:]


class KernelSession:
    """One kernel, started on demand, restartable; used as an async context manager."""

    def __init__(
        self,
        workdir: Path,
        kernel_dirs: Path,
        env: dict[str, str],
        startup_timeout: float = STARTUP_TIMEOUT_S,
        zygote: Zygote | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.workdir = workdir
        self.zygote = zygote
        self.on_stop = on_stop  # e.g. the sandbox killing whatever the kernel left behind
        self.kernel_dirs = kernel_dirs
        self.env = env
        self.startup_timeout = startup_timeout
        self._stack: AsyncExitStack | None = None
        self._client: NotebookClient | None = None
        self.restarts = 0
        self._last_reply: dict | None = None
        self._ipc_dir: Path | None = None
        self._lost_watch: asyncio.Future[bool] | None = None

    def _remember_reply(self, cell: NotebookNode, cell_index: int, execute_reply: dict) -> None:
        self._last_reply = execute_reply

    async def __aenter__(self) -> KernelSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        # ipc transport: sockets are files in a directory of this kernel's own, so no TCP port
        # is opened and no other user of the machine can connect to the kernel.
        # AF_UNIX paths are limited to 107 bytes and TMPDIR or the user name can be long, so the
        # sockets and the connection file live in a short private directory (removed in stop()).
        ipc_dir = Path(tempfile.mkdtemp(prefix="grader-k-", dir=short_tmp()))
        self._ipc_dir = ipc_dir
        km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.kernel_dirs)], ensure_native_kernel=False),
            transport="ipc",
            ip=str(ipc_dir / "kernel"),
            connection_file=str(ipc_dir / "connection.json"),
            client_class="grader.execute.PromptKernelClient",
        )
        log_path = self.workdir.parent / "kernel.log"
        if self.zygote is not None:
            # Forked from a pre-imported process instead of exec'd: see grader/zygote/.
            km.kernel_id = str(uuid.uuid4())
            provisioner = ZygoteProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
            provisioner.zygote, provisioner.log_path = self.zygote, str(log_path)
            km.provisioner = provisioner
        # The notebook handed to nbclient is a scratch one: cells are executed one at a time
        # through `run_cell`, so the student's notebook object is never mutated here.
        client = CappedNotebookClient(  # a NotebookClient that keeps at most ~1 MB of output per cell
            nbformat.v4.new_notebook(),
            km=km,
            kernel_name=KERNEL_NAME,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "timed out", "traceback": []},
            iopub_timeout=2,
            startup_timeout=int(self.startup_timeout),
            record_timing=False,
            resources={"metadata": {"path": str(self.workdir)}},
        )
        client.timeout_func = lambda cell: cell.metadata.get("grader_timeout")
        client.on_cell_executed = self._remember_reply
        stack = AsyncExitStack()
        # The kernel's own stderr (warnings, a segfault's last words) goes to a log, not the user's terminal.
        try:
            log = stack.enter_context(open(log_path, "ab"))
            # Not nbclient's async_setup_kernel: while a kernel runs, it replaces the event loop's
            # SIGINT handler with one that only ends that kernel, so a Ctrl-C would be swallowed
            # and the grading (or a whole batch) would go on with a restarted kernel.
            await client.async_start_new_kernel(env=self.env, stdout=log, stderr=log)
            await client.async_start_new_kernel_client()
        except BaseException:
            try:
                if km.has_kernel:  # started, but its client never became ready
                    await asyncio.wait_for(km.shutdown_kernel(now=True), timeout=15)
            except Exception:  # the error being raised says more than this one
                pass
            finally:
                await stack.aclose()
                shutil.rmtree(ipc_dir, ignore_errors=True)
                self._ipc_dir = None
            raise
        self._stack, self._client = stack, client
        # One watch for the kernel's life, not one per cell: arming four monitor receives per
        # cell cost the grader ~4 ms of CPU per cell and probe.
        self._lost_watch = asyncio.ensure_future(self._refuse_on_lost_connection(client))

    async def stop(self) -> None:
        """Kill the kernel's whole process group (it is a session leader) and release its files.

        nbclient only shuts down kernels it created itself; this one we created, so it is ours to
        end. There is no state worth a graceful shutdown, and SIGKILL to the group also ends any
        process the student's code started (DataLoader workers, subprocesses).
        """
        stack, client = self._stack, self._client
        self._stack = self._client = None
        if self._lost_watch is not None:
            self._lost_watch.cancel()
            self._lost_watch = None
        if stack is None or client is None:
            return
        km = client.km
        try:
            if client.kc is not None:
                client.kc.stop_channels()
            if isinstance(km, AsyncKernelManager) and km.has_kernel:  # ours: made in start()
                await _kill_and_wait(km)
                await asyncio.wait_for(km.shutdown_kernel(now=True), timeout=15)
        finally:
            await stack.aclose()
            if self.on_stop is not None:
                self.on_stop()
            if self._ipc_dir is not None:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)
                self._ipc_dir = None

    async def interrupt(self) -> None:
        """SIGINT to the running cell, as nbclient sends at a cell's timeout."""
        km = self._client.km if self._client is not None else None
        if km is not None and await ensure_async(km.is_alive()):
            await ensure_async(km.interrupt_kernel())

    async def kill(self) -> None:
        """End the kernel now (it ignored an interrupt): the running cell then ends as dead."""
        km = self._client.km if self._client is not None else None
        if isinstance(km, AsyncKernelManager) and km.has_kernel:
            await _kill_and_wait(km)

    async def restart(self) -> None:
        self.restarts += 1
        await self.stop()
        await self.start()

    async def run_cell(self, source: str, timeout: float | None, index: int = 0, history: bool = False) -> RunResult:
        """Execute source as one cell. Never raises for student errors; 'dead' if the kernel died.

        `history`: as a notebook's own cell (`In`, `Out`, `_`, `_i` and the execution count
        follow it, as in Jupyter); the grader's cells (probes, pings) leave no trace there."""
        if self._client is None:
            return RunResult("dead", 0.0, "the kernel is not running")
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["grader_timeout"] = timeout
        self._client.nb.cells = [cell]
        self._last_reply = None
        started = time.monotonic()
        watch = self._lost_watch
        try:
            await self._client.async_execute_cell(cell, 0, store_history=history)
            died = False
        except DeadKernelError:
            if _being_cancelled():
                raise asyncio.CancelledError from None
            died = True
        # Decided on what happened, not on which reply came first: a message refused on IOPub
        # means the cell's "idle" never came, so nbclient waited (iopub_timeout) long enough
        # for the drop to be seen here, even when the execute reply itself had arrived.
        kc = self._client.kc
        if isinstance(kc, PromptKernelClient) and kc.lost is not None and watch is not None and await watch:
            return RunResult("dead", time.monotonic() - started, LOST_CONNECTION)
        if died:
            return RunResult("dead", time.monotonic() - started, "the kernel died (the process exited or crashed)")
        duration = time.monotonic() - started
        ename, error = _reply_error(self._last_reply)
        if ename == TIMEOUT_ENAME:
            return RunResult("timeout", duration, f"did not finish within {timeout:g} s", _stdout_text(cell))
        return RunResult("error" if error else "ok", duration, error, _stdout_text(cell))

    @staticmethod
    async def _refuse_on_lost_connection(client: NotebookClient) -> bool:
        """When a channel drops (a message over MESSAGE_LIMIT), end the kernel: nbclient then
        reports it dead within a second, and the caller restarts it. True if that happened.

        A kernel that died also drops its connections; that is left to nbclient's own check.
        """
        kc = client.kc
        if not isinstance(kc, PromptKernelClient):
            await asyncio.Future()  # never completes: only our client has the monitors
        assert isinstance(kc, PromptKernelClient) and client.km is not None
        await kc.connection_lost()
        await asyncio.sleep(0.3)  # a crash is seen by the process first, then by its sockets
        km = client.km
        if not await ensure_async(km.is_alive()):
            return False
        if isinstance(km, AsyncKernelManager):
            await _kill_and_wait(km)
        await ensure_async(km.shutdown_kernel(now=True))
        return True

    async def responsive(self) -> bool:
        """After a timeout: did the interrupt work, or is the kernel stuck in a loop that ignores it?"""
        result = await self.run_cell("pass", PING_TIMEOUT_S)
        return result.status == "ok"
