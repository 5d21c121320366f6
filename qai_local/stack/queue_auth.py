"""Who may use the local queue: a request signed (AWS Signature Version 4, as boto3 signs every
request) with the key the stack made for its own functions at start.

The queue listens on 127.0.0.1, which the sandboxes cannot reach, but another user of the same
machine can: unsigned, they could send, take or purge its messages. The key's secret never travels:
a request carries its access key id and a signature over its method, path, signed headers, body and
time, which is checked here with botocore's own signer. A signature more than five minutes from
this machine's clock is refused, as SQS refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY_ID_VARIABLE = "QAI_QUEUE_ACCESS_KEY_ID"
SECRET_ACCESS_KEY_VARIABLE = "QAI_QUEUE_SECRET_ACCESS_KEY"  # noqa: S105 - a variable's name, not a secret
MAX_CLOCK_SKEW_SECONDS = 300
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/sqs/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


class NotSignedError(Exception):
    """A request the queue does not take: its SQS error code and why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class QueueKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def given(cls) -> QueueKey | None:
        """The key in ``QAI_QUEUE_ACCESS_KEY_ID`` and ``QAI_QUEUE_SECRET_ACCESS_KEY``, if both are set."""
        key = cls(os.environ.get(ACCESS_KEY_ID_VARIABLE, ""), os.environ.get(SECRET_ACCESS_KEY_VARIABLE, ""))
        return key if key.access_key_id and key.secret_access_key else None

    @classmethod
    def new(cls) -> QueueKey:
        return cls(f"QAILOCAL{secrets.token_hex(6).upper()}", secrets.token_urlsafe(32))

    def environment(self) -> dict[str, str]:
        return {ACCESS_KEY_ID_VARIABLE: self.access_key_id, SECRET_ACCESS_KEY_VARIABLE: self.secret_access_key}


@dataclass(frozen=True)
class SignedHead:
    """What a request's head says of its signature, checked against the key and the clock."""

    region: str
    signed_headers: list[str]
    signed_at: str  # X-Amz-Date, as signed
    signature: str


def check_head(key: QueueKey, headers: dict[str, str], now: datetime) -> SignedHead:
    """The checks that need no body, made before it is read: signed, with this key, now, and naming
    Host. ``headers`` by lower-case name; NotSignedError if any fails."""
    match = AUTHORIZATION.fullmatch(headers.get("authorization", "").strip())
    if match is None:
        raise NotSignedError("MissingAuthenticationToken", "The request is not signed with SigV4.")
    if not hmac.compare_digest(match["key"].encode(), key.access_key_id.encode()):
        raise NotSignedError("InvalidClientTokenId", "The access key is not this queue's.")
    signed_at_text = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(signed_at_text, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise NotSignedError("IncompleteSignature", "X-Amz-Date is missing or malformed.") from None
    if abs((now - signed_at).total_seconds()) > MAX_CLOCK_SKEW_SECONDS or match["date"] != signed_at_text[:8]:
        raise NotSignedError("SignatureDoesNotMatch", "The signature has expired or is not yet valid.")
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed or any(name not in headers for name in signed):
        raise NotSignedError("IncompleteSignature", "A header the signature names is missing, or Host is not signed.")
    return SignedHead(match["region"], signed, signed_at_text, match["signature"])


def check_signature(
    key: QueueKey, head: SignedHead, *, method: str, url: str, headers: dict[str, str], body: bytes
) -> None:
    """Return if the request, whose head passed ``check_head``, is signed with ``key`` over this body."""
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        raise NotSignedError("SignatureDoesNotMatch", "The body is not the one signed.")
    signed = {name: headers[name] for name in head.signed_headers}
    request = AWSRequest(method=method, url=url, headers=signed, data=body)
    request.context["timestamp"] = head.signed_at
    signer = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "sqs", head.region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected.encode(), head.signature.encode()):
        raise NotSignedError("SignatureDoesNotMatch", "The signature does not match.")
