"""The preview proxy: one stable port per sandbox on 127.0.0.1, in front of its dev server.

A sandbox's preview URL is ``http://127.0.0.1:<port>/``, its own origin, so the app's absolute
paths (``/_next/…``, ``fetch('/api/…')``) work exactly as on E2B. The port is chosen by the
operating system when the sandbox is made and recorded in ``<root>/.previews.json``, so the URL
keeps working across idle stops and across restarts of the stack. The proxy works at the TCP
level (HTTP and the dev server's hot-reload WebSocket alike): a connection starts the sandbox's
dev server if it is not running and waits for it, and a sandbox whose directory is gone answers
404 with a short page saying that the preview expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import socket
import threading
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from qai.probe import EXPIRED_HEADER
from qai_local.sandbox.devservers import DevServerError, DevServerSupervisor, SandboxGoneError
from qai_local.sandbox.network import READY_BYTE
from qai_local.sandbox.processes import yield_cpu_to_interactive_work

logger = logging.getLogger(__name__)

REGISTRY_NAME = ".previews.json"
CHUNK = 64 * 1024
REQUEST_HEAD_TIMEOUT_SECONDS = 10
PRESTART_PAGE_TIMEOUT_SECONDS = 120


def _page(status: str, title: str, text: str, *, extra_headers: str = "") -> bytes:
    body = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<body style='font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;"
        f"color:#333'><main><h1 style='font-size:1.25rem'>{html.escape(title)}</h1><p>{html.escape(text)}</p></main>"
    )
    payload = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {len(payload)}\r\n"
        f"cache-control: no-store\r\n{extra_headers}connection: close\r\n\r\n"
    )
    return head.encode() + payload


EXPIRED_PAGE = _page(
    "404 Not Found",
    "This preview has expired",
    "The sandbox behind this preview is gone. Bring the app back from its version in QAI.",
    # How a probe (the API's GET …/preview) tells an expired sandbox from the app's own 404.
    extra_headers=f"{EXPIRED_HEADER}: expired\r\n",
)


def _failed_page(reason: str) -> bytes:
    return _page("502 Bad Gateway", "The app's dev server did not start", reason[-600:])


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class LocalPreviews:
    def __init__(self, root: Path, supervisor: DevServerSupervisor) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.supervisor = supervisor
        self._registry_path = root / REGISTRY_NAME
        self._ports: dict[str, int] = {}
        self._servers: dict[str, asyncio.base_events.Server] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._loop = asyncio.new_event_loop()
        # Starting a dev server blocks for seconds; many browser connections may wait on one.
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="qai-preview")
        # Dev servers started ahead are a guess, background work as the runs are: their threads (and
        # so the servers they start) yield the CPU to the API and to previews someone is waiting for.
        self._prestarts = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="qai-prestart", initializer=yield_cpu_to_interactive_work
        )
        self._thread = threading.Thread(target=self._loop.run_forever, name="qai-previews", daemon=True)

    def start(self) -> LocalPreviews:
        self._thread.start()
        for sandbox_id, port in self._read_registry().items():
            try:
                self._listen(sandbox_id, port)
            except OSError as exc:
                logger.warning("Preview port %s of sandbox %s is taken (%s); it gets a new one", port, sandbox_id, exc)
        return self

    def url_for(self, sandbox_id: str) -> str:
        """The sandbox's preview URL, listening from now on."""
        with self._lock:
            port = self._ports.get(sandbox_id)
        if port is None:
            port = self._listen(sandbox_id, 0)
        return f"http://127.0.0.1:{port}/"

    def prestart(self, sandbox_id: str) -> Future[None]:
        """Start the sandbox's dev server now, in the background, and have it compile the app's page
        once: the first preview then finds the app's shared code (layout, styles, the framework's
        runtime) compiled, and only what changed since is compiled again. Only while fewer than the
        cap run: a burst of new runs does not push out the previews people are looking at."""
        return self._prestarts.submit(self._prestart, sandbox_id)

    def _prestart(self, sandbox_id: str) -> None:
        # Only into a free place: a guess about the next preview never stops one someone may be using.
        if len(self.supervisor.running()) >= self.supervisor.max_running:
            return
        try:
            self.supervisor.ensure_running(sandbox_id)
            with urllib.request.urlopen(self.url_for(sandbox_id), timeout=PRESTART_PAGE_TIMEOUT_SECONDS) as page:  # noqa: S310 (our own preview)
                page.read()
        except (DevServerError, SandboxGoneError, OSError) as exc:  # the first preview request tries again
            if self.supervisor.removed(sandbox_id):  # a run that failed or was cancelled: nothing went wrong
                logger.info("Sandbox %s was removed before its dev server had started ahead", sandbox_id)
            else:
                logger.warning("The dev server of sandbox %s did not start ahead: %s", sandbox_id, str(exc)[-300:])

    def forget(self, sandbox_id: str) -> None:
        """Stop serving a sandbox that was removed on purpose (a failed run's)."""
        self.supervisor.stop(sandbox_id)
        with self._lock:
            self._ports.pop(sandbox_id, None)
            server = self._servers.pop(sandbox_id, None)
            self._write_registry()
        if server is not None:
            self._loop.call_soon_threadsafe(server.close)

    def stop(self) -> None:
        self.supervisor.stop_all()
        with self._lock:
            self._stopping = True
            servers, self._servers = list(self._servers.values()), {}
            self._write_registry()  # with the ports of servers still being set up
        for server in servers:
            self._loop.call_soon_threadsafe(server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._prestarts.shutdown(wait=False, cancel_futures=True)

    def _listen(self, sandbox_id: str, port: int) -> int:
        sock = _listening_socket(port)
        bound = int(sock.getsockname()[1])
        with self._lock:
            if sandbox_id in self._ports:  # another caller listened for it first
                sock.close()
                return self._ports[sandbox_id]
            self._ports[sandbox_id] = bound
        # The socket listens already (a connection waits in its backlog), so serving it and recording
        # the port are the proxy loop's work, not the caller's.
        asyncio.run_coroutine_threadsafe(self._serve(sandbox_id, sock, bound), self._loop)
        return bound

    async def _serve(self, sandbox_id: str, sock: socket.socket, port: int) -> None:
        server = await asyncio.start_server(lambda r, w: self._handle(sandbox_id, r, w), sock=sock)
        with self._lock:
            current = not self._stopping and self._ports.get(sandbox_id) == port
            if current:
                self._servers[sandbox_id] = server
                self._write_registry()
        if not current:  # forgotten, or the proxy stopped, meanwhile
            server.close()

    def _read_registry(self) -> dict[str, int]:
        try:
            data = json.loads(self._registry_path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_registry(self) -> None:
        temporary = self._registry_path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self._ports, indent=1, sort_keys=True))
        os.replace(temporary, self._registry_path)

    async def _handle(self, sandbox_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ingress = await self._loop.run_in_executor(self._executor, self.supervisor.ensure_running, sandbox_id)
        except SandboxGoneError:
            await _answer(reader, writer, EXPIRED_PAGE)
            return
        except DevServerError as exc:
            await _answer(reader, writer, _failed_page(str(exc)))
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(str(ingress))
            if await upstream_reader.read(1) != READY_BYTE:
                upstream_writer.close()
                raise ConnectionRefusedError("the dev server stopped answering")
        except OSError as exc:
            await _answer(reader, writer, _failed_page(str(exc)))
            return
        waiting = [False]  # the client sent something the dev server has not yet answered
        try:
            await asyncio.gather(
                self._pipe(sandbox_id, reader, upstream_writer, waiting, sent=True),
                self._pipe(sandbox_id, upstream_reader, writer, waiting, sent=False),
            )
        finally:
            if waiting[0]:
                self.supervisor.touch(sandbox_id, pending_change=-1)

    async def _pipe(
        self,
        sandbox_id: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        waiting: list[bool],
        *,
        sent: bool,
    ) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                change = 0
                if waiting[0] != sent:  # a request begins, or its answer begins
                    waiting[0] = sent
                    change = 1 if sent else -1
                self.supervisor.touch(sandbox_id, pending_change=change)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes) -> None:
    """Read the request's head (so the client sees the answer, not a reset), answer, close."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_HEAD_TIMEOUT_SECONDS)
    with contextlib.suppress(Exception):
        writer.write(response)
        await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()
