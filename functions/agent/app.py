"""Lambda handler for the agent's queue: one SQS record per job, an agent run (a queued USER
message), a preview job (``kind: "preview"``), a push job (``kind: "push"``) or a publish job
(``kind: "publish"``).

Partial batch failures: a record whose attempt failed (and will be retried) or whose body is
malformed is reported failed, and the others in the batch are not affected.
"""

from __future__ import annotations

from functools import cache, partial

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from qai.models import PreviewJobRequest, PublishJobRequest, PushJobRequest, QueueJob
from qai_agent.agent_run import process_run_request
from qai_agent.dependencies import AgentDependencies
from qai_agent.loop import Deadline
from qai_agent.preview_job import process_preview_job
from qai_agent.publish_job import process_publish_job
from qai_agent.push_job import process_push_job
from qai_agent.run_errors import RetryLaterError

logger = Logger()
metrics = Metrics()


def record_handler(deps: AgentDependencies, record: SQSRecord, lambda_context: LambdaContext) -> str:
    try:
        request = QueueJob.validate_json(record.body)
    except ValidationError:
        # Left to fail on every delivery, so it ends in the dead-letter queue for a human to read.
        logger.error("Malformed agent queue message", extra={"messageId": record.message_id, "body": record.body[:500]})
        metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        raise
    deadline = Deadline(lambda_context.get_remaining_time_in_millis, deps.settings.deadline_margin_seconds)
    try:
        if isinstance(request, PreviewJobRequest):
            return process_preview_job(deps, request, deadline=deadline)
        receive_count = int(record.attributes.approximate_receive_count)
        if isinstance(request, PushJobRequest):
            return process_push_job(deps, request, deadline=deadline)
        if isinstance(request, PublishJobRequest):
            return process_publish_job(deps, request, receive_count=receive_count, deadline=deadline)
        return process_run_request(deps, request, receive_count=receive_count, deadline=deadline)
    except RetryLaterError as exc:
        # Reported failed, the message would wait out the whole visibility timeout; come back sooner.
        try:
            deps.queue.deliver_again_after(record.receipt_handle, exc.delay_seconds)
        except Exception:
            logger.warning("Could not shorten the message's visibility", exc_info=True)
        raise
    finally:
        logger.thread_safe_clear_keys()  # this record's ids stay with this record


@cache
def environment_dependencies() -> AgentDependencies:
    """Built once per execution environment, on its first invocation."""
    return AgentDependencies.from_environment()


@logger.inject_lambda_context(clear_state=True)  # no run keys carried into the next invocation
@metrics.log_metrics
def handle(event: dict, context: LambdaContext, deps: AgentDependencies) -> PartialItemFailureResponse:
    # A processor per invocation: it holds the batch's results, and the local stack and the tests
    # invoke this handler from several threads at once. A batch whose every record failed is
    # answered with its list rather than an exception: the same retry, clearer logs.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event,
        record_handler=partial(record_handler, deps),  # Powertools passes lambda_context by name
        processor=processor,
        context=context,
    )


def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return handle(event, context, environment_dependencies())
