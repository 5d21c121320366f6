"""What the local sandboxes know of this machine: probed by each provider once, and handed down.

A ``MachineProbe`` holds the facts that do not change while this process runs, each read on first
use: whether bubblewrap can start a sandbox here (with the sandbox user's passwd and group files),
where this process may make cgroups (``CgroupTree``) and which rlimits hold where it may not
(``Rlimits``), the npm registry this user's npm is set up with, and the prepared template's shared
files. The provider makes one and gives it, in its ``ProcessRegistry``, to its dev-server
supervisor and through that to its sandboxes. A test makes its own: a fake cgroup tree, or a
machine without bubblewrap.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from qai_local.sandbox.cgroups import CONTROLLERS, CgroupTree, joining
from qai_local.sandbox.disk import template_inodes
from qai_local.sandbox.egress import registry_host
from qai_local.sandbox.isolation import (
    SAFE_PATH,
    SANDBOX_INIT,
    SANDBOX_NETBRIDGE,
    IsolationStatus,
    IsolationUnavailableError,
    SandboxProcess,
    bubblewrap_argv,
    make_support_dir,
    owned_packages,
    proxy_environment,
    sandbox_environment,
)
from qai_local.sandbox.network import NETBRIDGE
from qai_local.sandbox.rlimits import Rlimits, describe_limits
from qai_local.settings import sandbox_settings

T = TypeVar("T")


class MachineProbe:
    """This machine's facts for the local sandboxes, each probed on first use and kept."""

    def __init__(self, *, cgroups: CgroupTree | None = None, which: Callable[[str], str | None] = shutil.which) -> None:
        self.cgroups = cgroups or CgroupTree()
        self._which = which  # how a program is looked up on PATH, for the probe
        self._lock = threading.Lock()
        self._packages: dict[Path, tuple[str, ...]] = {}
        self._inodes: dict[Path, frozenset[tuple[int, int]]] = {}

    @cached_property
    def support_dir(self) -> Path:
        return make_support_dir()

    @cached_property
    def rlimits(self) -> Rlimits:
        """Which rlimits a sandbox's processes get here, for what no cgroup of it limits (none unless
        they run under bubblewrap, which they are set in)."""
        return Rlimits.probe(self._which) if self.isolation.bubblewrap else Rlimits(None)

    def limits_in_force(self) -> str:
        """Which limits hold on this machine and how (cgroups or rlimits), for the start-up banner."""
        tree = self.cgroups
        return describe_limits(self.rlimits, tree.controllers_held(), tree.kind, tree.no_cgroup_hint())

    @cached_property
    def registry_host(self) -> str:
        return registry_host()

    @cached_property
    def isolation(self) -> IsolationStatus:
        """Whether bubblewrap can start a sandbox here (it also honours QAI_SANDBOX_ISOLATION=none)."""
        if sandbox_settings().qai_sandbox_isolation.lower() == "none":
            return IsolationStatus(False, "QAI_SANDBOX_ISOLATION=none", opted_out=True)
        if self._which("bwrap") is None:
            return IsolationStatus(False, "bubblewrap (bwrap) is not installed")
        if self._which("socat") is None:
            return IsolationStatus(False, "socat is not installed (sandboxes reach the npm registry through it)")
        probe_dir = self.support_dir
        try:
            probe = subprocess.run(
                self.bubblewrap_argv(probe_dir, ["/bin/sh", "-c", "true"], sandbox_environment(), probe_dir),
                capture_output=True,
                text=True,
                timeout=20,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return IsolationStatus(False, f"bubblewrap cannot start: {exc}")
        if probe.returncode != 0:
            return IsolationStatus(False, f"bubblewrap cannot start here: {probe.stderr.strip()[:300]}")
        return IsolationStatus(True, "")

    def shared_packages(self, shared_node_modules: Path) -> tuple[str, ...]:
        """Which of the template's shared packages need read-only binds (``owned_packages``)."""
        return self._once(self._packages, shared_node_modules, owned_packages)

    def shared_inodes(self, template_app_dir: Path) -> frozenset[tuple[int, int]]:
        """The prepared template's own files, which a sandbox's disk budget does not count."""
        return self._once(self._inodes, template_app_dir, template_inodes)

    def _once(self, table: dict[Path, T], directory: Path, read: Callable[[Path], T]) -> T:
        """``read(directory)``, read once: a prepared template directory never changes."""
        with self._lock:
            if directory not in table:
                table[directory] = read(directory)
            return table[directory]

    def netbridge_path(self) -> str:
        """The ingress relay's path as a sandboxed process sees it."""
        return SANDBOX_NETBRIDGE if self.isolation.bubblewrap else str(NETBRIDGE)

    def bubblewrap_argv(
        self,
        sandbox_dir: Path,
        argv: list[str],
        env: dict[str, str],
        egress_dir: Path,
        shared_node_modules: Path | None = None,
    ) -> list[str]:
        packages = self.shared_packages(shared_node_modules) if shared_node_modules is not None else ()
        return bubblewrap_argv(
            sandbox_dir,
            argv,
            env,
            egress_dir,
            support_dir=self.support_dir,
            shared_node_modules=shared_node_modules,
            shared_packages=packages,
        )

    def sandbox_process(
        self,
        sandbox_id: str,
        sandbox_dir: Path,
        argv: list[str],
        egress_dir: Path,
        extra_env: dict[str, str] | None = None,
        shared_node_modules: Path | None = None,
        *,
        lifeline_fd: int,
    ) -> SandboxProcess:
        """How to start ``argv`` in the sandbox; ``lifeline_fd`` is the read end of its lifeline."""
        status = self.isolation
        if status.refusal:
            raise IsolationUnavailableError(status.refusal)
        if not status.bubblewrap:
            env = sandbox_environment(extra_env, home=str(sandbox_dir)) | {"PWD": str(sandbox_dir)}
            return SandboxProcess(argv, env, sandbox_dir)
        env = sandbox_environment(extra_env) | proxy_environment()
        groups = self.cgroups.sandbox_cgroups(sandbox_id)
        # What no cgroup limits, rlimits do, set inside the sandbox (after its user namespace exists).
        limited = self.rlimits.argv([c for c in CONTROLLERS if c not in groups])
        relayed = [*limited, "/bin/sh", "-c", SANDBOX_INIT, "sandbox", str(lifeline_fd), *argv]
        wrapped = self.bubblewrap_argv(sandbox_dir, relayed, env, egress_dir, shared_node_modules)
        if groups:
            # Joins the cgroups before bubblewrap starts, so every process of the sandbox counts.
            wrapped = ["/bin/sh", "-c", f'{joining(groups)} && exec "$@"', "sandbox", *wrapped]
        return SandboxProcess(wrapped, {"PATH": SAFE_PATH}, sandbox_dir)
