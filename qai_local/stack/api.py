"""The local stack's HTTP API: uvicorn in front, the API functions in a pool of worker processes.

As on Lambda, an execution environment takes one request at a time (Powertools keeps the request
it handles in state that its resolvers share) and several run side by side. Here each worker
process is one such environment: it holds the API functions and its own database connection and
takes one event at a time, so requests run in parallel with no lock between them. uvicorn (h11)
parses requests, keeps connections alive and copes with slow clients. The front answers what the
stack answers itself (the access rules, CORS, the web client, the OpenAPI document, the status,
downloads) and turns every other request into the API Gateway event the function receives.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import uvicorn

from qai import downloads
from qai_local.stack.access import LocalAccess
from qai_local.stack.asgi import (
    ClientGoneError,
    Receive,
    Scope,
    Send,
    listening_socket,
    read_body,
    server_config,
)
from qai_local.stack.functions import LocalLambdaContext, load_function
from qai_local.stack.lambda_events import http_event
from qai_local.stack.web_client import web_answer
from qai_tools.template import allowed_methods, find_route, http_routes

LOCAL_USER = "local-user"
USER_HEADER = "x-qai-user"
API_TIMEOUT_SECONDS = 29
DOWNLOADS_PATH = "/local/downloads"
MAX_BODY_BYTES = 10 * 2**20  # API Gateway's own limit on a request's payload
JSON = {"content-type": "application/json"}

Answer = tuple[int, bytes, dict[str, str]]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return status, json.dumps({"error": {"code": code, "message": message}}).encode(), JSON | (headers or {})


def _load_api_functions() -> None:
    """A worker's cold start: every API function imported once, before its first request."""
    for function in sorted({route.function for route in http_routes()}):
        load_function(function)


def _handle(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """In a worker process: one API Gateway event through the function's handler."""
    response: dict[str, Any] = load_function(function).lambda_handler(
        event, LocalLambdaContext(f"qai-{function}", API_TIMEOUT_SECONDS)
    )
    return response


def _ready() -> None:
    """Nothing: submitted once per worker at start, so that their cold starts happen then."""


class ApiWorkers:
    """The API functions' execution environments: worker processes taking one event at a time each."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._lock = threading.Lock()
        self._cold_starts: list[Future[None]] = []
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # Spawned, not forked: this process runs threads (the agent's pollers, the previews).
        pool = ProcessPoolExecutor(self.count, multiprocessing.get_context("spawn"), _load_api_functions)
        self._cold_starts = [pool.submit(_ready) for _ in range(self.count)]
        return pool

    def wait_until_warm(self, timeout: float) -> None:
        """Until the workers have imported the API functions: the first requests then wait for none."""
        wait(self._cold_starts, timeout=timeout)

    async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(_handle, function, event))
        except BrokenProcessPool:
            with self._lock:  # a worker died (killed, out of memory): the next request gets new ones
                if self._pool is pool:
                    self._pool = self._new_pool()
            raise

    def stop(self) -> None:
        with self._lock:
            pool = self._pool
        processes = list(getattr(pool, "_processes", {}).values())  # the pool has no public way to end them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


class LocalApi:
    """The ASGI application in front of the workers."""

    def __init__(
        self,
        openapi: bytes,
        status: dict[str, Any],
        downloads: tuple[Path, float],
        access: LocalAccess,
        workers: ApiWorkers,
    ) -> None:
        self.openapi = openapi
        self.status = status
        self.downloads_dir, self.download_link_seconds = downloads  # the folder, how long a link works
        self.access = access
        self.workers = workers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        try:
            body = await read_body(receive, MAX_BODY_BYTES)
        except ClientGoneError:
            return
        if body is None:
            answer = _error(413, "PAYLOAD_TOO_LARGE", f"The request's body is over {MAX_BODY_BYTES >> 20} MB")
        else:
            path = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
            answer = await self._answer(scope["method"], path, scope["query_string"].decode("latin-1"), headers, body)
        status, payload, answer_headers = answer
        sent = {k.lower(): v for k, v in answer_headers.items() if k.lower() != "content-length"}
        # The Vite dev server's page calls from another port; API Gateway's CORS does this deployed.
        sent |= self.access.cors_headers(headers.get("origin"))
        sent["content-length"] = str(len(payload))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
        refusal = self.access.refusal(method, path, headers)
        if refusal is not None:
            return _error(refusal.status, refusal.code, refusal.message)
        if method == "OPTIONS":
            return 204, b"", {}
        if method == "GET" and path == "/openapi.json":
            return 200, self.openapi, JSON
        if method == "GET" and path == "/local/status":
            return 200, json.dumps(self.status).encode(), JSON
        if method == "GET" and path.startswith(f"{DOWNLOADS_PATH}/"):
            return self._download(path.removeprefix(f"{DOWNLOADS_PATH}/"))
        if method == "GET" and (page := web_answer(path)):
            return page
        found = find_route(method, path)
        if found is None:
            return _no_route(method, path)
        route, params = found
        event = http_event(
            method,
            path,
            route_key=route.route_key,
            path_parameters=params or None,
            query=query,
            body=body or None,
            headers={k: v for k, v in headers.items() if k != USER_HEADER},
            user_id=headers.get(USER_HEADER) or LOCAL_USER,
        )
        try:
            response = await self.workers.invoke(route.function, event)
        except BrokenProcessPool:
            return _error(500, "INTERNAL_SERVER_ERROR", "The API's worker stopped; try again")
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
        return response["statusCode"], payload, response.get("headers") or {}

    def _download(self, rest: str) -> Answer:
        token, _, filename = rest.partition("/")
        path = downloads.local_file(self.downloads_dir, token, filename, self.download_link_seconds)
        if path is None:
            return _error(404, "NOT_FOUND", "This download link has expired")
        headers = {"content-type": "application/zip", "content-disposition": f'attachment; filename="{filename}"'}
        return 200, path.read_bytes(), headers


def _no_route(method: str, path: str) -> Answer:
    allowed = allowed_methods(path)
    if allowed:  # a known path: the method is what is wrong
        message = f"{method} is not allowed here; use {', '.join(allowed)}"
        return _error(405, "METHOD_NOT_ALLOWED", message, {"allow": ", ".join(allowed)})
    return _error(404, "NOT_FOUND", f"No route for {method} {path}")


class ApiServer:
    """uvicorn on a socket bound here (so a port of 0 is known before the workers start), on a thread."""

    def __init__(self, port: int) -> None:
        self.socket = listening_socket(port)
        self.port = int(self.socket.getsockname()[1])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: LocalApi) -> None:
        self._server = uvicorn.Server(server_config(app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.socket]}, name="qai-api-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the API server did not start")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self.socket.close()
