"""Starting and stopping sandboxed process groups, and finding free ports."""

from __future__ import annotations

import collections
import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from qai_local.sandbox.machine import MachineProbe

# Background work's nice value: the agent's runs and the dev servers started ahead of a preview.
BACKGROUND_NICENESS = 10


def yield_cpu_to_interactive_work() -> None:
    """Lower the calling thread's CPU priority, and so that of every process it starts from now on
    (a thread's nice value is its own on Linux, and a child takes its parent thread's): on one
    machine the API's answers and the previews someone waits for come first."""
    thread = threading.get_native_id()
    if os.getpriority(os.PRIO_PROCESS, thread) < BACKGROUND_NICENESS:  # never back up: only root may
        os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICENESS)


class ProcessRegistry:
    """The sandboxed process groups a provider has running (leader pid → sandbox), so that a stopping
    local stack leaves none behind and each sandbox's process-limit cgroup goes once nothing of it
    runs. One per provider, shared by its sandboxes' commands and its dev servers."""

    def __init__(self, machine: MachineProbe) -> None:
        self.machine = machine
        self._running_groups: dict[int, str] = {}
        self._groups_lock = threading.Lock()  # commands, dev servers and their output readers run on many threads
        # Held from making a sandbox's cgroups until its process is counted in _running_groups, and while
        # they are removed: otherwise a group that ends could remove the cgroup a new process is joining.
        self._sandbox_locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        # Each running group's lifeline (leader pid → the write end): closing it ends the group's sandbox.
        self._lifelines: dict[int, int] = {}

    def start(
        self,
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
            with self._sandbox_lock(sandbox_id):
                try:
                    spec = self.machine.sandbox_process(
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
                    self._release_if_unused(sandbox_id)
                    os.close(lifeline_write)
                    raise
                with self._groups_lock:
                    self._running_groups[process.pid] = sandbox_id
                    self._lifelines[process.pid] = lifeline_write
        finally:
            os.close(lifeline_read)
        return process

    def _sandbox_lock(self, sandbox_id: str) -> threading.Lock:
        with self._groups_lock:
            return self._sandbox_locks[sandbox_id]

    def _release_if_unused(self, sandbox_id: str) -> None:
        """Remove the sandbox's cgroups if none of its groups runs; the caller holds its sandbox lock."""
        with self._groups_lock:
            still_running = sandbox_id in self._running_groups.values()
        if not still_running:
            self.machine.cgroups.release(sandbox_id)

    def kill_group(self, process: subprocess.Popen[bytes]) -> None:
        """Kill the group and return once nothing of it runs, so that its sandbox's directory can be
        removed next. Under bubblewrap the sandbox's own init (the leader's child) is in a session of
        its own and ends the namespace only when it next runs, which on a busy machine can be well
        after the leader has gone: it is killed as well, and waited for.

        A leader already reaped (its exit seen earlier, a dev server that crashed) has given its pid
        back, and another process, another sandbox's group leader too, may have it now: neither its
        children nor its group are looked for then. Under bubblewrap nothing of the group outlives
        it (its namespace ended with it); without, what it left behind (``cmd &``) still holds the
        group's id, which is not given out again while it has members."""
        reaped = process.returncode is not None
        inits = [] if reaped else _pidfds(_children(process.pid))
        try:
            if not (reaped and self.machine.isolation.bubblewrap):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            for pidfd in inits:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            _wait_for_exits(inits, timeout_seconds=10)
        finally:
            for pidfd in inits:
                os.close(pidfd)
        self.forget_group(process)

    def forget_group(self, process: subprocess.Popen[bytes]) -> None:
        """The group has ended: drop it, and its sandbox's cgroup if nothing else of it runs."""
        with self._groups_lock:
            sandbox_id = self._running_groups.get(process.pid)
        if sandbox_id is None:
            return
        with self._sandbox_lock(sandbox_id):
            with self._groups_lock:
                self._running_groups.pop(process.pid, None)
                lifeline = self._lifelines.pop(process.pid, None)
            if lifeline is not None:
                os.close(lifeline)  # whatever the group left in its sandbox goes now
            self._release_if_unused(sandbox_id)

    def kill_all(self) -> None:
        """Kill every group still running (the stack is stopping)."""
        with self._groups_lock:
            groups = list(self._running_groups.items())
            lifelines = list(self._lifelines.values())
            self._running_groups.clear()
            self._lifelines.clear()
        for lifeline in lifelines:
            os.close(lifeline)
        for pgid, sandbox_id in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            self.machine.cgroups.release(sandbox_id)


def dies_with_this_process(argv: list[str]) -> list[str]:
    """``argv`` killed (SIGKILL) when the thread that starts it ends, the worker's death included.

    Through ``setpriv --pdeathsig`` (util-linux) rather than a ``preexec_fn``, which is unsafe in a
    process with threads. Under bubblewrap, ``--die-with-parent`` then takes the whole sandbox.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


def _children(pid: int) -> list[int]:
    """The process's children, from each of its threads' lists (empty if the kernel keeps none)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for thread in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{thread}/children") as listing:
                children += [int(child) for child in listing.read().split()]
    return children


def _pidfds(pids: list[int]) -> list[int]:
    """A descriptor for each process still there: it stays that process's, whatever reuses its pid."""
    descriptors = []
    for pid in pids:
        with contextlib.suppress(OSError):
            descriptors.append(os.pidfd_open(pid))
    return descriptors


def _wait_for_exits(pidfds: list[int], *, timeout_seconds: float) -> None:
    """Return once each process has exited (its descriptor reads ready), or at the timeout."""
    waiting = select.poll()
    for pidfd in pidfds:
        waiting.register(pidfd, select.POLLIN)
    remaining, deadline = len(pidfds), time.monotonic() + timeout_seconds
    while remaining and (left := deadline - time.monotonic()) > 0:
        for pidfd, _event in waiting.poll(left * 1000):
            waiting.unregister(pidfd)
            remaining -= 1


def free_port() -> int:
    """A port nothing listens on now, checked by binding it (never a guess)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
