"""Lambda handler for the outbox's sweeper, on an EventBridge schedule (every minute): re-sends
agent runs whose queue message was never sent or seems lost, and ends runs abandoned after their
last attempt (``qai.sweeper``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from qai.dependencies import Dependencies
from qai.sweeper import sweep

logger = Logger()
metrics = Metrics()


@cache
def environment_dependencies() -> Dependencies:
    """Built once per execution environment, on its first invocation."""
    return Dependencies.from_environment()


@logger.inject_lambda_context
@metrics.log_metrics
def handle(event: dict[str, Any], context: LambdaContext, deps: Dependencies) -> dict[str, int]:
    result = sweep(deps)
    metrics.add_metric(name="RunsResent", unit=MetricUnit.Count, value=result.resent)
    metrics.add_metric(name="RunsNotResent", unit=MetricUnit.Count, value=result.unsent)
    metrics.add_metric(name="RunsAbandoned", unit=MetricUnit.Count, value=result.abandoned)
    if result.resent or result.unsent or result.abandoned:
        logger.info("Swept", extra=result.__dict__)
    return result.__dict__


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return handle(event, context, environment_dependencies())
