"""The E2B sandbox: a Firecracker VM from our template (sandbox-template/), its dev server on a port."""

from __future__ import annotations

from typing import Any

from e2b import CommandExitException, Sandbox, TimeoutException

from qai_agent.sandboxes.app_template import stack_paragraph
from qai_agent.sandboxes.base import CommandOutcome, SandboxDescription, app_relative_path

WORKDIR = "/home/user"
PREVIEW_PORT = 3000
OUTPUT_LIMIT = 20_000

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


class E2BSandbox:
    description = DESCRIPTION

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox

    @classmethod
    def create(cls, *, template: str, api_key: str, timeout_seconds: int) -> E2BSandbox:
        return cls(Sandbox.create(template=template, api_key=api_key, timeout=timeout_seconds))

    def _absolute(self, path: str) -> str:
        return f"{WORKDIR}/{app_relative_path(path)}"

    def write_files(self, files: dict[str, str]) -> None:
        if files:
            self._sandbox.files.write_files([{"path": self._absolute(p), "data": c} for p, c in files.items()])

    def read_file(self, path: str) -> str:
        return str(self._sandbox.files.read(self._absolute(path)))

    def run(self, command: str, *, timeout_seconds: float) -> CommandOutcome:
        try:
            result = self._sandbox.commands.run(command, cwd=WORKDIR, timeout=timeout_seconds)
        except CommandExitException as exc:  # a non-zero exit is a result for the model, not a crash
            return CommandOutcome(exc.exit_code, _tail(exc.stdout), _tail(exc.stderr))
        except TimeoutException as exc:
            return CommandOutcome(-1, "", str(exc), timed_out=True)
        return CommandOutcome(result.exit_code, _tail(result.stdout), _tail(result.stderr))

    def preview_url(self) -> str:
        return f"https://{self._sandbox.get_host(PREVIEW_PORT)}"

    def close(self, *, succeeded: bool) -> None:
        # A good sandbox lives on until its timeout so that the preview URL keeps working.
        if not succeeded:
            self._sandbox.kill()


def _tail(text: str | None) -> str:
    return (text or "")[-OUTPUT_LIMIT:]
