"""The local sandbox provider: one directory per sandbox under the sandbox root, the app at its root.

A sandbox is made from the prepared template in well under a second (its node_modules is shared
through hard links). Commands run isolated (see ``isolation``) in their own process group, killed
whole on timeout. The host's file operations go by descriptor and never follow a link (see
``files``): ``..``, absolute paths and symlinks anywhere on the way are refused. The preview is
the sandbox's own port on 127.0.0.1 (see ``previews``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from qai.app_files import DEFAULT_MAX_BYTES, encode_app
from qai_agent.sandboxes.app_template import stack_paragraph
from qai_agent.sandboxes.base import (
    STOP_POLL_SECONDS,
    CommandOutcome,
    SandboxDescription,
    SandboxLostError,
    SandboxPathError,
    Skipped,
    app_relative_path,
)
from qai_local.sandbox.cgroups import CONTROLLERS, limits_hit
from qai_local.sandbox.disk import CHECK_EVERY_SECONDS, over_budget
from qai_local.sandbox.files import (
    FileChangedError,
    changed_files,
    opened_directory,
    read_bytes,
    remove,
    tree_files,
    write_bytes,
)
from qai_local.sandbox.isolation import SANDBOX_APP_DIR, IsolationStatus, IsolationUnavailableError
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.template_cache import TemplateCache

OUTPUT_LIMIT = 20_000
# After a kill, how long the command's output pipes may stay open: a process that escaped the kill
# (one whose sandbox outlived a killed bubblewrap) must not hold the run until it ends by itself.
KILLED_OUTPUT_SECONDS = 5
SANDBOX_ID = re.compile(r"[0-9a-f]{32}")


def local_description(isolation: IsolationStatus) -> SandboxDescription:
    isolated = isolation.bubblewrap
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


class LocalSandbox:
    def __init__(self, root: Path, sandbox_id: str, template: TemplateCache, previews: LocalPreviews) -> None:
        self.sandbox_id = sandbox_id
        self.dir = (root / sandbox_id).resolve()
        self._template = template
        self._previews = previews
        # The provider's running process groups and its machine's facts, handed down by its previews.
        self._processes = previews.supervisor.processes
        self._machine = self._processes.machine
        self.description = local_description(self._machine.isolation)
        self._unmeasured_seconds = 0.0  # command time since the directory's size was last measured

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
        targets = {app_relative_path(path): content for path, content in files.items()}  # all checked first
        _ensure_present(self.dir)
        with opened_directory(self.dir) as root_fd:
            for path, content in targets.items():
                write_bytes(root_fd, path, content if isinstance(content, bytes) else content.encode("utf-8"))

    def remove_files(self, paths: list[str]) -> None:
        targets = [app_relative_path(path) for path in paths]
        _ensure_present(self.dir)
        with opened_directory(self.dir) as root_fd:
            for path in targets:
                remove(root_fd, path)

    def read_file(self, path: str) -> str:
        relative = app_relative_path(path)
        _ensure_present(self.dir)
        with opened_directory(self.dir) as root_fd:
            try:
                data = read_bytes(root_fd, relative, DEFAULT_MAX_BYTES)
            except FileNotFoundError:
                raise FileNotFoundError(f"{path}: no such file") from None
            except (FileChangedError, IsADirectoryError) as exc:
                raise SandboxPathError(f"{path}: not a regular file") from exc
        return data.decode("utf-8", errors="replace")

    def snapshot(self, max_bytes: int, skipped: Skipped | None = None) -> dict[str, str]:
        _ensure_present(self.dir)
        files = changed_files(self.dir, self._template.app_dir, max_bytes, skipped or (lambda _path, _reason: None))
        return encode_app(files, max_bytes)

    def export_files(self, directory: str, max_bytes: int) -> dict[str, bytes]:
        _ensure_present(self.dir)
        return dict(tree_files(self.dir, app_relative_path(directory), max_bytes))

    def server_log(self) -> str:
        return self._previews.supervisor.output_tail(self.sandbox_id)

    def _start(self, command: str) -> subprocess.Popen[bytes]:
        return self._processes.start(
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
        started = time.monotonic()
        ends_at = started + timeout_seconds
        timed_out = stopped = False
        limit_counts = self._machine.cgroups.limit_counts
        counts_before = limit_counts(self.sandbox_id)
        over_disk = ""
        try:
            while True:
                try:
                    wait = max(0.0, min(STOP_POLL_SECONDS, ends_at - time.monotonic()))
                    stdout, stderr = process.communicate(timeout=wait)
                    hit = limits_hit(counts_before, limit_counts(self.sandbox_id))  # before the cgroups go
                    break
                except subprocess.TimeoutExpired:
                    timed_out = time.monotonic() >= ends_at
                    stopped = not timed_out and stop is not None and stop()
                    over_disk = self._measure_disk(time.monotonic() - started)
                    started = time.monotonic()
                    # The shell is done but something it started holds its output open (`cmd &`):
                    # the command has ended, and what it left behind goes, as below.
                    if timed_out or stopped or over_disk or process.poll() is not None:
                        hit = limits_hit(counts_before, limit_counts(self.sandbox_id))
                        self._processes.kill_group(process)
                        stdout, stderr = _output_after_kill(process)
                        break
        finally:
            self._processes.kill_group(process)  # whatever it left running in the background goes too
        over_disk = over_disk or self._measure_disk(time.monotonic() - started)
        out, said = (data.decode("utf-8", errors="replace")[-OUTPUT_LIMIT:] for data in (stdout, stderr))
        # A limit that no cgroup of the sandbox counts (none in counts_before) is an rlimit: what was said tells.
        without_cgroup = [controller for controller in CONTROLLERS if controller not in counts_before]
        by_rlimit = self._machine.rlimits.hit(without_cgroup, process.returncode, f"{out}\n{said}")
        notes = "\n".join(note for note in (hit, by_rlimit, over_disk) if note)
        return CommandOutcome(
            exit_code=process.returncode or (1 if over_disk else 0),
            stdout=out,
            stderr=f"{said}\n{notes}" if notes else said,
            timed_out=timed_out,
            stopped=stopped,
        )

    def _measure_disk(self, seconds: float) -> str:
        """The disk budget's note, measured once a second of commands has added up."""
        self._unmeasured_seconds += seconds
        if self._unmeasured_seconds < CHECK_EVERY_SECONDS:
            return ""
        self._unmeasured_seconds = 0.0
        return over_budget(self.dir, self._machine.shared_inodes(self._template.app_dir))

    def preview_url(self) -> str:
        return self._previews.url_for(self.sandbox_id)

    def close(self, *, keep: bool) -> None:
        # A kept directory is a preview; a failed new sandbox is of no use to anyone.
        if not keep:
            self._previews.forget(self.sandbox_id)
            shutil.rmtree(self.dir, ignore_errors=True)
