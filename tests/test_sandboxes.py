"""Sandbox providers: the path rules, the E2B adapter against the SDK's interface, and the E2B
template's build definition (the local sandbox has tests of its own)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from e2b import CommandExitException, Template, TimeoutException

from qai_agent.sandboxes import e2b as e2b_provider
from qai_agent.sandboxes.app_template import TEMPLATE_SOURCE, template_packages
from qai_agent.sandboxes.base import SandboxPathError, app_relative_path

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("path", "expected"),
    [("index.html", "index.html"), ("a/./b/../c.txt", "a/c.txt"), (" app/page.tsx ", "app/page.tsx")],
)
def test_app_relative_path_normalises(path: str, expected: str) -> None:
    assert app_relative_path(path) == expected


@pytest.mark.parametrize("path", ["", "  ", "..", "../x", "a/../../x", "/etc/passwd", "~/x", "a\x00b", "..\\x", "."])
def test_app_relative_path_refuses_escapes(path: str) -> None:
    with pytest.raises(SandboxPathError):
        app_relative_path(path)


class FakeE2BSandbox:
    """A stand-in with the e2b SDK's interface (files, commands, get_host, kill)."""

    def __init__(self) -> None:
        self.written: list[list[dict[str, Any]]] = []
        self.killed = False
        self.run_calls: list[tuple[str, dict[str, Any]]] = []
        self.next_run: Any = SimpleNamespace(exit_code=0, stdout="ok", stderr="", error=None)
        outer = self

        class Files:
            def write_files(self, entries: list[dict[str, Any]]) -> None:
                outer.written.append(entries)

            def read(self, path: str) -> str:
                return f"content of {path}"

        class Commands:
            def run(self, command: str, **kwargs: Any) -> Any:
                outer.run_calls.append((command, kwargs))
                if isinstance(outer.next_run, Exception):
                    raise outer.next_run
                return outer.next_run

        self.files = Files()
        self.commands = Commands()

    def get_host(self, port: int) -> str:
        return f"{port}-sbx123.e2b.app"

    def kill(self) -> None:
        self.killed = True


def test_e2b_create_uses_the_template_key_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def create(**kwargs: Any) -> FakeE2BSandbox:
        calls.append(kwargs)
        return FakeE2BSandbox()

    monkeypatch.setattr(e2b_provider.Sandbox, "create", staticmethod(create))
    e2b_provider.E2BSandbox.create(template="qai-nextjs", api_key="e2b_key", timeout_seconds=1800)
    assert calls == [{"template": "qai-nextjs", "api_key": "e2b_key", "timeout": 1800}]


def test_e2b_adapter_batches_writes_under_the_workdir_and_refuses_escapes() -> None:
    fake = FakeE2BSandbox()
    sandbox = e2b_provider.E2BSandbox(fake)
    sandbox.write_files({"app/page.tsx": "x", "components/a.tsx": "y"})
    assert fake.written == [
        [{"path": "/home/user/app/page.tsx", "data": "x"}, {"path": "/home/user/components/a.tsx", "data": "y"}]
    ]
    sandbox.write_files({})
    assert len(fake.written) == 1
    with pytest.raises(SandboxPathError):
        sandbox.write_files({"../../etc/x": "x"})
    with pytest.raises(SandboxPathError):
        sandbox.read_file("/etc/passwd")
    assert sandbox.read_file("app/page.tsx") == "content of /home/user/app/page.tsx"


def test_e2b_adapter_turns_command_failures_into_results() -> None:
    fake = FakeE2BSandbox()
    sandbox = e2b_provider.E2BSandbox(fake)
    assert sandbox.run("ls", timeout_seconds=30).exit_code == 0
    assert fake.run_calls[-1] == ("ls", {"cwd": "/home/user", "timeout": 30})
    fake.next_run = CommandExitException(stderr="boom", stdout="", exit_code=2, error="exit status 2")
    failed = sandbox.run("false", timeout_seconds=30)
    assert (failed.exit_code, failed.stderr, failed.timed_out) == (2, "boom", False)
    fake.next_run = TimeoutException("context deadline exceeded")
    assert sandbox.run("sleep 999", timeout_seconds=1).timed_out


def test_e2b_preview_url_and_close() -> None:
    fake = FakeE2BSandbox()
    sandbox = e2b_provider.E2BSandbox(fake)
    assert sandbox.preview_url() == "https://3000-sbx123.e2b.app"
    sandbox.close(succeeded=True)
    assert not fake.killed  # the preview outlives the run
    sandbox.close(succeeded=False)
    assert fake.killed


def load_template_module() -> Any:
    spec = importlib.util.spec_from_file_location("qai_sandbox_template", ROOT / "sandbox-template" / "template.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_e2b_template_builds_the_app_the_agent_expects() -> None:
    module = load_template_module()
    definition = json.loads(Template.to_json(module.qai_template()))
    commands = " && ".join(" ".join(step["args"]) for step in definition["steps"] if step["type"] == "RUN")
    assert definition["fromImage"].startswith("node:")
    # The same app template as the local sandbox: its files copied, its lockfile installed as is.
    copies = [step for step in definition["steps"] if step["type"] == "COPY"]
    assert [step["args"][:2] for step in copies] == [[".", f"{e2b_provider.WORKDIR}/"]]
    assert Path(module.APP_TEMPLATE) == TEMPLATE_SOURCE and (TEMPLATE_SOURCE / "package-lock.json").is_file()
    assert "npm ci" in commands and "create-next-app" not in commands
    assert "shadcn@" in commands and "add --all" in commands
    assert f"-p {e2b_provider.PREVIEW_PORT}" in definition["startCmd"]
    assert str(e2b_provider.PREVIEW_PORT) in definition["readyCmd"]
    assert module.PREVIEW_PORT == e2b_provider.PREVIEW_PORT and module.APP_DIR == e2b_provider.WORKDIR
    assert [s["args"] for s in definition["steps"] if s["type"] == "WORKDIR"][-1] == [e2b_provider.WORKDIR]
    assert "FROM node:" in Template.to_dockerfile(module.qai_template())


def test_e2b_provider_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from qai_agent.config import get_agent_settings
    from qai_agent.sandboxes import SandboxConfigurationError, open_sandbox

    monkeypatch.setenv("SANDBOX_PROVIDER", "e2b")
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    monkeypatch.delenv("E2B_SECRET_ARN", raising=False)
    get_agent_settings.cache_clear()
    try:
        with pytest.raises(SandboxConfigurationError, match="E2B_API_KEY"):
            open_sandbox(get_agent_settings())
        monkeypatch.setenv("SANDBOX_PROVIDER", "docker")
        get_agent_settings.cache_clear()
        with pytest.raises(SandboxConfigurationError, match="'docker'"):
            open_sandbox(get_agent_settings())
    finally:
        get_agent_settings.cache_clear()


def test_both_providers_describe_the_template_they_run() -> None:
    from qai_agent.sandboxes.local.sandbox import local_description

    packages = template_packages()
    assert packages["next"].startswith("15.") and "radix-ui" in packages and "tailwindcss" in packages
    for description in (e2b_provider.DESCRIPTION, local_description()):
        text = description.environment
        assert f"Next.js {packages['next']}" in text and f"radix-ui@{packages['radix-ui']}" in text
        assert "never start, stop or restart it" in text
    assert "Every shadcn/ui component is installed" in e2b_provider.DESCRIPTION.environment
    local = local_description().environment
    assert "No shadcn/ui components are installed" in local and "Only the npm registry is reachable" in local
