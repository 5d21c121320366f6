"""The small interface every sandbox provider implements, and the path rules they share."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

# Told of a file a snapshot leaves out: its path and why.
Skipped = Callable[[str, str], None]


class SandboxPathError(ValueError):
    """A path the model gave that would leave the app's directory; reported back as a tool error."""


class SandboxLostError(RuntimeError):
    """The sandbox itself is gone mid-run (its directory removed, its VM killed): not the model's to
    fix, so the attempt fails and the queue brings the run back, to a sandbox rebuilt from the files."""


@dataclass(frozen=True)
class CommandOutcome:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: bool = False  # killed because the run was cancelled


# How often a running command looks at its ``stop`` question (which is itself cached: see RunLog).
STOP_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class SandboxDescription:
    """What the system prompt tells the model about where it works."""

    environment: str  # a paragraph: the stack, what is pre-installed, how the preview is served
    workdir: str


class Sandbox(Protocol):
    sandbox_id: str  # what a fragment records, to reconnect to this sandbox later
    description: SandboxDescription

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        """Write files (text, or bytes as they are), creating their directories."""
        ...

    def remove_files(self, paths: list[str]) -> None: ...

    def read_file(self, path: str) -> str: ...

    def run(self, command: str, *, timeout_seconds: float, stop: Callable[[], bool] | None = None) -> CommandOutcome:
        """Run a shell command in the app's directory; killed at the timeout, or once ``stop()`` is true."""
        ...

    def snapshot(self, max_bytes: int, skipped: Skipped | None = None) -> dict[str, str]:
        """Every app file that differs from the template, as a fragment stores them (``qai.app_files``);
        AppTooLargeError past ``max_bytes``. A file that cannot be stored (a name with a backslash or a
        control character, a link, one that changed while it was read) is left out and passed to
        ``skipped`` with the reason."""
        ...

    def export_files(self, directory: str, max_bytes: int) -> dict[str, bytes]:
        """Every regular file under ``directory`` of the app (a build's output), by path relative to it;
        links and anything else left out; FileNotFoundError when there is no such directory;
        AppTooLargeError past ``max_bytes``."""
        ...

    def server_log(self) -> str:
        """The recent output of the app's dev server: where compile errors show."""
        ...

    def preview_url(self) -> str: ...

    def close(self, *, keep: bool) -> None:
        """Let go of the sandbox: kept, it goes on serving its preview; otherwise it is destroyed."""
        ...


def app_relative_path(path: str) -> str:
    """The normalised path of a file inside the app; SandboxPathError for anything that escapes."""
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise SandboxPathError("path must be a non-empty string")
    candidate = path.strip().replace("\\", "/")
    if candidate.startswith("/") or candidate.startswith("~"):
        raise SandboxPathError(f"{path}: absolute paths are not allowed; use a path relative to the app")
    normalised = posixpath.normpath(candidate)
    if normalised == "." or normalised == ".." or normalised.startswith("../"):
        raise SandboxPathError(f"{path}: path leaves the app directory")
    return normalised
