"""The E2B sandbox: a Firecracker VM from our template (sandbox-template/), its dev server on a port.

A good run's sandbox is paused, not killed, when its timeout comes (with auto-resume, so that its
preview URL wakes it again); a follow-up or a preview job connects to it by id, which resumes it.
The snapshot of the app runs in the VM and comes back in one archive: the files whose checksum
differs from the manifest the template recorded when it installed the app template.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from e2b import CommandExitException, NotFoundException, Sandbox, SandboxLifecycle, TimeoutException

from qai.app_files import SKIPPED_DIRS, SKIPPED_SUFFIXES, encode_app, stored_path_problem, too_large
from qai_agent.sandboxes.app_template import stack_paragraph
from qai_agent.sandboxes.base import (
    STOP_POLL_SECONDS,
    CommandOutcome,
    SandboxDescription,
    Skipped,
    app_relative_path,
)

WORKDIR = "/home/user"
PREVIEW_PORT = 3000
OUTPUT_LIMIT = 20_000
# Written by the template (root-owned, outside the app): "<sha256>  ./<path>" per template file.
TEMPLATE_MANIFEST = "/opt/qai/template.sha256"
# The VM's own working files, in a directory a snapshot skips (.cache).
VM_STATE_DIR = f"{WORKDIR}/.cache/qai"
DEV_SERVER_LOG = f"{VM_STATE_DIR}/dev-server.log"
SNAPSHOT_ARCHIVE = f"{VM_STATE_DIR}/snapshot.tgz"
EXPORT_ARCHIVE = f"{VM_STATE_DIR}/export.tgz"
SNAPSHOT_TIMEOUT_SECONDS = 120
# Paused rather than killed at the timeout; traffic to the preview URL resumes it.
LIFECYCLE: SandboxLifecycle = {"on_timeout": "pause", "auto_resume": True}

DESCRIPTION = SandboxDescription(
    workdir=WORKDIR,
    environment="You work in an E2B sandbox: a Linux VM. "
    + stack_paragraph(
        WORKDIR,
        components=(
            "Every shadcn/ui component is installed in components/ui/ (import them from '@/components/ui/…'; "
            "read one before you rely on its props), with the packages they need."
        ),
        network=(
            "The network is open: install extra npm packages with `npm install <package>` before you import them."
        ),
    ),
)


def _wait_into(handle: Any, result: Future[Any]) -> None:
    try:
        result.set_result(handle.wait())
    except BaseException as exc:  # handed to the waiting caller, whatever it is
        result.set_exception(exc)


def file_listing_command() -> str:
    """Checksums of the app's files, sorted, skipping what a fragment never holds (run in WORKDIR)."""
    pruned = " -o ".join(f"-name {shlex.quote(name)}" for name in sorted(SKIPPED_DIRS))
    suffixes = " ".join(f"! -name '*{suffix}'" for suffix in SKIPPED_SUFFIXES)
    return f"find . \\( {pruned} \\) -prune -o -type f {suffixes} -print0 | xargs -0 -r sha256sum | LC_ALL=C sort"


def snapshot_command() -> str:
    """Archive the files not in the template's manifest (new or changed); print the archive's size."""
    return (
        f"set -e; mkdir -p {VM_STATE_DIR}; {file_listing_command()} > {VM_STATE_DIR}/files.sha256; "
        f"LC_ALL=C sort {TEMPLATE_MANIFEST} | LC_ALL=C comm -23 {VM_STATE_DIR}/files.sha256 - | cut -c67- "
        f"> {VM_STATE_DIR}/changed.txt; tar -czf {SNAPSHOT_ARCHIVE} -T {VM_STATE_DIR}/changed.txt; "
        f"stat -c %s {SNAPSHOT_ARCHIVE}"
    )


def _archive_members(archive: bytes, max_bytes: int, skipped: Skipped) -> Iterator[tuple[str, bytes]]:
    total = 0
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if not member.isfile():
                continue
            if problem := stored_path_problem(name):
                skipped(name, problem)
                continue
            total += member.size
            if total > max_bytes:  # checked before extracting: a small archive can unpack large
                raise too_large(total, max_bytes)
            extracted = tar.extractfile(member)
            if extracted is not None:
                yield name, extracted.read()


class E2BSandbox:
    description = DESCRIPTION

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox
        self.sandbox_id: str = sandbox.sandbox_id

    @classmethod
    def create(cls, *, template: str, api_key: str, timeout_seconds: int) -> E2BSandbox:
        return cls(Sandbox.create(template=template, api_key=api_key, timeout=timeout_seconds, lifecycle=LIFECYCLE))

    @classmethod
    def attach(cls, sandbox_id: str, *, api_key: str, timeout_seconds: int) -> E2BSandbox | None:
        """The sandbox as it was left (resumed if it was paused), or None when E2B no longer has it."""
        try:
            return cls(Sandbox.connect(sandbox_id, timeout=timeout_seconds, api_key=api_key))
        except NotFoundException:
            return None

    def _absolute(self, path: str) -> str:
        return f"{WORKDIR}/{app_relative_path(path)}"

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        if files:
            self._sandbox.files.write_files([{"path": self._absolute(p), "data": c} for p, c in files.items()])

    def remove_files(self, paths: list[str]) -> None:
        if paths:
            quoted = " ".join(shlex.quote(self._absolute(path)) for path in paths)
            self._sandbox.commands.run(f"rm -f -- {quoted}", cwd=WORKDIR)

    def read_file(self, path: str) -> str:
        try:
            return str(self._sandbox.files.read(self._absolute(path)))
        except NotFoundException:
            raise FileNotFoundError(f"{path}: no such file") from None

    def run(self, command: str, *, timeout_seconds: float, stop: Callable[[], bool] | None = None) -> CommandOutcome:
        # Started in the background and waited for on a thread, so that a stop can kill it meanwhile.
        handle = self._sandbox.commands.run(command, background=True, cwd=WORKDIR, timeout=timeout_seconds)
        result: Future[Any] = Future()
        threading.Thread(target=_wait_into, args=(handle, result), daemon=True).start()
        stopped = False
        while True:
            try:
                done = result.result(timeout=STOP_POLL_SECONDS)
            except FutureTimeoutError:
                if not stopped and stop is not None and stop():
                    handle.kill()
                    stopped = True
                continue
            except CommandExitException as exc:  # a non-zero exit is a result for the model, not a crash
                return CommandOutcome(exc.exit_code, _tail(exc.stdout), _tail(exc.stderr), stopped=stopped)
            except TimeoutException as exc:
                return CommandOutcome(-1, "", str(exc), timed_out=True)
            return CommandOutcome(done.exit_code, _tail(done.stdout), _tail(done.stderr), stopped=stopped)

    def snapshot(self, max_bytes: int, skipped: Skipped | None = None) -> dict[str, str]:
        result = self._sandbox.commands.run(snapshot_command(), cwd=WORKDIR, timeout=SNAPSHOT_TIMEOUT_SECONDS)
        archive_size = int(result.stdout.strip().splitlines()[-1])
        if archive_size > max_bytes:  # compressed already too large: not worth downloading
            raise too_large(archive_size, max_bytes)
        archive = bytes(self._sandbox.files.read(SNAPSHOT_ARCHIVE, format="bytes"))
        return encode_app(_archive_members(archive, max_bytes, skipped or (lambda _path, _reason: None)), max_bytes)

    def export_files(self, directory: str, max_bytes: int) -> dict[str, bytes]:
        folder = shlex.quote(app_relative_path(directory))
        command = (
            f"set -e; mkdir -p {VM_STATE_DIR}; tar -czf {EXPORT_ARCHIVE} -C {folder} .; stat -c %s {EXPORT_ARCHIVE}"
        )
        try:
            result = self._sandbox.commands.run(command, cwd=WORKDIR, timeout=SNAPSHOT_TIMEOUT_SECONDS)
        except CommandExitException:
            raise FileNotFoundError(f"{directory}: no such directory") from None
        archive_size = int(result.stdout.strip().splitlines()[-1])
        if archive_size > max_bytes:  # compressed already too large: not worth downloading
            raise too_large(archive_size, max_bytes)
        archive = bytes(self._sandbox.files.read(EXPORT_ARCHIVE, format="bytes"))
        return dict(_archive_members(archive, max_bytes, lambda _path, _reason: None))

    def server_log(self) -> str:
        try:
            return _tail(str(self._sandbox.files.read(DEV_SERVER_LOG)))
        except NotFoundException:
            return ""

    def preview_url(self) -> str:
        return f"https://{self._sandbox.get_host(PREVIEW_PORT)}"

    def close(self, *, keep: bool) -> None:
        # A kept sandbox lives on until its timeout, then pauses: its preview URL can wake it.
        if not keep:
            self._sandbox.kill()


def _tail(text: str | None) -> str:
    return (text or "")[-OUTPUT_LIMIT:]
