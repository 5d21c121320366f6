"""A sandbox made to hold a fragment's app: the one it came from when it still lives, else a new one.

A live sandbox is reconnected as it was left, so nothing is reinstalled; a new one gets the
fragment's files and, when they change the dependencies, ``npm install``. Either way the sandbox
is brought to exactly the fragment's files first (a no-op for a sandbox left as its fragment was
saved), so that a sandbox left half-changed by a failed run is put right before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from qai.app_files import decode_content
from qai_agent.config import AgentSettings
from qai_agent.sandboxes import SandboxProvider
from qai_agent.sandboxes.base import Sandbox

DEPENDENCY_FILES = frozenset({"package.json", "package-lock.json"})
INSTALL_COMMAND = "npm install --no-audit --no-fund"
# A sandbox's current files are read before they are put right: allow more than a fragment holds.
SNAPSHOT_HEADROOM = 4


class InstallError(RuntimeError):
    """``npm install`` of the app's dependencies failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class SyncOutcome:
    written: int
    removed: int
    installed: bool


@dataclass(frozen=True)
class OpenedApp:
    sandbox: Sandbox
    attached: bool  # the fragment's own sandbox, reconnected; otherwise a new one
    sync: SyncOutcome


def sync_app(sandbox: Sandbox, files: dict[str, str], settings: AgentSettings, *, new: bool = False) -> SyncOutcome:
    """Make the sandbox's app exactly ``files`` (on top of the template), installing when needed.
    A ``new`` sandbox is the template itself: it has no files of its own to read first."""
    current = {} if new else sandbox.snapshot(settings.fragment_max_bytes * SNAPSHOT_HEADROOM)
    changed = {path: decode_content(content) for path, content in files.items() if current.get(path) != content}
    removed = sorted(set(current) - set(files))
    sandbox.remove_files(removed)
    sandbox.write_files(changed)
    install = bool(DEPENDENCY_FILES & (set(changed) | set(removed)))
    if install:
        outcome = sandbox.run(INSTALL_COMMAND, timeout_seconds=settings.install_timeout_seconds)
        if outcome.exit_code != 0 or outcome.timed_out:
            raise InstallError(f"npm install failed: {(outcome.stdout + outcome.stderr)[-1500:]}")
    return SyncOutcome(written=len(changed), removed=len(removed), installed=install)


def open_app(
    sandboxes: SandboxProvider, settings: AgentSettings, files: dict[str, str], sandbox_id: str | None
) -> OpenedApp:
    """The fragment's own sandbox when it still lives (and may be taken), else a new one from its files."""
    sandbox = sandboxes.attach(sandbox_id) if sandbox_id else None
    attached = sandbox is not None
    if sandbox is None:
        sandbox = sandboxes.open()
    try:
        return OpenedApp(sandbox, attached, sync_app(sandbox, files, settings, new=not attached))
    except BaseException:
        if not attached:
            sandbox.close(keep=False)
        raise
