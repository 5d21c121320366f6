"""Lambda handler for the outbox's sweeper, on an EventBridge schedule (every minute): re-sends
agent runs whose queue message was never sent or seems lost, and ends runs abandoned after their
last attempt (``qai.sweeper``)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from qai.settings import get_settings
from qai.sweeper import SweepSettings, sweep

logger = Logger()
metrics = Metrics()


def sweep_settings() -> SweepSettings:
    return SweepSettings(
        grace_seconds=float(os.environ.get("SWEEPER_GRACE_SECONDS") or 60),
        resend_after_seconds=float(os.environ.get("SWEEPER_RESEND_AFTER_SECONDS") or 960),
        max_attempts=get_settings().agent_max_receive_count,
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = sweep(sweep_settings())
    metrics.add_metric(name="RunsResent", unit=MetricUnit.Count, value=result.resent)
    metrics.add_metric(name="RunsNotResent", unit=MetricUnit.Count, value=result.unsent)
    metrics.add_metric(name="RunsAbandoned", unit=MetricUnit.Count, value=result.abandoned)
    if result.resent or result.unsent or result.abandoned:
        logger.info("Swept", extra=result.__dict__)
    return result.__dict__
