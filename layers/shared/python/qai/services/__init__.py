"""What the API does, one module per resource, as plain functions of the dependencies, the caller
and validated input. Nothing here knows about Lambda or HTTP: handlers call these and shape the result."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from qai.db import Connection
from qai.dependencies import Dependencies

logger = logging.getLogger(__name__)


def new_id() -> str:
    return str(uuid.uuid4())


def sent_or_failed(
    deps: Dependencies, send: Callable[[], None], fail: Callable[[Connection], object], what: str
) -> bool:
    """A job's message sent after its row was committed; when the queue refuses it, the job is
    recorded FAILED at once (``fail``), so that asking again works. Whether it was sent."""
    try:
        send()
        return True
    except Exception:
        logger.warning("The queue refused the %s job", what, exc_info=True)
        deps.database.in_transaction(fail)
        return False
