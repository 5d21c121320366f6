"""The local sandbox as the agent's provider: this process's previews and its sandboxes."""

from __future__ import annotations

import threading
from pathlib import Path

from qai_agent.config import AgentSettings
from qai_local.sandbox.devservers import DevServerSupervisor
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache

# One preview proxy per sandbox root in this process, started on first use.
_previews: dict[Path, LocalPreviews] = {}
_previews_lock = threading.Lock()


def local_previews(settings: AgentSettings) -> LocalPreviews:
    """This process's preview proxy and dev-server supervisor for the local sandboxes, started once."""
    root = settings.local_sandbox_root.resolve()
    with _previews_lock:
        if root not in _previews:
            supervisor = DevServerSupervisor(
                root,
                idle_seconds=settings.local_preview_idle_seconds,
                max_running=settings.local_preview_max_running,
                shared_node_modules=TemplateCache(settings.local_template_cache).app_dir / "node_modules",
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


def open_local_sandbox(settings: AgentSettings) -> LocalSandbox:
    """A new local sandbox with the app template."""
    template = TemplateCache(settings.local_template_cache)
    previews = local_previews(settings)
    sandbox = LocalSandbox.create(settings.local_sandbox_root, template, previews)
    if settings.local_preview_prestart:
        previews.prestart(sandbox.sandbox_id)
    return sandbox


def attach_local_sandbox(settings: AgentSettings, sandbox_id: str) -> LocalSandbox | None:
    """An existing local sandbox, or None when it is gone."""
    template = TemplateCache(settings.local_template_cache)
    return LocalSandbox.attach(settings.local_sandbox_root, sandbox_id, template, local_previews(settings))
