"""The answer a CloudFormation custom resource owes: one PUT of a small JSON document to the
request's presigned ``ResponseURL``. Without it, CloudFormation waits an hour before it fails the
stack, so every path answers, and a failed PUT is tried again."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Literal

from qai.models import CustomResourceEvent

REASON_LIMIT = 2000  # the whole response must stay under CloudFormation's 4,096 bytes
SEND_ATTEMPTS = 4


@dataclass(frozen=True)
class Outcome:
    status: Literal["SUCCESS", "FAILED"]
    reason: str
    data: dict[str, str] = field(default_factory=dict)


def response_body(request: CustomResourceEvent, outcome: Outcome, physical_resource_id: str) -> dict[str, object]:
    return {
        "Status": outcome.status,
        "Reason": outcome.reason[:REASON_LIMIT],
        "PhysicalResourceId": physical_resource_id,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "Data": outcome.data,
    }


def send(url: str, body: dict[str, object]) -> None:
    """PUT the response; the presigned URL was signed without a content type, so none is sent."""
    payload = json.dumps(body).encode()
    for attempt in range(1, SEND_ATTEMPTS + 1):
        request = urllib.request.Request(url, data=payload, method="PUT", headers={"content-type": ""})  # noqa: S310 (http(s) only: checked by the event model)
        try:
            with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (see above)
                return
        except (urllib.error.URLError, OSError):
            if attempt == SEND_ATTEMPTS:
                raise
            time.sleep(2 ** (attempt - 1))
