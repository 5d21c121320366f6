"""The dev-server supervisor: each sandbox's ``next dev`` starts on demand and stops when idle.

At most ``max_running`` servers run at once (each takes about 1 GB): starting one more stops the
least recently used first. A caller that asks while a server is starting waits for the same start.
"""

from __future__ import annotations

import collections
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qai_local.sandbox.isolation import IsolationUnavailableError
from qai_local.sandbox.machine import MachineProbe
from qai_local.sandbox.network import SandboxNetwork, ingress_answers
from qai_local.sandbox.processes import ProcessRegistry, free_port

OUTPUT_LINES = 400
# The dev server's port inside its sandbox's own network namespace (any port works there).
SANDBOX_DEV_PORT = 3000
# Starts the ingress relay on the descriptor the host passed, then becomes the dev server.
WITH_INGRESS_RELAY = 'node "$0" "$1" "$2" & shift 2; exec "$@"'


def next_dev_argv(port: int) -> list[str]:
    return ["node_modules/.bin/next", "dev", "--hostname", "127.0.0.1", "--port", str(port)]


class SandboxGoneError(LookupError):
    """The sandbox's directory does not exist (it expired or was never made)."""


class DevServerError(RuntimeError):
    """The dev server exited or never listened; the message ends with its output."""


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    ingress: Path  # the host's way in: a Unix socket the relay in the sandbox accepts on
    last_used: float
    # Requests sent and not yet answered: a server compiling a page is not idle, however long it takes.
    pending: int = 0
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=OUTPUT_LINES))

    def alive(self) -> bool:
        return self.process.poll() is None

    def output_tail(self) -> str:
        return "".join(self.output)


class DevServerSupervisor:
    def __init__(
        self,
        root: Path,
        *,
        idle_seconds: float,
        max_running: int,
        start_timeout_seconds: float = 90,
        server_argv: Callable[[int], list[str]] = next_dev_argv,
        network: SandboxNetwork | None = None,
        shared_node_modules: Path | None = None,
        processes: ProcessRegistry | None = None,
    ) -> None:
        self.root = root
        self.shared_node_modules = shared_node_modules
        # The provider's, shared with its sandboxes; one of its own when none is given.
        self.processes = processes or ProcessRegistry(MachineProbe())
        self.network = network or SandboxNetwork(frozenset({self.processes.machine.registry_host}))
        self.idle_seconds = idle_seconds
        self.max_running = max(1, max_running)
        self.start_timeout_seconds = start_timeout_seconds
        self._server_argv = server_argv
        self._servers: dict[str, DevServer] = {}
        # Held while a sandbox's server starts (re-entrant: a start may stop its own sandbox's server).
        self._starting: dict[str, threading.RLock] = collections.defaultdict(threading.RLock)
        # Sandboxes stopped for good, whose directories are being removed: no server starts in one, however
        # long a start waited for its turn. Kept until the directory has gone, which then tells the same.
        self._removed: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, name="qai-devserver-reaper", daemon=True)
        self._reaper.start()

    def ensure_running(self, sandbox_id: str) -> Path:
        """The ingress socket of the sandbox's dev server, started first if it is not running."""
        with self._lock:
            if sandbox_id in self._removed:  # before its start lock, which would be made again
                raise SandboxGoneError(sandbox_id)
            starting = self._starting[sandbox_id]
        with starting:
            directory = self.root / sandbox_id
            # Every server stopped, or this sandbox's while this start waited for its turn: none starts after.
            if self._gone(sandbox_id):
                raise SandboxGoneError(sandbox_id)
            if not directory.is_dir():
                self.stop(sandbox_id)  # its directory was removed: the sandbox expired, its server goes too
                raise SandboxGoneError(sandbox_id)
            with self._lock:
                server = self._servers.get(sandbox_id)
                if server is not None and server.alive():
                    server.last_used = time.monotonic()
                    return server.ingress
            self._make_room()
            server = self._start(sandbox_id, directory, stopped=lambda: self._gone(sandbox_id))
            with self._lock:
                if not self._gone(sandbox_id):
                    # Idle from now: a start slower than the idle time must not end the server unused.
                    server.last_used = time.monotonic()
                    self._servers[sandbox_id] = server
                    return server.ingress
            self.processes.kill_group(server.process)
            raise SandboxGoneError(sandbox_id)

    def touch(self, sandbox_id: str, *, pending_change: int = 0) -> None:
        with self._lock:
            if server := self._servers.get(sandbox_id):
                server.last_used = time.monotonic()
                server.pending = max(0, server.pending + pending_change)

    def running(self) -> list[str]:
        with self._lock:
            return [sandbox_id for sandbox_id, server in self._servers.items() if server.alive()]

    def output_tail(self, sandbox_id: str) -> str:
        with self._lock:
            server = self._servers.get(sandbox_id)
        return server.output_tail() if server else ""

    def _gone(self, sandbox_id: str) -> bool:
        return self._stopping.is_set() or sandbox_id in self._removed

    def removed(self, sandbox_id: str) -> bool:
        """Whether the sandbox was stopped for good (every server was, or its own) or its directory has gone."""
        return self._gone(sandbox_id) or not (self.root / sandbox_id).is_dir()

    def stop(self, sandbox_id: str) -> None:
        """Stop the sandbox's server for good, one still starting too: when this returns nothing of
        either runs, none starts after, and the sandbox's directory can go."""
        with self._lock:
            self._removed.add(sandbox_id)
            # Let go even if a start waits for it: whichever start lock a start holds, it finds the
            # sandbox removed first thing.
            starting = self._starting.pop(sandbox_id, None)
        self._end(sandbox_id)
        _wait_for_starts([starting] if starting is not None else [])

    def _end(self, sandbox_id: str) -> None:
        """End the sandbox's running server (for room or idleness: a start under way goes on)."""
        with self._lock:
            server = self._servers.pop(sandbox_id, None)
        if server is not None:
            self.processes.kill_group(server.process)

    def stop_all(self) -> None:
        """Stop every server, those still starting too, and start none after."""
        self._stopping.set()
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
            starts = list(self._starting.values())
        for server in servers:
            self.processes.kill_group(server.process)
        _wait_for_starts(starts)
        self.network.stop()

    def _make_room(self) -> None:
        with self._lock:
            alive = sorted(
                ((s.last_used, sandbox_id) for sandbox_id, s in self._servers.items() if s.alive()),
            )
        for _last_used, sandbox_id in alive[: max(0, len(alive) - self.max_running + 1)]:
            self._end(sandbox_id)

    def _start(self, sandbox_id: str, directory: Path, *, stopped: Callable[[], bool]) -> DevServer:
        # In its own network namespace the server may take any port; without one, a free host port.
        machine = self.processes.machine
        for attempt in range(2):  # a host port taken between the check and the listen gets one retry
            port = SANDBOX_DEV_PORT if machine.isolation.bubblewrap else free_port()
            with self.network.listen_ingress(sandbox_id) as listener:
                fd = listener.fileno()
                relay = ["/bin/sh", "-c", WITH_INGRESS_RELAY, machine.netbridge_path(), str(fd), str(port)]
                try:
                    process = self.processes.start(
                        sandbox_id,
                        directory,
                        [*relay, *self._server_argv(port)],
                        self.network.egress_dir,
                        extra_env={"PORT": str(port), "QAI_PREVIEW": "1"},  # marks elements for "Select"
                        shared_node_modules=self.shared_node_modules,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        pass_fds=(fd,),
                    )
                except IsolationUnavailableError as exc:
                    raise DevServerError(str(exc)) from exc
            server = DevServer(process, self.network.ingress_path(sandbox_id), time.monotonic())
            threading.Thread(target=_collect_output, args=(server, self.processes), daemon=True).start()
            deadline = time.monotonic() + self.start_timeout_seconds
            while (
                time.monotonic() < deadline and server.alive() and not stopped() and not ingress_answers(server.ingress)
            ):
                time.sleep(0.1)
            if stopped() or (server.alive() and ingress_answers(server.ingress)):
                return server  # one stopped meanwhile is ended by the caller, which sees the stop too
            self.processes.kill_group(process)
            if attempt == 0 and "EADDRINUSE" in server.output_tail():
                continue
            raise DevServerError(f"the dev server did not start: {server.output_tail()[-2000:]}")
        raise AssertionError("unreachable")

    def _reap_idle(self) -> None:
        interval = max(0.2, min(self.idle_seconds / 4, 5.0))
        while not self._stopping.wait(interval):
            now = time.monotonic()
            with self._lock:  # decided and taken off at once: a request that comes after starts it again
                idle = [
                    sandbox_id
                    for sandbox_id, s in self._servers.items()
                    if not s.alive() or (s.pending == 0 and now - s.last_used > self.idle_seconds)
                ]
                ended = [self._servers.pop(sandbox_id) for sandbox_id in idle]
            for server in ended:
                self.processes.kill_group(server.process)
            self._drop_removed()

    def _drop_removed(self) -> None:
        """Forget the sandboxes whose directories have gone (removed, or expired): a start finds the
        directory missing, so neither their tombstones nor their start locks are needed any more."""
        with self._lock:
            known = self._removed | self._starting.keys()
        gone = {sandbox_id for sandbox_id in known if not (self.root / sandbox_id).is_dir()}
        with self._lock:
            self._removed -= gone
            for sandbox_id in gone:
                self._starting.pop(sandbox_id, None)


def _wait_for_starts(starts: Iterable[threading.RLock]) -> None:
    """Return once no start holds these locks: one under way sees the stop within its next check,
    ends and lets go."""
    for starting in starts:
        with starting:
            pass


def _collect_output(server: DevServer, processes: ProcessRegistry) -> None:
    assert server.process.stdout is not None
    for raw in server.process.stdout:
        server.output.append(raw.decode("utf-8", errors="replace"))
    server.process.wait()  # its output can end before it does
    # Killed rather than only forgotten: what the server left behind goes too, while its group's id is held.
    processes.kill_group(server.process)
