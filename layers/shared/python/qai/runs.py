"""SQL for the "AgentRun" table: one row per USER message that asked for an agent run."""

from __future__ import annotations

from dataclasses import astuple, dataclass

import psycopg
from psycopg.rows import DictRow

from qai.db import UTC_NOW, Connection
from qai.errors import ConflictError


def insert_run(conn: Connection, *, run_id: str, project_id: str, message_id: str) -> None:
    """Queue a run; ConflictError if the project already has one queued or running."""
    try:
        conn.execute(
            'INSERT INTO "AgentRun" (id, "projectId", "messageId") VALUES (%s, %s, %s)',
            (run_id, project_id, message_id),
        )
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "AgentRun_projectId_active_key":
            raise
        raise ConflictError("A run is already queued or running for this project.") from exc


@dataclass(frozen=True)
class ClaimedRun:
    id: str
    attempt: int  # also the fencing token: only the holder of the latest attempt may finish the run


@dataclass
class RunUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model_turns: int = 0


def claim_run(conn: Connection, *, project_id: str, message_id: str, lease_seconds: int) -> ClaimedRun | None:
    """Take the message's run: QUEUED, or RUNNING under an expired lease (its worker died).

    None when there is nothing to do here: no such run, a live lease held by another delivery, or
    a run that already finished. The row lock of the UPDATE makes concurrent deliveries queue up,
    and only the first sees a claimable row.
    """
    row = conn.execute(
        f"""UPDATE "AgentRun" SET status = 'RUNNING', attempts = attempts + 1,
               "leaseExpiresAt" = {UTC_NOW} + make_interval(secs => %s),
               "startedAt" = COALESCE("startedAt", {UTC_NOW}), error = NULL
           WHERE "messageId" = %s AND "projectId" = %s
             AND (status = 'QUEUED' OR (status = 'RUNNING' AND "leaseExpiresAt" < {UTC_NOW}))
           RETURNING id, attempts""",
        (lease_seconds, message_id, project_id),
    ).fetchone()
    return ClaimedRun(id=row["id"], attempt=row["attempts"]) if row else None


_ADD_USAGE = """"inputTokens" = "inputTokens" + %s, "outputTokens" = "outputTokens" + %s,
    "cacheReadTokens" = "cacheReadTokens" + %s, "cacheWriteTokens" = "cacheWriteTokens" + %s,
    "modelTurns" = "modelTurns" + %s"""


def finish_run(
    conn: Connection,
    run: ClaimedRun,
    *,
    succeeded: bool,
    reply_message_id: str,
    usage: RunUsage,
    error: str | None = None,
) -> bool:
    """Mark the run SUCCEEDED or FAILED with its reply; False if this worker no longer holds it."""
    row = conn.execute(
        f"""UPDATE "AgentRun" SET status = %s::"AgentRunStatus", "replyMessageId" = %s, error = %s,
               "leaseExpiresAt" = NULL, "finishedAt" = {UTC_NOW}, {_ADD_USAGE}
           WHERE id = %s AND attempts = %s AND status = 'RUNNING'
           RETURNING id""",
        ("SUCCEEDED" if succeeded else "FAILED", reply_message_id, error, *astuple(usage), run.id, run.attempt),
    ).fetchone()
    return row is not None


def release_run(conn: Connection, run: ClaimedRun, *, error: str, usage: RunUsage) -> None:
    """Give a failed attempt back to the queue: the next delivery claims the run again."""
    conn.execute(
        f"""UPDATE "AgentRun" SET status = 'QUEUED', "leaseExpiresAt" = NULL, error = %s, {_ADD_USAGE}
           WHERE id = %s AND attempts = %s AND status = 'RUNNING'""",
        (error, *astuple(usage), run.id, run.attempt),
    )


def has_active_run(conn: Connection, *, project_id: str) -> bool:
    row = conn.execute(
        """SELECT 1 FROM "AgentRun" WHERE "projectId" = %s AND status IN ('QUEUED', 'RUNNING')""", (project_id,)
    ).fetchone()
    return row is not None


def find_run(conn: Connection, *, message_id: str) -> DictRow | None:
    return conn.execute('SELECT * FROM "AgentRun" WHERE "messageId" = %s', (message_id,)).fetchone()


def requeue_unfinished_runs(conn: Connection) -> list[DictRow]:
    """Runs whose queue message was lost with a local, in-memory queue: back to QUEUED, listed."""
    return conn.execute(
        """UPDATE "AgentRun" SET status = 'QUEUED', "leaseExpiresAt" = NULL
           WHERE status IN ('QUEUED', 'RUNNING')
           RETURNING "projectId" AS project_id, "messageId" AS message_id"""
    ).fetchall()
