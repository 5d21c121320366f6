"""The E2B sandbox: a Firecracker VM from our template (sandbox-template/), its dev server on a port."""

from __future__ import annotations

from typing import Any

from e2b import CommandExitException, Sandbox, TimeoutException

from qai_agent.sandboxes.base import CommandOutcome, SandboxDescription, app_relative_path

WORKDIR = "/home/user"
PREVIEW_PORT = 3000
OUTPUT_LIMIT = 20_000

DESCRIPTION = SandboxDescription(
    workdir=WORKDIR,
    environment=(
        f"You work in an E2B sandbox: a Linux VM with a Next.js 15 app (App Router, TypeScript) in {WORKDIR}, "
        "Tailwind CSS and every shadcn/ui component already installed (import them from '@/components/ui/…'), "
        f"and its dev server already running with hot reload on port {PREVIEW_PORT}: never start, stop or "
        "restart it, and never run `npm run dev`, `next dev`, `npm run build` or `next build`. The main page "
        "is app/page.tsx. Add client components with 'use client' at the top of the file. Install extra npm "
        "packages with `npm install <package> --yes` in the terminal before you import them. Paths are "
        f"relative to {WORKDIR}; file paths given to the tools must be relative (for example "
        "app/page.tsx), never absolute and never with '@' in them."
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
