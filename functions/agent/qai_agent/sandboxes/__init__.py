"""Sandbox providers behind one interface: ``open_sandbox`` picks the one the settings name."""

from __future__ import annotations

from functools import cache

from qai_agent.config import AgentSettings, e2b_api_key
from qai_agent.sandboxes.base import Sandbox


class SandboxConfigurationError(RuntimeError):
    """The sandbox provider cannot start as configured (a missing key, an unknown provider)."""


@cache
def _local_preview_base_url(root: str) -> str:
    # No preview server was named: serve this process's sandboxes from a thread of its own.
    from pathlib import Path

    from qai_agent.sandboxes.local import PreviewServer

    return PreviewServer(Path(root)).start().base_url


def open_sandbox(settings: AgentSettings) -> Sandbox:
    if settings.sandbox_provider == "local":
        from qai_agent.sandboxes.local import LocalSandbox

        base_url = settings.local_preview_url or _local_preview_base_url(str(settings.local_sandbox_root))
        return LocalSandbox.create(settings.local_sandbox_root, base_url)
    if settings.sandbox_provider == "e2b":
        from qai_agent.sandboxes.e2b import E2BSandbox

        api_key = e2b_api_key()
        if not api_key:
            raise SandboxConfigurationError("E2B_API_KEY or E2B_SECRET_ARN must be set for SANDBOX_PROVIDER=e2b")
        return E2BSandbox.create(
            template=settings.e2b_template, api_key=api_key, timeout_seconds=settings.e2b_timeout_seconds
        )
    raise SandboxConfigurationError(f"SANDBOX_PROVIDER must be 'e2b' or 'local', not {settings.sandbox_provider!r}")
