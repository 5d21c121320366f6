"""Starting and stopping sandboxed process groups, and finding free ports."""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

from qai_local.sandbox.cgroups import release_sandbox
from qai_local.sandbox.isolation import sandbox_process

# Process groups still running (leader pid → sandbox), so that a stopping local stack leaves none
# behind and each sandbox's process-limit cgroup goes once nothing of it runs.
_running_groups: dict[int, str] = {}
_groups_lock = threading.Lock()  # commands, dev servers and their output readers run on many threads
# Held from making a sandbox's cgroups until its process is counted in _running_groups, and while
# they are removed: otherwise a group that ends could remove the cgroup a new process is joining.
_sandbox_locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(threading.Lock)
# Each running group's lifeline (leader pid → the write end): closing it ends the group's sandbox.
_lifelines: dict[int, int] = {}


def start_in_sandbox(
    sandbox_id: str,
    sandbox_dir: Path,
    argv: list[str],
    egress_dir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    shared_node_modules: Path | None = None,
    pass_fds: tuple[int, ...] = (),
    **popen: object,
) -> subprocess.Popen[bytes]:
    # The lifeline: the sandbox's watcher reads its other end and ends the sandbox at end of file.
    lifeline_read, lifeline_write = os.pipe()  # neither inherited unless passed
    try:
        with _sandbox_lock(sandbox_id):
            try:
                spec = sandbox_process(
                    sandbox_id,
                    sandbox_dir,
                    argv,
                    egress_dir,
                    extra_env,
                    shared_node_modules,
                    lifeline_fd=lifeline_read,
                )
                process = subprocess.Popen(  # type: ignore[call-overload]
                    dies_with_this_process(spec.argv),
                    cwd=spec.cwd,
                    env=spec.env,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group, so a kill takes everything it started
                    pass_fds=(*pass_fds, lifeline_read),
                    **popen,
                )
            except BaseException:
                _release_if_unused(sandbox_id)
                os.close(lifeline_write)
                raise
            with _groups_lock:
                _running_groups[process.pid] = sandbox_id
                _lifelines[process.pid] = lifeline_write
    finally:
        os.close(lifeline_read)
    return process


def _sandbox_lock(sandbox_id: str) -> threading.Lock:
    with _groups_lock:
        return _sandbox_locks[sandbox_id]


def _release_if_unused(sandbox_id: str) -> None:
    """Remove the sandbox's cgroups if none of its groups runs; the caller holds its sandbox lock."""
    with _groups_lock:
        still_running = sandbox_id in _running_groups.values()
    if not still_running:
        release_sandbox(sandbox_id)


def dies_with_this_process(argv: list[str]) -> list[str]:
    """``argv`` killed (SIGKILL) when the thread that starts it ends, the worker's death included.

    Through ``setpriv --pdeathsig`` (util-linux) rather than a ``preexec_fn``, which is unsafe in a
    process with threads. Under bubblewrap, ``--die-with-parent`` then takes the whole sandbox.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    forget_group(process)


def forget_group(process: subprocess.Popen[bytes]) -> None:
    """The group has ended: drop it, and its sandbox's cgroup if nothing else of it runs."""
    with _groups_lock:
        sandbox_id = _running_groups.get(process.pid)
    if sandbox_id is None:
        return
    with _sandbox_lock(sandbox_id):
        with _groups_lock:
            _running_groups.pop(process.pid, None)
            lifeline = _lifelines.pop(process.pid, None)
        if lifeline is not None:
            os.close(lifeline)  # whatever the group left in its sandbox goes now
        _release_if_unused(sandbox_id)


def kill_running_commands() -> None:
    with _groups_lock:
        groups = list(_running_groups.items())
        lifelines = list(_lifelines.values())
        _running_groups.clear()
        _lifelines.clear()
    for lifeline in lifelines:
        os.close(lifeline)
    for pgid, sandbox_id in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        release_sandbox(sandbox_id)


def free_port() -> int:
    """A port nothing listens on now, checked by binding it (never a guess)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
