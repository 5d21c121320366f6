"""SQL for the "AgentRun" table: one row per USER message that asked for an agent run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg.rows import DictRow

from qai.db import UTC_NOW, Connection
from qai.errors import ConflictError

FAILED_RUN_REPLY = "Something went wrong. Please try again."
CANCELLED_RUN_REPLY = "Stopped: you cancelled this run before it finished, so the app was not changed."
FinalStatus = Literal["SUCCEEDED", "FAILED", "CANCELLED"]


def insert_run(conn: Connection, *, run_id: str, project_id: str, message_id: str) -> None:
    """Queue a run; ConflictError if the project already has one queued or running."""
    try:
        # "sentAt" is set with the row: the send follows the commit, and clears it if it fails.
        conn.execute(
            f'INSERT INTO "AgentRun" (id, "projectId", "messageId", "sentAt") VALUES (%s, %s, %s, {UTC_NOW})',
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
    cancel_requested: bool = False


@dataclass
class RunUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model_turns: int = 0  # the agent's turns
    model_calls: int = 0  # every call: the turns, the title and the reply
    cost_usd: float | None = 0.0  # None once a call's model had no price

    def sql_params(self) -> dict[str, int | float | None]:
        """ADD_USAGE's parameters."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "model_turns": self.model_turns,
            "model_calls": self.model_calls,
            "cost_usd": self.cost_usd,
        }


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
           RETURNING id, attempts, "cancelRequestedAt" IS NOT NULL AS cancel_requested""",
        (lease_seconds, message_id, project_id),
    ).fetchone()
    return ClaimedRun(row["id"], row["attempts"], row["cancel_requested"]) if row else None


# A run's usage added to its row's (parameters: RunUsage.sql_params()).
ADD_USAGE = """"inputTokens" = "inputTokens" + %(input_tokens)s, "outputTokens" = "outputTokens" + %(output_tokens)s,
    "cacheReadTokens" = "cacheReadTokens" + %(cache_read_tokens)s,
    "cacheWriteTokens" = "cacheWriteTokens" + %(cache_write_tokens)s,
    "modelTurns" = "modelTurns" + %(model_turns)s, "modelCalls" = "modelCalls" + %(model_calls)s,
    "costUsd" = "costUsd" + %(cost_usd)s"""
# What finishes the run, fenced by its attempt: only the holder of the latest attempt may.
FINISH_RUN = f"""UPDATE "AgentRun" SET status = %(status)s::"AgentRunStatus", "replyMessageId" = %(reply)s,
    error = %(error)s, "leaseExpiresAt" = NULL, "finishedAt" = {UTC_NOW}, {ADD_USAGE}
    WHERE id = %(run)s AND attempts = %(attempt)s AND status = 'RUNNING'
    RETURNING id"""


def finish_run(
    conn: Connection,
    run: ClaimedRun,
    *,
    status: FinalStatus,
    reply_message_id: str,
    usage: RunUsage,
    error: str | None = None,
) -> bool:
    """End the run with its reply; False if this worker no longer holds it."""
    row = conn.execute(
        FINISH_RUN,
        {
            "status": status,
            "reply": reply_message_id,
            "error": error,
            "run": run.id,
            "attempt": run.attempt,
            **usage.sql_params(),
        },
    ).fetchone()
    return row is not None


def release_run(conn: Connection, run: ClaimedRun, *, error: str, usage: RunUsage) -> None:
    """Give a failed attempt back to the queue: the next delivery claims the run again."""
    conn.execute(
        f"""UPDATE "AgentRun" SET status = 'QUEUED', "leaseExpiresAt" = NULL, error = %(error)s, {ADD_USAGE}
           WHERE id = %(run)s AND attempts = %(attempt)s AND status = 'RUNNING'""",
        {"error": error, "run": run.id, "attempt": run.attempt, **usage.sql_params()},
    )


def request_cancel(conn: Connection, *, run_id: str) -> str | None:
    """Ask the run to stop: a QUEUED run is CANCELLED here and now, a RUNNING one is flagged for
    its worker. The run's status after this, or None when it had finished already. The row lock
    orders this against a worker claiming the run at the same moment."""
    row = conn.execute(
        f"""UPDATE "AgentRun" SET "cancelRequestedAt" = COALESCE("cancelRequestedAt", {UTC_NOW}),
               status = CASE WHEN status = 'QUEUED' THEN 'CANCELLED' ELSE status END,
               "finishedAt" = CASE WHEN status = 'QUEUED' THEN {UTC_NOW} END
           WHERE id = %s AND status IN ('QUEUED', 'RUNNING')
           RETURNING status::text""",
        (run_id,),
    ).fetchone()
    return row["status"] if row else None


def set_reply(conn: Connection, *, run_id: str, reply_message_id: str) -> None:
    conn.execute('UPDATE "AgentRun" SET "replyMessageId" = %s WHERE id = %s', (reply_message_id, run_id))


def has_active_run(conn: Connection, *, project_id: str) -> bool:
    row = conn.execute(
        """SELECT 1 FROM "AgentRun" WHERE "projectId" = %s AND status IN ('QUEUED', 'RUNNING')""", (project_id,)
    ).fetchone()
    return row is not None


def find_run(conn: Connection, *, message_id: str) -> DictRow | None:
    return conn.execute('SELECT * FROM "AgentRun" WHERE "messageId" = %s', (message_id,)).fetchone()


def mark_unsent(conn: Connection, *, message_ids: list[str]) -> None:
    """These runs' queue messages could not be sent: the sweeper sends them."""
    conn.execute('UPDATE "AgentRun" SET "sentAt" = NULL WHERE "messageId" = ANY(%s)', (message_ids,))


def runs_to_resend(
    conn: Connection, *, grace_seconds: float, resend_after_seconds: float, max_attempts: int, limit: int = 100
) -> list[DictRow]:
    """Unfinished runs that no worker will take without a new message, marked as sent now:
    QUEUED ones whose message was never sent (after the grace period) or was sent long ago, and
    RUNNING ones whose worker's lease ran out with attempts left. Rows another sweeper is
    handling are skipped."""
    return conn.execute(
        f"""UPDATE "AgentRun" r SET "sentAt" = {UTC_NOW} FROM (
                SELECT id FROM "AgentRun"
                WHERE status IN ('QUEUED', 'RUNNING')
                  AND (("sentAt" IS NULL AND "createdAt" < {UTC_NOW} - make_interval(secs => %s))
                       OR "sentAt" < {UTC_NOW} - make_interval(secs => %s))
                  AND (status = 'QUEUED' OR ("leaseExpiresAt" < {UTC_NOW} AND attempts < %s))
                ORDER BY "createdAt" LIMIT %s FOR UPDATE SKIP LOCKED) due
            WHERE r.id = due.id
            RETURNING r."projectId" AS project_id, r."messageId" AS message_id""",
        (grace_seconds, resend_after_seconds, max_attempts, limit),
    ).fetchall()


def abandoned_runs(conn: Connection, *, max_attempts: int, limit: int = 100) -> list[DictRow]:
    """RUNNING runs whose last attempt's worker died (its lease ran out): no delivery will come
    for them again. Locked for the caller's transaction."""
    return conn.execute(
        f"""SELECT id, "projectId" AS project_id, attempts, "cancelRequestedAt" IS NOT NULL AS cancel_requested
            FROM "AgentRun"
            WHERE status = 'RUNNING' AND "leaseExpiresAt" < {UTC_NOW} AND attempts >= %s
            ORDER BY "createdAt" LIMIT %s FOR UPDATE SKIP LOCKED""",
        (max_attempts, limit),
    ).fetchall()


def expire_leases(conn: Connection) -> int:
    """End every lease now: for a stack that starts again, whose previous workers are all gone."""
    return conn.execute(
        f"""UPDATE "AgentRun" SET "leaseExpiresAt" = {UTC_NOW} - interval '1 second'
            WHERE status = 'RUNNING' AND "leaseExpiresAt" > {UTC_NOW}"""
    ).rowcount
