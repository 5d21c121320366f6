"""A version's preview: whether it answers now, and a job that brings it back when it does not."""

from __future__ import annotations

from qai import previews
from qai.dependencies import Dependencies
from qai.errors import NotFoundError
from qai.models import PreviewState
from qai.probe import probe_preview
from qai.services import sent_or_failed

EXPIRED = "The preview has expired. Bring it back with POST …/preview."
TAKEN_OVER = "A newer version of the app runs in this version's sandbox. Bring this one back with POST …/preview."
JOB_LOST = "Bringing the preview back took too long. Try again."
PREVIEW_NOT_QUEUED = "The preview could not be queued just now. Try again."


def get_preview(deps: Dependencies, user_id: str, project_id: str, fragment_id: str) -> PreviewState:
    stale = deps.settings.preview_job_stale_seconds
    row = deps.database.in_autocommit(
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
    probe = probe_preview(url, deps.settings.preview_probe_timeout_seconds)
    if probe == "answers":
        return PreviewState(status="READY", sandbox_url=url, error=None)
    if probe == "starting":
        return PreviewState(status="STARTING", sandbox_url=url, error=None)
    return PreviewState(status="FAILED", sandbox_url=url, error=EXPIRED)


def request_preview(deps: Dependencies, user_id: str, project_id: str, fragment_id: str) -> PreviewState:
    """The preview now, after starting a job to bring it back if it does not answer (no credit)."""
    state = get_preview(deps, user_id, project_id, fragment_id)
    if state.status != "FAILED":
        return state
    stale = deps.settings.preview_job_stale_seconds

    if deps.database.in_transaction(
        lambda conn: previews.start_job(conn, fragment_id=fragment_id, stale_seconds=stale)
    ) and not send_preview_job(deps, project_id=project_id, fragment_id=fragment_id):
        return PreviewState(status="FAILED", sandbox_url=state.sandbox_url, error=PREVIEW_NOT_QUEUED)
    return PreviewState(status="STARTING", sandbox_url=state.sandbox_url, error=None)


def send_preview_job(deps: Dependencies, *, project_id: str, fragment_id: str) -> bool:
    """After the commit; a refused send ends the job FAILED at once, so that asking again works."""
    return sent_or_failed(
        deps,
        lambda: deps.queue.enqueue_preview_job(project_id=project_id, fragment_id=fragment_id),
        lambda conn: previews.fail_job(conn, fragment_id=fragment_id, error=PREVIEW_NOT_QUEUED),
        "preview",
    )
