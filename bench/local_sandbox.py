"""Benchmark: the local sandbox, measured side by side against its targets.

- template preparation, cold (a new cache directory: ``npm ci``, npm's own download cache as it is)
  and warm (already prepared);
- new sandbox creation (target < 2 s) and the disk it adds (target < 50 MB, node_modules shared);
- a cold preview, from the first request to the first 200 (target < 5 s), and a warm request;
- a prestarted sandbox (its dev server started, and the page compiled once, when it was made, as
  the agent's sandboxes are): how long that takes, then the first preview after the page changed;
- the agent's build check of an app (type check, page, dev server output) on a warm dev server;
- the memory of one running dev server (its whole process tree) just after the check and once it
  has settled (target < 600 MB), and how many this machine holds at once (counted at the first);
- the boundary's cost, side by side: a command with the network namespace, its relay and the
  limits against bubblewrap alone (target: under 50 ms more), and a cold preview through the
  sandbox against plain ``next dev`` on the same app (target: under 1 s more).

Usage: make bench  (or python bench/local_sandbox.py [dev servers to run at once, default 3])
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers/shared/python"), str(ROOT / "functions/agent")]

TARGET_CREATE_S = 2.0
TARGET_DISK_MB = 50.0
TARGET_COLD_PREVIEW_S = 5.0
TARGET_DEV_SERVER_MB = 600.0
TARGET_COMMAND_EXTRA_MS = 50.0
TARGET_PREVIEW_EXTRA_S = 1.0
COMMAND_RUNS = 20
CHANGED_PAGE = (
    "'use client';\nimport { useState } from 'react';\n"
    "export default function Page() { const [n, setN] = useState(0); return <main className='p-8'>"
    "<h1 className='text-2xl font-bold'>Counter</h1><button onClick={() => setN(n + 1)}>{n}</button></main>; }\n"
)


def _row(name: str, value: float, unit: str, target: float | None = None) -> None:
    verdict = f"   target {target:g} {unit}, ratio {value / target:.2f}" if target else ""
    print(f"  {name:<34} {value:10.3f} {unit:<3}{verdict}")


def _added_disk_mb(shared: Path, directory: Path) -> float:
    # du counts a hard-linked file once, where it first sees it: list the shared tree first.
    out = subprocess.run(["du", "-sk", str(shared), str(directory)], capture_output=True, text=True, check=True)
    return int(out.stdout.splitlines()[1].split()[0]) / 1024


def _tree_rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def _settled_rss_mb(pid: int) -> float:
    """The tree's RSS once the server has been idle a while: V8 shrinks a heap that stops growing
    (its memory reducer), which just after a compile holds 100-200 MB of garbage for some seconds,
    and not in one step (two equal samples 2.5 s apart can still be 30 MB above where it rests).
    Sampled every 2.5 s for 30 s; the median of the samples of the second 15 s, so that neither a
    step on the way down nor a passing rise is taken for the resting size."""
    samples = []
    for _ in range(12):
        time.sleep(2.5)
        samples.append(_tree_rss_mb(pid))
    return statistics.median(samples[6:])


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=180) as response:  # noqa: S310 - a local preview URL
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def _median_seconds(run: object, times: int = COMMAND_RUNS) -> float:
    assert callable(run)
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _plain_next_dev_cold_s(app: Path) -> float:
    """The anchor of a cold preview: ``next dev`` started by hand in a copy of the app, no sandbox."""
    from qai_local.sandbox.devservers import next_dev_argv
    from qai_local.sandbox.processes import free_port

    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        next_dev_argv(port), cwd=app, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while True:
            try:
                _get(f"http://127.0.0.1:{port}/")
                return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def boundary_costs(sandbox: object, cold_preview_s: float, plain_app: Path) -> None:
    from qai_local.sandbox import isolation
    from qai_local.sandbox.sandbox import LocalSandbox

    assert isinstance(sandbox, LocalSandbox)
    machine = sandbox._previews.supervisor.processes.machine
    if not machine.isolation.bubblewrap:
        print("  (the boundary's cost: bubblewrap cannot run here)")
        return
    network = sandbox._previews.supervisor.network
    shared = sandbox._template.app_dir / "node_modules"
    bare = machine.bubblewrap_argv(
        sandbox.dir, ["/bin/sh", "-c", "true"], isolation.sandbox_environment(), network.egress_dir, shared
    )
    bare.remove("--unshare-net")
    with_boundary = _median_seconds(lambda: sandbox.run("true", timeout_seconds=30))
    bubblewrap_alone = _median_seconds(lambda: subprocess.run(bare, check=True))
    no_sandbox = _median_seconds(lambda: subprocess.run(["/bin/sh", "-c", "true"], check=True))
    _row("command `true`, no sandbox", no_sandbox * 1000, "ms")
    _row("command `true`, bubblewrap alone", bubblewrap_alone * 1000, "ms")
    _row("command `true`, the whole boundary", with_boundary * 1000, "ms")
    _row("the boundary's extra per command", (with_boundary - bubblewrap_alone) * 1000, "ms", TARGET_COMMAND_EXTRA_MS)
    plain = _plain_next_dev_cold_s(plain_app)
    _row("cold preview, plain next dev", plain, "s")
    record("next_dev_cold_s", plain, "s")
    record("preview_cold_s", cold_preview_s, "s", target=TARGET_COLD_PREVIEW_S, anchor=plain)
    record("command_boundary_extra_ms", (with_boundary - bubblewrap_alone) * 1000, "ms", target=TARGET_COMMAND_EXTRA_MS)
    _row("the boundary's extra on a cold preview", max(0.0, cold_preview_s - plain), "s", TARGET_PREVIEW_EXTRA_S)


def main(servers_at_once: int) -> int:
    import psutil

    from qai.settings import load_settings
    from qai_agent.check import check_app
    from qai_agent.config import AgentSettings
    from qai_local.sandbox.devservers import DevServerSupervisor
    from qai_local.sandbox.machine import MachineProbe
    from qai_local.sandbox.previews import LocalPreviews
    from qai_local.sandbox.processes import ProcessRegistry
    from qai_local.sandbox.sandbox import LocalSandbox
    from qai_local.sandbox.template_cache import TemplateCache

    work = Path(tempfile.mkdtemp(prefix="qai-bench-sandbox-"))
    processes = ProcessRegistry(MachineProbe())
    print(f"local sandbox ({processes.machine.isolation.describe()})")
    try:
        started = time.perf_counter()
        TemplateCache(work / "cold-cache").ensure()
        _row("template preparation, cold", time.perf_counter() - started, "s")
        template = TemplateCache(load_settings(AgentSettings).local_template_cache)
        template.ensure()
        started = time.perf_counter()
        template.ensure()
        _row("template preparation, warm", (time.perf_counter() - started) * 1000, "ms")

        root = work / "sandboxes"
        supervisor = DevServerSupervisor(root, idle_seconds=600, max_running=servers_at_once, processes=processes)
        previews = LocalPreviews(root, supervisor).start()
        try:
            creations, sandboxes = [], []
            for _ in range(10):
                started = time.perf_counter()
                sandboxes.append(LocalSandbox.create(root, template, previews))
                creations.append(time.perf_counter() - started)
            _row("new sandbox (median of 10)", statistics.median(creations), "s", TARGET_CREATE_S)
            _row("disk added by a sandbox", _added_disk_mb(template.app_dir, sandboxes[0].dir), "MB", TARGET_DISK_MB)

            first = sandboxes[0]
            cold_preview = _get(first.preview_url())
            _row("cold preview, request to 200", cold_preview, "s", TARGET_COLD_PREVIEW_S)
            warm = [_get(first.preview_url()) for _ in range(10)]
            _row("warm preview request (median)", statistics.median(warm) * 1000, "ms")
            started = time.perf_counter()
            assert check_app(first, time_left=lambda: 300.0, page_timeout=120) is None
            _row("build check (tsc, page, warm server)", time.perf_counter() - started, "s")
            server = supervisor._servers[first.sandbox_id]
            peak = _tree_rss_mb(server.process.pid)
            _row("one dev server, just after the check", peak, "MB")
            record("dev_server_peak_rss_mb", peak, "MB")
            one = _settled_rss_mb(server.process.pid)
            _row("one dev server's memory (RSS)", one, "MB", TARGET_DEV_SERVER_MB)
            record("dev_server_rss_mb", one, "MB", target=TARGET_DEV_SERVER_MB)

            prestarted = sandboxes[1]
            started = time.perf_counter()
            previews.prestart(prestarted.sandbox_id).result()  # as a new run's sandbox does, while the model writes
            _row("prestart: server up, page compiled", time.perf_counter() - started, "s")
            prestarted.write_files({"app/page.tsx": CHANGED_PAGE})  # then the model's first files
            first_look = _get(prestarted.preview_url())
            _row("first preview of a prestarted sandbox", first_look, "s", TARGET_COLD_PREVIEW_S)
            record("preview_prestarted_s", first_look, "s", target=TARGET_COLD_PREVIEW_S, anchor=cold_preview)

            boundary_costs(first, cold_preview, sandboxes[-1].dir)
            for sandbox in sandboxes[1:servers_at_once]:
                _get(sandbox.preview_url())
            running = [supervisor._servers[i] for i in supervisor.running()]
            total = sum(_tree_rss_mb(s.process.pid) for s in running)
            _row(f"{len(running)} dev servers at once (RSS)", total, "MB")
            available = psutil.virtual_memory().total / 2**20
            fit = int(available * 0.8 // peak)  # counted at each server's peak, which the cap must allow for
            print(f"  this machine ({available / 1024:.0f} GB) holds about {fit} at 80% of memory")
        finally:
            previews.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
