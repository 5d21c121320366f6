"""Sandbox providers: the local sandbox's confinement and processes, the E2B adapter against the
SDK's interface, and the E2B template's build definition."""

from __future__ import annotations

import importlib.util
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from e2b import CommandExitException, Template, TimeoutException

from qai_agent.sandboxes import e2b as e2b_provider
from qai_agent.sandboxes.base import SandboxPathError, app_relative_path
from qai_agent.sandboxes.local import LocalSandbox, PreviewServer

ROOT = Path(__file__).parent.parent


@pytest.fixture
def preview(tmp_path: Path) -> Any:
    server = PreviewServer(tmp_path / "root").start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(tmp_path: Path, preview: PreviewServer) -> LocalSandbox:
    return LocalSandbox.create(tmp_path / "root", preview.base_url)


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


def test_local_sandbox_starts_from_the_starter_app(sandbox: LocalSandbox) -> None:
    assert sorted(p.name for p in sandbox.dir.iterdir()) == ["app.js", "index.html", "styles.css"]
    with urllib.request.urlopen(sandbox.preview_url()) as response:
        assert "being built" in response.read().decode()


def test_local_sandbox_writes_and_reads_inside_only(sandbox: LocalSandbox, tmp_path: Path) -> None:
    sandbox.write_files({"src/a.txt": "hello"})
    assert sandbox.read_file("src/a.txt") == "hello"
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", sandbox.dir / "link.txt")
    os.symlink(tmp_path, sandbox.dir / "outdir")
    with pytest.raises(SandboxPathError):
        sandbox.read_file("link.txt")
    with pytest.raises(SandboxPathError):
        sandbox.write_files({"outdir/planted.txt": "x"})
    with pytest.raises(SandboxPathError):
        sandbox.write_files({"ok.txt": "fine", "../bad.txt": "x"})
    assert not (sandbox.dir / "ok.txt").exists()  # every path is checked before anything is written
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("missing.txt")


def test_local_commands_run_in_the_sandbox_with_a_clean_environment(
    sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-should-not-leak")
    outcome = sandbox.run("pwd; env", timeout_seconds=5)
    assert outcome.exit_code == 0
    assert outcome.stdout.splitlines()[0] == str(sandbox.dir)
    assert "sk-should-not-leak" not in outcome.stdout
    failing = sandbox.run("echo oops >&2; exit 7", timeout_seconds=5)
    assert (failing.exit_code, failing.stderr.strip()) == (7, "oops")


def test_a_command_that_times_out_is_killed_with_its_children(sandbox: LocalSandbox) -> None:
    started = time.monotonic()
    outcome = sandbox.run("sleep 30 & echo $! > child.pid; sleep 30", timeout_seconds=0.5)
    assert outcome.timed_out and time.monotonic() - started < 5
    child = int((sandbox.dir / "child.pid").read_text())
    for _ in range(50):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the background child survived the timeout")


def test_local_command_output_is_capped(sandbox: LocalSandbox) -> None:
    outcome = sandbox.run("head -c 100000 /dev/zero | tr '\\0' x", timeout_seconds=5)
    assert len(outcome.stdout) == 20_000


def test_a_failed_sandbox_is_removed_a_good_one_keeps_serving(tmp_path: Path, preview: PreviewServer) -> None:
    good = LocalSandbox.create(tmp_path / "root", preview.base_url)
    bad = LocalSandbox.create(tmp_path / "root", preview.base_url)
    good.close(succeeded=True)
    bad.close(succeeded=False)
    assert good.dir.exists() and not bad.dir.exists()
    with urllib.request.urlopen(good.preview_url()) as response:
        assert response.status == 200


@pytest.mark.parametrize("path", ["/", "/../", "/%2e%2e/etc/passwd"])
def test_preview_refuses_listing_and_traversal(preview: PreviewServer, sandbox: LocalSandbox, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(preview.base_url + path)
    assert refused.value.code == 404


def test_preview_refuses_a_symlink_into_another_sandbox(tmp_path: Path, preview: PreviewServer) -> None:
    first = LocalSandbox.create(tmp_path / "root", preview.base_url)
    second = LocalSandbox.create(tmp_path / "root", preview.base_url)
    os.symlink(second.dir / "index.html", first.dir / "other.html")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(first.preview_url() + "other.html")


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
    assert "create-next-app@" in commands and "--tailwind" in commands
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


def test_a_command_never_runs_past_the_run_deadline(sandbox: LocalSandbox) -> None:
    from qai_agent.tools import ToolRunner

    runner = ToolRunner(sandbox, command_timeout_seconds=120, time_left=lambda: 0.5)
    started = time.monotonic()
    result = runner.run("terminal", {"command": "sleep 30"})
    assert result.is_error and result.content.startswith("timed out")
    assert time.monotonic() - started < 5
