"""Sandbox providers: the path rules, the E2B adapter against the SDK's interface, and the E2B
template's build definition (the local sandbox has tests of its own)."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from e2b import CommandExitException, NotFoundException, SandboxNotFoundException, Template, TimeoutException
from e2b.sandbox.sandbox_api import build_lifecycle_config

from qai.app_files import BINARY_PREFIX, TEMPLATE_DIR, AppTooLargeError, template_packages
from qai_agent.sandboxes import e2b as e2b_provider
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
    """A stand-in with the e2b SDK's interface (files, commands, get_host, kill), backed by a real
    directory: its commands run in a real shell, so the snapshot's find/sha256sum/tar pipeline runs."""

    def __init__(self, home: Path | None = None, sandbox_id: str = "sbx123") -> None:
        self.home = home
        self.sandbox_id = sandbox_id
        self.written: list[list[dict[str, Any]]] = []
        self.killed = False
        self.run_calls: list[tuple[str, dict[str, Any]]] = []
        self.next_run: Any = SimpleNamespace(exit_code=0, stdout="ok", stderr="", error=None)
        self.files = FakeFiles(self)
        self.commands = FakeCommands(self)

    def get_host(self, port: int) -> str:
        return f"{port}-{self.sandbox_id}.e2b.app"

    def kill(self) -> None:
        self.killed = True


class FakeFiles:
    """The fake's ``files``: paths are real paths on this machine."""

    def __init__(self, vm: FakeE2BSandbox) -> None:
        self.vm = vm

    def write_files(self, entries: list[dict[str, Any]]) -> None:
        self.vm.written.append(entries)
        for entry in entries:
            target = Path(entry["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            data = entry["data"]
            target.write_bytes(data if isinstance(data, bytes) else data.encode())

    def read(self, path: str, format: str = "text") -> Any:
        if not Path(path).is_file():
            raise NotFoundException(f"{path} not found")
        return bytearray(Path(path).read_bytes()) if format == "bytes" else Path(path).read_text()


class FakeCommandHandle:
    """A started command: a real process when the fake has a home directory, else the fake's next_run."""

    def __init__(self, vm: FakeE2BSandbox, command: str, cwd: str) -> None:
        self.vm = vm
        self.process = (
            subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            if vm.home is not None
            else None
        )

    def wait(self) -> Any:
        if self.process is None:
            if isinstance(self.vm.next_run, Exception):
                raise self.vm.next_run
            return self.vm.next_run
        stdout, stderr = self.process.communicate()
        if self.process.returncode:
            raise CommandExitException(stderr=stderr, stdout=stdout, exit_code=self.process.returncode, error="")
        return SimpleNamespace(exit_code=0, stdout=stdout, stderr=stderr, error=None)

    def kill(self) -> bool:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        return True


class FakeCommands:
    """The fake's ``commands``: records each call, and returns the handle when run in the background."""

    def __init__(self, vm: FakeE2BSandbox) -> None:
        self.vm = vm

    def run(self, command: str, background: bool = False, **kwargs: Any) -> Any:
        self.vm.run_calls.append((command, kwargs))
        handle = FakeCommandHandle(self.vm, command, kwargs["cwd"])
        return handle if background else handle.wait()


def test_e2b_create_pauses_on_timeout_and_attach_resumes_by_id(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def create(**kwargs: Any) -> FakeE2BSandbox:
        calls.append(("create", kwargs))
        return FakeE2BSandbox()

    def connect(sandbox_id: str, **kwargs: Any) -> FakeE2BSandbox:
        calls.append(("connect", {"sandbox_id": sandbox_id, **kwargs}))
        if sandbox_id == "gone":
            raise SandboxNotFoundException(f"Paused sandbox {sandbox_id} not found")
        return FakeE2BSandbox(sandbox_id=sandbox_id)

    monkeypatch.setattr(e2b_provider.Sandbox, "create", staticmethod(create))
    monkeypatch.setattr(e2b_provider.Sandbox, "connect", staticmethod(connect))
    created = e2b_provider.E2BSandbox.create(template="qai-nextjs", api_key="e2b_key", timeout_seconds=1800)
    attached = e2b_provider.E2BSandbox.attach("sbx9", api_key="e2b_key", timeout_seconds=1800)
    assert e2b_provider.E2BSandbox.attach("gone", api_key="e2b_key", timeout_seconds=1800) is None
    assert created.sandbox_id == "sbx123" and attached is not None and attached.sandbox_id == "sbx9"
    lifecycle = {"on_timeout": "pause", "auto_resume": True}
    assert calls == [
        ("create", {"template": "qai-nextjs", "api_key": "e2b_key", "timeout": 1800, "lifecycle": lifecycle}),
        ("connect", {"sandbox_id": "sbx9", "timeout": 1800, "api_key": "e2b_key"}),
        ("connect", {"sandbox_id": "gone", "timeout": 1800, "api_key": "e2b_key"}),
    ]
    # What the SDK would send: pause at the timeout, resume on traffic.
    body = build_lifecycle_config(e2b_provider.LIFECYCLE)
    assert body.auto_pause is True and body.auto_resume.enabled is True  # type: ignore[union-attr]


def test_e2b_adapter_batches_writes_under_the_workdir_and_refuses_escapes(e2b_vm: FakeE2BSandbox) -> None:
    sandbox = e2b_provider.E2BSandbox(e2b_vm)
    sandbox.write_files({"app/page.tsx": "x", "components/a.tsx": "y"})
    workdir = e2b_provider.WORKDIR
    assert e2b_vm.written == [
        [{"path": f"{workdir}/app/page.tsx", "data": "x"}, {"path": f"{workdir}/components/a.tsx", "data": "y"}]
    ]
    sandbox.write_files({})
    assert len(e2b_vm.written) == 1
    with pytest.raises(SandboxPathError):
        sandbox.write_files({"../../etc/x": "x"})
    with pytest.raises(SandboxPathError):
        sandbox.read_file("/etc/passwd")
    assert sandbox.read_file("app/page.tsx") == "x"
    sandbox.remove_files(["components/a.tsx", "no/such file"])
    assert not (Path(workdir) / "components/a.tsx").exists()
    with pytest.raises(SandboxPathError):
        sandbox.remove_files(["../outside"])


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


def test_e2b_adapter_kills_a_command_once_the_run_is_stopped(e2b_vm: FakeE2BSandbox) -> None:
    sandbox = e2b_provider.E2BSandbox(e2b_vm)
    started = time.monotonic()
    asked = iter([False, False, True])
    outcome = sandbox.run("echo started; sleep 60", timeout_seconds=120, stop=lambda: next(asked, True))
    assert outcome.stopped and outcome.exit_code != 0 and "started" in outcome.stdout
    assert time.monotonic() - started < 10  # three polls, not the minute the command wanted


def test_e2b_preview_url_and_close() -> None:
    fake = FakeE2BSandbox()
    sandbox = e2b_provider.E2BSandbox(fake)
    assert sandbox.preview_url() == "https://3000-sbx123.e2b.app"
    sandbox.close(keep=True)
    assert not fake.killed  # the preview outlives the run (and pauses at its timeout)
    sandbox.close(keep=False)
    assert fake.killed


@pytest.fixture
def e2b_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeE2BSandbox:
    """A VM as the E2B template leaves it: the app template in the workdir, its manifest recorded."""
    home = tmp_path / "home-user"
    shutil.copytree(TEMPLATE_DIR, home)
    (home / "node_modules" / "next").mkdir(parents=True)
    (home / "node_modules" / "next" / "index.js").write_text("module.exports = {}")
    manifest = tmp_path / "opt-qai" / "template.sha256"
    manifest.parent.mkdir()
    listing = f"{e2b_provider.file_listing_command()} > {manifest}"
    subprocess.run(["/bin/sh", "-c", listing], cwd=home, check=True)
    state = home / ".cache" / "qai"
    monkeypatch.setattr(e2b_provider, "WORKDIR", str(home))
    monkeypatch.setattr(e2b_provider, "TEMPLATE_MANIFEST", str(manifest))
    monkeypatch.setattr(e2b_provider, "VM_STATE_DIR", str(state))
    monkeypatch.setattr(e2b_provider, "SNAPSHOT_ARCHIVE", str(state / "snapshot.tgz"))
    monkeypatch.setattr(e2b_provider, "DEV_SERVER_LOG", str(state / "dev-server.log"))
    return FakeE2BSandbox(home)


def test_e2b_snapshot_is_every_changed_file_in_one_archive(e2b_vm: FakeE2BSandbox) -> None:
    sandbox = e2b_provider.E2BSandbox(e2b_vm)
    assert sandbox.snapshot(1_000_000) == {}  # the template as built
    home = Path(e2b_provider.WORKDIR)
    logo = bytes(range(256))
    sandbox.write_files({"app/page.tsx": "export default function Page() { return 1 }", "public/logo.png": logo})
    # Made by shell commands and package managers, not by the tools:
    sandbox.run("mkdir -p lib && echo 'export const x = 1' > lib/made.ts", timeout_seconds=10)
    (home / "node_modules" / "dayjs").mkdir()
    (home / "node_modules" / "dayjs" / "index.js").write_text("module.exports = 1")
    (home / ".next").mkdir()
    (home / ".next" / "build.json").write_text("{}")
    (home / "tsconfig.tsbuildinfo").write_text("{}")
    package = json.loads((home / "package.json").read_text())
    package["dependencies"]["dayjs"] = "1.11.13"
    (home / "package.json").write_text(json.dumps(package))
    calls_before = len(e2b_vm.run_calls)

    files = sandbox.snapshot(1_000_000)
    assert sorted(files) == ["app/page.tsx", "lib/made.ts", "package.json", "public/logo.png"]
    assert files["lib/made.ts"] == "export const x = 1\n"
    assert files["public/logo.png"] == BINARY_PREFIX + base64.b64encode(logo).decode()
    assert json.loads(files["package.json"])["dependencies"]["dayjs"] == "1.11.13"
    assert len(e2b_vm.run_calls) == calls_before + 1  # one command, then one read of the archive

    with pytest.raises(AppTooLargeError, match="too large"):
        sandbox.snapshot(500)
    assert sandbox.server_log() == ""
    Path(e2b_provider.DEV_SERVER_LOG).write_text("x" * 30_000 + "Module not found")
    assert sandbox.server_log().endswith("Module not found") and len(sandbox.server_log()) == 20_000


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
    assert Path(module.APP_TEMPLATE) == TEMPLATE_DIR and (TEMPLATE_DIR / "package-lock.json").is_file()
    assert "npm ci" in commands and "create-next-app" not in commands
    assert "shadcn@" in commands and "add --all" in commands
    assert f"-p {e2b_provider.PREVIEW_PORT}" in definition["startCmd"]
    assert str(e2b_provider.PREVIEW_PORT) in definition["readyCmd"]
    assert module.PREVIEW_PORT == e2b_provider.PREVIEW_PORT and module.APP_DIR == e2b_provider.WORKDIR
    assert [s["args"] for s in definition["steps"] if s["type"] == "WORKDIR"][-1] == [e2b_provider.WORKDIR]
    assert "FROM node:" in Template.to_dockerfile(module.qai_template())


def test_e2b_provider_needs_a_key() -> None:
    from qai_agent.config import AgentSettings
    from qai_agent.sandboxes import SandboxConfigurationError, sandbox_provider

    no_key = sandbox_provider(AgentSettings(sandbox_provider="e2b"), e2b_api_key="")
    with pytest.raises(SandboxConfigurationError, match="E2B_API_KEY"):
        no_key.open()
    unknown = sandbox_provider(AgentSettings(sandbox_provider="docker"), e2b_api_key="e2b_x")
    with pytest.raises(SandboxConfigurationError, match="'docker'"):
        unknown.attach("some-id")


def test_both_providers_describe_the_template_they_run() -> None:
    from qai_local.sandbox.machine import MachineProbe
    from qai_local.sandbox.sandbox import local_description

    packages = template_packages()
    assert packages["next"].startswith("16.") and "radix-ui" in packages and "tailwindcss" in packages
    described_locally = local_description(MachineProbe().isolation)
    for description in (e2b_provider.DESCRIPTION, described_locally):
        text = description.environment
        assert f"Next.js {packages['next']}" in text and f"radix-ui@{packages['radix-ui']}" in text
        assert "never start, stop or restart it" in text
    assert "Every shadcn/ui component is installed" in e2b_provider.DESCRIPTION.environment
    local = described_locally.environment
    assert "No shadcn/ui components are installed" in local and "no network but one way out: the npm registry" in local
