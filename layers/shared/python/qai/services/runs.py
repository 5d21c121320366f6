"""Agent runs: queued with the message that asks for them, watched through their events, cancelled."""

from __future__ import annotations

import logging

from psycopg.rows import DictRow

from qai import replies, run_events, runs
from qai.db import Connection
from qai.dependencies import Dependencies
from qai.errors import BadRequestError, ConflictError, NotFoundError
from qai.models import Caller, Run
from qai.services import new_id
from qai.services.usage import spend_credit
from qai.settings import Settings

logger = logging.getLogger(__name__)
EVENTS_PER_PAGE = 500


def checked_prompt(settings: Settings, prompt: str) -> str:
    """The prompt (trimmed by its model), within MAX_VALUE_LENGTH."""
    if len(prompt) > settings.max_value_length:
        raise BadRequestError(f"value: must be at most {settings.max_value_length} characters")
    return prompt


def queue_run(conn: Connection, settings: Settings, caller: Caller, *, project_id: str, message_id: str) -> str:
    """A QUEUED run for the USER message, its credit spent; the run's id."""
    run_id = new_id()
    runs.insert_run(conn, run_id=run_id, project_id=project_id, message_id=message_id)  # 409 before any spend
    spend_credit(conn, settings, caller, run_id=run_id)
    return run_id


def send_run(deps: Dependencies, *, project_id: str, message_id: str) -> None:
    """After the commit (a transactional outbox): the run is QUEUED whatever happens here. A refused
    send is left to the sweeper, and the caller still gets its 201."""
    try:
        deps.queue.enqueue_agent_run(project_id=project_id, message_id=message_id)
    except Exception:
        logger.warning("The queue refused the run's message; the sweeper will send it", exc_info=True)
        deps.database.in_transaction(lambda conn: runs.mark_unsent(conn, message_ids=[message_id]))


def _owned_run(conn: Connection, user_id: str, project_id: str, message_id: str) -> DictRow:
    run = run_events.find_run(conn, project_id=project_id, message_id=message_id, user_id=user_id)
    if run is None:
        raise NotFoundError("Run not found")
    return run


def _run_page(conn: Connection, run: DictRow, *, after: int) -> Run:
    """The run with its events after ``after`` (at most a page of them)."""
    events = run_events.events_after(conn, run_id=run["id"], after=after, limit=EVENTS_PER_PAGE)
    return Run.model_validate({**run, "events": events, "next_after": events[-1]["seq"] if events else after})


def get_run(deps: Dependencies, user_id: str, project_id: str, message_id: str, *, after: int) -> Run:
    """The run a USER message asked for, with its events after ``after``."""
    return deps.database.in_transaction(
        lambda conn: _run_page(conn, _owned_run(conn, user_id, project_id, message_id), after=after)
    )


def cancel_run(deps: Dependencies, user_id: str, project_id: str, message_id: str) -> Run:
    """Stop the run: a QUEUED one ends now (CANCELLED, its ERROR reply, its credit back); a RUNNING
    one is asked to stop, and its worker ends it the same way at its next step. The run as it is then."""

    def work(conn: Connection) -> Run:
        run_id = _owned_run(conn, user_id, project_id, message_id)["id"]
        status = runs.request_cancel(conn, run_id=run_id)
        if status is None:
            raise ConflictError("The run has already finished.")
        if status == "CANCELLED":
            replies.record_cancelled_before_start(conn, run_id=run_id, project_id=project_id)
            run_events.append(
                conn, run_id=run_id, events=[("status", "Stopped before it started", {"status": "CANCELLED"})]
            )
        return _run_page(conn, _owned_run(conn, user_id, project_id, message_id), after=0)

    return deps.database.in_transaction(work)
