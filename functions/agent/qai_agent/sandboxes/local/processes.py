"""Starting and stopping sandboxed process groups, and finding free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from qai_agent.sandboxes.local.isolation import sandbox_process

# Process groups still running, so that a stopping local stack leaves none behind.
_running_groups: set[int] = set()


def start_in_sandbox(
    sandbox_id: str, sandbox_dir: Path, argv: list[str], *, extra_env: dict[str, str] | None = None, **popen: object
) -> subprocess.Popen[bytes]:
    spec = sandbox_process(sandbox_id, sandbox_dir, argv, extra_env)
    process = subprocess.Popen(  # type: ignore[call-overload]
        spec.argv,
        cwd=spec.cwd,
        env=spec.env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so a kill takes everything it started
        **popen,
    )
    _running_groups.add(process.pid)
    return process


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    _running_groups.discard(process.pid)


def forget_group(process: subprocess.Popen[bytes]) -> None:
    _running_groups.discard(process.pid)


def kill_running_commands() -> None:
    for pgid in list(_running_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    _running_groups.clear()


def free_port() -> int:
    """A port nothing listens on now, checked by binding it (never a guess)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
