"""A preview job: make a fragment's preview answer again, from the queue (``kind: "preview"``).

The fragment's own sandbox is reconnected when it still lives and no newer version holds it (E2B
resumes a paused one); otherwise a new sandbox is built from the fragment's files. Either way the
sandbox is brought to exactly those files and its preview must answer before the job is READY;
the fragment then records the sandbox and its URL. Anything that goes wrong ends the job FAILED
with the reason: the user can ask again. The job runner (jobs.py) claims it under a lease, so a
duplicate delivery does nothing, and its outcome is fenced by the attempt number.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from psycopg.rows import DictRow

from qai import previews
from qai.db import Connection
from qai.models import PreviewJobRequest
from qai.probe import probe_preview
from qai_agent.agent_run import job_runner
from qai_agent.app_sync import InstallError, OpenedApp, open_app
from qai_agent.config import AgentSettings
from qai_agent.dependencies import AgentDependencies
from qai_agent.jobs import JobRunner, Outcome
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


def process_preview_job(deps: AgentDependencies, job: PreviewJobRequest, *, deadline: Deadline) -> Outcome:
    logger.thread_safe_append_keys(projectId=job.project_id, fragmentId=job.fragment_id)
    return job_runner(deps).run(PreviewJob(deps, job, deadline), receive_count=1, deadline=deadline)


class PreviewJob:
    """A preview job as the job runner drives it. Not retried: a failure is the job's outcome at
    once (FAILED with the reason), and the user can ask again."""

    retries = False
    claims_in_one_statement = False

    def __init__(self, deps: AgentDependencies, job: PreviewJobRequest, deadline: Deadline) -> None:
        self.deps = deps
        self.job = job
        self.deadline = deadline
        self.opened: OpenedApp | None = None

    def claim(self, conn: Connection, lease_seconds: int) -> int | None:
        """The job's attempt number, once it holds the job and the fragment is still there."""
        attempt = previews.claim_job(conn, fragment_id=self.job.fragment_id, lease_seconds=lease_seconds)
        return attempt if attempt is not None and self._fragment(conn) is not None else None

    def _fragment(self, conn: Connection) -> DictRow | None:
        return previews.job_fragment(conn, fragment_id=self.job.fragment_id)

    def unclaimed(self, receive_count: int, runner: JobRunner) -> Outcome:
        # Finished, held by another delivery, or deleted with its project.
        logger.info("Nothing to do for this preview job")
        metrics.add_metric(name="PreviewJobsSkipped", unit=MetricUnit.Count, value=1)
        return "skipped"

    def work(self, attempt: int) -> Outcome:
        settings = self.deps.settings
        fragment = self.deps.database.in_transaction(self._fragment)
        if fragment is None:  # deleted with its project since the claim
            return "skipped"
        sandbox_id = None if fragment["held_by_newer"] else fragment["sandbox_id"]
        self.opened = opened = open_app(self.deps.sandboxes, settings, dict(fragment["files"]), sandbox_id)
        url = _wait_until_it_answers(opened.sandbox, settings, self.deadline)
        sandbox = opened.sandbox
        recorded = self.deps.database.in_transaction(
            lambda conn: previews.finish_job(
                conn,
                fragment_id=self.job.fragment_id,
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

    def release(self, attempt: int, error: Exception) -> str:
        raise AssertionError("preview jobs are not retried")  # retries = False: the runner never asks

    def fail(self, attempt: int, error: Exception) -> Outcome:
        # Only our own reasons (and the app's own npm output) are shown; anything else stays in the log.
        shown = isinstance(error, PreviewJobError | InstallError)
        reason = str(error) if shown else f"The sandbox could not be prepared ({type(error).__name__})"
        if self.opened is not None:
            self.opened.sandbox.close(keep=self.opened.attached)
        self.deps.database.in_transaction(
            lambda conn: previews.finish_job(
                conn, fragment_id=self.job.fragment_id, attempt=attempt, error=reason[:ERROR_LIMIT]
            )
        )
        metrics.add_metric(name="PreviewJobsFailed", unit=MetricUnit.Count, value=1)
        return "failed"
