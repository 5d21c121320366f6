"""Sandbox providers behind one interface: ``open_sandbox`` picks the one the settings name."""

from __future__ import annotations

from qai_agent.config import AgentSettings, e2b_api_key
from qai_agent.sandboxes.base import Sandbox


class SandboxConfigurationError(RuntimeError):
    """The sandbox provider cannot start as configured (a missing key, an unknown provider)."""


def _e2b_key() -> str:
    api_key = e2b_api_key()
    if not api_key:
        raise SandboxConfigurationError("E2B_API_KEY or E2B_SECRET_ARN must be set for SANDBOX_PROVIDER=e2b")
    return api_key


def _check_provider(settings: AgentSettings) -> None:
    if settings.sandbox_provider not in ("local", "e2b"):
        raise SandboxConfigurationError(f"SANDBOX_PROVIDER must be 'e2b' or 'local', not {settings.sandbox_provider!r}")


def open_sandbox(settings: AgentSettings) -> Sandbox:
    """A new sandbox with the app template."""
    _check_provider(settings)
    if settings.sandbox_provider == "local":
        # Only on one machine: the local sandbox is not in the agent's Lambda package.
        from qai_local.sandbox.provider import open_local_sandbox

        return open_local_sandbox(settings)
    from qai_agent.sandboxes.e2b import E2BSandbox

    return E2BSandbox.create(
        template=settings.e2b_template, api_key=_e2b_key(), timeout_seconds=settings.e2b_timeout_seconds
    )


def attach_sandbox(settings: AgentSettings, sandbox_id: str) -> Sandbox | None:
    """An existing sandbox as it was left (resumed if paused), or None when it expired."""
    _check_provider(settings)
    if settings.sandbox_provider == "local":
        from qai_local.sandbox.provider import attach_local_sandbox

        return attach_local_sandbox(settings, sandbox_id)
    from qai_agent.sandboxes.e2b import E2BSandbox

    return E2BSandbox.attach(sandbox_id, api_key=_e2b_key(), timeout_seconds=settings.e2b_timeout_seconds)
