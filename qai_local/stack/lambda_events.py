"""Build Lambda events as AWS would send them: API Gateway HTTP API (payload 2.0) and SQS.

Used by the local stack to drive the real handlers, and by the tests.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: str = "",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    user_id: str | None = "user-1",
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An event for ``method path``; ``user_id=None`` leaves out the authorizer's claims."""
    raw_body = body.encode() if isinstance(body, str) else body
    now = time.time()
    request_headers = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": request_headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request_headers.get("user-agent", "qai-local"),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if user_id is not None:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": {**(claims or {}), "sub": user_id}, "scopes": None},
        }
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            # API Gateway joins repeated query parameters with commas.
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if raw_body is not None:
        try:
            event["body"] = raw_body.decode()
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(raw_body).decode()
            event["isBase64Encoded"] = True
    return event


@dataclass(frozen=True)
class QueuedMessage:
    body: str
    receive_count: int = 1
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    receipt_handle: str = field(default_factory=lambda: str(uuid.uuid4()))


def sqs_event(
    messages: list[QueuedMessage], *, queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:qai-agent"
) -> dict:
    """An SQS event source batch, with the attributes Lambda's poller sets."""
    now = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.receive_count),
                    "SentTimestamp": now,
                    "SenderId": "000000000000",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for m in messages
        ]
    }
