"""The fork server's process, seen from the grader: start it, ask it for children, stop it.

Only the standard library: the `grade` command starts a fork server before it imports anything
heavy (nbclient, pydantic), so that torch is being imported in the fork server meanwhile.
`grader/zygote/client.py` connects it to jupyter_client.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grader.sandbox.policy import scrub_secrets

START_TIMEOUT_S = 120.0
SPAWN_TIMEOUT_S = 30.0


class ZygoteError(RuntimeError):
    pass


class ZygoteProcess:
    """Popen's interface for a kernel the zygote forked (it is the zygote's child, not ours)."""

    # No pipes: the child's stdio goes to a log file the zygote opens for it.
    stdin = stdout = stderr = None

    def __init__(self, pid: int, conn: socket.socket, received: bytes = b"") -> None:
        """`received`: what came after the pid line, if it came with it (a child that ended at
        once: its exit status may share the pid line's read)."""
        self.pid = pid
        self.returncode: int | None = None
        self._conn = conn
        self._buffer = received

    def _status_received(self) -> bool:
        if b"\n" not in self._buffer:
            return False
        message = json.loads(self._buffer.split(b"\n", 1)[0])
        self.returncode = int(message.get("exit", -signal.SIGKILL))
        self._conn.close()
        return True

    def poll(self) -> int | None:
        if self.returncode is not None or self._status_received():
            return self.returncode
        try:
            data = self._conn.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if data:
            self._buffer += data
            self._status_received()
            return self.returncode
        # The zygote closed the connection without a status: it is gone, and so is its reaper.
        if not _alive(self.pid):
            self.returncode = -signal.SIGKILL
            self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            # Woken by the exit status as it arrives (a reference run is waited for this way),
            # else every 20 ms (a zygote that went away leaves a socket that is always readable).
            readable, _, _ = select.select([self._conn], [], [], 0.02)
            if readable and self.poll() is None:
                time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Zygote:
    """One zygote process serving any number of kernels; a context manager."""

    def __init__(self, workdir: Path, env: dict[str, str], *, many: bool = True) -> None:
        """`many`: it will serve many gradings (bulk, --watch), so it pre-imports what every
        grading's reference run needs too; a single grading's own fork server does not."""
        self.workdir = workdir
        self.env = env
        self.many = many
        self._socket_dir: str | None = None
        self.socket_path = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._launched = 0.0
        # Why a kernel forked here could not have namespaces of its own (None: it can).
        self.namespaces_missing: str | None = None

    def __enter__(self) -> Zygote:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Launch it and wait until it is ready (ZygoteError if it cannot start)."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process (it then imports torch for ~2 s); `wait_ready` waits for it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        # AF_UNIX paths are limited to 108 bytes and TMPDIR can be long: a short private dir.
        self._socket_dir = tempfile.mkdtemp(prefix="grader-zs-", dir="/tmp" if os.path.isdir("/tmp") else None)
        self.socket_path = os.path.join(self._socket_dir, "zygote.sock")
        log = open(self.workdir / "zygote.log", "ab")
        # Every forked kernel's /proc/self/environ shows the environment the zygote was exec'd
        # with (os.environ changes in the child do not rewrite it): start it without secrets.
        # `-s`: no user site-packages (HOME may be anywhere); `-P` (3.11+): no cwd on sys.path.
        flags = ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]
        self._launched = time.monotonic()
        self._process = subprocess.Popen(
            [sys.executable, *flags, "-m", "grader.zygote.server", self.socket_path, *(["--reference-too"] if self.many else [])],
            env=scrub_secrets(self.env), cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        )
        log.close()

    def wait_ready(self) -> None:
        if self._process is None:
            raise ZygoteError("the kernel fork server was stopped before it was ready")
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # blocks until `ready` or the process ends
        ready, _, missing = line.decode(errors="replace").strip().partition(" no-namespaces ")
        if ready != "ready":
            self.stop()
            lines = (self.workdir / "zygote.log").read_text(errors="replace").strip().splitlines()
            raise ZygoteError(f"the kernel fork server did not start ({lines[-1] if lines else 'no output'})")
        self.startup_s = time.monotonic() - self._launched
        self.namespaces_missing = missing or None

    def stop(self) -> None:
        """Stop it (its kernels with it) and remove its socket folder; again: nothing more to do."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # its SIGTERM handler kills every kernel it forked, then exits
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stdout:
            process.stdout.close()
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def spawn(self, kernel_args: list[str], env: dict[str, str], cwd: str, log: str) -> ZygoteProcess:
        """Fork a kernel (sandboxed by the child itself, from `kernel_args`)."""
        return self._fork({"kernel_args": kernel_args, "env": env, "cwd": cwd, "log": log})

    def spawn_reference(self, folder: str, log: str) -> ZygoteProcess:
        """Fork a run of `grader.reference` on FOLDER (trusted: the instructor's solution, no sandbox)."""
        return self._fork({"reference": folder, "log": log})

    def _fork(self, request: dict[str, Any]) -> ZygoteProcess:
        if self._process is None or self._process.poll() is not None:
            raise ZygoteError("the kernel fork server is not running")
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(SPAWN_TIMEOUT_S)
        conn.connect(self.socket_path)
        conn.sendall((json.dumps(request) + "\n").encode())
        reply = b""
        while b"\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                raise ZygoteError("the kernel fork server closed the connection")
            reply += chunk
        conn.settimeout(None)
        line, rest = reply.split(b"\n", 1)
        return ZygoteProcess(int(json.loads(line)["pid"]), conn, received=rest)
