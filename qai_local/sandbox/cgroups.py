"""Memory and process limits for all of a sandbox's processes together, in cgroups where we may make them.

Each sandbox gets its own cgroup under this process's (``…/qai/<sandbox id>``); every process of
the sandbox joins it before bubblewrap starts. Two kinds of machine:
- cgroup v1 (as in many containers): one hierarchy per controller; as root we may make groups in
  the memory and pids hierarchies.
- cgroup v2 (most machines now): one hierarchy, and only where this process's cgroup is ours to
  divide (root, or a delegated scope: ``systemd-run --user --scope -p Delegate=yes make dev``).
  Since a cgroup that holds processes cannot pass controllers on to children, this process first
  moves into a leaf of its own (``…/stack``).
Elsewhere there are no such limits, and the start-up banner says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qai_local.sandbox.disk import disk_limit_mb
from qai_local.settings import sandbox_settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
PIDS_LIMIT = 512
TMP_SIZE_MB = 512
RELEASE_ATTEMPTS = 25
CONTROLLERS = ("memory", "pids")


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


@cache  # which kind of machine this is does not change while the stack runs
def _unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").is_file()


def _own_paths() -> dict[str, str]:
    """This process's cgroup path by controller name ("" for the v2 hierarchy)."""
    try:
        lines = PROC_SELF_CGROUP.read_text().splitlines()
    except OSError:
        return {}
    paths = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path.lstrip("/")
    return paths


@cache
def _v1_base(controller: str) -> Path | None:
    """Where sandboxes' cgroups of a v1 controller go (read once: this process does not move)."""
    path = _own_paths().get(controller)
    own = CGROUP_ROOT / controller / path if path is not None else None
    return own / "qai" if own is not None and own.is_dir() else None


@cache
def _v2_base() -> Path | None:
    """Where sandboxes' cgroups go on cgroup v2, made ready once; None where we may not divide ours."""
    path = _own_paths().get("")
    own = CGROUP_ROOT / path if path is not None else None
    if own is None or not own.is_dir():
        return None
    enable = " ".join(f"+{c}" for c in CONTROLLERS)
    base = own / "qai"
    try:
        if not set(CONTROLLERS) <= set((own / "cgroup.controllers").read_text().split()):
            return None
        leaf = own / "stack"
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        (own / "cgroup.subtree_control").write_text(enable)
        base.mkdir(exist_ok=True)
        (base / "cgroup.subtree_control").write_text(enable)
    except OSError:
        return None
    return base


def _layout() -> Layout:
    return _v2_layout() if _unified() else _v1_layout()


def _sandbox_cgroup(controller: str, sandbox_id: str) -> Path | None:
    base = _v2_base() if _unified() else _v1_base(controller)
    return base / sandbox_id if base is not None else None


def sandbox_cgroups(sandbox_id: str) -> dict[str, Path]:
    """The sandbox's cgroup of each controller (one for both on v2), with its limits set, where we may make one."""
    groups = {}
    for controller, limits in _layout().limits.items():
        group = _sandbox_cgroup(controller, sandbox_id)
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


def joining(groups: dict[str, Path]) -> str:
    """A shell command that moves the shell into each of the groups."""
    return " && ".join(f'echo $$ > "{group}/cgroup.procs"' for group in dict.fromkeys(groups.values()))


def limit_counts(sandbox_id: str) -> dict[str, int]:
    """How often each limit has stopped the sandbox so far (memory: processes killed; pids: forks refused)."""
    counts = {}
    for controller, counter in _layout().counters.items():
        group = _sandbox_cgroup(controller, sandbox_id)
        try:
            fields = dict(line.split() for line in (group / counter.file).read_text().splitlines()) if group else {}
        except (OSError, ValueError):
            continue
        counts[controller] = int(fields.get(counter.key, 0))
    return counts


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


def release_sandbox(sandbox_id: str) -> None:
    """Remove the sandbox's cgroups once nothing of it runs.

    The kernel refuses (EBUSY) while a process of it is still exiting, as bubblewrap's own children
    may be for a moment after it: a short wait covers that; a cgroup still in use is left alone.
    """
    for group in dict.fromkeys(_sandbox_cgroup(c, sandbox_id) for c in CONTROLLERS):
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


def limits_in_force() -> str:
    """Which limits hold on this machine, for the start-up banner."""
    probe = f"probe-{os.getpid()}"
    held = sandbox_cgroups(probe)
    release_sandbox(probe)
    names = {"memory": f"memory {memory_limit_mb()} MB", "pids": f"{PIDS_LIMIT} processes"}
    said = [names[c] for c in CONTROLLERS if c in held]
    said += [f"a {TMP_SIZE_MB} MB /tmp", f"{disk_limit_mb()} MB of disk"]
    missing = [c for c in CONTROLLERS if c not in held]
    if missing:
        how = (
            "start it in a delegated scope: systemd-run --user --scope -p Delegate=yes make dev"
            if _unified()
            else "cgroup v1 needs root"
        )
        said.append(f"no {' or '.join(missing)} limit (no cgroup this user may make; {how})")
    return "limits: " + ", ".join(said)
