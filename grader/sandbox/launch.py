"""The exec wrapper: `python -I .../launch.py --policy FILE -- CMD...`, the kernelspec's argv.

Started under `python -I` as a script (session.launcher_argv), so nothing in its cwd (the
scratch dir, which the notebook can write) is importable. It is single-threaded, so Landlock's
rules and the limits it applies cover the kernel it then becomes (execv keeps the pid, so the
grader's kill and wait reach the kernel, or bwrap in front of it). Two stages with bubblewrap:
1. outside: join the kernel's cgroup (needs the host's /sys), then exec bwrap, which runs
2. `python -s launch.py --inner STATUS --status-fd N`: limits, capabilities, Landlock inside
   bwrap's namespaces, report, then it becomes the kernel (runs ipykernel in-process).
Without bwrap, one stage does everything (namespaces.py provides the namespaces where it can).
The directory of the connection file (`-f PATH` in CMD) is writable: the kernel's ipc sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def connection_dir(cmd: list[str]) -> list[str]:
    """The directory of the kernel's connection file (`-f PATH` or `--f=PATH`), if any."""
    for i, arg in enumerate(cmd):
        if arg in ("-f", "--f") and i + 1 < len(cmd):
            return [os.path.dirname(os.path.abspath(cmd[i + 1]))]
        if arg.startswith(("--f=", "-f=")):
            return [os.path.dirname(os.path.abspath(arg.split("=", 1)[1]))]
    return []


def ipykernel_arguments(cmd: list[str]) -> list[str] | None:
    """The kernel's arguments when `cmd` is this very interpreter running `-m ipykernel_launcher`."""
    if "-m" not in cmd or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable):
        return None
    at = cmd.index("-m")
    return cmd[at + 2:] if cmd[at + 1:at + 2] == ["ipykernel_launcher"] else None


USAGE = "usage: python -I launch.py --policy FILE [--inner STATUS_JSON --status-fd N] -- COMMAND [ARGS...]"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv[:1] != ["--policy"]:
        sys.exit(USAGE)
    split = argv.index("--")
    options, cmd = argv[:split], argv[split + 1:]
    if not cmd or len(options) not in (2, 6):
        sys.exit(USAGE)
    policy_file = options[1]
    from grader.sandbox.apply import (
        ISOLATED_START,
        NAMESPACE_PROTECTIONS,
        PID_CLEANUP,
        SandboxStatus,
        apply,
        join_cgroup,
    )
    from grader.sandbox.policy import SandboxPolicy

    with open(policy_file, encoding="utf-8") as fh:
        policy = SandboxPolicy.from_json(fh.read())
    program = cmd[0] if os.path.isabs(cmd[0]) else (shutil.which(cmd[0]) or cmd[0])
    writable = connection_dir(cmd)
    if len(options) == 6:  # the second stage, inside bwrap
        data = json.loads(options[3])
        apply(policy, writable, outer=SandboxStatus(data["active"], data["missing"]), status_fd=int(options[5]))
        kernel = ipykernel_arguments(cmd)
        if kernel is not None:
            # This interpreter becomes the kernel (one Python start fewer): it was started as a
            # script with -s, so neither the scratch dir nor the user site is on sys.path (and
            # PYTHONPATH holds absolute paths only, policy.sandbox_environment), while the
            # environment (PYTHONHASHSEED) applies as it would to `python -m ipykernel_launcher`.
            from ipykernel.kernelapp import IPKernelApp

            sys.argv = ["ipykernel_launcher", *kernel]
            app = IPKernelApp.instance()
            app.initialize(kernel)
            sys.path.append(os.getcwd())  # see zygote/server.py: the notebook's own modules, last
            app.start()
            return
    elif policy.isolation == "bwrap":
        from grader.sandbox import bwrap  # only here: it imports subprocess, which the inner stage never needs

        status = SandboxStatus()
        status.active[ISOLATED_START] = "python -I: nothing in the scratch dir is importable until the sandbox is applied"
        join_cgroup(policy, status)
        for name, what in NAMESPACE_PROTECTIONS.items():
            status.active[name] = f"bubblewrap: {what}"
        if "process cleanup" in status.missing:
            del status.missing["process cleanup"]
            status.active["process cleanup"] = PID_CLEANUP
        status_fd = -1
        if policy.status_path:
            status_fd = os.open(policy.status_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.set_inheritable(status_fd, True)
        inner = [sys.executable, "-s", os.path.abspath(__file__), "--policy", policy_file,
                 "--inner", json.dumps({"active": status.active, "missing": status.missing}),
                 "--status-fd", str(status_fd), "--", *cmd]
        args = bwrap.command(policy, writable, inner, os.getcwd(), extra_read_only=[policy_file])
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(args[0], args)
    else:
        apply(policy, writable)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(program, cmd)


if __name__ == "__main__":
    # Run as a script under `python -I` (see session.launcher_argv): sys.path[0] is this file's
    # directory, whose modules must not shadow top-level ones; the grader package is found where
    # it is installed, else two levels up (after the standard library, so it shadows nothing).
    del sys.path[0]
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    main()
