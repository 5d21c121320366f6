"""Benchmark: living apps, on the local sandbox with a zero-latency scripted model.

- a follow-up's start, from the queue message to the first model call: on the live sandbox
  (reconnected, nothing reinstalled) against one rebuilt from the fragment (a new sandbox, the
  files written, ``npm install`` for the package the app added);
- bringing an expired preview back: from POST …/preview to the preview answering;
- the snapshot of an app (the template plus 50 files and an image): its time and stored size, by
  the local sandbox's file walk and by the E2B command pipeline run on the same directory.

Usage: make bench  (or python bench/living_apps.py [repeats, default 3])
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import BenchStack, bench_stack

from qai_tools import scripted_model as sm

PAGE = 'import dayjs from "dayjs";\nexport default function Home() { return <h1>{dayjs().year()}</h1> }\n'


def _row(name: str, values: list[float], unit: str = "s") -> None:
    print(f"  {name:<46} median {statistics.median(values):8.2f} {unit}   (n={len(values)}, max {max(values):.2f})")


def _expire(stack: BenchStack) -> None:
    from qai_local.sandbox.provider import LocalSandboxes

    assert isinstance(stack.agent.sandboxes, LocalSandboxes)
    for directory in [p for p in stack.sandboxes.iterdir() if p.is_dir()]:
        stack.agent.sandboxes.previews.supervisor.stop(directory.name)
        shutil.rmtree(directory)


def _follow_up_start(stack: BenchStack, project_id: str) -> float:
    """Milliseconds from the delivery of a follow-up to the agent's first model call."""
    stack.model.script(sm.summary("Nothing to change."))
    stack.call("POST", f"/projects/{project_id}/messages", {"value": "look again"})
    body = stack.take_message()
    seen = len(stack.model.received_at)
    started = time.perf_counter()
    stack.deliver(body)
    return (stack.model.received_at[seen] - started) * 1000


def follow_ups_and_previews(repeats: int) -> None:
    with bench_stack(AGENT_CHECK_APP="false") as stack:
        stack.model.script(
            sm.terminal("npm install dayjs@1.11.13"), sm.write_files({"app/page.tsx": PAGE}), sm.summary()
        )
        project = stack.call("POST", "/projects", {"value": "a year"})
        stack.deliver(stack.take_message())
        print("follow-up start, delivery to the first model call (the app added dayjs):")
        live = [_follow_up_start(stack, project["id"]) for _ in range(repeats * 2)]
        rebuilt = []
        for _ in range(repeats):
            _expire(stack)
            rebuilt.append(_follow_up_start(stack, project["id"]))
        _row("on the live sandbox", live, "ms")
        _row("rebuilt from the fragment (npm install)", rebuilt, "ms")
        print(f"  ratio rebuilt / live: {statistics.median(rebuilt) / statistics.median(live):.0f}x")

        messages = stack.call("GET", f"/projects/{project['id']}/messages")["items"]
        fragment_id = messages[-1]["fragment"]["id"]
        path = f"/projects/{project['id']}/fragments/{fragment_id}/preview"
        restores = []
        for _ in range(repeats):
            _expire(stack)
            started = time.perf_counter()
            assert stack.call("POST", path)["status"] == "STARTING"
            stack.deliver(stack.take_message())
            while stack.call("GET", path)["status"] != "READY":
                time.sleep(0.2)
            restores.append(time.perf_counter() - started)
        print("an expired preview brought back:")
        _row("POST …/preview to READY (rebuild, npm install)", restores)


def snapshots(repeats: int) -> None:
    from qai.app_files import stored_size
    from qai.settings import load_settings
    from qai_agent.config import AgentSettings
    from qai_agent.sandboxes import e2b as e2b_provider
    from qai_local.sandbox.devservers import DevServerSupervisor
    from qai_local.sandbox.previews import LocalPreviews
    from qai_local.sandbox.sandbox import LocalSandbox
    from qai_local.sandbox.template_cache import TemplateCache

    root = Path(tempfile.mkdtemp(prefix="qai-bench-snapshot-"))
    previews = LocalPreviews(root, DevServerSupervisor(root, idle_seconds=600, max_running=1)).start()
    try:
        template = TemplateCache(load_settings(AgentSettings).local_template_cache)
        sandbox = LocalSandbox.create(root, template, previews)
        manifest = root / "template.sha256"
        listing = f"{e2b_provider.file_listing_command()} > {manifest}"
        subprocess.run(["/bin/sh", "-c", listing], cwd=sandbox.dir, check=True)
        component = "export function Part{i}() {{ return <div className='p-4'>{{'part {i}'}}</div> }}\n" * 30
        files: dict[str, str | bytes] = {f"components/part{i}.tsx": component.format(i=i) for i in range(50)}
        files["public/logo.png"] = bytes(range(256)) * 40
        sandbox.write_files(files)

        local_times, e2b_times = [], []
        for _ in range(repeats * 3):
            started = time.perf_counter()
            snapshot = sandbox.snapshot(4_000_000)
            local_times.append((time.perf_counter() - started) * 1000)
            command = e2b_provider.snapshot_command().replace(e2b_provider.TEMPLATE_MANIFEST, str(manifest))
            command = command.replace(e2b_provider.VM_STATE_DIR, str(root / "vm-state"))
            started = time.perf_counter()
            subprocess.run(["/bin/sh", "-c", command], cwd=sandbox.dir, check=True, capture_output=True)
            e2b_times.append((time.perf_counter() - started) * 1000)
        archive = (root / "vm-state" / "snapshot.tgz").stat().st_size
        print(f"snapshot of the template app plus 51 files ({len(snapshot)} files kept):")
        _row("local sandbox (file walk against the template)", local_times, "ms")
        _row("E2B pipeline in the VM (sha256sum, comm, tar)", e2b_times, "ms")
        print(f"  stored size {stored_size(snapshot) / 1000:.0f} kB; the E2B archive read back {archive / 1000:.0f} kB")
    finally:
        previews.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(repeats: int) -> int:
    snapshots(repeats)
    follow_ups_and_previews(repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
