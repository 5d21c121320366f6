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
from dataclasses import dataclass
from pathlib import Path

from qai_local.sandbox.machine import MachineProbe

# Background work's nice value: the agent's runs and the dev servers started ahead of a preview.
BACKGROUND_NICENESS = 10
# Each group's first member, before the command: a holder of the group's id, which stays in the group
# until the group's lifeline closes. A group id is not given out again while the group has a member, so
# until then a kill of the group reaches this group only, even once the leader has been reaped and its
# pid given back. (A pidfd of the leader would not do: holding one does not keep its pid from reuse.)
HOLDING_THE_GROUP = 'cat "/dev/fd/$1" >/dev/null 2>&1 & shift; exec "$@"'
# Run after the parent-death signal is asked for: $PPID is the parent this shell started with.
PARENT_STILL_THERE = '[ "$PPID" = "$0" ] && exec "$@"'


def yield_cpu_to_interactive_work() -> None:
    """Lower the calling thread's CPU priority, and so that of every process it starts from now on
    (a thread's nice value is its own on Linux, and a child takes its parent thread's): on one
    machine the API's answers and the previews someone waits for come first."""
    thread = threading.get_native_id()
    if os.getpriority(os.PRIO_PROCESS, thread) < BACKGROUND_NICENESS:  # never back up: only root may
        os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICENESS)


@dataclass(frozen=True)
class RunningGroup:
    sandbox_id: str
    process: subprocess.Popen[bytes]  # its leader
    lifeline: int  # the write end: closing it ends the group's sandbox and lets go of the group's id


class ProcessRegistry:
    """The sandboxed process groups a provider has running (leader pid → sandbox), so that a stopping
    local stack leaves none behind and each sandbox's process-limit cgroup goes once nothing of it
    runs. One per provider, shared by its sandboxes' commands and its dev servers."""

    def __init__(self, machine: MachineProbe) -> None:
        self.machine = machine
        self._running_groups: dict[int, RunningGroup] = {}  # by leader pid
        self._groups_lock = threading.Lock()  # commands, dev servers and their output readers run on many threads
        # Held from making a sandbox's cgroups until its process is counted in _running_groups, and while
        # they are removed: otherwise a group that ends could remove the cgroup a new process is joining.
        self._sandbox_locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(threading.Lock)

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
                        dies_with_this_process(
                            ["/bin/sh", "-c", HOLDING_THE_GROUP, "group", str(lifeline_read), *spec.argv]
                        ),
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
                    self._running_groups[process.pid] = RunningGroup(sandbox_id, process, lifeline_write)
        finally:
            os.close(lifeline_read)
        return process

    def _sandbox_lock(self, sandbox_id: str) -> threading.Lock:
        with self._groups_lock:
            return self._sandbox_locks[sandbox_id]

    def _release_if_unused(self, sandbox_id: str) -> None:
        """Remove the sandbox's cgroups if none of its groups runs; the caller holds its sandbox lock."""
        with self._groups_lock:
            still_running = any(group.sandbox_id == sandbox_id for group in self._running_groups.values())
        if not still_running:
            self.machine.cgroups.release(sandbox_id)

    def kill_group(self, process: subprocess.Popen[bytes]) -> None:
        """Kill the group and return once nothing of it runs, so that its sandbox's directory can be
        removed next. Under bubblewrap the sandbox's own init (the leader's child) is in a session of
        its own and ends the namespace only when it next runs, which on a busy machine can be well
        after the leader has gone: it is killed as well, and waited for.

        A leader already reaped (its exit seen earlier, a dev server that crashed) has given its pid
        back, and another process, another sandbox's group leader too, may have it now: its children
        are not looked for then. Its group is killed only while the group's holder keeps the id (see
        ``HOLDING_THE_GROUP``), that is until the group is forgotten."""
        inits = [] if process.returncode is not None else _pidfds(_children(process.pid))
        try:
            with self._groups_lock:  # the holder lets go (forget_group) only under this lock
                if self._is_running(process):
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

    def _is_running(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether the group is not forgotten yet; the caller holds the groups lock. Its leader's pid
        alone does not tell: once forgotten, that pid may be another group's leader's."""
        group = self._running_groups.get(process.pid)
        return group is not None and group.process is process

    def forget_group(self, process: subprocess.Popen[bytes]) -> None:
        """The group has ended: drop it, and its sandbox's cgroup if nothing else of it runs."""
        with self._groups_lock:
            if not self._is_running(process):
                return
            group = self._running_groups.pop(process.pid)
        os.close(group.lifeline)  # whatever the group left in its sandbox goes now
        with self._sandbox_lock(group.sandbox_id):
            self._release_if_unused(group.sandbox_id)

    def kill_all(self) -> None:
        """Kill every group still running (the stack is stopping)."""
        with self._groups_lock:
            groups = list(self._running_groups.values())
            self._running_groups.clear()
            for group in groups:  # while their holders keep the groups' ids
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group.process.pid, signal.SIGKILL)
        for group in groups:
            os.close(group.lifeline)
            self.machine.cgroups.release(group.sandbox_id)


def dies_with_this_process(argv: list[str]) -> list[str]:
    """``argv`` killed (SIGKILL) when the thread that starts it ends, the worker's death included.

    Through ``setpriv --pdeathsig`` (util-linux) rather than a ``preexec_fn``, which is unsafe in a
    process with threads. Under bubblewrap, ``--die-with-parent`` then takes the whole sandbox.
    setpriv asks for the signal after the fork, and a parent already gone by then never sends it:
    the shell it runs next checks that its parent is still this process, and ends at once if not.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return argv
    return [setpriv, "--pdeathsig", "KILL", "--", "/bin/sh", "-c", PARENT_STILL_THERE, str(os.getpid()), *argv]


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
