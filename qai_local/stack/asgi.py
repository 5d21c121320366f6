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

# How long a connection may take to send a whole request (from its opening or its last answer), and
# how long it may leave its answer unread.
REQUEST_TIMEOUT_SECONDS = 10.0


def listening_socket(port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: any free port), for uvicorn to serve.

    With ``TCP_NODELAY``, which the connections it accepts inherit: uvicorn writes an answer's head
    and body apart, and without it the body waited for the client's delayed acknowledgement of the
    head on a kept-alive connection, 40 ms an answer."""
    sock = socket.create_server(("127.0.0.1", port), backlog=backlog)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ClientGoneError(Exception):
    """The client closed the connection before the whole body came: the request is not acted on
    (a cut ``POST`` must not run as one with no body) and nobody is there for an answer."""


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The request's body; None when it is larger than ``max_bytes``; ClientGoneError if the
    client left before it all came."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for what a client owes: a whole request, head and body,
    within REQUEST_TIMEOUT_SECONDS of the connection's opening or of its last answer, and reading
    its answer (writes paused that long close it).

    uvicorn times a connection out only between answers, and a byte received stops that clock: a
    connection that sent nothing, a head or a body a byte at a time, or a body it announced and never
    sent was kept for ever, and 512 of them (``limit_concurrency``) made the server answer every
    other client 503. A request being answered is never cut for taking long (a long poll waits 20 s)."""

    deadline: asyncio.TimerHandle | None = None
    writes_paused_at: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_clock()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.writes_paused_at = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.writes_paused_at = None

    def _start_clock(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self.loop.call_later(REQUEST_TIMEOUT_SECONDS, self._at_deadline)

    def _at_deadline(self) -> None:
        if self.transport.is_closing():
            return
        # IDLE or SEND_BODY: no whole request since the clock started.
        owes_request = self.conn.their_state is h11.IDLE or self.conn.their_state is h11.SEND_BODY
        paused = (
            self.writes_paused_at is not None and self.loop.time() - self.writes_paused_at >= REQUEST_TIMEOUT_SECONDS
        )
        if owes_request or paused:
            if self.transport.get_write_buffer_size():
                self.transport.abort()  # close() would wait for the client to read what is buffered
            else:
                self.transport.close()
            return
        self.deadline = self.loop.call_later(REQUEST_TIMEOUT_SECONDS, self._at_deadline)


def server_config(app: Any) -> uvicorn.Config:
    """uvicorn for a local server of the stack: h11, which bounds a request's line and headers
    (64 kB), with deadlines for a whole request and for reading its answer (``DeadlineH11Protocol``);
    idle connections kept 5 s; no websockets, no lifespan."""
    return uvicorn.Config(
        app,
        http=DeadlineH11Protocol,
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=512,
        h11_max_incomplete_event_size=64 * 1024,
    )
