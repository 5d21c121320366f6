"""Memory and process limits for all of a sandbox's processes together, in cgroups where we may make them.

Each sandbox gets its own cgroup under this process's (``…/qai/<sandbox id>``); every process of
the sandbox joins it before bubblewrap starts. Two kinds of machine:
- cgroup v1 (as in many containers): one hierarchy per controller; as root we may make groups in
  the memory and pids hierarchies.
- cgroup v2 (most machines now): one hierarchy, and only where this process's cgroup is ours to
  divide (root, or a delegated scope: ``systemd-run --user --scope -p Delegate=yes make dev``).
  Since a cgroup that holds processes cannot pass controllers on to children, this process first
  moves into a leaf of its own (``…/stack``); another ``CgroupTree`` of the same process finds it
  there and divides the same cgroup.
Elsewhere each process gets rlimits instead (``rlimits``), and the start-up banner says which limits
hold and how. What the machine allows is read once per ``CgroupTree``, which each provider's
``MachineProbe`` holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qai_local.settings import sandbox_settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
PIDS_LIMIT = 512
TMP_SIZE_MB = 512
RELEASE_ATTEMPTS = 25
CONTROLLERS = ("memory", "pids")
LEAF = "stack"  # on v2, this process's own cgroup, beside its sandboxes'


def memory_limit_mb() -> int:
    return sandbox_settings().local_sandbox_memory_mb


@dataclass(frozen=True)
class Counter:
    """Where a controller counts the times its limit stopped something, and under which key."""

    file: str
    key: str


@dataclass(frozen=True)
class Layout:
    """The cgroup files of one kind of machine."""

    limits: dict[str, dict[str, str]]  # controller → files that set its limit, in the order written
    counters: dict[str, Counter]


def _v1_layout() -> Layout:
    memory = str(memory_limit_mb() << 20)
    return Layout(
        # memsw (memory plus swap) exists only where swap accounting is on; written when it does.
        limits={
            "pids": {"pids.max": str(PIDS_LIMIT)},
            "memory": {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory},
        },
        counters={"memory": Counter("memory.oom_control", "oom_kill"), "pids": Counter("pids.events", "max")},
    )


def _v2_layout() -> Layout:
    # memory.swap.max exists only where swap is accounted: without it, swap would stretch the limit.
    return Layout(
        limits={
            "pids": {"pids.max": str(PIDS_LIMIT)},
            "memory": {"memory.max": str(memory_limit_mb() << 20), "memory.swap.max": "0"},
        },
        counters={"memory": Counter("memory.events", "oom_kill"), "pids": Counter("pids.events", "max")},
    )


class CgroupTree:
    """Where this process may make sandboxes' cgroups, read once: which kind of machine this is and
    where this process sits do not change while it runs. ``root`` and ``self_cgroup`` stand for
    /sys/fs/cgroup and /proc/self/cgroup (a test lays out a machine of either kind in a folder)."""

    def __init__(self, root: Path = CGROUP_ROOT, self_cgroup: Path = PROC_SELF_CGROUP) -> None:
        self.root = root
        self.self_cgroup = self_cgroup

    @cached_property
    def unified(self) -> bool:
        return (self.root / "cgroup.controllers").is_file()

    def _own_paths(self) -> dict[str, str]:
        """This process's cgroup path by controller name ("" for the v2 hierarchy)."""
        try:
            lines = self.self_cgroup.read_text().splitlines()
        except OSError:
            return {}
        paths = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path.lstrip("/")
        return paths

    @cached_property
    def _v1_bases(self) -> dict[str, Path | None]:
        """Where sandboxes' cgroups of each v1 controller go."""
        own_paths, bases = self._own_paths(), {}
        for controller in CONTROLLERS:
            path = own_paths.get(controller)
            own = self.root / controller / path if path is not None else None
            bases[controller] = own / "qai" if own is not None and own.is_dir() else None
        return bases

    @cached_property
    def _v2_base(self) -> Path | None:
        """Where sandboxes' cgroups go on cgroup v2, made ready once; None where we may not divide ours."""
        path = self._own_paths().get("")
        own = self.root / path if path is not None else None
        if own is not None and own.name == LEAF and (own.parent / "qai").is_dir():
            own = own.parent  # this process is in its leaf already: another tree of it divided the parent
        if own is None or not own.is_dir():
            return None
        enable = " ".join(f"+{c}" for c in CONTROLLERS)
        base = own / "qai"
        try:
            if not set(CONTROLLERS) <= set((own / "cgroup.controllers").read_text().split()):
                return None
            leaf = own / LEAF
            leaf.mkdir(exist_ok=True)
            (leaf / "cgroup.procs").write_text(str(os.getpid()))
            (own / "cgroup.subtree_control").write_text(enable)
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text(enable)
        except OSError:
            return None
        return base

    def _layout(self) -> Layout:
        return _v2_layout() if self.unified else _v1_layout()

    def path_of(self, controller: str, sandbox_id: str) -> Path | None:
        """Where the sandbox's cgroup of ``controller`` is (or would be), or None where none can be made."""
        base = self._v2_base if self.unified else self._v1_bases.get(controller)
        return base / sandbox_id if base is not None else None

    def sandbox_cgroups(self, sandbox_id: str) -> dict[str, Path]:
        """The sandbox's cgroup of each controller (one for both on v2), with its limits set, where we may make one."""
        groups = {}
        for controller, limits in self._layout().limits.items():
            group = self.path_of(controller, sandbox_id)
            if group is None:
                continue
            try:
                group.mkdir(parents=True, exist_ok=True)
                first, *others = limits.items()
                (group / first[0]).write_text(first[1])
            except OSError:
                continue
            for name, value in others:
                with contextlib.suppress(OSError):
                    (group / name).write_text(value)
            groups[controller] = group
        return groups

    def limit_counts(self, sandbox_id: str) -> dict[str, int]:
        """How often each limit has stopped the sandbox so far (memory: processes killed; pids: forks refused).

        A controller with no cgroup of the sandbox has no count (rlimits limit its processes instead)."""
        counts = {}
        for controller, counter in self._layout().counters.items():
            group = self.path_of(controller, sandbox_id)
            if group is None:
                continue
            try:
                fields = dict(line.split() for line in (group / counter.file).read_text().splitlines())
            except (OSError, ValueError):
                continue
            counts[controller] = int(fields.get(counter.key, 0))
        return counts

    def release(self, sandbox_id: str) -> None:
        """Remove the sandbox's cgroups once nothing of it runs.

        The kernel refuses (EBUSY) while a process of it is still exiting, as bubblewrap's own children
        may be for a moment after it: a short wait covers that; a cgroup still in use is left alone.
        """
        for group in dict.fromkeys(self.path_of(c, sandbox_id) for c in CONTROLLERS):
            for _ in range(RELEASE_ATTEMPTS if group else 0):
                try:
                    group.rmdir()  # type: ignore[union-attr]
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                time.sleep(0.02)

    @property
    def kind(self) -> str:
        return "cgroup v2" if self.unified else "cgroup v1"

    def controllers_held(self) -> frozenset[str]:
        """The controllers whose limits a sandbox's cgroups hold on this machine (tried once, for the banner)."""
        probe = f"probe-{os.getpid()}"
        held = self.sandbox_cgroups(probe)
        self.release(probe)
        return frozenset(held)

    def no_cgroup_hint(self) -> str:
        """How to get the cgroups this process may not make."""
        if self.unified:
            return "for them, start it in a delegated scope: systemd-run --user --scope -p Delegate=yes make dev"
        if os.geteuid() != 0:
            return "on cgroup v1 only root may make them"
        return "the cgroup file system is not writable here"


def joining(groups: dict[str, Path]) -> str:
    """A shell command that moves the shell into each of the groups."""
    return " && ".join(f'echo $$ > "{group}/cgroup.procs"' for group in dict.fromkeys(groups.values()))


def limits_hit(before: dict[str, int], after: dict[str, int]) -> str:
    """What the model is told when a command hit a limit (empty when none was)."""
    said = []
    if after.get("memory", 0) > before.get("memory", 0):
        said.append(
            f"A process was killed: the sandbox went over its memory limit ({memory_limit_mb()} MB for all "
            "its processes together). Use less memory (smaller inputs, fewer parallel jobs)."
        )
    if after.get("pids", 0) > before.get("pids", 0):
        said.append(f"A process could not start: the sandbox is limited to {PIDS_LIMIT} processes and threads.")
    return "\n".join(said)
