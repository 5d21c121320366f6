"""What the stack's own HTTP servers (the API's front and the queue) share: their listening socket
and how they read a request's body."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def listening_socket(port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: any free port), for uvicorn to serve.

    With ``TCP_NODELAY``, which the connections it accepts inherit: uvicorn writes an answer's head
    and body apart, and without it the body waited for the client's delayed acknowledgement of the
    head on a kept-alive connection, 40 ms an answer."""
    sock = socket.create_server(("127.0.0.1", port), backlog=backlog)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The request's body; None when it is larger than ``max_bytes``, empty if the client left."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def server_config(app: Any) -> uvicorn.Config:
    """uvicorn for a local server of the stack: h11, which bounds a request's line and headers
    (64 kB) and copes with slow clients; idle connections kept 5 s; no websockets, no lifespan."""
    return uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=512,
        h11_max_incomplete_event_size=64 * 1024,
    )
