"""How a sandboxed process is started: the bubblewrap command line, built in one place, or the fallback.

Under bubblewrap a command sees the system's programs read-only, its own sandbox directory
(writable, at ``/home/user/app``), a private ``/tmp`` and ``/proc``, and nothing else: not the
host's home, not the other sandboxes, not the worker's files or environment, not other processes.
Besides those, only its home (``/home/user``, where npm keeps its cache) and ``/dev/shm`` are
writable, each private and small (512 and 64 MB); bubblewrap's own root and ``/dev`` are read-only.
It runs as an unprivileged user in its own user, PID, IPC, UTS and network namespaces with no
capabilities: its network is loopback plus a relay to the host's allowlisting proxy, so ``npm
install`` works and nothing else outside answers (see ``network``). When its process group is
killed, the PID namespace goes with it. Limits: memory (``LOCAL_SANDBOX_MEMORY_MB``, 2048) and
processes (512) for all of a sandbox's processes together in cgroups where the machine lets us
make them (``cgroups``), and otherwise for each process and command in rlimits (``rlimits``), and
a 512 MB ``/tmp``. A command that hits one is told so in its result.

Where bubblewrap cannot run, commands run directly in the sandbox directory with an environment
built from scratch: that confines mistakes and leaks, not a hostile model. The stack says so.
Whether it can is probed once per provider, by its ``MachineProbe`` (``machine``), which also
decides between the two for each process it starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from qai_local.sandbox.cgroups import TMP_SIZE_MB
from qai_local.sandbox.network import EGRESS_SOCKET, NETBRIDGE, PROXY_PORT

SANDBOX_HOME = "/home/user"
SANDBOX_APP_DIR = f"{SANDBOX_HOME}/app"
SANDBOX_UID = 1000
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
SHM_SIZE_MB = 64
# Read-only system paths a Node.js toolchain needs; each is bound only if the host has it.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/alternatives",
)
PASSWD = f"root:x:0:0:root:/root:/bin/sh\nuser:x:{SANDBOX_UID}:{SANDBOX_UID}:user:{SANDBOX_HOME}:/bin/sh\n"
GROUP = f"root:x:0:\nuser:x:{SANDBOX_UID}:\n"
# Where the host's files for the network bridges appear inside a sandbox.
SANDBOX_EGRESS_DIR = "/run/qai"
SANDBOX_NETBRIDGE = "/opt/qai/netbridge.js"
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
# The first process in the sandbox, before the command: a watcher on the lifeline (a pipe whose only
# write end the worker holds) kills everything in the sandbox once the worker is gone, however it
# ended, even when bubblewrap's own --die-with-parent came too late; then the relay to the egress
# proxy, and a wait (bounded) until it listens, read from the namespace's own /proc/net/tcp
# (0100007F:0C38 is 127.0.0.1:3128).
SANDBOX_INIT = (
    '(cat "/dev/fd/$1" >/dev/null 2>&1; kill -9 -1) >/dev/null 2>&1 & shift; '
    f"socat TCP-LISTEN:{PROXY_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:{SANDBOX_EGRESS_DIR}/{EGRESS_SOCKET}"
    f' 2>/dev/null & i=0; while ! grep -q "0100007F:{PROXY_PORT:04X} " /proc/net/tcp && [ $i -lt 2000 ];'
    ' do i=$((i+1)); done; exec "$@"'
)


INSTALL_HINT = "install bubblewrap and socat (Debian/Ubuntu: sudo apt-get install bubblewrap socat)"


@dataclass(frozen=True)
class IsolationStatus:
    bubblewrap: bool
    detail: str  # why not, when it is off
    opted_out: bool = False  # QAI_SANDBOX_ISOLATION=none: the operator runs commands unisolated on purpose

    @property
    def refusal(self) -> str | None:
        """Why commands and dev servers may not run here, or None when they may."""
        if self.bubblewrap or self.opted_out:
            return None
        return (
            f"Sandboxed commands are refused on this machine: {self.detail}. To run them, {INSTALL_HINT}; "
            "or set QAI_SANDBOX_ISOLATION=none to run them without isolation, on purpose."
        )

    def describe(self) -> str:
        if self.bubblewrap:
            return "bubblewrap (each sandbox sees only its own directory and network; npm registry only)"
        if self.opted_out:
            return "NOT ISOLATED (QAI_SANDBOX_ISOLATION=none): commands run as this user, confined by path only"
        return f"OFF: {self.detail}; commands and previews are refused until you {INSTALL_HINT}"


class IsolationUnavailableError(RuntimeError):
    """Bubblewrap cannot run here and the operator has not opted out: nothing runs."""


def sandbox_environment(extra: dict[str, str] | None = None, *, home: str = SANDBOX_HOME) -> dict[str, str]:
    """The whole environment of a sandboxed process: nothing of the worker's (no keys, no URLs)."""
    env = {
        "PATH": SAFE_PATH,
        "HOME": home,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NEXT_TELEMETRY_DISABLED": "1",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_yes": "true",
    }
    return env | (extra or {})


def proxy_environment() -> dict[str, str]:
    """What points npm (and other tools that honour the usual variables) at the egress relay."""
    return {
        "HTTPS_PROXY": PROXY_URL,
        "https_proxy": PROXY_URL,
        "HTTP_PROXY": PROXY_URL,
        "http_proxy": PROXY_URL,
        "npm_config_proxy": PROXY_URL,
        "npm_config_https_proxy": PROXY_URL,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def _node_prefix() -> str | None:
    """Node's installation prefix when it lives outside the system dirs (nvm, a tarball in /home)."""
    node = shutil.which("node")
    if node is None:
        return None
    prefix = Path(node).resolve().parent.parent
    return None if any(str(prefix).startswith(d + "/") or str(prefix) == d for d in SYSTEM_DIRS) else str(prefix)


def make_support_dir() -> Path:
    """passwd and group files for the sandbox user, so tools that look the user up find one.

    One directory per host user, reused by every process (not one left behind per process); one
    that someone else made is not trusted, and a private one is made instead.
    """
    directory = Path(tempfile.gettempdir()) / f"qai-sandbox-etc-{os.getuid()}"
    try:
        directory.mkdir(mode=0o755)
    except FileExistsError:
        if directory.is_symlink() or directory.stat().st_uid != os.getuid():
            directory = Path(tempfile.mkdtemp(prefix="qai-sandbox-etc-"))
            directory.chmod(0o755)
    for name, content in (("passwd", PASSWD), ("group", GROUP)):
        # Replaced whole, so a sandbox starting elsewhere never binds a half-written file; staged under
        # a name of this thread's own (two workers of one process may get here at once).
        staged = directory / f".{name}.{os.getpid()}.{threading.get_ident()}"
        staged.write_text(content)
        staged.chmod(0o644)
        os.replace(staged, directory / name)
    return directory


def owned_packages(shared_node_modules: Path) -> tuple[str, ...]:
    """The template's packages (``react``, ``@types/node``) that sandboxes share by hard links, when
    they are this user's own.

    Their files are read-only, but when the stack is not root they are the stack user's own, and so
    a sandbox's (its user maps to ours): a ``chmod`` would make them writable again in every other
    sandbox. Those packages are then bound read-only over the sandbox's links; as root they belong
    to another user and need no mount. The template never changes, so a ``MachineProbe`` reads this
    once.
    """
    try:
        if (shared_node_modules / "next" / "package.json").stat().st_uid != os.geteuid():
            return ()
        entries = sorted(entry for entry in os.listdir(shared_node_modules) if not entry.startswith("."))
    except OSError:
        return ()
    packages: list[str] = []
    for entry in entries:
        if entry.startswith("@"):
            packages += [f"{entry}/{name}" for name in sorted(os.listdir(shared_node_modules / entry))]
        elif (shared_node_modules / entry).is_dir():
            packages.append(entry)
    return tuple(packages)


def shared_package_binds(shared_node_modules: Path | None, packages: tuple[str, ...]) -> list[str]:
    if shared_node_modules is None:
        return []
    args: list[str] = []
    for package in packages:
        args += ["--ro-bind", str(shared_node_modules / package), f"{SANDBOX_APP_DIR}/node_modules/{package}"]
    return args


def bubblewrap_argv(
    sandbox_dir: Path,
    argv: list[str],
    env: dict[str, str],
    egress_dir: Path,
    *,
    support_dir: Path,
    shared_node_modules: Path | None = None,
    shared_packages: tuple[str, ...] = (),
) -> list[str]:
    """The whole bubblewrap command line; ``support_dir`` holds the sandbox user's passwd and group
    files (``make_support_dir``), ``shared_packages`` the packages of ``shared_node_modules`` that
    are bound read-only (``owned_packages``)."""
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [
        bwrap,
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        args += ["--ro-bind-try", path, path]
    passwd, group = support_dir / "passwd", support_dir / "group"
    args += ["--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(group), "/etc/group"]
    if prefix := _node_prefix():
        args += ["--ro-bind", prefix, prefix]
        env = env | {"PATH": f"{prefix}/bin:{env['PATH']}"}
    # The sandbox's own private /tmp, not the host's; its home (npm's cache) and /dev/shm are small
    # file systems of their own too. Everything else that is not bound writable is read-only below:
    # bubblewrap's own root and /dev are file systems in memory that no size or cgroup would bound.
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_SIZE_MB << 20), "--tmpfs", "/tmp"]  # noqa: S108
    args += ["--size", str(SHM_SIZE_MB << 20), "--tmpfs", "/dev/shm"]  # noqa: S108
    args += ["--size", str(TMP_SIZE_MB << 20), "--tmpfs", SANDBOX_HOME]
    # The host's own files, read-only: the egress proxy's socket and the ingress relay.
    args += ["--ro-bind", str(egress_dir), SANDBOX_EGRESS_DIR, "--ro-bind", str(NETBRIDGE), SANDBOX_NETBRIDGE]
    args += ["--bind", str(sandbox_dir), SANDBOX_APP_DIR, *shared_package_binds(shared_node_modules, shared_packages)]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_APP_DIR, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, *argv]


@dataclass(frozen=True)
class SandboxProcess:
    """What to pass to ``subprocess.Popen`` for a command in a sandbox."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
