"""What the API does, as plain functions of the caller's id and validated input.

Nothing here knows about Lambda or HTTP: handlers call these and shape the result.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from datetime import datetime, timedelta

from coolname import generate_slug
from psycopg.rows import DictRow

from qai import credits, db, downloads, messages, previews, projects, queue, replies, run_events, runs
from qai.app_files import app_archive
from qai.db import Connection
from qai.errors import BadRequestError, ConflictError, NotFoundError, TooManyRequestsError
from qai.models import (
    Caller,
    Download,
    Fragment,
    Message,
    PreviewState,
    Project,
    ProjectPage,
    Run,
    Usage,
    iso_utc,
)
from qai.probe import probe_preview
from qai.settings import get_settings

logger = logging.getLogger(__name__)


def _new_id() -> str:
    return str(uuid.uuid4())


def credit_limit(caller: Caller) -> int:
    settings = get_settings()
    return settings.credits_plans.get(caller.plan or "", settings.credits_per_period)


def _next_credit_at(oldest_spent: datetime | None) -> datetime | None:
    return oldest_spent + timedelta(days=get_settings().credits_period_days) if oldest_spent else None


def _spend_credit(conn: Connection, caller: Caller, *, run_id: str) -> None:
    # The account row lock makes check-and-spend atomic for concurrent requests of one user.
    credits.lock_account(conn, user_id=caller.user_id)
    spent, oldest = credits.spent_in_window(
        conn, user_id=caller.user_id, period_days=get_settings().credits_period_days
    )
    limit = credit_limit(caller)
    if spent >= limit:
        next_credit = _next_credit_at(oldest)
        when = f" The next one comes back at {iso_utc(next_credit)}." if next_credit else ""
        raise TooManyRequestsError(f"You have used all {limit} credits of this period.{when}")
    credits.insert_charge(conn, charge_id=_new_id(), user_id=caller.user_id, run_id=run_id)


def _queue_run(conn: Connection, caller: Caller, *, project_id: str, message_id: str) -> str:
    run_id = _new_id()
    runs.insert_run(conn, run_id=run_id, project_id=project_id, message_id=message_id)  # 409 before any spend
    _spend_credit(conn, caller, run_id=run_id)
    return run_id


def _send_run(*, project_id: str, message_id: str) -> None:
    """After the commit (a transactional outbox): the run is QUEUED whatever happens here. A refused
    send is left to the sweeper, and the caller still gets its 201."""
    try:
        queue.enqueue_agent_run(project_id=project_id, message_id=message_id)
    except Exception:
        logger.warning("The queue refused the run's message; the sweeper will send it", exc_info=True)
        db.in_transaction(lambda conn: runs.mark_unsent(conn, message_ids=[message_id]))


def get_usage(caller: Caller) -> Usage:
    period_days = get_settings().credits_period_days
    spent, oldest = db.in_transaction(
        lambda conn: credits.spent_in_window(conn, user_id=caller.user_id, period_days=period_days)
    )
    limit = credit_limit(caller)
    return Usage(limit=limit, remaining=max(0, limit - spent), resets_at=_next_credit_at(oldest))


def create_project(caller: Caller, prompt: str) -> Project:
    project_id, message_id = _new_id(), _new_id()
    name = generate_slug(2)

    def work(conn: Connection) -> Project:
        row = projects.insert_project(conn, project_id=project_id, name=name, user_id=caller.user_id)
        messages.insert_message(
            conn, message_id=message_id, project_id=project_id, content=prompt, role="USER", type_="RESULT"
        )
        _queue_run(conn, caller, project_id=project_id, message_id=message_id)
        return Project.model_validate(row)

    project = db.in_transaction(work)
    _send_run(project_id=project_id, message_id=message_id)
    return project


def _encode_cursor(project: Project) -> str:
    raw = json.dumps([project.updated_at.isoformat(), project.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, project_id = json.loads(raw)
        return datetime.fromisoformat(updated_at).replace(tzinfo=None), str(uuid.UUID(project_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequestError("cursor: not a cursor from a previous page") from exc


def list_projects(user_id: str, *, limit: int, cursor: str | None) -> ProjectPage:
    after = _decode_cursor(cursor) if cursor else None

    def work(conn: Connection) -> list[Project]:
        rows = projects.list_projects(conn, user_id=user_id, limit=limit + 1, after=after)
        return [Project.model_validate(row) for row in rows]

    items = db.in_transaction(work)
    has_more = len(items) > limit
    items = items[:limit]
    return ProjectPage(items=items, next_cursor=_encode_cursor(items[-1]) if has_more else None)


def get_project(user_id: str, project_id: str) -> Project:
    row = db.in_transaction(lambda conn: projects.find_project(conn, project_id=project_id, user_id=user_id))
    if row is None:
        raise NotFoundError("Project not found")
    return Project.model_validate(row)


def delete_project(user_id: str, project_id: str) -> None:
    if not db.in_transaction(lambda conn: projects.delete_project(conn, project_id=project_id, user_id=user_id)):
        raise NotFoundError("Project not found")


def list_messages_json(user_id: str, project_id: str) -> str:
    """The conversation as the response body (a MessageList), built by the database."""
    body = db.in_transaction(lambda conn: messages.conversation_json(conn, project_id=project_id, user_id=user_id))
    if body is None:
        raise NotFoundError("Project not found")
    return body


def post_message(caller: Caller, project_id: str, prompt: str) -> Message:
    message_id = _new_id()

    def work(conn: Connection) -> Message:
        if projects.find_project(conn, project_id=project_id, user_id=caller.user_id) is None:
            raise NotFoundError("Project not found")
        row = messages.insert_message(
            conn, message_id=message_id, project_id=project_id, content=prompt, role="USER", type_="RESULT"
        )
        projects.touch_project(conn, project_id=project_id)
        run_id = _queue_run(conn, caller, project_id=project_id, message_id=message_id)
        return Message.model_validate({**row, "fragment": None, "run": {"id": run_id, "status": "QUEUED"}})

    message = db.in_transaction(work)
    _send_run(project_id=project_id, message_id=message_id)
    return message


def get_fragment(user_id: str, project_id: str, fragment_id: str) -> Fragment:
    row = db.in_transaction(
        lambda conn: messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
    )
    if row is None:
        raise NotFoundError("Fragment not found")
    return Fragment.model_validate(row)


EXPIRED = "The preview has expired. Bring it back with POST …/preview."
TAKEN_OVER = "A newer version of the app runs in this version's sandbox. Bring this one back with POST …/preview."
JOB_LOST = "Bringing the preview back took too long. Try again."
PREVIEW_NOT_QUEUED = "The preview could not be queued just now. Try again."


def _preview_state(user_id: str, project_id: str, fragment_id: str) -> PreviewState:
    stale = get_settings().preview_job_stale_seconds
    row = db.in_transaction(
        lambda conn: previews.fragment_preview(
            conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id, stale_seconds=stale
        )
    )
    if row is None:
        raise NotFoundError("Fragment not found")
    url = row["sandbox_url"]
    if row["job_status"] == "STARTING":
        if row["job_fresh"]:
            return PreviewState(status="STARTING", sandbox_url=url, error=None)
        return PreviewState(status="FAILED", sandbox_url=url, error=JOB_LOST)
    if row["job_status"] == "FAILED":
        return PreviewState(status="FAILED", sandbox_url=url, error=row["job_error"])
    if row["held_by_newer"]:
        return PreviewState(status="FAILED", sandbox_url=url, error=TAKEN_OVER)
    # Outside the transaction: a connection is not held while the preview is asked.
    probe = probe_preview(url, get_settings().preview_probe_timeout_seconds)
    if probe == "answers":
        return PreviewState(status="READY", sandbox_url=url, error=None)
    if probe == "starting":
        return PreviewState(status="STARTING", sandbox_url=url, error=None)
    return PreviewState(status="FAILED", sandbox_url=url, error=EXPIRED)


def get_preview(user_id: str, project_id: str, fragment_id: str) -> PreviewState:
    return _preview_state(user_id, project_id, fragment_id)


def request_preview(user_id: str, project_id: str, fragment_id: str) -> PreviewState:
    """The preview now, after starting a job to bring it back if it does not answer (no credit)."""
    state = _preview_state(user_id, project_id, fragment_id)
    if state.status != "FAILED":
        return state
    stale = get_settings().preview_job_stale_seconds

    if db.in_transaction(
        lambda conn: previews.start_job(conn, fragment_id=fragment_id, stale_seconds=stale)
    ) and not _send_preview_job(project_id=project_id, fragment_id=fragment_id):
        return PreviewState(status="FAILED", sandbox_url=state.sandbox_url, error=PREVIEW_NOT_QUEUED)
    return PreviewState(status="STARTING", sandbox_url=state.sandbox_url, error=None)


def _send_preview_job(*, project_id: str, fragment_id: str) -> bool:
    """After the commit; a refused send ends the job FAILED at once, so that asking again works."""
    try:
        queue.enqueue_preview_job(project_id=project_id, fragment_id=fragment_id)
        return True
    except Exception:
        logger.warning("The queue refused the preview job", exc_info=True)
        db.in_transaction(lambda conn: previews.fail_job(conn, fragment_id=fragment_id, error=PREVIEW_NOT_QUEUED))
        return False


def restore_fragment(user_id: str, project_id: str, fragment_id: str) -> Message:
    """A new ASSISTANT/RESULT message whose fragment has that version's files, and a job that puts
    them into the app's live sandbox (or a new one). No model run and no credit."""
    message_id, new_fragment_id = _new_id(), _new_id()

    def work(conn: Connection) -> Message:
        # The project's row lock orders this against a follow-up being posted at the same moment.
        if projects.find_project(conn, project_id=project_id, user_id=user_id, lock=True) is None:
            raise NotFoundError("Project not found")
        source = messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
        if source is None:
            raise NotFoundError("Fragment not found")
        if runs.has_active_run(conn, project_id=project_id):
            raise ConflictError("A run is queued or running for this project: restore once it has finished.")
        latest = messages.latest_fragment(conn, project_id=project_id)
        assert latest is not None  # the source is one
        row = messages.insert_message(
            conn,
            message_id=message_id,
            project_id=project_id,
            content=f'Restored the version "{source["title"]}".',
            role="ASSISTANT",
            type_="RESULT",
        )
        # The restored version takes over the app's current sandbox; the job makes it hold these files.
        messages.insert_fragment(
            conn,
            fragment_id=new_fragment_id,
            message_id=message_id,
            content=messages.FragmentContent(
                sandbox_url=latest["sandbox_url"],
                title=source["title"],
                files=source["files"],
                summary=source["summary"],
                sandbox_id=latest["sandbox_id"],
                check_error=source["check_error"],
            ),
        )
        projects.touch_project(conn, project_id=project_id)
        previews.start_job(conn, fragment_id=new_fragment_id, stale_seconds=get_settings().preview_job_stale_seconds)
        fragment = messages.find_fragment(conn, fragment_id=new_fragment_id, project_id=project_id, user_id=user_id)
        return Message.model_validate({**row, "fragment": fragment})

    message = db.in_transaction(work)
    _send_preview_job(project_id=project_id, fragment_id=new_fragment_id)
    return message


def download_fragment(user_id: str, project_id: str, fragment_id: str) -> Download:
    """The whole runnable app of that version as a zip, or a short-lived link to it when too large."""

    def load(conn: Connection) -> tuple[str, dict[str, str]]:
        project = projects.find_project(conn, project_id=project_id, user_id=user_id)
        fragment = messages.find_fragment(conn, fragment_id=fragment_id, project_id=project_id, user_id=user_id)
        if project is None or fragment is None:
            raise NotFoundError("Fragment not found")
        return project["name"], fragment["files"]

    name, files = db.in_transaction(load)
    data = app_archive(files, folder=name)
    filename = f"{name}.zip"
    if len(data) <= downloads.inline_max_bytes():
        return Download(filename=filename, data=data)
    return Download(filename=filename, url=downloads.store(data, filename))


EVENTS_PER_PAGE = 500


def _owned_run(conn: Connection, user_id: str, project_id: str, message_id: str) -> DictRow:
    run = run_events.find_run(conn, project_id=project_id, message_id=message_id, user_id=user_id)
    if run is None:
        raise NotFoundError("Run not found")
    return run


def _run_page(conn: Connection, run: DictRow, *, after: int) -> Run:
    """The run with its events after ``after`` (at most a page of them)."""
    events = run_events.events_after(conn, run_id=run["id"], after=after, limit=EVENTS_PER_PAGE)
    return Run.model_validate({**run, "events": events, "next_after": events[-1]["seq"] if events else after})


def get_run(user_id: str, project_id: str, message_id: str, *, after: int) -> Run:
    """The run a USER message asked for, with its events after ``after``."""
    return db.in_transaction(
        lambda conn: _run_page(conn, _owned_run(conn, user_id, project_id, message_id), after=after)
    )


def cancel_run(user_id: str, project_id: str, message_id: str) -> Run:
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

    return db.in_transaction(work)
