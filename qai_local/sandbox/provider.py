"""The local sandbox as the agent's provider: its sandboxes and the previews that serve them."""

from __future__ import annotations

import threading

from qai_agent.config import AgentSettings
from qai_local.sandbox.devservers import DevServerSupervisor
from qai_local.sandbox.machine import MachineProbe
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.processes import ProcessRegistry
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache


class LocalSandboxes:
    """Sandboxes under LOCAL_SANDBOX_ROOT; the preview proxy and dev servers start on first use.

    It owns what the local sandboxes keep per process: the machine's probed facts (``machine``) and
    the process groups they run (``processes``), handed to the supervisor and through it to each
    sandbox; with ``previews`` given, theirs."""

    def __init__(self, settings: AgentSettings, previews: LocalPreviews | None = None) -> None:
        self.settings = settings
        self.template = TemplateCache(settings.local_template_cache)
        self._previews = previews  # started already, or started here on first use
        self.processes = previews.supervisor.processes if previews is not None else ProcessRegistry(MachineProbe())
        self.machine = self.processes.machine
        self._lock = threading.Lock()

    @property
    def previews(self) -> LocalPreviews:
        """The preview proxy and dev-server supervisor of these sandboxes, started once."""
        with self._lock:
            if self._previews is None:
                supervisor = DevServerSupervisor(
                    self.settings.local_sandbox_root.resolve(),
                    idle_seconds=self.settings.local_preview_idle_seconds,
                    max_running=self.settings.local_preview_max_running,
                    shared_node_modules=self.template.app_dir / "node_modules",
                    processes=self.processes,
                )
                self._previews = LocalPreviews(self.settings.local_sandbox_root.resolve(), supervisor).start()
            return self._previews

    def open(self) -> LocalSandbox:
        previews = self.previews
        sandbox = LocalSandbox.create(self.settings.local_sandbox_root, self.template, previews)
        if self.settings.local_preview_prestart:
            previews.prestart(sandbox.sandbox_id)
        return sandbox

    def attach(self, sandbox_id: str) -> LocalSandbox | None:
        return LocalSandbox.attach(self.settings.local_sandbox_root, sandbox_id, self.template, self.previews)

    def stop(self) -> None:
        """Stop the preview proxy and every dev server it started."""
        with self._lock:
            previews, self._previews = self._previews, None
        if previews is not None:
            previews.stop()
