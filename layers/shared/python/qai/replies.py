"""The end of an agent run, written in one transaction by whoever ends it (the agent; the sweeper
for a run abandoned after its last attempt; the API for a QUEUED run cancelled): the ASSISTANT
reply, RESULT with its fragment or ERROR, and the finished run, fenced by the attempt number; the
credit of a run that failed or was cancelled given back."""

from __future__ import annotations

import uuid

from qai import credits, messages, runs
from qai.db import Connection
from qai.messages import FragmentContent
from qai.runs import ClaimedRun, RunUsage


class RunTakenOverError(Exception):
    """The run is no longer this attempt's to finish: the transaction must roll back."""


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
) -> str:
    """Write the reply and finish the run (SUCCEEDED with a fragment, or ``answered`` in ask mode;
    CANCELLED or FAILED otherwise); its id."""
    succeeded = fragment is not None or answered
    reply_id = _insert_reply(conn, project_id=project_id, content=content, fragment=fragment, result=succeeded)
    status: runs.FinalStatus = "SUCCEEDED" if succeeded else "CANCELLED" if cancelled else "FAILED"
    if not runs.finish_run(conn, run, status=status, reply_message_id=reply_id, usage=usage, error=error):
        raise RunTakenOverError(f"run {run.id} was taken over by another delivery")
    if not succeeded:
        credits.refund_charge(conn, run_id=run.id)  # a run that did nothing costs the user nothing
    return reply_id


def record_cancelled_before_start(conn: Connection, *, run_id: str, project_id: str) -> str:
    """The reply of a run cancelled while QUEUED (runs.request_cancel ended it); its id."""
    reply_id = _insert_reply(conn, project_id=project_id, content=runs.CANCELLED_RUN_REPLY, fragment=None, result=False)
    runs.set_reply(conn, run_id=run_id, reply_message_id=reply_id)
    credits.refund_charge(conn, run_id=run_id)
    return reply_id


def _insert_reply(
    conn: Connection, *, project_id: str, content: str, fragment: FragmentContent | None, result: bool
) -> str:
    reply_id = str(uuid.uuid4())
    messages.insert_message(
        conn,
        message_id=reply_id,
        project_id=project_id,
        content=content,
        role="ASSISTANT",
        type_="RESULT" if result else "ERROR",
    )
    if fragment:
        messages.insert_fragment(conn, fragment_id=str(uuid.uuid4()), message_id=reply_id, content=fragment)
    return reply_id
