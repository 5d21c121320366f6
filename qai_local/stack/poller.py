"""Lambda's SQS event source on one machine: workers that take the agent queue's messages."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from qai_agent.dependencies import AgentDependencies
from qai_local.sandbox.processes import yield_cpu_to_interactive_work
from qai_local.stack.functions import LocalLambdaContext, load_function
from qai_local.stack.lambda_events import QueuedMessage, sqs_event


class AgentPoller:
    """Lambda's SQS event source, locally: receive, invoke the agent handler, delete what succeeded.

    A record the handler reports failed stays on the queue until its visibility runs out (the agent
    shortens it for a retry), and the queue moves it to the dead-letter queue after maxReceiveCount
    receives, as SQS does.
    """

    def __init__(self, deps: AgentDependencies, workers: int, timeout_seconds: float) -> None:
        import boto3

        self._deps = deps

        self._sqs = boto3.client("sqs")
        self._queue_url = deps.queue.url
        self._timeout = timeout_seconds
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, name=f"qai-agent-{i}", daemon=True) for i in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, grace_seconds: float) -> None:
        self._stopping.set()
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _poll(self) -> None:
        # Runs are background work: on a machine with few cores the API's answers come first.
        yield_cpu_to_interactive_work()
        agent = load_function("agent")
        while not self._stopping.is_set():
            try:
                received = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # the queue is going away with the stack
                if not self._stopping.is_set():
                    print(f"agent poller: {exc}", file=sys.stderr)
                    time.sleep(1)
                continue
            for message in received:
                self._invoke(agent, message)

    def _invoke(self, agent: Any, message: dict[str, Any]) -> None:
        queued = QueuedMessage(
            message["Body"],
            receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
        )
        try:
            context = LocalLambdaContext("qai-agent", self._timeout)
            response = agent.handle(sqs_event([queued]), context, self._deps)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception as exc:  # a crashed invocation fails its whole batch, as in Lambda
            print(f"agent invocation failed: {exc}", file=sys.stderr)
            failed = {queued.message_id}
        if queued.message_id not in failed:
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=queued.receipt_handle)
