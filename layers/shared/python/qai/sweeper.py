"""The outbox's sweeper, run every minute (a scheduled function; a timer in the local stack).

The API commits a run and then sends its queue message; a send that fails, or a process that dies
between the two, leaves a QUEUED run without a message. The sweeper sends it again after a grace
period, and again when a message seems lost (a run still QUEUED long after its last send, or
RUNNING under a lease that ran out with attempts left). A duplicate this may cause is harmless:
the worker's claim lets one delivery work and acknowledges or defers the others. A run whose last
attempt's worker died is ended here as an ERROR reply with its credit back, so nobody waits on it.
A push queued or running for longer than any job lives ends FAILED, its sealed token forgotten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from qai import git_pushes, runs
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.replies import record_reply
from qai.runs import ClaimedRun, RunUsage

logger = logging.getLogger(__name__)
ABANDONED = "The last attempt's worker stopped before it recorded an outcome."
PUSH_LOST = "The push took too long and was given up. Push again."


@dataclass(frozen=True)
class SweepResult:
    resent: int
    unsent: int
    abandoned: int
    pushes_ended: int = 0


def sweep(
    deps: Dependencies, *, grace_seconds: float | None = None, resend_after_seconds: float | None = None
) -> SweepResult:
    """One sweep, with the settings' grace and resend delays unless others are given."""
    settings = deps.settings
    max_attempts = settings.agent_max_receive_count
    grace = settings.sweeper_grace_seconds if grace_seconds is None else grace_seconds
    resend_after = settings.sweeper_resend_after_seconds if resend_after_seconds is None else resend_after_seconds
    due = deps.database.in_transaction(
        lambda conn: runs.runs_to_resend(
            conn,
            grace_seconds=grace,
            resend_after_seconds=resend_after,
            max_attempts=max_attempts,
        )
    )
    unsent = [row["message_id"] for row in due if not _send(deps, row["project_id"], row["message_id"])]
    if unsent:
        deps.database.in_transaction(lambda conn: runs.mark_unsent(conn, message_ids=unsent))

    def end_abandoned(conn: Connection) -> int:
        rows = runs.abandoned_runs(conn, max_attempts=max_attempts)
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

    abandoned = deps.database.in_transaction(end_abandoned)
    pushes_ended = deps.database.in_transaction(
        lambda conn: git_pushes.end_stale_pushes(conn, stale_seconds=settings.git_push_stale_seconds, error=PUSH_LOST)
    )
    return SweepResult(
        resent=len(due) - len(unsent), unsent=len(unsent), abandoned=abandoned, pushes_ended=pushes_ended
    )


def _send(deps: Dependencies, project_id: str, message_id: str) -> bool:
    try:
        deps.queue.enqueue_agent_run(project_id=project_id, message_id=message_id)
        return True
    except Exception:
        logger.warning("The queue refused a send; the next sweep tries again", exc_info=True)
        return False
