"""The agent queue's publisher (SQS through boto3)."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from qai.models import AgentRunRequest, PreviewJobRequest
from qai.settings import get_settings


@cache
def _sqs_client() -> Any:
    # boto3 costs ~100 ms to import: only the requests that enqueue pay for it.
    import boto3
    from botocore.config import Config

    # Short timeouts: the send happens within a request that API Gateway cuts off at 29 s.
    return boto3.client(
        "sqs", config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
    )


def _send(body: BaseModel) -> None:
    _sqs_client().send_message(QueueUrl=get_settings().agent_queue_url, MessageBody=body.model_dump_json(by_alias=True))


def enqueue_agent_run(*, project_id: str, message_id: str) -> None:
    _send(AgentRunRequest(project_id=project_id, message_id=message_id))


def enqueue_preview_job(*, project_id: str, fragment_id: str) -> None:
    _send(PreviewJobRequest(project_id=project_id, fragment_id=fragment_id))


def reset_client() -> None:
    _sqs_client.cache_clear()


def deliver_again_after(receipt_handle: str, delay_seconds: int) -> None:
    """Make a received agent message visible again after ``delay_seconds`` (SQS caps it at 12 h)."""
    _sqs_client().change_message_visibility(
        QueueUrl=get_settings().agent_queue_url,
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(delay_seconds, 43_200)),
    )
