"""The zygote: imports torch and ipykernel once, then forks a fresh kernel per request.

Run as `python -m grader.zygote.server SOCKET_PATH`. It prints `ready` when it listens. Each
client connection carries one JSON request line, gets back `{"pid": N}` once the child is its
own session leader, and later `{"exit": CODE}` (negative: killed by that signal). Closing the
connection early kills the child's process group.

Traps handled here (measured, see docs/architecture.md, "The fork server"): no parallel torch op may run before fork (GNU
OpenMP deadlocks the children), so torch is imported, never used; RNGs are reseeded per child;
the zygote stays single-threaded; inherited sockets are closed in the child; the zygote exits
when the grader that started it goes away, and its kernels follow it (their parent poller
watches the zygote).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys

POLL_S = 0.05
# The sandbox modules come first: a forked child must find them already imported, so that it
# never searches sys.path (or the scratch dir) for anything before its sandbox is applied.
PRELOAD = ("grader.sandbox.session", "grader.sandbox.apply", "grader.sandbox.launch", "grader.sandbox.namespaces",
           "grader.sandbox.landlock", "grader.sandbox.network", "grader.sandbox.privileges",
           "torch", "numpy", "safetensors.torch", "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger")


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs its import time in the child
            pass


def _reseed() -> None:
    import random

    seed = int.from_bytes(os.urandom(4), "little")
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _become_kernel(request: dict, zygote_pid: int, inherited: list[socket.socket], ready_w: int) -> None:
    """In the forked child: detach, clean up what the zygote held, sandbox, then run ipykernel."""
    os.setsid()  # before the pid is reported: the grader signals the whole group
    os.write(ready_w, b"1")
    os.close(ready_w)
    signal.set_wakeup_fd(-1)  # the zygote's, closed with `inherited` below
    for sock in inherited:
        sock.close()
    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    _reseed()
    # Nothing the notebook wrote may be importable before the sandbox is applied: the modules
    # applying it were imported before fork (PRELOAD), and the scratch dir (cwd) joins sys.path
    # only afterwards.
    from grader.sandbox.session import apply_from_environment

    apply_from_environment(request["kernel_args"])  # Landlock, limits, cgroup: still single-threaded here
    # A module the notebook writes can be imported, as in Jupyter, but last: a `torch.py` or
    # `json.py` it leaves in its cwd cannot break the kernel it restarts into (nor the probes).
    sys.path.append(request["cwd"])
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = ["ipykernel_launcher", *request["kernel_args"]]
    app = IPKernelApp.instance()
    app.initialize([*request["kernel_args"], f"--IPKernelApp.parent_handle={zygote_pid}"])
    app.start()


def _spawn(request: dict, listener: socket.socket, conns: list[socket.socket]) -> int:
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(ready_r)
            _become_kernel(request, os.getppid(), [listener, *conns], ready_w)
        except BaseException as exc:  # report why the kernel never started, then leave
            code = 1
            try:
                os.write(2, f"grader zygote child failed: {type(exc).__name__}: {exc}\n".encode())
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    return pid


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall((json.dumps(message) + "\n").encode())
    except OSError:
        pass


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def serve(socket_path: str) -> None:
    grader_pid = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    # SIGTERM from the grader: leave through `finally`, which kills every kernel forked here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A kernel's exit is reported as soon as it happens, not at the next poll: SIGCHLD writes to
    # this socket, which wakes select (each kernel stop waited ~25 ms for the poll on average).
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    print("ready", flush=True)
    pending: dict[socket.socket, bytes] = {}  # connections whose request line is incomplete
    kernel_of: dict[socket.socket, int] = {}
    conn_of: dict[int, socket.socket] = {}
    try:
        while os.getppid() == grader_pid:
            readable, _, _ = select.select([listener, wake_r, *pending, *kernel_of], [], [], POLL_S)
            for sock in readable:
                if sock is wake_r:
                    try:
                        wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    continue
                if sock is listener:
                    conn, _ = listener.accept()
                    if _peer_pid(conn) != grader_pid:  # e.g. a sandboxed kernel that found the socket
                        conn.close()
                        continue
                    pending[conn] = b""
                    continue
                data = sock.recv(1 << 20)
                if sock in kernel_of:  # a kernel's client hung up (or spoke out of turn): end the kernel
                    if not data:
                        _kill_group(kernel_of.pop(sock))
                        sock.close()
                    continue
                if not data:
                    pending.pop(sock, None)  # a client that left before finishing its request
                    sock.close()
                    continue
                pending[sock] += data
                if b"\n" in pending[sock]:
                    request = json.loads(pending.pop(sock).split(b"\n", 1)[0])
                    pid = _spawn(request, listener, [wake_r, wake_w, *pending, *kernel_of, sock])
                    kernel_of[sock], conn_of[pid] = pid, sock
                    _send(sock, {"pid": pid})
            _reap(kernel_of, conn_of)
    finally:
        for pid in list(conn_of):
            _kill_group(pid)
        listener.close()
        try:
            os.unlink(socket_path)
        except OSError:
            pass


def _peer_pid(conn: socket.socket) -> int:
    """The pid of the process on the other end: only the grader that started us may ask for kernels."""
    try:
        return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]
    except OSError:
        return -1


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _reap(kernel_of: dict[socket.socket, int], conn_of: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = conn_of.pop(pid, None)
        if conn is not None:
            kernel_of.pop(conn, None)
            _send(conn, {"exit": _exit_code(status)})
            conn.close()


def main() -> None:
    # The zygote's start directory must not leak into every kernel's imports (`-P` does this on 3.11+).
    while sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    preload()
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
