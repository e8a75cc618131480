"""The grader's side of the zygote: start it, ask it for kernels, and let nbclient drive them.

nbclient and jupyter_client stay unchanged. `ZygoteProvisioner` replaces only how the kernel
process comes to exist: the stock `pre_launch` still writes the connection file, then instead
of exec'ing `python -m ipykernel_launcher` the zygote forks a pre-imported copy of itself.
Everything else (signals, interrupt, kill, wait) goes through a Popen-like handle.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from grader.zygote.process import Zygote, ZygoteError, ZygoteProcess

__all__ = ["Zygote", "ZygoteError", "ZygoteProcess", "ZygoteProvisioner", "kernel_args_from_cmd"]


def kernel_args_from_cmd(cmd: list[str]) -> list[str]:
    """The arguments after `-m ipykernel_launcher` in a kernelspec command line."""
    try:
        return cmd[cmd.index("ipykernel_launcher") + 1:]
    except ValueError:
        raise ZygoteError(f"cannot fork this kernel command: {cmd}") from None


class ZygoteProvisioner(LocalProvisioner):
    """LocalProvisioner whose `launch_kernel` forks from the zygote instead of exec'ing Python."""

    zygote: Zygote | None = None
    log_path: str = os.devnull

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        assert self.zygote is not None, "ZygoteProvisioner.zygote must be set before the kernel starts"
        cwd = str(kwargs.get("cwd") or os.getcwd())
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        # In a thread: the zygote's fork of a 500 MB process takes ~30 ms, which would stall every
        # other grading on this event loop (bulk grading) for as long.
        process = await asyncio.to_thread(self.zygote.spawn, kernel_args_from_cmd(cmd), env, cwd, self.log_path)
        # Not a Popen, but it has what LocalProvisioner calls on one (poll, wait, kill, send_signal).
        self.process = process  # type: ignore[assignment]
        self.pid = process.pid
        self.pgid = process.pid  # the child called setsid() before its pid was reported
        self.cwd = cwd
        return self.connection_info
