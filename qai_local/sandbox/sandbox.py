"""The local sandbox provider: one directory per sandbox under the sandbox root, the app at its root.

A sandbox is made from the prepared template in well under a second (its node_modules is shared
through hard links). Commands run isolated (see ``isolation``) in their own process group, killed
whole on timeout. File paths are confined to the sandbox: ``..``, absolute paths and symlinks
that lead out are refused. The preview is the sandbox's own port on 127.0.0.1 (see ``previews``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from qai.app_files import SKIPPED_DIRS, encode_app, is_app_file
from qai_agent.sandboxes.app_template import stack_paragraph
from qai_agent.sandboxes.base import (
    STOP_POLL_SECONDS,
    CommandOutcome,
    SandboxDescription,
    SandboxLostError,
    SandboxPathError,
    app_relative_path,
)
from qai_local.sandbox.isolation import SANDBOX_APP_DIR, IsolationUnavailableError, isolation_status
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.processes import kill_group, start_in_sandbox
from qai_local.sandbox.template_cache import TemplateCache

OUTPUT_LIMIT = 20_000
# After a kill, how long the command's output pipes may stay open: a process that escaped the kill
# (one whose sandbox outlived a killed bubblewrap) must not hold the run until it ends by itself.
KILLED_OUTPUT_SECONDS = 5
SANDBOX_ID = re.compile(r"[0-9a-f]{32}")


def local_description() -> SandboxDescription:
    isolated = isolation_status().bubblewrap
    workdir = SANDBOX_APP_DIR if isolated else "the current directory"
    environment = "You work in a local sandbox on the user's machine. " + stack_paragraph(
        workdir,
        components=(
            "No shadcn/ui components are installed: write the UI components you need in components/ui/ "
            'yourself, from the radix-ui primitives (for example `import { Dialog } from "radix-ui"`), '
            "class-variance-authority and cn()."
        ),
        network=(
            "The sandbox has no network but one way out: the npm registry, through a proxy that npm is "
            "already set up to use, so `npm install <package>` works (install a package before you import "
            "it). Nothing else answers: no CDNs, web fonts (next/font/google fails), websites, APIs or other "
            "machines, and this machine's other services are not reachable either; the app's own server is "
            "reachable from inside at 127.0.0.1. Standard Unix tools are in the terminal; commands run in the "
            "app directory and are stopped after a timeout."
        ),
    )
    return SandboxDescription(environment=environment, workdir=workdir)


def _confined(root: Path, relative: str) -> Path:
    """The real path of ``relative`` under ``root``, refusing symlinks that point outside."""
    _ensure_present(root)
    target = (root / app_relative_path(relative)).resolve()
    if target != root and root not in target.parents:
        raise SandboxPathError(f"{relative}: path leaves the app directory")
    return target


def _ensure_present(directory: Path) -> None:
    # A write would otherwise make a skeleton of the sandbox again, without its node_modules.
    if not directory.is_dir():
        raise SandboxLostError(f"the sandbox directory {directory.name} is gone")


def _output_after_kill(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    try:
        return process.communicate(timeout=KILLED_OUTPUT_SECONDS)
    except subprocess.TimeoutExpired:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        return b"", b"(its output could not be read: something it started still holds it)"


def _same_file(path: Path, template_path: Path) -> bool:
    try:
        mine, theirs = path.stat(), template_path.stat()
    except FileNotFoundError:
        return False
    if (mine.st_ino, mine.st_dev) == (theirs.st_ino, theirs.st_dev):
        return True
    return mine.st_size == theirs.st_size and path.read_bytes() == template_path.read_bytes()


class LocalSandbox:
    def __init__(self, root: Path, sandbox_id: str, template: TemplateCache, previews: LocalPreviews) -> None:
        self.sandbox_id = sandbox_id
        self.dir = (root / sandbox_id).resolve()
        self._template = template
        self._previews = previews
        self.description = local_description()

    @classmethod
    def create(cls, root: Path, template: TemplateCache, previews: LocalPreviews) -> LocalSandbox:
        root.mkdir(parents=True, exist_ok=True)
        sandbox = cls(root.resolve(), uuid.uuid4().hex, template, previews)
        template.new_app(sandbox.dir)
        return sandbox

    @classmethod
    def attach(
        cls, root: Path, sandbox_id: str, template: TemplateCache, previews: LocalPreviews
    ) -> LocalSandbox | None:
        """The sandbox as it was left, or None when its directory is gone (it expired)."""
        if not SANDBOX_ID.fullmatch(sandbox_id) or not (root / sandbox_id / "package.json").is_file():
            return None
        return cls(root.resolve(), sandbox_id, template, previews)

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        targets = {path: _confined(self.dir, path) for path in files}  # check every path before writing any
        for path, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                raise SandboxPathError(f"{path}: refusing to write through a symlink")
            if target.exists():
                target.unlink()  # a new file, never a write through a link shared with other sandboxes
            content = files[path]
            target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    def remove_files(self, paths: list[str]) -> None:
        for target in [_confined(self.dir, path) for path in paths]:
            target.unlink(missing_ok=True)

    def read_file(self, path: str) -> str:
        target = _confined(self.dir, path)
        if not target.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return target.read_text(encoding="utf-8", errors="replace")

    def _changed_files(self) -> Iterator[tuple[str, bytes]]:
        template_dir = self._template.app_dir
        for directory, dirs, names in os.walk(self.dir):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in sorted(names):
                path = Path(directory) / name
                relative = path.relative_to(self.dir).as_posix()
                if path.is_symlink() or not path.is_file() or not is_app_file(relative):
                    continue
                if not _same_file(path, template_dir / relative):
                    yield relative, path.read_bytes()

    def snapshot(self, max_bytes: int) -> dict[str, str]:
        _ensure_present(self.dir)
        return encode_app(self._changed_files(), max_bytes)

    def server_log(self) -> str:
        return self._previews.supervisor.output_tail(self.sandbox_id)

    def _start(self, command: str) -> subprocess.Popen[bytes]:
        return start_in_sandbox(
            self.sandbox_id,
            self.dir,
            ["/bin/sh", "-c", command],
            self._previews.supervisor.network.egress_dir,
            shared_node_modules=self._template.app_dir / "node_modules",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, command: str, *, timeout_seconds: float, stop: Callable[[], bool] | None = None) -> CommandOutcome:
        _ensure_present(self.dir)
        try:
            process = self._start(command)
        except IsolationUnavailableError as exc:
            return CommandOutcome(exit_code=126, stdout="", stderr=str(exc), timed_out=False, stopped=False)
        ends_at = time.monotonic() + timeout_seconds
        timed_out = stopped = False
        try:
            while True:
                try:
                    wait = max(0.0, min(STOP_POLL_SECONDS, ends_at - time.monotonic()))
                    stdout, stderr = process.communicate(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    timed_out = time.monotonic() >= ends_at
                    stopped = not timed_out and stop is not None and stop()
                    # The shell is done but something it started holds its output open (`cmd &`):
                    # the command has ended, and what it left behind goes, as below.
                    if timed_out or stopped or process.poll() is not None:
                        kill_group(process)
                        stdout, stderr = _output_after_kill(process)
                        break
        finally:
            kill_group(process)  # whatever it left running in the background goes too
        return CommandOutcome(
            exit_code=process.returncode,
            stdout=stdout.decode("utf-8", errors="replace")[-OUTPUT_LIMIT:],
            stderr=stderr.decode("utf-8", errors="replace")[-OUTPUT_LIMIT:],
            timed_out=timed_out,
            stopped=stopped,
        )

    def preview_url(self) -> str:
        return self._previews.url_for(self.sandbox_id)

    def close(self, *, keep: bool) -> None:
        # A kept directory is a preview; a failed new sandbox is of no use to anyone.
        if not keep:
            self._previews.forget(self.sandbox_id)
            shutil.rmtree(self.dir, ignore_errors=True)
