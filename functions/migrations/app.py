"""Lambda handler for the CloudFormation custom resource that applies the database migrations at
every deploy (template.yaml: ``DatabaseSchema``).

Create and Update apply the pending migrations with the runner of `make migrate`, under the same
advisory lock. Its properties carry a hash of ``migrations/``, so a deploy with a new migration
updates the resource and runs it. A failure answers FAILED with the migration's error, which
CloudFormation shows in the stack events before it rolls back. Delete leaves the database as it is.
The answer is always sent: a run that would outlast the function answers FAILED shortly before its
timeout.
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

import schema_migrations
from cfn_response import Outcome, response_body, send
from qai.models import CustomResourceEvent
from qai.settings import Settings, load_settings, resolved_database_url

logger = Logger()
PHYSICAL_RESOURCE_ID = "qai-database-schema"  # one schema per stack; never replaced, so never deleted
# Kept back from the function's timeout to send the answer.
ANSWER_MARGIN_SECONDS = 15.0


def apply_migrations() -> Outcome:
    try:
        database_url = resolved_database_url(load_settings(Settings))
        applied = schema_migrations.migrate(database_url, schema_migrations.MIGRATIONS_DIR)
    except Exception as exc:
        logger.exception("Migrations failed")
        return Outcome("FAILED", f"Migration failed: {type(exc).__name__}: {exc}")
    logger.info("Migrations applied", extra={"applied": applied})
    summary = ", ".join(applied) or "none"
    return Outcome("SUCCESS", f"Applied migrations: {summary}", {"Applied": summary})


def _within(seconds: float) -> Outcome:
    """The migrations' outcome, or FAILED when they are still running after ``seconds``."""
    result: list[Outcome] = []
    worker = threading.Thread(target=lambda: result.append(apply_migrations()), daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if result:
        return result[0]
    return Outcome("FAILED", f"The migrations did not finish within {seconds:.0f} s; the function timed out.")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    try:
        request = CustomResourceEvent.model_validate(event)
    except ValidationError as exc:
        # No valid ResponseURL: there is nobody to answer.
        logger.error("Not a CloudFormation custom resource request", extra={"errors": exc.errors()})
        return {"Status": "FAILED", "Reason": "not a custom resource request"}
    logger.append_keys(requestType=request.request_type, stackId=request.stack_id)
    if request.request_type == "Delete":
        outcome = Outcome("SUCCESS", "The database is left as it is.")
    else:
        outcome = _within(context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS)
    body = response_body(request, outcome, request.physical_resource_id or PHYSICAL_RESOURCE_ID)
    send(request.response_url, body)
    return body
