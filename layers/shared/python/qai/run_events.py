"""SQL for "RunEvent": what a run does, numbered per run, written by the agent as it happens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from qai.db import Connection

Event = tuple[str, str, dict[str, Any]]  # kind, text, data


def insert_events(where: str = "TRUE") -> str:
    """The statement that writes the events of ``event_params``, numbered after the run's last one,
    when ``where`` holds (a condition on the statement it is part of).

    One writer at a time: the worker holding the run's lease, or the API for a QUEUED run. Should
    two ever overlap, the later batch is dropped rather than failing its writer."""
    return f"""INSERT INTO "RunEvent" ("runId", seq, kind, text, data)
        SELECT %(run)s, COALESCE((SELECT max(seq) FROM "RunEvent" WHERE "runId" = %(run)s), 0) + e.n,
               e.kind, e.text, e.data
        FROM unnest(%(kinds)s::text[], %(texts)s::text[], %(data)s::jsonb[])
             WITH ORDINALITY AS e(kind, text, data, n)
        WHERE {where}
        ON CONFLICT DO NOTHING"""


def event_params(run_id: str, events: Sequence[Event]) -> dict[str, Any]:
    kinds, texts, data = zip(*events, strict=True) if events else ((), (), ())
    return {"run": run_id, "kinds": list(kinds), "texts": list(texts), "data": [Jsonb(d) for d in data]}


def _append(also: str = "") -> str:
    return f"""WITH written AS ({insert_events()})
        SELECT "cancelRequestedAt" IS NOT NULL AS cancel_requested{also} FROM "AgentRun" WHERE id = %(run)s"""


_APPEND = _append()
# The commit of this statement's own transaction does not wait for its WAL to reach the disk (the
# setting lasts until that commit, which it governs).
_APPEND_NOT_WAITING = _append(", set_config('synchronous_commit', 'off', true)")


def append(conn: Connection, *, run_id: str, events: Sequence[Event], durable: bool = True) -> bool:
    """Write ``(kind, text, data)`` events (insert_events) and say whether the user asked the run
    to stop: the worker learns it in the round trip it makes anyway (with no events, this is only
    that question).

    Not ``durable``, for the progress a worker writes as it goes, outside a transaction: the commit
    does not wait for the disk (a crash of the database may lose the last of them, as the run's
    events are best effort; they are seen at once all the same). The events written with the reply,
    and every write within a transaction, wait."""
    row = conn.execute(_APPEND if durable else _APPEND_NOT_WAITING, event_params(run_id, events)).fetchone()
    return bool(row and row["cancel_requested"])


def find_run(conn: Connection, *, project_id: str, message_id: str, user_id: str) -> DictRow | None:
    """The run that USER message asked for, if it is that user's."""
    return conn.execute(
        """SELECT r.id, r."messageId" AS message_id, r.status::text AS status, r."createdAt" AS created_at,
                  r."startedAt" AS started_at, r."finishedAt" AS finished_at,
                  json_build_object('input_tokens', r."inputTokens", 'output_tokens', r."outputTokens",
                                    'cache_read_tokens', r."cacheReadTokens",
                                    'cache_write_tokens', r."cacheWriteTokens",
                                    'model_calls', r."modelCalls", 'cost_usd', r."costUsd") AS usage
           FROM "AgentRun" r JOIN "Project" p ON p.id = r."projectId"
           WHERE r."messageId" = %s AND p.id = %s AND p."userId" = %s""",
        (message_id, project_id, user_id),
    ).fetchone()


def events_after(conn: Connection, *, run_id: str, after: int, limit: int) -> list[DictRow]:
    return conn.execute(
        'SELECT seq, at, kind, text, data FROM "RunEvent" WHERE "runId" = %s AND seq > %s ORDER BY seq LIMIT %s',
        (run_id, after, limit),
    ).fetchall()
