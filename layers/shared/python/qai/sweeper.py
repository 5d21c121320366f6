"""The outbox's sweeper, run every minute (a scheduled function; a timer in the local stack).

The API commits a run and then sends its queue message; a send that fails, or a process that dies
between the two, leaves a QUEUED run without a message. The sweeper sends it again after a grace
period, and again when a message seems lost (a run still QUEUED long after its last send, or
RUNNING under a lease that ran out with attempts left). A duplicate this may cause is harmless:
the worker's claim lets one delivery work and acknowledges or defers the others. A run whose last
attempt's worker died is ended here as an ERROR reply with its credit back, so nobody waits on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from qai import db, queue, runs
from qai.replies import record_reply
from qai.runs import ClaimedRun, RunUsage

logger = logging.getLogger(__name__)
ABANDONED = "The last attempt's worker stopped before it recorded an outcome."


@dataclass(frozen=True)
class SweepSettings:
    grace_seconds: float = 60  # a send that is merely slow is not repeated
    resend_after_seconds: float = 960  # the agent's lease: a message older than this looks lost
    max_attempts: int = 3  # the queue's maxReceiveCount


@dataclass(frozen=True)
class SweepResult:
    resent: int
    unsent: int
    abandoned: int


def sweep(settings: SweepSettings) -> SweepResult:
    due = db.in_transaction(
        lambda conn: runs.runs_to_resend(
            conn,
            grace_seconds=settings.grace_seconds,
            resend_after_seconds=settings.resend_after_seconds,
            max_attempts=settings.max_attempts,
        )
    )
    unsent = [row["message_id"] for row in due if not _send(row["project_id"], row["message_id"])]
    if unsent:
        db.in_transaction(lambda conn: runs.mark_unsent(conn, message_ids=unsent))

    def end_abandoned(conn: db.Connection) -> int:
        rows = runs.abandoned_runs(conn, max_attempts=settings.max_attempts)
        for row in rows:
            cancelled = row["cancel_requested"]  # the user asked it to stop: it has
            record_reply(
                conn,
                ClaimedRun(id=row["id"], attempt=row["attempts"]),
                project_id=row["project_id"],
                content=runs.CANCELLED_RUN_REPLY if cancelled else runs.FAILED_RUN_REPLY,
                usage=RunUsage(),
                error=None if cancelled else ABANDONED,
                cancelled=cancelled,
            )
        return len(rows)

    abandoned = db.in_transaction(end_abandoned)
    return SweepResult(resent=len(due) - len(unsent), unsent=len(unsent), abandoned=abandoned)


def _send(project_id: str, message_id: str) -> bool:
    try:
        queue.enqueue_agent_run(project_id=project_id, message_id=message_id)
        return True
    except Exception:
        logger.warning("The queue refused a send; the next sweep tries again", exc_info=True)
        return False
