"""A preview job: make a fragment's preview answer again, from the queue (``kind: "preview"``).

The fragment's own sandbox is reconnected when it still lives and no newer version holds it (E2B
resumes a paused one); otherwise a new sandbox is built from the fragment's files. Either way the
sandbox is brought to exactly those files and its preview must answer before the job is READY;
the fragment then records the sandbox and its URL. Anything that goes wrong ends the job FAILED
with the reason: the user can ask again. A job is claimed under a lease, so a duplicate delivery
does nothing, and its outcome is fenced by the attempt number.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from qai import previews
from qai.models import PreviewJobRequest
from qai.probe import probe_preview
from qai_agent.app_sync import InstallError, open_app
from qai_agent.config import AgentSettings
from qai_agent.dependencies import AgentDependencies
from qai_agent.loop import Deadline
from qai_agent.sandboxes.base import Sandbox

logger = Logger()
metrics = Metrics()

ERROR_LIMIT = 2000


class PreviewJobError(RuntimeError):
    """Why the preview could not be brought back; shown to the user."""


def _wait_until_it_answers(sandbox: Sandbox, settings: AgentSettings, deadline: Deadline) -> str:
    url = sandbox.preview_url()
    timeout = max(1.0, min(settings.check_page_timeout_seconds, deadline.seconds_left()))
    outcome = probe_preview(url, timeout)
    if outcome != "answers":
        output = sandbox.server_log()[-800:]
        raise PreviewJobError(f"The app's dev server did not answer within {timeout:.0f} s. Its output:\n{output}")
    return url


def process_preview_job(deps: AgentDependencies, job: PreviewJobRequest, *, deadline: Deadline) -> str:
    settings, database = deps.settings, deps.database
    logger.thread_safe_append_keys(projectId=job.project_id, fragmentId=job.fragment_id)
    attempt = database.in_transaction(
        lambda conn: previews.claim_job(conn, fragment_id=job.fragment_id, lease_seconds=settings.lease_seconds)
    )
    fragment = (
        database.in_transaction(lambda conn: previews.job_fragment(conn, fragment_id=job.fragment_id))
        if attempt is not None
        else None
    )
    if attempt is None or fragment is None:  # finished, held by another delivery, or deleted with its project
        logger.info("Nothing to do for this preview job")
        metrics.add_metric(name="PreviewJobsSkipped", unit=MetricUnit.Count, value=1)
        return "skipped"
    sandbox_id = None if fragment["held_by_newer"] else fragment["sandbox_id"]
    opened = None
    try:
        opened = open_app(deps.sandboxes, settings, dict(fragment["files"]), sandbox_id)
        url = _wait_until_it_answers(opened.sandbox, settings, deadline)
    except Exception as exc:
        # Only our own reasons (and the app's own npm output) are shown; anything else stays in the log.
        shown = isinstance(exc, PreviewJobError | InstallError)
        reason = str(exc) if shown else f"The sandbox could not be prepared ({type(exc).__name__})"
        logger.warning("Preview job failed", exc_info=True)
        if opened is not None:
            opened.sandbox.close(keep=opened.attached)
        database.in_transaction(
            lambda conn: previews.finish_job(
                conn, fragment_id=job.fragment_id, attempt=attempt, error=reason[:ERROR_LIMIT]
            )
        )
        metrics.add_metric(name="PreviewJobsFailed", unit=MetricUnit.Count, value=1)
        return "failed"
    sandbox = opened.sandbox
    recorded = database.in_transaction(
        lambda conn: previews.finish_job(
            conn,
            fragment_id=job.fragment_id,
            attempt=attempt,
            error=None,
            sandbox_url=url,
            sandbox_id=sandbox.sandbox_id,
        )
    )
    # A new sandbox that no fragment records would serve nobody.
    sandbox.close(keep=recorded or opened.attached)
    metrics.add_metric(name="PreviewJobsReady", unit=MetricUnit.Count, value=1)
    logger.info("Preview ready", extra={"attached": opened.attached, "sync": opened.sync.__dict__})
    return "succeeded" if recorded else "skipped"
