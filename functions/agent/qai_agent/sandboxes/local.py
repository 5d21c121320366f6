"""The local sandbox: a directory per sandbox on this machine, commands in their own process group.

Made for running QAI on one laptop. The app is a static web app (HTML, CSS, JavaScript) that needs
no network; a preview server on 127.0.0.1 serves each sandbox's directory under its own path and
keeps serving after the run ends. Confinement is by path: no write or read outside the sandbox
directory (``..``, absolute paths and symlinks that lead out are refused). Commands run with an
environment built from scratch, so none of the worker's secrets reach them; they are not a security
boundary against a hostile model (use E2B for that), only against mistakes and leaks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qai_agent.sandboxes.base import CommandOutcome, SandboxDescription, SandboxPathError, app_relative_path

STARTER_DIR = Path(__file__).resolve().parent / "local_starter"
OUTPUT_LIMIT = 20_000
# The only environment a command sees: enough to run tools, nothing of the worker's.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

DESCRIPTION = SandboxDescription(
    workdir=".",
    environment=(
        "You work in a local sandbox: a directory on the user's machine with no network access. "
        "Build the app as a static web app with plain HTML, CSS and JavaScript (no build step, no npm "
        "install, no CDN links: nothing can be downloaded). The directory already holds a starter app: "
        "index.html, styles.css and app.js. The preview serves the directory as it is, with index.html "
        "as the page, and shows changes on reload; there is no server to start. Standard Unix tools "
        "(ls, cat, grep, sed, python3) are available in the terminal; commands run in the app's "
        "directory and are stopped after a timeout."
    ),
)


# Process groups of commands still running, so that a stopping local stack leaves none behind.
_running_groups: set[int] = set()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def kill_running_commands() -> None:
    for pgid in list(_running_groups):
        _kill_group(pgid)


def _confined(root: Path, relative: str) -> Path:
    """The real path of ``relative`` under ``root``, refusing symlinks that point outside."""
    target = (root / app_relative_path(relative)).resolve()
    if target != root and root not in target.parents:
        raise SandboxPathError(f"{relative}: path leaves the app directory")
    return target


class LocalSandbox:
    description = DESCRIPTION

    def __init__(self, root: Path, sandbox_id: str, preview_base_url: str) -> None:
        self.sandbox_id = sandbox_id
        self.dir = (root / sandbox_id).resolve()
        self._preview_base_url = preview_base_url.rstrip("/")

    @classmethod
    def create(cls, root: Path, preview_base_url: str) -> LocalSandbox:
        root.mkdir(parents=True, exist_ok=True)
        sandbox = cls(root.resolve(), uuid.uuid4().hex, preview_base_url)
        shutil.copytree(STARTER_DIR, sandbox.dir)
        return sandbox

    def write_files(self, files: dict[str, str]) -> None:
        targets = {path: _confined(self.dir, path) for path in files}  # check every path before writing any
        for path, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                raise SandboxPathError(f"{path}: refusing to write through a symlink")
            target.write_text(files[path], encoding="utf-8")

    def read_file(self, path: str) -> str:
        target = _confined(self.dir, path)
        if not target.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return target.read_text(encoding="utf-8", errors="replace")

    def run(self, command: str, *, timeout_seconds: float) -> CommandOutcome:
        env = {"PATH": SAFE_PATH, "HOME": str(self.dir), "LANG": "C.UTF-8", "TERM": "dumb", "PWD": str(self.dir)}
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=self.dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills all it started
        )
        _running_groups.add(proc.pid)
        try:
            stdout, stderr = proc.communicate(timeout=timeout_seconds)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            stdout, stderr = proc.communicate()
            timed_out = True
        finally:
            _running_groups.discard(proc.pid)
        return CommandOutcome(
            exit_code=proc.returncode,
            stdout=stdout.decode("utf-8", errors="replace")[-OUTPUT_LIMIT:],
            stderr=stderr.decode("utf-8", errors="replace")[-OUTPUT_LIMIT:],
            timed_out=timed_out,
        )

    def preview_url(self) -> str:
        return f"{self._preview_base_url}/{self.sandbox_id}/"

    def close(self, *, succeeded: bool) -> None:
        # A good run's directory is the preview; a failed run's is of no use to anyone.
        if not succeeded:
            shutil.rmtree(self.dir, ignore_errors=True)


class _PreviewHandler(SimpleHTTPRequestHandler):
    """Serves <root>/<sandbox>/… and refuses anything whose real path leaves its sandbox."""

    def translate_path(self, path: str) -> str:
        root = Path(self.directory).resolve()
        requested = Path(super().translate_path(path))  # already free of ".." by the base class
        parts = requested.relative_to(root).parts if requested.is_relative_to(root) else ()
        real = requested.resolve()
        # No listing of all sandboxes, and no symlink out of the sandbox the path names.
        if not parts or not real.is_relative_to(root / parts[0]):
            return str(root / "not-found" / "refused")
        return str(real)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PreviewServer:
    """A static HTTP server for every local sandbox under ``root``, on 127.0.0.1."""

    def __init__(self, root: Path, port: int = 0) -> None:
        root.mkdir(parents=True, exist_ok=True)
        handler = partial(_PreviewHandler, directory=str(root.resolve()))
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="qai-preview", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> PreviewServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
