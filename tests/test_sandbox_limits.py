"""The sandbox's limits where no cgroup holds them (an ordinary user without a delegated systemd
scope): rlimits in every sandboxed process, and the file systems in memory that nothing else would
bound. The sandboxes here run on a machine whose cgroup tree is an empty folder, so they take the
fallback whoever runs them; scripts/as-ordinary-user.sh runs them as an ordinary user as well, where
the process limit holds too (root is exempt from RLIMIT_NPROC)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from qai_local.sandbox.cgroups import PIDS_LIMIT, TMP_SIZE_MB, CgroupTree, memory_limit_mb
from qai_local.sandbox.devservers import DevServerSupervisor
from qai_local.sandbox.disk import disk_limit_mb
from qai_local.sandbox.isolation import SHM_SIZE_MB
from qai_local.sandbox.machine import MachineProbe
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.processes import ProcessRegistry
from qai_local.sandbox.rlimits import Rlimits, describe_limits
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache

needs_bubblewrap = pytest.mark.skipif(
    not MachineProbe().isolation.bubblewrap, reason="bubblewrap cannot run on this machine"
)
AS_ROOT = os.geteuid() == 0
DELEGATE = "systemd-run --user --scope -p Delegate=yes make dev"
# Holds as many threads as its argument says until its input closes.
THREAD_HOLDER = """
import sys, threading
for _ in range(int(sys.argv[1])):
    threading.Thread(target=sys.stdin.read, daemon=True).start()
print("up", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def no_cgroups(tmp_path: Path) -> MachineProbe:
    """This machine, but one where the stack may make no cgroup."""
    (tmp_path / "cgroup").mkdir()
    return MachineProbe(cgroups=CgroupTree(tmp_path / "cgroup", tmp_path / "self-cgroup"))


@pytest.fixture
def limited(tmp_path: Path, template: TemplateCache, no_cgroups: MachineProbe) -> Iterator[LocalSandbox]:
    """A sandbox on that machine (its processes get rlimits), with its previews."""
    processes = ProcessRegistry(no_cgroups)
    supervisor = DevServerSupervisor(tmp_path / "root", idle_seconds=600, max_running=1, processes=processes)
    previews = LocalPreviews(tmp_path / "root", supervisor).start()
    try:
        yield LocalSandbox.create(tmp_path / "root", template, previews)
    finally:
        previews.stop()


def limits_of(text: str) -> dict[str, str]:
    """/proc/<pid>/limits as {name: soft limit}."""
    return {line[:26].strip(): line[26:].split()[0] for line in text.splitlines()[1:]}


@needs_bubblewrap
def test_without_cgroups_each_sandboxed_process_gets_rlimits_and_the_banner_says_so(
    no_cgroups: MachineProbe, limited: LocalSandbox
) -> None:
    banner = no_cgroups.limits_in_force()
    assert f"memory {memory_limit_mb()} MB per process (RLIMIT_DATA)" in banner
    assert f"{disk_limit_mb()} MB per file" in banner and "no cgroup this user may make" in banner
    outcome = limited.run("cat /proc/self/limits", timeout_seconds=20)
    held = limits_of(outcome.stdout)
    assert held["Max data size"] == str(memory_limit_mb() << 20)
    assert held["Max file size"] == str(disk_limit_mb() << 20)
    assert held["Max core file size"] == "0"
    if AS_ROOT:
        assert "no process limit (root is exempt from RLIMIT_NPROC)" in banner
    else:
        assert f"{PIDS_LIMIT} processes per command (RLIMIT_NPROC)" in banner
        assert held["Max processes"] == str(PIDS_LIMIT)
    # Hard limits as well: nothing in the sandbox raises them again.
    raised = limited.run("prlimit --pid $$ --data=unlimited --fsize=unlimited && echo raised", timeout_seconds=20)
    assert raised.exit_code != 0 and "raised" not in raised.stdout


def test_the_banner_says_which_limits_hold_and_how() -> None:
    rlimits = Rlimits("/usr/bin/prlimit")
    both = describe_limits(rlimits, {"memory", "pids"}, "cgroup v2", "unused")
    assert both.startswith(f"limits: memory {memory_limit_mb()} MB and {PIDS_LIMIT} processes per sandbox (cgroup v2)")
    assert "RLIMIT" not in both and "no cgroup" not in both and f"a {TMP_SIZE_MB} MB /tmp" in both
    mixed = describe_limits(rlimits, {"memory"}, "cgroup v1", "on cgroup v1 only root may make them")
    assert "per sandbox (cgroup v1)" in mixed and f"{PIDS_LIMIT} processes per command (RLIMIT_NPROC)" in mixed
    assert "so no process limit per sandbox (on cgroup v1 only root may make them)" in mixed
    no_prlimit = describe_limits(Rlimits(None), set(), "cgroup v2", DELEGATE)
    assert "no memory or process limit (prlimit (util-linux) is not installed)" in no_prlimit
    assert DELEGATE in no_prlimit and "per file" not in no_prlimit
    # RLIMIT_NPROC counts a sandbox's own processes only from Linux 5.14, and never root's.
    old_kernel = Rlimits.probe(lambda name: f"/usr/bin/{name}", euid=1000, kernel="5.10.0-28-amd64")
    assert "no process limit (Linux 5.10.0-28-amd64 counts RLIMIT_NPROC over all" in describe_limits(
        old_kernel, set(), "cgroup v2", DELEGATE
    )
    assert "--nproc" not in " ".join(old_kernel.argv(["pids"]))
    assert Rlimits.probe(lambda name: f"/usr/bin/{name}", euid=0, kernel="6.8.0").nproc_refused
    ordinary = Rlimits.probe(lambda name: f"/usr/bin/{name}", euid=1000, kernel="6.8.0-45-generic")
    assert f"--nproc={PIDS_LIMIT}" in ordinary.argv(["memory", "pids"])
    assert ordinary.argv([]) == ["/usr/bin/prlimit", f"--fsize={disk_limit_mb() << 20}", "--core=0", "--"]
    # A prlimit outside the system's programs is not visible in a sandbox: no rlimits then.
    assert Rlimits.probe(lambda name: f"/home/me/bin/{name}", euid=1000, kernel="6.8.0").prlimit is None


def test_the_model_is_told_which_rlimit_a_command_hit_only_where_rlimits_hold() -> None:
    rlimits = Rlimits("/usr/bin/prlimit")
    heap = "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
    assert "each process in this sandbox may use" in rlimits.hit(["memory", "pids"], 134, heap)
    assert rlimits.hit([], 134, heap) == ""  # a cgroup limits memory: its own counter says so
    fork = "/bin/sh: 0: Cannot fork"
    assert f"limited to {PIDS_LIMIT} processes" in rlimits.hit(["pids"], 2, fork)
    assert rlimits.hit(["pids"], 2, "") == ""
    assert "at most" in rlimits.hit([], 153, "") and "at most" in rlimits.hit(
        [], 1, "OSError: [Errno 27] File too large"
    )
    assert Rlimits(None).hit(["memory", "pids"], 153, heap + fork) == ""


@needs_bubblewrap
def test_a_memory_hog_fails_and_says_why(limited: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_SANDBOX_MEMORY_MB", "256")
    for hog in (
        "node -e 'const kept = []; for (;;) kept.push(Buffer.alloc(1 << 20, 1))'",
        "node -e 'const kept = []; for (;;) kept.push(new Array(1e6).fill(1.5))'",
        "python3 -c 'kept = [bytearray(1 << 20) for _ in range(4096)]'",
    ):
        outcome = limited.run(hog, timeout_seconds=60)
        assert outcome.exit_code != 0 and not outcome.timed_out, hog
        assert "each process in this sandbox may use 256 MB" in outcome.stderr, outcome.stderr[-2000:]
    assert limited.run("echo still usable", timeout_seconds=10).stdout.strip() == "still usable"


@needs_bubblewrap
@pytest.mark.skipif(AS_ROOT, reason="root is exempt from RLIMIT_NPROC; scripts/as-ordinary-user.sh runs this")
def test_a_fork_bomb_is_stopped_though_the_users_other_processes_do_not_count(limited: LocalSandbox) -> None:
    # More threads of this user outside the sandbox than its limit: they share its uid, not its count.
    holder = subprocess.Popen(
        [sys.executable, "-c", THREAD_HOLDER, str(PIDS_LIMIT + 100)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        assert psutil.Process(holder.pid).num_threads() > PIDS_LIMIT
        many = limited.run(
            "i=0; while [ $i -lt 100 ]; do sleep 1 & i=$((i+1)); done; wait; echo all", timeout_seconds=30
        )
        assert (many.exit_code, many.stdout.strip()) == (0, "all")
        bomb = f"i=0; while [ $i -lt {PIDS_LIMIT + 200} ]; do sleep 60 & i=$((i+1)); done; wait"
        outcome = limited.run(bomb, timeout_seconds=30)
        assert outcome.exit_code != 0 and not outcome.timed_out
        assert "cannot fork" in outcome.stderr.lower() or "resource temporarily unavailable" in outcome.stderr.lower()
        assert f"limited to {PIDS_LIMIT} processes" in outcome.stderr  # said so to the model
        assert limited.run("echo still usable", timeout_seconds=10).stdout.strip() == "still usable"
    finally:
        holder.kill()
        holder.wait()


@needs_bubblewrap
def test_a_file_larger_than_the_disk_budget_cannot_be_written(
    limited: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_SANDBOX_DISK_MB", "64")
    outcome = limited.run("head -c 100000000 /dev/zero > big", timeout_seconds=60)
    assert outcome.exit_code != 0 and "one file in this sandbox may hold at most 64 MB" in outcome.stderr
    assert (limited.dir / "big").stat().st_size == 64 << 20
    python = limited.run('rm big; python3 -c \'open("big", "wb").write(bytes(80 << 20))\'', timeout_seconds=60)
    assert "File too large" in python.stderr and "at most 64 MB" in python.stderr


@needs_bubblewrap
def test_nothing_outside_the_app_tmp_and_home_can_be_written_and_those_are_bounded(limited: LocalSandbox) -> None:
    """bubblewrap's own root and /dev are file systems in memory: writable, they would bound nothing."""
    for path in ("/planted", "/dev/planted", "/etc/planted", "/run/qai/planted", "/opt/planted"):
        outcome = limited.run(f"echo x > {path} && echo wrote", timeout_seconds=10)
        assert outcome.exit_code != 0 and "wrote" not in outcome.stdout, path
    sizes = limited.run("df -m /tmp /home/user /dev/shm | tail -n +2", timeout_seconds=10).stdout.split("\n")
    assert [line.split()[1] for line in sizes if line] == [str(TMP_SIZE_MB), str(TMP_SIZE_MB), str(SHM_SIZE_MB)]
    full = limited.run(f"head -c {(TMP_SIZE_MB + 10) << 20} /dev/zero > ~/big", timeout_seconds=60)
    assert "No space left on device" in full.stderr
    assert limited.run("python3 -c 'import multiprocessing; multiprocessing.Lock()'", timeout_seconds=20).exit_code == 0


@needs_bubblewrap
def test_next_dev_and_npm_install_run_under_the_rlimits(limited: LocalSandbox) -> None:
    limited.write_files({"app/page.tsx": "export default function P() { return <h1>Under rlimits</h1>; }\n"})
    with urllib.request.urlopen(limited.preview_url(), timeout=120) as response:
        assert response.status == 200 and "Under rlimits" in response.read().decode()
    started = limited._previews.supervisor._servers[limited.sandbox_id].process
    servers = [
        child
        for child in psutil.Process(started.pid).children(recursive=True)
        if child.name().startswith("next-server")
    ]
    assert servers
    assert all(server.rlimit(psutil.RLIMIT_DATA) == (memory_limit_mb() << 20,) * 2 for server in servers)
    installed = limited.run("npm install is-number 2>&1 | tail -1", timeout_seconds=120)
    assert installed.exit_code == 0 and "added" in installed.stdout, installed.stdout + installed.stderr
