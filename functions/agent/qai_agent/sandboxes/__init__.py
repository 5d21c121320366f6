"""Sandbox providers behind one interface: ``sandbox_provider`` builds the one the settings name."""

from __future__ import annotations

from typing import Protocol

from qai_agent.config import AgentSettings
from qai_agent.sandboxes.base import Sandbox


class SandboxConfigurationError(RuntimeError):
    """The sandbox provider cannot start as configured (a missing key, an unknown provider)."""


class SandboxProvider(Protocol):
    def open(self) -> Sandbox:
        """A new sandbox with the app template."""
        ...

    def attach(self, sandbox_id: str) -> Sandbox | None:
        """An existing sandbox as it was left (resumed if paused), or None when it expired."""
        ...

    def stop(self) -> None:
        """Stop what the provider runs in this process (the local previews); sandboxes stay."""
        ...


class UnavailableSandboxes:
    """A provider that cannot work as configured: each run that needs a sandbox fails saying why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def open(self) -> Sandbox:
        raise SandboxConfigurationError(self.reason)

    def attach(self, sandbox_id: str) -> Sandbox | None:
        raise SandboxConfigurationError(self.reason)

    def stop(self) -> None:
        pass


class E2BSandboxes:
    def __init__(self, *, api_key: str, template: str, timeout_seconds: int) -> None:
        self._api_key = api_key
        self._template = template
        self._timeout_seconds = timeout_seconds

    def open(self) -> Sandbox:
        from qai_agent.sandboxes.e2b import E2BSandbox

        return E2BSandbox.create(template=self._template, api_key=self._api_key, timeout_seconds=self._timeout_seconds)

    def attach(self, sandbox_id: str) -> Sandbox | None:
        from qai_agent.sandboxes.e2b import E2BSandbox

        return E2BSandbox.attach(sandbox_id, api_key=self._api_key, timeout_seconds=self._timeout_seconds)

    def stop(self) -> None:
        pass


def sandbox_provider(settings: AgentSettings, *, e2b_api_key: str) -> SandboxProvider:
    """The provider ``SANDBOX_PROVIDER`` names, with its credentials."""
    if settings.sandbox_provider == "local":
        # Only on one machine: the local sandbox is not in the agent's Lambda package.
        from qai_local.sandbox.provider import LocalSandboxes

        return LocalSandboxes(settings)
    if settings.sandbox_provider != "e2b":
        return UnavailableSandboxes(f"SANDBOX_PROVIDER must be 'e2b' or 'local', not {settings.sandbox_provider!r}")
    if not e2b_api_key:
        return UnavailableSandboxes("E2B_API_KEY or E2B_SECRET_ARN must be set for SANDBOX_PROVIDER=e2b")
    return E2BSandboxes(
        api_key=e2b_api_key, template=settings.e2b_template, timeout_seconds=settings.e2b_timeout_seconds
    )
