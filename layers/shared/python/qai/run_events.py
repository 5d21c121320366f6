"""SQL for "RunEvent": what a run does, numbered per run, written by the agent as it happens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from qai.db import Connection


def append(conn: Connection, *, run_id: str, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Write ``(kind, text, data)`` events, numbered after the run's last one (only the worker
    holding the run's lease writes its events)."""
    kinds, texts, data = zip(*events, strict=True) if events else ((), (), ())
    conn.execute(
        """INSERT INTO "RunEvent" ("runId", seq, kind, text, data)
           SELECT %(run)s, COALESCE((SELECT max(seq) FROM "RunEvent" WHERE "runId" = %(run)s), 0) + e.n,
                  e.kind, e.text, e.data
           FROM unnest(%(kinds)s::text[], %(texts)s::text[], %(data)s::jsonb[])
                WITH ORDINALITY AS e(kind, text, data, n)""",
        {"run": run_id, "kinds": list(kinds), "texts": list(texts), "data": [Jsonb(d) for d in data]},
    )


def run_with_events(
    conn: Connection, *, project_id: str, message_id: str, user_id: str, after: int, limit: int
) -> tuple[DictRow, list[DictRow]] | None:
    """The run that USER message asked for (if it is that user's) and its events after ``after``."""
    run = conn.execute(
        """SELECT r.id, r."messageId" AS message_id, r.status::text AS status, r."createdAt" AS created_at,
                  r."startedAt" AS started_at, r."finishedAt" AS finished_at
           FROM "AgentRun" r JOIN "Project" p ON p.id = r."projectId"
           WHERE r."messageId" = %s AND p.id = %s AND p."userId" = %s""",
        (message_id, project_id, user_id),
    ).fetchone()
    if run is None:
        return None
    events = conn.execute(
        'SELECT seq, at, kind, text, data FROM "RunEvent" WHERE "runId" = %s AND seq > %s ORDER BY seq LIMIT %s',
        (run["id"], after, limit),
    ).fetchall()
    return run, events
