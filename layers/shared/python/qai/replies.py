"""The end of an agent run, written at once by whoever ends it (the agent; the sweeper
for a run abandoned after its last attempt; the API for a QUEUED run cancelled): the ASSISTANT
reply, RESULT with its fragment or ERROR, and the finished run, fenced by the attempt number; the
credit of a run that failed or was cancelled given back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from qai import credits, messages, run_events, runs
from qai.db import UTC_NOW, Connection
from qai.messages import FragmentContent
from qai.run_events import Event
from qai.runs import ClaimedRun, RunUsage


class RunTakenOverError(Exception):
    """The run is no longer this attempt's to finish: the transaction must roll back."""


# The reply, its fragment, the finished run, the refund and the run's last events in one statement:
# each part is written only when the fenced UPDATE finished the run, so that a run this attempt no
# longer holds gets none of them even outside a transaction. The reply's id is chosen here, so the
# run can name it; the foreign keys are checked as the statement ends, once every part is written.
_RECORD_REPLY = f"""WITH finished AS ({runs.FINISH_RUN}),
    reply AS (
        INSERT INTO "Message" (id, "projectId", content, role, type)
        SELECT %(reply)s, %(project)s, %(content)s, 'ASSISTANT', %(type)s::"MessageType" FROM finished
        RETURNING id),
    fragment AS (
        INSERT INTO "Fragment" (id, "messageId", "sandboxUrl", title, files, summary, "sandboxId", "checkError")
        SELECT %(fragment)s, reply.id, %(sandbox_url)s, %(title)s, %(files)s, %(summary)s, %(sandbox)s,
               %(check_error)s
        FROM reply WHERE %(fragment)s::text IS NOT NULL),
    refund AS (
        UPDATE "CreditCharge" SET "refundedAt" = {UTC_NOW}
        WHERE "runId" = %(run)s AND "refundedAt" IS NULL AND %(refund)s AND EXISTS (SELECT 1 FROM finished)),
    events AS ({run_events.insert_events("EXISTS (SELECT 1 FROM finished)")})
SELECT EXISTS (SELECT 1 FROM finished) AS finished, EXISTS (SELECT 1 FROM "AgentRun" WHERE id = %(run)s) AS present"""


def record_reply(
    conn: Connection,
    run: ClaimedRun,
    *,
    project_id: str,
    content: str,
    usage: RunUsage,
    fragment: FragmentContent | None = None,
    error: str | None = None,
    cancelled: bool = False,
    answered: bool = False,
    events: Sequence[Event] = (),
) -> str:
    """Write the reply and finish the run (SUCCEEDED with a fragment, or ``answered`` in ask mode;
    CANCELLED or FAILED otherwise, the run's credit given back), with the run's last ``events``; its
    id. One statement, atomic by itself: all of it, or RunTakenOverError and none of it."""
    succeeded = fragment is not None or answered
    reply_id = str(uuid.uuid4())
    status: runs.FinalStatus = "SUCCEEDED" if succeeded else "CANCELLED" if cancelled else "FAILED"
    row = conn.execute(
        _RECORD_REPLY,
        {
            **run_events.event_params(run.id, events),
            **usage.sql_params(),
            "status": status,
            "reply": reply_id,
            "error": error,
            "attempt": run.attempt,
            "project": project_id,
            "content": content,
            "type": "RESULT" if succeeded else "ERROR",
            "refund": not succeeded,  # a run that did nothing costs the user nothing
            **_fragment_params(fragment),
        },
    ).fetchone()
    if row is None or not row["finished"]:
        gone = row is not None and not row["present"]
        raise RunTakenOverError(
            f"run {run.id} was deleted with its project" if gone else f"run {run.id} was taken over by another delivery"
        )
    return reply_id


def _fragment_params(fragment: FragmentContent | None) -> dict[str, Any]:
    return {
        "fragment": str(uuid.uuid4()) if fragment else None,
        "sandbox_url": fragment.sandbox_url if fragment else None,
        "title": fragment.title if fragment else None,
        "files": Jsonb(fragment.files) if fragment else None,
        "summary": fragment.summary if fragment else None,
        "sandbox": fragment.sandbox_id if fragment else None,
        "check_error": fragment.check_error if fragment else None,
    }


def record_cancelled_before_start(conn: Connection, *, run_id: str, project_id: str) -> str:
    """The reply of a run cancelled while QUEUED (runs.request_cancel ended it); its id."""
    reply_id = str(uuid.uuid4())
    messages.insert_message(
        conn,
        message_id=reply_id,
        project_id=project_id,
        content=runs.CANCELLED_RUN_REPLY,
        role="ASSISTANT",
        type_="ERROR",
    )
    runs.set_reply(conn, run_id=run_id, reply_message_id=reply_id)
    credits.refund_charge(conn, run_id=run_id)
    return reply_id
