"""The zygote: imports torch and ipykernel once, then forks a fresh kernel per request.

Run as `python -m grader.zygote.server SOCKET_PATH [--reference-too]`. It prints `ready` when it listens. Each
client connection carries one JSON request line, gets back `{"pid": N}` once the child is its
own session leader, and later `{"exit": CODE}` (negative: killed by that signal). Closing the
connection early kills the child's process group.

A request with `"reference": FOLDER` forks the grader's reference run instead of a kernel
(`python -m grader.reference FOLDER` without a new interpreter and a second torch import): the
child is trusted code on trusted inputs, so it gets no sandbox, and it shares the zygote's pages
with the kernels, which is what keeps one grading's process tree under 650 MB (docs/platforms.md).

Traps handled here (measured, see docs/architecture.md, "The fork server"): no parallel torch op may run before fork (GNU
OpenMP deadlocks the children), so torch is imported, never used; RNGs are reseeded per child;
the zygote stays single-threaded; inherited sockets are closed in the child; the zygote exits
when the grader that started it goes away, and its kernels follow it (their parent poller
watches the zygote).
"""

from __future__ import annotations

import gc
import json
import os
import re
import select
import signal
import socket
import struct
import sys
from pathlib import Path

POLL_S = 0.05
# The sandbox modules come first: a forked child must find them already imported, so that it
# never searches sys.path (or the scratch dir) for anything before its sandbox is applied.
PRELOAD = ("grader.sandbox.session", "grader.sandbox.apply", "grader.sandbox.launch", "grader.sandbox.namespaces",
           "grader.sandbox.landlock", "grader.sandbox.network", "grader.sandbox.privileges",
           "torch", "numpy", "safetensors.torch", "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger",
           # What IPKernelApp.initialize imports (measured: 25 modules, ~20 ms of every kernel start).
           "IPython.core.completerlib", "IPython.core.debugger", "IPython.extensions.storemagic", "IPython.core.oinspect",
           "sqlite3", "psutil", "tornado.platform.asyncio", "faulthandler", "pdb", "code", "unicodedata", "resource")
# With `--reference-too` (a fork server serving many gradings): the reference run's own modules
# (pydantic, nbformat, the probe channel; public grader code with nothing of a course in it),
# ~0.4 s once instead of in every fork. A single grading's fork server leaves them to its one
# reference run, which imports them on the other core while the kernel starts.
REFERENCE_PRELOAD = ("grader.reference", "grader.course")


def warm_reference() -> None:
    """What every reference run would otherwise compute again: nbformat's validators of the
    current format (fastjsonschema generates and compiles Python for each, ~20 ms per process),
    the ones loading the solution notebook uses."""
    import nbformat

    text = nbformat.writes(nbformat.v4.new_notebook())
    nbformat.validate(nbformat.reads(text, as_version=4))


def preload(names: tuple[str, ...]) -> None:
    import importlib

    # ipykernel's debugger would import debugpy (~8 MB, 50 ms): nobody attaches a debugger to a
    # grading kernel. Hidden only while ipykernel is imported; a notebook may still import it.
    sys.modules["debugpy"] = None  # type: ignore[assignment]
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # a missing optional module only costs its import time in the child
                pass
    finally:
        del sys.modules["debugpy"]


def _reseed() -> None:
    import random

    seed = int.from_bytes(os.urandom(4), "little")
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _detach(request: dict, inherited: list[socket.socket], ready_w: int) -> None:
    """In any forked child, first: a session of its own, nothing the zygote held, stdio to the log."""
    os.setsid()  # before the pid is reported: the grader signals the whole group
    os.write(ready_w, b"1")
    os.close(ready_w)
    signal.set_wakeup_fd(-1)  # the zygote's, closed with `inherited` below
    for sock in inherited:
        sock.close()
    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)


def _become_reference(request: dict) -> None:
    """In the forked child: the instructor's solution on the probes' inputs, results to files."""
    import traceback

    from grader.reference import _main

    if "torch" in sys.modules:
        # It runs alongside the student's kernel, on small inputs: one thread leaves the cores
        # to the kernel (with two, each slowed the other's cells by ~25% on 2 cores).
        sys.modules["torch"].set_num_threads(1)
    try:
        os.chdir(request["reference"])
        _main(Path(request["reference"]))
    except BaseException:  # the grader reports the traceback's last line to the instructor
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def _become_kernel(request: dict, zygote_pid: int) -> None:
    """In the forked child: sandbox, then run ipykernel."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
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
            zygote_pid = os.getppid()
            _detach(request, [listener, *conns], ready_w)
            if "reference" in request:
                _become_reference(request)
            else:
                _become_kernel(request, zygote_pid)
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


def serve(socket_path: str, namespaces_missing: str | None) -> None:
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
    # The first line tells the grader whether kernels forked here can have their namespaces
    # (tried before torch is imported, while a fork is cheap): `ready`, or `ready no-namespaces WHY`.
    print("ready" if namespaces_missing is None else f"ready no-namespaces {namespaces_missing}", flush=True)
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


MADV_PAGEOUT = 21  # Linux 5.4+
CUDA_LIBRARY = re.compile(r"^lib(cu|nv|torch_cuda|c10_cuda|nccl|cudnn|caffe2_nvrtc)\w*\.so")


def page_out_libraries() -> None:
    """On a machine without a GPU, hand back to the OS the pages of the CUDA libraries that
    importing torch read.

    The CUDA build of torch loads cuBLAS, NVRTC, nvJitLink and the like at import, and ~140 MB
    of them stay resident in the zygote for as long as it lives, though no kernel on a CPU
    calls them: a fifth of one grading's memory. MADV_PAGEOUT reclaims only pages that no other
    process maps. The libraries CPU kernels do use (libtorch_cpu, libpython) are left alone: a
    kernel would read them back from disk.
    """
    import ctypes

    from grader.device import cuda_present

    if cuda_present():
        return
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        with open("/proc/self/maps", encoding="utf-8") as maps:
            lines = maps.read().splitlines()
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not CUDA_LIBRARY.search(os.path.basename(fields[5])):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if madvise(start, end - start, MADV_PAGEOUT) != 0:
            return  # a kernel older than 5.4 (EINVAL): nothing reclaimed, nothing lost


def main() -> None:
    # The zygote's start directory must not leak into every kernel's imports (`-P` does this on 3.11+).
    while sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    from grader.sandbox.namespaces import unusable_reason

    namespaces_missing = unusable_reason()
    many = "--reference-too" in sys.argv[2:]
    preload(PRELOAD + (REFERENCE_PRELOAD if many else ()))
    if many:
        try:
            warm_reference()
        except Exception:  # nbformat's own affair: each reference run validates as it did
            pass
    # Every object imported so far leaves the garbage collector's view: a forked child's
    # collections would otherwise write to each one's header and copy every page of them.
    gc.collect()
    gc.freeze()
    page_out_libraries()
    try:
        serve(sys.argv[1], namespaces_missing)
    except SystemExit:  # SIGTERM from the grader
        pass
    # Every kernel is killed by now (serve's `finally`): skip the interpreter's teardown of torch
    # and ipykernel, 0.8 s at every stop.
    os._exit(0)


if __name__ == "__main__":
    main()
