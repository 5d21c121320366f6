"""The end of an agent run, written in one transaction by whoever ends it (the agent, or the
sweeper for a run abandoned after its last attempt): the ASSISTANT reply, RESULT with its fragment
or ERROR, and the finished run, fenced by the attempt number; a failed run's credit back."""

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
) -> str:
    """Write the reply and finish the run (SUCCEEDED with a fragment, FAILED without); its id."""
    reply_id = str(uuid.uuid4())
    messages.insert_message(
        conn,
        message_id=reply_id,
        project_id=project_id,
        content=content,
        role="ASSISTANT",
        type_="RESULT" if fragment else "ERROR",
    )
    if fragment:
        messages.insert_fragment(conn, fragment_id=str(uuid.uuid4()), message_id=reply_id, content=fragment)
    if not runs.finish_run(
        conn, run, succeeded=fragment is not None, reply_message_id=reply_id, usage=usage, error=error
    ):
        raise RunTakenOverError(f"run {run.id} was taken over by another delivery")
    if fragment is None:
        credits.refund_charge(conn, run_id=run.id)  # a failed run costs the user nothing
    return reply_id
