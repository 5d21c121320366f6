"""Limits per process where no cgroup holds a sandbox's: rlimits, set inside the sandbox first.

Where the stack may make no cgroup for a sandbox (an ordinary user outside a delegated systemd
scope, or a container whose cgroup file system is read-only), each sandboxed process gets rlimits
instead. util-linux's ``prlimit`` sets them as the first program bubblewrap starts, so after the
sandbox's user namespace exists (RLIMIT_NPROC needs that, below), and everything started from it
inherits them; soft and hard alike, so nothing in the sandbox can raise them again. They hold for
each process or command, not for a sandbox's processes together as a cgroup's do:

- memory: RLIMIT_DATA, ``LOCAL_SANDBOX_MEMORY_MB`` for each process (its private writable memory;
  V8 takes it as its own limit). Not RLIMIT_AS, measured with Next.js 16 (Turbopack) on Node 20:
  ``next-server`` reserves about 13 GB of address space (WebAssembly memories, its allocator's
  arenas) for about 400 MB resident; under 2 GB it aborts, from 4 to 12 GB a WebAssembly module
  fails to load, and only at 16 GB does it run cleanly, more than most machines have. Under
  RLIMIT_DATA, ``next dev`` compiling a page of radix-ui and lucide-react, ``next build``, ``tsc``
  and ``npm install`` each run with 512 MB; a process that asks for more fails ("JavaScript heap
  out of memory", MemoryError). Memory shared between processes is not counted.
- processes: RLIMIT_NPROC, 512 processes and threads. Linux (5.14 and later) counts it per user
  namespace and uid, and each command's bubblewrap makes a user namespace of its own: the sandbox's
  user maps to ours, yet only that command's own processes count, not the user's others. Root is
  exempt from RLIMIT_NPROC, and older kernels count every process of the uid: there none is set.
- RLIMIT_FSIZE, the disk budget, for one file, and RLIMIT_CORE 0: in every sandbox, with cgroups too.
"""

from __future__ import annotations

import os
import platform
import re
import signal
from collections.abc import Callable, Collection
from dataclasses import dataclass

from qai_local.sandbox.cgroups import CONTROLLERS, PIDS_LIMIT, TMP_SIZE_MB, memory_limit_mb
from qai_local.sandbox.disk import disk_limit_mb
from qai_local.sandbox.isolation import SYSTEM_DIRS

MEMORY, PIDS, FILE = "memory", "pids", "file"
WORDS = {MEMORY: "memory", PIDS: "process"}
PER_NAMESPACE_NPROC = (5, 14)  # the first Linux that counts RLIMIT_NPROC per user namespace
FILE_TOO_LARGE_EXIT = 128 + signal.SIGXFSZ  # a shell's status for a command killed by SIGXFSZ
# What a process says when one of these limits stopped it (lower case); rlimits keep no counters.
SIGNS = {
    MEMORY: (
        "out of memory",
        "cannot allocate memory",
        "memoryerror",
        "bad_alloc",
        "memory allocation of",
        "allocation failed",
    ),
    PIDS: ("resource temporarily unavailable", "cannot fork", "spawn eagain", "fork: retry", "pthread_create"),
    FILE: ("file size limit exceeded", "file too large", "efbig"),
}


def _kernel_version(release: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", release)[:2])


@dataclass(frozen=True)
class Rlimits:
    """What rlimits can hold on this machine, read once by a ``MachineProbe``."""

    prlimit: str | None  # util-linux's prlimit, where a sandbox sees it; None: no rlimits at all
    nproc_refused: str = ""  # why RLIMIT_NPROC cannot limit a sandbox here ("" where it can)

    @classmethod
    def probe(
        cls, which: Callable[[str], str | None], *, euid: int | None = None, kernel: str | None = None
    ) -> Rlimits:
        program = which("prlimit")
        if program is not None and not any(program.startswith(d + "/") for d in SYSTEM_DIRS):
            program = None  # outside the system's programs, which are all a sandbox sees
        euid = os.geteuid() if euid is None else euid
        kernel = platform.release() if kernel is None else kernel
        refused = ""
        if euid == 0:
            refused = "root is exempt from RLIMIT_NPROC"
        elif _kernel_version(kernel) < PER_NAMESPACE_NPROC:
            refused = f"Linux {kernel} counts RLIMIT_NPROC over all of this user's processes, not a sandbox's"
        return cls(program, refused)

    def in_force(self, without_cgroup: Collection[str]) -> frozenset[str]:
        """The rlimits a sandbox's processes get ("memory", "pids", "file"), given the controllers
        that hold no cgroup of it."""
        if self.prlimit is None:
            return frozenset()
        held = {FILE}
        if MEMORY in without_cgroup:
            held.add(MEMORY)
        if PIDS in without_cgroup and not self.nproc_refused:
            held.add(PIDS)
        return frozenset(held)

    def argv(self, without_cgroup: Collection[str]) -> list[str]:
        """What starts a sandbox's first process under its rlimits (nothing where none can be set)."""
        held = self.in_force(without_cgroup)
        if self.prlimit is None or not held:
            return []
        args = [self.prlimit, f"--fsize={disk_limit_mb() << 20}", "--core=0"]
        if MEMORY in held:
            args.append(f"--data={memory_limit_mb() << 20}")
        if PIDS in held:
            args.append(f"--nproc={PIDS_LIMIT}")
        return [*args, "--"]

    def hit(self, without_cgroup: Collection[str], exit_code: int | None, output: str) -> str:
        """What the model is told when a command seems to have hit one of its rlimits (empty when not).

        Rlimits keep no counters, unlike cgroups: what a process says when refused is the sign."""
        held, said = self.in_force(without_cgroup), output.lower()
        notes = []
        if MEMORY in held and any(sign in said for sign in SIGNS[MEMORY]):
            notes.append(
                f"A process seems to have run out of memory: each process in this sandbox may use {memory_limit_mb()} "
                "MB (no cgroup limits the sandbox here). Use less memory (smaller inputs, fewer parallel jobs)."
            )
        if PIDS in held and any(sign in said for sign in SIGNS[PIDS]):
            notes.append(
                f"A process could not start: each command in this sandbox is limited to {PIDS_LIMIT} processes "
                "and threads."
            )
        if FILE in held and (exit_code == FILE_TOO_LARGE_EXIT or any(sign in said for sign in SIGNS[FILE])):
            notes.append(
                f"A file could not grow: one file in this sandbox may hold at most {disk_limit_mb()} MB (its disk "
                "budget)."
            )
        return "\n".join(notes)


def describe_limits(rlimits: Rlimits, by_cgroup: Collection[str], cgroup_kind: str, no_cgroup_hint: str) -> str:
    """Which limits hold and how, for the start-up banner: ``by_cgroup`` are the controllers a
    sandbox's cgroups hold (``cgroup_kind``, "cgroup v1" or "cgroup v2"); ``no_cgroup_hint`` says
    how to get the others."""
    names = {MEMORY: f"memory {memory_limit_mb()} MB", PIDS: f"{PIDS_LIMIT} processes"}
    without = [c for c in CONTROLLERS if c not in by_cgroup]
    by_rlimit = rlimits.in_force(without)
    said = []
    if grouped := [names[c] for c in CONTROLLERS if c in by_cgroup]:
        said.append(f"{' and '.join(grouped)} per sandbox ({cgroup_kind})")
    if MEMORY in by_rlimit:
        said.append(f"{names[MEMORY]} per process (RLIMIT_DATA)")
    if PIDS in by_rlimit:
        said.append(f"{names[PIDS]} per command (RLIMIT_NPROC)")
    said += [f"a {TMP_SIZE_MB} MB /tmp", f"{disk_limit_mb()} MB of disk"]
    if FILE in by_rlimit:
        said.append(f"{disk_limit_mb()} MB per file")
    notes = []
    if unlimited := [c for c in without if c not in by_rlimit]:
        why = "prlimit (util-linux) is not installed" if rlimits.prlimit is None else rlimits.nproc_refused
        notes.append(f"no {' or '.join(WORDS[c] for c in unlimited)} limit ({why})")
    if without:
        plain = " or ".join(WORDS[c] for c in without)
        notes.append(f"no cgroup this user may make, so no {plain} limit per sandbox ({no_cgroup_hint})")
    return "limits: " + ", ".join(said) + "".join(f"; {note}" for note in notes)
