"""The local sandbox: the shared template, confinement, isolation against hostile commands, and
previews whose dev servers start on demand, stop when idle and obey the LRU cap."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from qai.app_files import BINARY_PREFIX, AppTooLargeError, decode_content
from qai_agent.app_sync import SyncOutcome, sync_app
from qai_agent.config import AgentSettings
from qai_agent.sandboxes.base import SandboxPathError
from qai_local.sandbox import cgroups, isolation
from qai_local.sandbox import processes as processes_module
from qai_local.sandbox.devservers import DevServerSupervisor, SandboxGoneError
from qai_local.sandbox.disk import disk_limit_mb
from qai_local.sandbox.machine import MachineProbe
from qai_local.sandbox.network import SandboxNetwork
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.processes import BACKGROUND_NICENESS, ProcessRegistry
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache, TemplatePreparationError, template_hash

ROOT = Path(__file__).resolve().parent.parent
# A stand-in dev server for the supervisor's own tests: one Node process, up in milliseconds.
TINY_SERVER = (
    "require('http').createServer((q, s) => s.end('tiny ' + process.cwd()))"
    ".listen(Number(process.env.PORT), '127.0.0.1')"
)
needs_bubblewrap = pytest.mark.skipif(
    not MachineProbe().isolation.bubblewrap, reason="bubblewrap cannot run on this machine"
)


def tiny_server_argv(port: int) -> list[str]:
    return ["node", "-e", TINY_SERVER]


@contextlib.contextmanager
def previews_on(root: Path, machine: MachineProbe, **supervisor: Any) -> Iterator[LocalPreviews]:
    """Previews (at most two dev servers at once) of sandboxes on ``machine``, stopped afterwards."""
    processes = ProcessRegistry(machine)
    supervisor.setdefault("max_running", 2)
    previews = LocalPreviews(root, DevServerSupervisor(root, idle_seconds=600, processes=processes, **supervisor))
    previews.start()
    try:
        yield previews
    finally:
        previews.stop()


@pytest.fixture
def tiny_previews(tmp_path: Path, machine: MachineProbe) -> Iterator[LocalPreviews]:
    """Previews whose dev servers are a tiny Node server (fast), at most two at once."""
    with previews_on(tmp_path / "root", machine, server_argv=tiny_server_argv) as previews:
        yield previews


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(url: str, timeout: float = 120) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_new_sandbox_is_the_template_with_shared_node_modules(sandbox: LocalSandbox, template: TemplateCache) -> None:
    names = {p.name for p in sandbox.dir.iterdir()}
    assert {"app", "lib", "package.json", "package-lock.json", "next.config.ts", "node_modules"} <= names
    shared, own = template.app_dir / "node_modules", sandbox.dir / "node_modules"
    next_manifest = Path("next") / "package.json"
    assert (own / next_manifest).stat().st_ino == (shared / next_manifest).stat().st_ino  # linked, not copied
    assert (own / ".package-lock.json").stat().st_ino != (shared / ".package-lock.json").stat().st_ino
    assert not (shared / next_manifest).stat().st_mode & 0o222  # shared files are read-only


def test_files_are_written_and_read_inside_only(sandbox: LocalSandbox, tmp_path: Path) -> None:
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


def test_the_snapshot_is_every_changed_app_file_and_syncs_back(
    sandbox: LocalSandbox, template: TemplateCache, tmp_path: Path, previews: LocalPreviews
) -> None:
    assert sandbox.snapshot(1_000_000) == {}  # a new sandbox is the template
    logo = bytes(range(256)) * 4
    sandbox.write_files({"app/page.tsx": "export default function Page() { return null }", "public/logo.png": logo})
    assert sandbox.run("echo made > lib/shell.txt && printf 'a\\000b' > nul.txt", timeout_seconds=10).exit_code == 0
    sandbox.write_files({"node_modules/left-pad/index.js": "x", ".next/cache.json": "{}", "a.tsbuildinfo": "{}"})
    (sandbox.dir / "escape").symlink_to("/etc/passwd")
    files = sandbox.snapshot(1_000_000)
    assert sorted(files) == ["app/page.tsx", "lib/shell.txt", "nul.txt", "public/logo.png"]
    assert files["lib/shell.txt"] == "made\n"
    assert files["public/logo.png"] == BINARY_PREFIX + base64.b64encode(logo).decode()
    assert decode_content(files["nul.txt"]) == b"a\x00b"  # JSONB cannot hold a NUL: stored as base64
    with pytest.raises(AppTooLargeError, match=r"1\.0 KB|too large"):
        sandbox.snapshot(1_000)

    # Another sandbox made to hold those files: same snapshot, and the rebuilt binary is byte-exact.
    settings = AgentSettings()
    other = LocalSandbox.create(tmp_path / "root", template, previews)
    outcome = sync_app(other, files, settings)
    assert (outcome.written, outcome.removed, outcome.installed) == (4, 0, False)
    assert other.snapshot(1_000_000) == files and (other.dir / "public" / "logo.png").read_bytes() == logo
    # Synced again to an earlier version: the extra files go, the changed ones come back.
    assert sync_app(other, {"app/page.tsx": files["app/page.tsx"]}, settings).removed == 3
    assert other.snapshot(1_000_000) == {"app/page.tsx": files["app/page.tsx"]}
    assert sync_app(other, {"app/page.tsx": files["app/page.tsx"]}, settings) == SyncOutcome(0, 0, False)


def test_writing_over_a_shared_file_never_changes_the_template(sandbox: LocalSandbox, template: TemplateCache) -> None:
    shared = template.app_dir / "node_modules" / "clsx" / "package.json"
    before = sha256(shared)
    sandbox.write_files({"node_modules/clsx/package.json": "{}"})
    assert sandbox.read_file("node_modules/clsx/package.json") == "{}"
    assert sha256(shared) == before


def test_commands_run_in_the_app_with_a_clean_environment(
    sandbox: LocalSandbox, machine: MachineProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-should-not-leak")
    outcome = sandbox.run("pwd; env", timeout_seconds=10)
    assert outcome.exit_code == 0
    expected_dir = isolation.SANDBOX_APP_DIR if machine.isolation.bubblewrap else str(sandbox.dir)
    assert outcome.stdout.splitlines()[0] == expected_dir
    assert "sk-should-not-leak" not in outcome.stdout and "DATABASE_URL" not in outcome.stdout
    failing = sandbox.run("echo oops >&2; exit 7", timeout_seconds=10)
    assert (failing.exit_code, failing.stderr.strip()) == (7, "oops")


def test_a_command_that_times_out_is_killed_with_its_children(sandbox: LocalSandbox) -> None:
    marker = f"sleep 31{os.getpid() % 10}"
    started = time.monotonic()
    outcome = sandbox.run(f"{marker} & {marker}", timeout_seconds=1)
    assert outcome.timed_out and time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        survivors = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == marker.split()]
        if not survivors:
            break
        time.sleep(0.1)
    assert not survivors


def test_background_processes_do_not_outlive_their_command(sandbox: LocalSandbox) -> None:
    marker = f"sleep 32{os.getpid() % 10}"
    started = time.monotonic()
    outcome = sandbox.run(f"({marker} &) ; echo started", timeout_seconds=30)
    assert (outcome.exit_code, outcome.stdout.strip(), outcome.timed_out) == (0, "started", False)
    assert time.monotonic() - started < 5  # not held open by the background process's output
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == marker.split()]


def test_output_held_open_by_a_process_that_escaped_the_kill_is_not_waited_for() -> None:
    from qai_local.sandbox import sandbox as local_sandbox

    marker = f"sleep 33{os.getpid() % 10}"
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"setsid {marker} & echo started"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        process.wait(timeout=10)  # the shell is done; the escaped sleep still holds its output
        started = time.monotonic()
        stdout, stderr = local_sandbox._output_after_kill(process)
        assert time.monotonic() - started < local_sandbox.KILLED_OUTPUT_SECONDS + 2
        assert stdout == b"" and b"could not be read" in stderr
    finally:
        for escaped in psutil.process_iter(["cmdline"]):
            if escaped.info["cmdline"] == marker.split():
                escaped.kill()


def test_a_command_is_killed_once_the_run_is_stopped(sandbox: LocalSandbox) -> None:
    asked = iter([False, True])
    started = time.monotonic()
    outcome = sandbox.run("echo working; sleep 60", timeout_seconds=120, stop=lambda: next(asked, True))
    assert outcome.stopped and not outcome.timed_out and outcome.stdout.strip() == "working"
    assert time.monotonic() - started < 5


def test_command_output_is_capped(sandbox: LocalSandbox) -> None:
    outcome = sandbox.run("head -c 100000 /dev/zero | tr '\\0' x", timeout_seconds=10)
    assert len(outcome.stdout) == 20_000


def test_a_command_never_runs_past_the_run_deadline(sandbox: LocalSandbox) -> None:
    from qai_agent.tools import ToolRunner

    runner = ToolRunner(sandbox, command_timeout_seconds=120, time_left=lambda: 0.5)
    started = time.monotonic()
    result = runner.run("terminal", {"command": "sleep 30"})
    assert result.is_error and result.content.startswith("timed out")
    assert time.monotonic() - started < 10


def test_npm_install_stays_inside_its_sandbox(tmp_path: Path, template: TemplateCache, previews: LocalPreviews) -> None:
    first = LocalSandbox.create(tmp_path / "root", template, previews)
    second = LocalSandbox.create(tmp_path / "root", template, previews)
    shared = template.app_dir / "node_modules"
    watched = [shared / ".package-lock.json", shared / "next" / "package.json", template.app_dir / "package.json"]
    before = [sha256(path) for path in watched]
    installed = first.run("npm install dayjs@1.11.13", timeout_seconds=180)
    assert installed.exit_code == 0, installed.stderr
    assert (first.dir / "node_modules" / "dayjs").is_dir() and '"dayjs"' in first.read_file("package.json")
    assert not (shared / "dayjs").exists() and not (second.dir / "node_modules" / "dayjs").exists()
    assert [sha256(path) for path in watched] == before
    assert "dayjs" not in (second.dir / "node_modules" / ".package-lock.json").read_text()


@needs_bubblewrap
def test_hostile_commands_find_nothing_of_the_host(
    tmp_path: Path, template: TemplateCache, previews: LocalPreviews, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAI_TEST_SECRET", "sk-worker-secret")
    target = LocalSandbox.create(tmp_path / "root", template, previews)
    other = LocalSandbox.create(tmp_path / "root", template, previews)
    other.write_files({"private.txt": "other sandbox's data"})
    worker_pid = os.getpid()
    escape = f"qai-escape-{os.urandom(4).hex()}"
    shared_file = "node_modules/next/package.json"
    shared_before = sha256(target.dir / shared_file)
    attempts = {
        "environ": f"cat /proc/{worker_pid}/environ",
        "all_environs": "cat /proc/*/environ",
        "home": f"ls -a {Path.home()}; cat {Path.home()}/.bash_history",
        "other": f"cat {other.dir}/private.txt; ls {other.dir.parent}",
        "repo": f"ls {ROOT}",
        "tmp": f"echo planted > /tmp/{escape} && cat /tmp/{escape}",
        "kill": f"kill -9 {worker_pid}",
        "shared": f"chmod u+w {shared_file}; echo tampered >> {shared_file}",
        "processes": f"ls /proc | grep -E '^[0-9]+$' | wc -l; test -e /proc/{worker_pid}",
    }
    outcomes = {name: target.run(command, timeout_seconds=20) for name, command in attempts.items()}
    everything = "".join(o.stdout + o.stderr for o in outcomes.values())
    assert "sk-worker-secret" not in everything
    assert "other sandbox's data" not in everything
    assert outcomes["environ"].exit_code != 0
    assert outcomes["home"].exit_code != 0 and outcomes["repo"].exit_code != 0
    assert outcomes["tmp"].stdout.strip() == "planted" and not (Path("/tmp") / escape).exists()
    assert outcomes["kill"].exit_code != 0 and psutil.pid_exists(worker_pid)
    assert outcomes["shared"].exit_code != 0 and sha256(target.dir / shared_file) == shared_before
    # Only the sandbox's own few processes are visible, and the worker is not among them.
    assert int(outcomes["processes"].stdout.strip()) <= 8 and outcomes["processes"].exit_code != 0


def _cgroup_or_skip(controller: str, sandbox: LocalSandbox) -> Path:
    tree = sandbox._machine.cgroups
    group = tree.path_of(controller, sandbox.sandbox_id)
    if group is None or controller not in tree.sandbox_cgroups(sandbox.sandbox_id):
        pytest.skip(f"no {controller} cgroup can be made here")
    tree.release(sandbox.sandbox_id)
    return group


@needs_bubblewrap
def test_a_fork_bomb_hits_the_process_limit(sandbox: LocalSandbox) -> None:
    group = _cgroup_or_skip("pids", sandbox)
    bomb = f"i=0; while [ $i -lt {cgroups.PIDS_LIMIT + 200} ]; do sleep 60 & i=$((i+1)); done; wait"
    outcome = sandbox.run(bomb, timeout_seconds=20)
    assert outcome.exit_code != 0 or outcome.timed_out
    assert "fork" in outcome.stderr.lower() or "resource temporarily unavailable" in outcome.stderr.lower()
    assert f"limited to {cgroups.PIDS_LIMIT} processes" in outcome.stderr  # said so to the model
    assert sandbox.run("echo still usable", timeout_seconds=10).stdout.strip() == "still usable"
    # Once nothing of the sandbox runs, its cgroups go too: none piles up in the system's tree.
    assert not group.exists()


@needs_bubblewrap
def test_a_group_ending_while_another_starts_leaves_the_sandbox_cgroups_to_it(
    sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dev server stopped as the next one starts must not remove the cgroups the new one is joining."""
    group = _cgroup_or_skip("pids", sandbox)
    ended = sandbox._start("true")
    ended.wait(timeout=10)
    made, go_on = threading.Event(), threading.Event()

    def sandbox_process_that_pauses(*args: Any, **kwargs: Any) -> Any:
        spec = real_sandbox_process(*args, **kwargs)  # the cgroups exist from here
        made.set()
        go_on.wait(timeout=10)
        return spec

    processes = sandbox._processes
    real_sandbox_process = processes.machine.sandbox_process
    monkeypatch.setattr(processes.machine, "sandbox_process", sandbox_process_that_pauses)
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(sandbox.run, "echo joined", timeout_seconds=30)
        assert made.wait(timeout=10)
        forgetting = threading.Thread(target=processes.forget_group, args=(ended,))
        forgetting.start()
        forgetting.join(timeout=0.5)
        go_on.set()
        forgetting.join(timeout=10)
        outcome = starting.result(timeout=30)
    assert (outcome.exit_code, outcome.stdout.strip(), outcome.stderr) == (0, "joined", "")
    assert not group.exists()  # and once both have ended, they go


@needs_bubblewrap
def test_memory_over_the_limit_kills_the_command_and_says_why(
    sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_SANDBOX_MEMORY_MB", "128")
    group = _cgroup_or_skip("memory", sandbox)
    hog = "node -e 'const kept = []; for (;;) kept.push(Buffer.alloc(1 << 20, 1))'"
    outcome = sandbox.run(hog, timeout_seconds=60)
    assert outcome.exit_code != 0 and not outcome.timed_out
    assert "over its memory limit (128 MB" in outcome.stderr
    assert sandbox.run("echo still usable", timeout_seconds=10).stdout.strip() == "still usable"
    assert not group.exists()


@needs_bubblewrap
def test_tmp_is_512_mb_and_each_command_has_its_own(sandbox: LocalSandbox) -> None:
    outcome = sandbox.run("dd if=/dev/zero of=/tmp/big bs=1M count=600 2>&1; df -m /tmp", timeout_seconds=60)
    assert "No space left on device" in outcome.stdout
    assert " 512 " in outcome.stdout  # df's size column
    assert sandbox.run("ls /tmp/big", timeout_seconds=10).exit_code != 0  # each command's /tmp is its own


def test_going_over_the_disk_budget_stops_the_command_and_says_why(
    sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_SANDBOX_DISK_MB", "64")
    assert sandbox.run("true", timeout_seconds=10).stderr == ""  # the shared packages do not count
    writer = "i=0; while true; do i=$((i+1)); head -c 8000000 /dev/zero > big.$i; done"
    outcome = sandbox.run(writer, timeout_seconds=60)
    assert not outcome.timed_out and outcome.exit_code != 0
    assert "over its disk budget of 64 MB" in outcome.stderr
    # Short commands are measured too, once a second of them has added up.
    assert sandbox.run("rm -f big.*", timeout_seconds=10).exit_code == 0
    notes = [
        sandbox.run("head -c 30000000 /dev/zero > $(mktemp big.XXXXXX); sleep 0.3", timeout_seconds=10)
        for _ in range(6)
    ]
    assert any("disk budget" in outcome.stderr for outcome in notes)


def test_a_bad_memory_or_disk_limit_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("lots", "-1", "12"):
        monkeypatch.setenv("LOCAL_SANDBOX_MEMORY_MB", bad)
        with pytest.raises(ValueError, match="LOCAL_SANDBOX_MEMORY_MB"):
            cgroups.memory_limit_mb()
        monkeypatch.setenv("LOCAL_SANDBOX_DISK_MB", bad.replace("12", "0"))
        with pytest.raises(ValueError, match="LOCAL_SANDBOX_DISK_MB"):
            disk_limit_mb()


def test_without_bubblewrap_commands_and_previews_are_refused_with_what_to_install(
    tmp_path: Path, template: TemplateCache
) -> None:
    without_bubblewrap = MachineProbe(which=lambda name: None if name == "bwrap" else "/usr/bin/" + name)
    with previews_on(tmp_path / "root", without_bubblewrap) as previews:
        sandbox = LocalSandbox.create(tmp_path / "root", template, previews)
        status = without_bubblewrap.isolation
        assert not status.bubblewrap and "not installed" in status.describe() and "OFF" in status.describe()
        outcome = sandbox.run("echo ran > ran.txt", timeout_seconds=10)
        assert outcome.exit_code == 126 and "apt-get install bubblewrap socat" in outcome.stderr
        assert "QAI_SANDBOX_ISOLATION=none" in outcome.stderr
        assert not (sandbox.dir / "ran.txt").exists()
        status_code, page = fetch(sandbox.preview_url())
        assert status_code == 502 and "apt-get install bubblewrap socat" in page
        assert previews.supervisor.running() == []


def test_with_isolation_off_on_purpose_commands_run_confined_by_path(
    tmp_path: Path, template: TemplateCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAI_SANDBOX_ISOLATION", "none")
    opted_out = MachineProbe()
    with previews_on(tmp_path / "root", opted_out) as previews:
        sandbox = LocalSandbox.create(tmp_path / "root", template, previews)
        assert "NOT ISOLATED" in opted_out.isolation.describe()
        outcome = sandbox.run("pwd; env", timeout_seconds=10)
        assert outcome.stdout.splitlines()[0] == str(sandbox.dir)
        assert "ANTHROPIC" not in outcome.stdout and "DATABASE_URL" not in outcome.stdout
        with pytest.raises(SandboxPathError):
            sandbox.read_file("../../etc/passwd")


def test_the_preview_renders_the_app_stops_when_idle_and_comes_back(tmp_path: Path, template: TemplateCache) -> None:
    supervisor = DevServerSupervisor(tmp_path / "root", idle_seconds=2, max_running=2)
    previews = LocalPreviews(tmp_path / "root", supervisor).start()
    try:
        sandbox = LocalSandbox.create(tmp_path / "root", template, previews)
        sandbox.write_files({"app/page.tsx": "export default function P() { return <h1>Hello from Next</h1>; }\n"})
        url = sandbox.preview_url()
        assert supervisor.running() == []  # nothing starts before it is asked for
        status, page = fetch(url)
        assert status == 200 and "Hello from Next" in page
        assert supervisor.running() == [sandbox.sandbox_id]
        deadline = time.monotonic() + 20
        while supervisor.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert supervisor.running() == []  # stopped when idle
        status, page = fetch(url)  # the same URL starts it again and waits for it
        assert status == 200 and "Hello from Next" in page, page
    finally:
        previews.stop()


def test_a_server_slower_to_start_than_the_idle_time_still_answers(tmp_path: Path) -> None:
    """Idle time counts from when the server is handed out, not from when its process began."""
    root = tmp_path / "root"
    slow_start = f"setTimeout(() => {{ {TINY_SERVER} }}, 1500)"
    supervisor = DevServerSupervisor(
        root, idle_seconds=1, max_running=2, server_argv=lambda port: ["node", "-e", slow_start]
    )
    previews = LocalPreviews(root, supervisor).start()
    try:
        (root / "slow").mkdir(parents=True)
        supervisor.ensure_running("slow")  # 1.5 s to start, longer than the idle time
        time.sleep(0.5)  # two of the reaper's rounds, before the first request reaches the server
        assert supervisor.running() == ["slow"]
        status, body = fetch(previews.url_for("slow"))
        assert status == 200 and body.startswith("tiny")
    finally:
        previews.stop()


@pytest.mark.parametrize("every", [False, True], ids=["the sandbox's", "every one"])
def test_a_stop_while_the_server_starts_ends_that_start_before_it_returns(tmp_path: Path, every: bool) -> None:
    """A sandbox removed, or the stack stopped, while a server is started ahead: nothing of it may
    run or write there afterwards."""
    root = tmp_path / "root"
    slow_start = f"setTimeout(() => {{ {TINY_SERVER} }}, 1500)"
    supervisor = DevServerSupervisor(
        root, idle_seconds=600, max_running=2, server_argv=lambda port: ["node", "-e", slow_start]
    )
    (root / "going").mkdir(parents=True)
    outcome: list[BaseException | Path] = []

    def start() -> None:
        try:
            outcome.append(supervisor.ensure_running("going"))
        except Exception as exc:  # the test asserts which
            outcome.append(exc)

    # The second asks while the first starts (a preview tab while the server is started ahead): it
    # waits for the first, and must not start one either once the sandbox is stopped meanwhile.
    starters = [threading.Thread(target=start), threading.Thread(target=start)]
    try:
        for starter in starters:
            starter.start()
            time.sleep(0.2)
        time.sleep(0.2)  # the server's process runs and does not listen yet
        assert processes_of("going")
        supervisor.stop_all() if every else supervisor.stop("going")
        assert not processes_of("going")
        for starter in starters:
            starter.join(timeout=5)
        assert all(isinstance(ended, SandboxGoneError) for ended in outcome) and len(outcome) == 2
        assert supervisor.running() == [] and not processes_of("going")
        if every:
            with pytest.raises(SandboxGoneError):
                supervisor.ensure_running("going")  # none starts after
            assert not processes_of("going")
    finally:
        supervisor.stop_all()
        for starter in starters:
            starter.join(timeout=5)


def test_a_killed_group_has_ended_when_the_kill_returns(tmp_path: Path, machine: MachineProbe) -> None:
    """Under bubblewrap the sandbox's init is in a session of its own: it is waited for as well."""
    processes, network = ProcessRegistry(machine), SandboxNetwork(frozenset())
    (tmp_path / "app").mkdir()
    try:
        group = processes.start(
            "s", tmp_path / "app", ["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"], network.egress_dir
        )
        deadline = time.monotonic() + 10
        while not (inside := psutil.Process(group.pid).children(recursive=True)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert inside
        processes.kill_group(group)
        for process in inside:
            with contextlib.suppress(psutil.NoSuchProcess):
                assert process.status() == psutil.STATUS_ZOMBIE
    finally:
        processes.kill_all()
        network.stop()


@pytest.mark.parametrize("isolated", [True, False], ids=["bubblewrap", "isolation off"])
def test_a_group_is_signalled_only_while_its_id_is_held(
    tmp_path: Path, machine: MachineProbe, monkeypatch: pytest.MonkeyPatch, isolated: bool
) -> None:
    """A leader reaped earlier (a dev server that crashed) has given its pid back, and another
    sandbox's group leader may have it now: the group's id stays held until the group is forgotten,
    and no kill reaches that pid's group or children after."""
    if isolated and not machine.isolation.bubblewrap:
        pytest.skip("bubblewrap cannot run on this machine")
    if not isolated:
        monkeypatch.setenv("QAI_SANDBOX_ISOLATION", "none")
        machine = MachineProbe()
    processes, network = ProcessRegistry(machine), SandboxNetwork(frozenset())
    (tmp_path / "app").mkdir()
    try:
        group = processes.start("s", tmp_path / "app", ["/bin/true"], network.egress_dir)
        assert group.wait(timeout=30) == 0  # reaped: its pid is free
        assert group_exists(group.pid)  # it still has a member, so its id is not given out again
        processes.forget_group(group)
        deadline = time.monotonic() + 5
        while group_exists(group.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not group_exists(group.pid)  # let go: the id may be anyone's from now
        signalled: list[int] = []
        monkeypatch.setattr(os, "killpg", lambda pgid, signum: signalled.append(pgid))
        monkeypatch.setattr(processes_module, "_children", lambda pid: pytest.fail(f"children of {pid} read"))
        processes.kill_group(group)
        assert signalled == []
    finally:
        processes.kill_all()
        network.stop()


def test_a_start_asked_for_while_its_sandbox_is_being_removed_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preview request or a start ahead that comes while the sandbox's server is being stopped for
    its removal (its directory still there) ends with the sandbox gone, as do those after."""
    root = tmp_path / "root"
    supervisor = DevServerSupervisor(root, idle_seconds=600, max_running=2, server_argv=tiny_server_argv)
    (root / "going").mkdir(parents=True)
    processes = supervisor.processes
    real_kill_group, real_start = processes.kill_group, processes.start
    killing, go_on = threading.Event(), threading.Event()

    def slow_kill_group(process: subprocess.Popen[bytes]) -> None:
        killing.set()
        go_on.wait(timeout=10)
        real_kill_group(process)

    started: list[str] = []

    def counted_start(sandbox_id: str, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(sandbox_id)
        return real_start(sandbox_id, *args, **kwargs)

    try:
        supervisor.ensure_running("going")
        monkeypatch.setattr(processes, "kill_group", slow_kill_group)
        monkeypatch.setattr(processes, "start", counted_start)
        stopping = threading.Thread(target=supervisor.stop, args=("going",))
        stopping.start()
        assert killing.wait(timeout=10)  # the stop is under way
        with pytest.raises(SandboxGoneError):
            supervisor.ensure_running("going")
        go_on.set()
        stopping.join(timeout=10)
        with pytest.raises(SandboxGoneError):
            supervisor.ensure_running("going")  # its directory is not removed yet: it is gone all the same
        assert started == [] and supervisor.running() == [] and not processes_of("going")
    finally:
        go_on.set()
        supervisor.stop_all()


def test_removed_sandboxes_leave_nothing_behind_in_the_supervisor(tmp_path: Path) -> None:
    """One entry per sandbox ever previewed would grow without end in a long-running stack."""
    import shutil

    root = tmp_path / "root"
    supervisor = DevServerSupervisor(root, idle_seconds=0.4, max_running=2, server_argv=tiny_server_argv)
    names = ["one", "two", "three"]
    try:
        for name in names:
            (root / name).mkdir(parents=True)
            supervisor.ensure_running(name)
        for name in names:  # as a sandbox closed without keeping it: forgotten, then removed
            supervisor.stop(name)
            shutil.rmtree(root / name)
        with pytest.raises(SandboxGoneError):
            supervisor.ensure_running("one")  # a preview still open asks again
        deadline = time.monotonic() + 5
        while (supervisor._starting or supervisor._removed) and time.monotonic() < deadline:
            time.sleep(0.1)  # the reaper's rounds
        assert (supervisor._starting, supervisor._removed) == ({}, set())
    finally:
        supervisor.stop_all()


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_of(sandbox_id: str) -> list[psutil.Process]:
    """The processes this test started for that sandbox (its dev server's)."""
    return [p for p in psutil.Process().children(recursive=True) if sandbox_id in " ".join(p.cmdline())]


def server_niceness(sandbox_id: str) -> set[int]:
    """The nice values of the processes this test started for that sandbox (its dev server's)."""
    processes = processes_of(sandbox_id)
    assert processes, sandbox_id
    return {p.nice() for p in processes}


def test_a_new_sandbox_of_the_provider_starts_its_dev_server_ahead_when_asked(
    tiny_previews: LocalPreviews, template: TemplateCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qai_local.sandbox.provider import LocalSandboxes

    previews, supervisor, root = tiny_previews, tiny_previews.supervisor, tiny_previews.root
    settings = AgentSettings(local_sandbox_root=root, local_template_cache=template.root)
    for prestart, expected in ((False, False), (True, True)):
        sandboxes = LocalSandboxes(settings.model_copy(update={"local_preview_prestart": prestart}), previews)
        sandbox = sandboxes.open()
        deadline = time.monotonic() + 20
        while sandbox.sandbox_id not in supervisor.running() and expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # long enough for a start that should not happen to show
        assert (sandbox.sandbox_id in supervisor.running()) is expected  # before any preview request
    status, body = fetch(sandbox.preview_url())
    assert status == 200 and body.startswith("tiny")
    # At the cap (2), a prestart waits for a preview request instead of stopping a running server.
    other = LocalSandbox.create(root, template, previews)
    fetch(other.preview_url())
    # A server started ahead is background work, yielding the CPU; one a preview asked for is not.
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert server_niceness(sandbox.sandbox_id) == {max(ours, BACKGROUND_NICENESS)}
    assert server_niceness(other.sandbox_id) == {ours}
    running = sorted(supervisor.running())
    third = sandboxes.open()
    time.sleep(1)
    assert sorted(supervisor.running()) == running and third.sandbox_id not in running


def test_a_sandbox_removed_before_its_server_started_ahead_is_no_warning(
    tiny_previews: LocalPreviews, caplog: pytest.LogCaptureFixture
) -> None:
    # A failed or cancelled run removes its sandbox while its server may still be starting ahead.
    with caplog.at_level(logging.INFO, logger="qai_local.sandbox.previews"):
        tiny_previews.prestart("removed-meanwhile").result(timeout=20)
    said = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert said == [(logging.INFO, "Sandbox removed-meanwhile was removed before its dev server had started ahead")]
    assert tiny_previews.supervisor.running() == []


def test_a_running_server_whose_sandbox_was_removed_stops_and_its_preview_says_expired(
    tiny_previews: LocalPreviews, tmp_path: Path
) -> None:
    (tiny_previews.root / "doomed").mkdir(parents=True)
    url = tiny_previews.url_for("doomed")
    assert fetch(url)[0] == 200 and tiny_previews.supervisor.running() == ["doomed"]
    (tiny_previews.root / "doomed").rename(tmp_path / "elsewhere")  # the directory goes while its server runs
    status, page = fetch(url)
    assert status == 404 and "This preview has expired" in page
    assert tiny_previews.supervisor.running() == []


def test_the_lru_cap_stops_the_least_recently_used_server(tiny_previews: LocalPreviews, machine: MachineProbe) -> None:
    urls = {}
    for name in ("a", "b", "c"):
        (tiny_previews.root / name).mkdir(parents=True)
        urls[name] = tiny_previews.url_for(name)
    assert fetch(urls["a"])[0] == 200 and fetch(urls["b"])[0] == 200
    assert fetch(urls["a"])[0] == 200  # a is now more recently used than b
    status, body = fetch(urls["c"])
    assert status == 200 and body.endswith(isolation.SANDBOX_APP_DIR if machine.isolation.bubblewrap else "c")
    assert sorted(tiny_previews.supervisor.running()) == ["a", "c"]


def refuses_connections(port: int) -> bool:
    """Whether nothing listens on the port any more (within 5 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


def test_a_sandbox_has_one_preview_port_which_closes_when_the_sandbox_is_forgotten(
    tiny_previews: LocalPreviews,
) -> None:
    (tiny_previews.root / "one").mkdir(parents=True)
    with ThreadPoolExecutor(max_workers=8) as pool:
        urls = set(pool.map(lambda _: tiny_previews.url_for("one"), range(8)))
    assert len(urls) == 1  # callers at once share one port, and no other is left listening
    (url,) = urls
    port = urlsplit(url).port
    assert port is not None and fetch(url)[0] == 200
    assert json.loads((tiny_previews.root / ".previews.json").read_text()) == {"one": port}
    tiny_previews.forget("one")
    assert refuses_connections(port)
    # Forgotten at once, while its port is still being set up to serve: it closes all the same.
    (tiny_previews.root / "two").mkdir()
    second = urlsplit(tiny_previews.url_for("two")).port
    tiny_previews.forget("two")
    assert second is not None and refuses_connections(second)
    assert json.loads((tiny_previews.root / ".previews.json").read_text()) == {}


def test_preview_urls_survive_a_restart_and_an_expired_sandbox_says_so(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "root"

    def start() -> LocalPreviews:
        return LocalPreviews(
            root, DevServerSupervisor(root, idle_seconds=600, max_running=2, server_argv=tiny_server_argv)
        ).start()

    previews = start()
    (root / "kept").mkdir(parents=True)
    (root / "gone").mkdir()
    kept, gone = previews.url_for("kept"), previews.url_for("gone")
    assert fetch(kept)[0] == 200
    previews.stop()
    assert json.loads((root / ".previews.json").read_text()).keys() == {"kept", "gone"}

    restarted = start()
    try:
        assert restarted.url_for("kept") == kept and fetch(kept)[0] == 200
        shutil.rmtree(root / "gone")
        status, page = fetch(gone)
        assert status == 404 and "This preview has expired" in page
    finally:
        restarted.stop()


def tiny_template(directory: Path, log: Path, *, broken: bool = False) -> Path:
    directory.mkdir(parents=True)
    manifest = {
        "name": "tiny",
        "version": "1.0.0",
        "private": True,
        "scripts": {"postinstall": f"echo installed >> {log} && sleep 1"},
        # Out of step with the lockfile: npm ci refuses it.
        **({"dependencies": {"left-pad": "1.3.0"}} if broken else {}),
    }
    (directory / "package.json").write_text(json.dumps(manifest))
    lock = {
        "name": "tiny",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "tiny", "version": "1.0.0"}},
    }
    (directory / "package-lock.json").write_text(json.dumps(lock))
    return directory


def test_two_processes_preparing_the_template_at_once_prepare_it_once(tmp_path: Path) -> None:
    log = tmp_path / "installs.log"
    source = tiny_template(tmp_path / "template", log)
    cache_root = tmp_path / "cache"
    # A half-prepared directory left by a crashed process is never mistaken for the cache.
    (cache_root / f"{template_hash(source)}.partial-dead").mkdir(parents=True)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from qai_local.sandbox.template_cache import TemplateCache
        print(TemplateCache(Path({str(cache_root)!r}), Path({str(source)!r})).ensure())
        """
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    racers = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    assert outputs[0] == outputs[1] == str(cache_root / template_hash(source) / "app")
    assert log.read_text().count("installed") == 1
    assert (Path(outputs[0]) / "package.json").is_file()


def test_a_failed_preparation_leaves_no_cache(tmp_path: Path) -> None:
    source = tiny_template(tmp_path / "template", tmp_path / "log", broken=True)
    cache = TemplateCache(tmp_path / "cache", source)
    with pytest.raises(TemplatePreparationError, match="npm ci failed"):
        cache.ensure()
    assert not cache.is_prepared()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{cache.key}.lock"]
