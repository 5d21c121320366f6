"""SQL for the "AgentRun" table: one row per USER message that asked for an agent run."""

from __future__ import annotations

import psycopg

from qai.db import Connection
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
