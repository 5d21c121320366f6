"""The local stack's SQS: the part of SQS's JSON protocol that QAI and boto3 use, in memory.

boto3 reaches it exactly as it reaches SQS (``AWS_ENDPOINT_URL``), so the functions' own code
sends, receives and retries, and ``sam local`` can share it (``QAI_QUEUE_PORT``). What it keeps of
SQS's semantics is ``queue_service``'s; this module serves it over HTTP.

Not moto's server, which the stack used before: measured under the API's load, moto cost 6.6-8.9
ms of CPU per SendMessage, listed its own modules on every request, and walked the whole queue on
every send and receive, so its cost grew with the burst's depth. It runs in a process of its own
(``python -m qai_local.stack.queue_server --port N``).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

import uvicorn

from qai_local.stack.access import local_hosts
from qai_local.stack.asgi import (
    ClientGoneError,
    Receive,
    Scope,
    Send,
    listening_socket,
    read_body,
    server_config,
)
from qai_local.stack.queue_auth import NotSignedError, QueueKey, SignedHead, check_head, check_signature
from qai_local.stack.queue_service import MAX_BODY_BYTES, QueueError, QueueService

TARGET_PREFIX = "AmazonSQS."
HEALTH_PATH = "/health"


class QueueApp:
    """The ASGI application: SQS's JSON protocol (``X-Amz-Target: AmazonSQS.<Action>``) over POST /,
    for requests signed with ``key`` (``queue_auth``)."""

    def __init__(self, service: QueueService, port: int, key: QueueKey) -> None:
        self.service = service
        self.hosts = local_hosts(port)
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] == "GET" and scope["path"] == HEALTH_PATH:
            await _respond(send, 200, b"ok", "text/plain")
            return
        try:
            answer = await self._answer(scope, headers, receive)
        except ClientGoneError:
            return
        except QueueError as exc:
            error = {"__type": f"com.amazonaws.sqs#{exc.code}", "message": str(exc)}
            await _respond(send, exc.status, json.dumps(error).encode())
            return
        await _respond(send, 200, json.dumps(answer).encode())

    async def _answer(self, scope: Scope, headers: dict[str, str], receive: Receive) -> dict[str, Any]:
        """What the action answers; QueueError with what is wrong with the request."""
        if headers.get("host") not in self.hosts:  # a web page on a rebound DNS name
            raise QueueError("AccessDenied", f"This queue answers at {self.hosts[0]} only.", 403)
        # Who asks is checked before the body is read: a stranger's request costs no more than its head.
        head = self._signed_head(headers)
        body = await read_body(receive, 2 * MAX_BODY_BYTES)
        if body is None:
            raise QueueError("RequestTooLarge", "The request is too large.", 413)
        self._check_signature(scope, headers, head, body)
        target = headers.get("x-amz-target", "")
        if scope["method"] != "POST" or not target.startswith(TARGET_PREFIX):
            raise QueueError("InvalidAction", "Only SQS's JSON protocol is served here.")
        try:
            request = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: arrays nested too deep
            raise QueueError("SerializationException", "The body is not JSON.") from None
        if not isinstance(request, dict):
            raise QueueError("SerializationException", "The body is not a JSON object.")
        try:
            return await self.service.call(target.removeprefix(TARGET_PREFIX), request, f"http://{headers['host']}")
        except (ValueError, TypeError, KeyError, AttributeError):
            # A parameter of another type than SQS's (a list for a number, a number for a list).
            raise QueueError("InvalidParameterValue", "A parameter of the request is not valid.") from None

    def _signed_head(self, headers: dict[str, str]) -> SignedHead:
        try:
            return check_head(self.key, headers, datetime.now(UTC))
        except NotSignedError as exc:
            raise QueueError(exc.code, str(exc), 403) from None

    def _check_signature(self, scope: Scope, headers: dict[str, str], head: SignedHead, body: bytes) -> None:
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = f"http://{headers['host']}{path.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")
        try:
            check_signature(self.key, head, method=scope["method"], url=url, headers=headers, body=body)
        except NotSignedError as exc:
            raise QueueError(exc.code, str(exc), 403) from None


async def _respond(
    send: Send,
    status: int,
    payload: bytes,
    content_type: str = "application/x-amz-json-1.0",
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    key = QueueKey.given()
    if key is None:
        parser.error("set QAI_QUEUE_ACCESS_KEY_ID and QAI_QUEUE_SECRET_ACCESS_KEY: the key requests are signed with")
    sock = listening_socket(port, backlog=1024)
    server = uvicorn.Server(server_config(QueueApp(QueueService(), sock.getsockname()[1], key)))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
