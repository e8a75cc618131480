"""The exec wrapper: `python -m grader.sandbox.launch --policy FILE -- CMD...`.

Used as the kernelspec's argv. This process is single-threaded, so Landlock's rules and the
limits it applies cover the kernel it then becomes (execv keeps the pid, so the grader's kill
and wait reach the kernel itself). The directory of the connection file (`-f PATH` in CMD) is
added to the writable paths: the kernel's ipc sockets live there.
"""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv[:1] != ["--policy"]:
        sys.exit("usage: python -m grader.sandbox.launch --policy FILE -- COMMAND [ARGS...]")
    split = argv.index("--")
    policy_file, cmd = argv[1], argv[split + 1:]
    if not cmd:
        sys.exit("grader.sandbox.launch: no command to run")
    from grader.sandbox.apply import apply
    from grader.sandbox.policy import SandboxPolicy

    with open(policy_file, encoding="utf-8") as fh:
        policy = SandboxPolicy.from_json(fh.read())
    program = cmd[0] if os.path.isabs(cmd[0]) else (shutil.which(cmd[0]) or cmd[0])
    apply(policy, connection_dir(cmd))
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
