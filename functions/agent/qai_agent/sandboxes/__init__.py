"""Sandbox providers behind one interface: ``open_sandbox`` picks the one the settings name."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from qai_agent.config import AgentSettings, e2b_api_key
from qai_agent.sandboxes.base import Sandbox

if TYPE_CHECKING:
    from qai_agent.sandboxes.local.previews import LocalPreviews


class SandboxConfigurationError(RuntimeError):
    """The sandbox provider cannot start as configured (a missing key, an unknown provider)."""


# One preview proxy per sandbox root in this process, started on first use.
_previews: dict[Path, LocalPreviews] = {}
_previews_lock = threading.Lock()


def local_previews(settings: AgentSettings) -> LocalPreviews:
    """This process's preview proxy and dev-server supervisor for the local sandboxes, started once."""
    from qai_agent.sandboxes.local.devservers import DevServerSupervisor
    from qai_agent.sandboxes.local.previews import LocalPreviews

    root = settings.local_sandbox_root.resolve()
    with _previews_lock:
        if root not in _previews:
            supervisor = DevServerSupervisor(
                root,
                idle_seconds=settings.local_preview_idle_seconds,
                max_running=settings.local_preview_max_running,
            )
            _previews[root] = LocalPreviews(root, supervisor).start()
        return _previews[root]


def stop_local_previews() -> None:
    """Stop every preview proxy and dev server this process started."""
    with _previews_lock:
        started = list(_previews.values())
        _previews.clear()
    for previews in started:
        previews.stop()


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
        from qai_agent.sandboxes.local.sandbox import LocalSandbox
        from qai_agent.sandboxes.local.template_cache import TemplateCache

        template = TemplateCache(settings.local_template_cache)
        return LocalSandbox.create(settings.local_sandbox_root, template, local_previews(settings))
    from qai_agent.sandboxes.e2b import E2BSandbox

    return E2BSandbox.create(
        template=settings.e2b_template, api_key=_e2b_key(), timeout_seconds=settings.e2b_timeout_seconds
    )


def attach_sandbox(settings: AgentSettings, sandbox_id: str) -> Sandbox | None:
    """An existing sandbox as it was left (resumed if paused), or None when it expired."""
    _check_provider(settings)
    if settings.sandbox_provider == "local":
        from qai_agent.sandboxes.local.sandbox import LocalSandbox
        from qai_agent.sandboxes.local.template_cache import TemplateCache

        template = TemplateCache(settings.local_template_cache)
        return LocalSandbox.attach(settings.local_sandbox_root, sandbox_id, template, local_previews(settings))
    from qai_agent.sandboxes.e2b import E2BSandbox

    return E2BSandbox.attach(sandbox_id, api_key=_e2b_key(), timeout_seconds=settings.e2b_timeout_seconds)
