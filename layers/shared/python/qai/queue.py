"""The agent queue's publisher (SQS through boto3)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import BaseModel

from qai.models import AgentRunRequest, PreviewJobRequest, PublishJobRequest, PushJobRequest


class AgentQueue:
    """The agent's queue at ``url``: runs and preview jobs go in, retries come back sooner."""

    def __init__(self, url: str) -> None:
        self.url = url

    @cached_property
    def _sqs(self) -> Any:
        # boto3 costs ~100 ms to import: only the requests that enqueue pay for it.
        import boto3
        from botocore.config import Config

        # Short timeouts: the send happens within a request that API Gateway cuts off at 29 s.
        return boto3.client(
            "sqs", config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
        )

    def _send(self, body: BaseModel) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=body.model_dump_json(by_alias=True))

    def enqueue_agent_run(self, *, project_id: str, message_id: str) -> None:
        self._send(AgentRunRequest(project_id=project_id, message_id=message_id))

    def enqueue_preview_job(self, *, project_id: str, fragment_id: str) -> None:
        self._send(PreviewJobRequest(project_id=project_id, fragment_id=fragment_id))

    def enqueue_push_job(self, *, project_id: str, push_id: str) -> None:
        self._send(PushJobRequest(project_id=project_id, push_id=push_id))

    def enqueue_publish_job(self, *, project_id: str, job_id: str) -> None:
        self._send(PublishJobRequest(project_id=project_id, job_id=job_id))

    def deliver_again_after(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again after ``delay_seconds`` (SQS caps it at 12 h)."""
        self._sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(delay_seconds, 43_200))
        )
