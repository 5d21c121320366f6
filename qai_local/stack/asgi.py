"""What the stack's own HTTP servers (the API's front and the queue) share: their listening socket
and how they read a request's body."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]  # an ASGI connection's scope; its messages are dictionaries as well
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# How long a connection may take to send a request's head: from its opening, or from its last answer.
HEAD_TIMEOUT_SECONDS = 10.0


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


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head.

    uvicorn times a connection out only between answers, and a byte received stops that clock: a
    connection that sends nothing, or a head a byte at a time, was kept for ever, and 512 of them
    (``limit_concurrency``) made the server answer every other client 503."""

    head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
        super().connection_lost(exc)

    def _start_head_clock(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
        self.head_deadline = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._close_without_head)

    def _close_without_head(self) -> None:
        # IDLE: the client has not sent a whole request head since the clock started.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any) -> uvicorn.Config:
    """uvicorn for a local server of the stack: h11, which bounds a request's line and headers
    (64 kB), with a deadline for them (``HeadTimeoutH11Protocol``); idle connections kept 5 s; no
    websockets, no lifespan."""
    return uvicorn.Config(
        app,
        http=HeadTimeoutH11Protocol,
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=512,
        h11_max_incomplete_event_size=64 * 1024,
    )
