"""The local stack as a process of its own, as `make dev` starts it: for the end-to-end tests and
the load benchmark, which use it over HTTP only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from qai_local.stack.access import TOKEN_FILE

ROOT = Path(__file__).resolve().parents[2]
# Settings a deployment would set, dropped so that the stack makes its own (the caller may pass any).
INHERITED_PREFIXES = ("AWS_", "DATABASE_", "AGENT_", "LOCAL_")
# A database stop ends with a checkpoint, which a busy disk can make slow (pg_ctl waits up to 60 s).
STOP_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StackDidNotStartError(RuntimeError):
    """The stack did not say "QAI ready" in time; the message carries what it printed."""


class LocalStackProcess:
    def __init__(self, data_dir: Path, *, ready_timeout: float = 90, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
        env.update({"QAI_DATA_DIR": str(data_dir), "QAI_API_PORT": str(free_port()), "PYTHONPATH": str(ROOT)})
        env["QAI_SITES_PORT"] = str(free_port())
        env.update(settings)
        self.api_url = f"http://127.0.0.1:{env['QAI_API_PORT']}"
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qai_local.stack.stack"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, for killing it whole if it hangs
        )
        self.output: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(ready_timeout):
            self.stop()
            raise StackDidNotStartError("the stack did not start:\n" + "".join(self.output))
        self.token = (data_dir / TOKEN_FILE).read_text().strip()
        # What a caller with the token sends (the CLI and the web client send the same).
        self.auth = {"authorization": f"Bearer {self.token}"}
        self.web_url = f"{self.api_url}/#token={self.token}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if line.strip() == "QAI ready":
                self._ready.set()

    def stop(self) -> list[psutil.Process]:
        """Ctrl-C, as a user would; the processes of ours still alive afterwards."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)  # every thread's stack, into the output
            time.sleep(1)
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(
                f"the stack did not stop in {STOP_TIMEOUT_SECONDS} s:\n" + "".join(self.output)
            ) from None
        assert code == 0, "".join(self.output)
        _, alive = psutil.wait_procs(children, timeout=10)
        return alive
