"""Escape tests for what sandboxes share: no sandbox can change a file another sandbox or the
template cache sees, whether the stack runs as root or as an ordinary user."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from qai_local.sandbox.machine import MachineProbe
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache

needs_bubblewrap = pytest.mark.skipif(
    not MachineProbe().isolation.bubblewrap, reason="bubblewrap cannot run on this machine"
)
SHARED_FILES = (
    "node_modules/react/package.json",
    "node_modules/@types/node/package.json",
    "node_modules/next/dist/server/next.js",
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_bubblewrap
def test_no_sandbox_can_change_a_shared_file(tmp_path: Path, template: TemplateCache, previews: LocalPreviews) -> None:
    attacker = LocalSandbox.create(tmp_path / "root", template, previews)
    before = {path: digest(template.app_dir / path) for path in SHARED_FILES}
    attempts = [
        f"chmod u+w {path}; echo TAMPERED >> {path}; chmod 0666 {path}; truncate -s 0 {path}" for path in SHARED_FILES
    ]
    attempts += [
        # through the directory: make it writable, replace the file, then write through a fresh link
        "chmod -R u+w node_modules/react; rm -f node_modules/react/package.json; echo '{}' > node_modules/react/x",
        "ln -f node_modules/react/index.js own-link.js; chmod u+w own-link.js; echo TAMPERED >> own-link.js",
        "touch -d 2000-01-01 node_modules/react/index.js; chown 0 node_modules/react/index.js",
    ]
    for command in attempts:
        attacker.run(command, timeout_seconds=20)
    assert {path: digest(template.app_dir / path) for path in SHARED_FILES} == before
    assert "TAMPERED" not in (template.app_dir / "node_modules/react/index.js").read_text()
    assert (template.app_dir / "node_modules/react/package.json").exists()
    # A sandbox made after the attempts gets the template exactly as it was.
    later = LocalSandbox.create(tmp_path / "root", template, previews)
    assert {path: digest(later.dir / path) for path in SHARED_FILES} == before
    outcome = later.run("cat node_modules/react/index.js", timeout_seconds=20)
    assert outcome.exit_code == 0 and "TAMPERED" not in outcome.stdout


@needs_bubblewrap
def test_a_sandbox_still_adds_packages_of_its_own(sandbox: LocalSandbox, template: TemplateCache) -> None:
    outcome = sandbox.run(
        "mkdir -p node_modules/mine && echo ok > node_modules/mine/index.js && cat node_modules/mine/index.js",
        timeout_seconds=20,
    )
    assert outcome.stdout.strip() == "ok"
    assert not (template.app_dir / "node_modules/mine").exists()


WORKER = """
import sys, threading
from pathlib import Path
from qai_local.sandbox.devservers import DevServerSupervisor
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache

root, cache, marker = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
server = "require('http').createServer((q, s) => s.end('up')).listen(Number(process.env.PORT), '127.0.0.1')"
supervisor = DevServerSupervisor(
    root, idle_seconds=600, max_running=2, server_argv=lambda port: ["node", "-e", server, marker]
)
previews = LocalPreviews(root, supervisor).start()
sandbox = LocalSandbox.create(root, TemplateCache(cache), previews)
supervisor.ensure_running(sandbox.sandbox_id)
sleeper = f"sh -c 'sleep 600; true' {marker}"  # marked: the marker is the shell's $0
command = f"{sleeper} & {sleeper}"
threading.Thread(target=sandbox.run, args=(command,), kwargs={"timeout_seconds": 900}).start()
print("started", flush=True)
threading.Event().wait()
"""


def processes_with(marker: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if marker in cmdline and "python" not in cmdline:
            found.append(cmdline)
    return found


def process_states(marker: str) -> list[str]:
    """Each process with the marker: pid, state, what the kernel waits in, and its parent."""
    states = []
    for process in psutil.process_iter(["cmdline", "status", "ppid"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if marker in cmdline and "python" not in cmdline:
            wchan = Path(f"/proc/{process.pid}/wchan")
            waits = wchan.read_text() if wchan.exists() else "?"
            states.append(f"{process.pid} {process.info['status']} wchan={waits} ppid={process.info['ppid']}")
    return states


def sleepers(marker: str) -> int:
    return sum(cmdline.startswith("sh -c sleep 600") for cmdline in processes_with(marker))


@pytest.mark.parametrize("when", ["running", "starting"])
def test_every_sandbox_process_dies_with_the_worker_that_started_it(
    tmp_path: Path, template: TemplateCache, when: str
) -> None:
    marker = f"qai-orphan-{os.urandom(4).hex()}"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path / "root"), str(template.root), marker],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "started"
        if when == "running":
            deadline = time.monotonic() + 20
            while sleepers(marker) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert sleepers(marker) == 2  # the command's two, in the sandbox with the dev server
        # "starting": while bubblewrap still sets the command's sandbox up, before --die-with-parent holds
        worker.kill()  # SIGKILL: no clean-up code of the worker runs
        worker.wait()
        # Under a loaded machine a process may take a while to be scheduled and die: wait, then say
        # what is left and in which state (a blocked cgroup write, a stopped process…).
        deadline = time.monotonic() + 30
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(marker) == [], process_states(marker)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        for process in psutil.process_iter(["cmdline"]):  # whatever outlived it, in sessions of its own
            if marker in " ".join(process.info["cmdline"] or []) and process.pid != os.getpid():
                with contextlib.suppress(psutil.Error):
                    process.kill()


def test_a_process_whose_starter_died_before_it_asked_for_the_signal_never_runs(tmp_path: Path) -> None:
    """The parent-death signal is asked for after the fork: a starter killed in between never sends
    it. Here the starter is gone before setpriv runs (a delay put in front of it), which a busy
    machine can do by itself; the command must not run, orphaned."""
    ran = tmp_path / "ran"
    starter = (
        "import subprocess, sys\n"
        "from qai_local.sandbox.processes import dies_with_this_process\n"
        "argv = dies_with_this_process(['/bin/sh', '-c', 'touch \"$0\"', sys.argv[1]])\n"
        "subprocess.Popen(['/bin/sh', '-c', 'sleep 0.5; exec \"$@\"', 'late', *argv], start_new_session=True)\n"
    )  # and it exits at once, before the delay ends
    subprocess.run(
        [sys.executable, "-c", starter, str(ran)],
        check=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    time.sleep(2)
    assert not ran.exists()
