"""A push job: the project's history up to a version, pushed to a git remote (``kind: "push"``).

The token waits sealed in the push's row and is opened only here; the push's outcome (PUSHED
with its commit, or FAILED with the reason) forgets it. Not retried: a failure is shown at once,
and the user can push again. The job runner (jobs.py) claims it under a lease, so a duplicate
delivery does nothing, and its outcome is fenced by the attempt number.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from psycopg.rows import DictRow

from qai import git_pushes
from qai.db import Connection
from qai.models import PushJobRequest
from qai.services.git import project_history
from qai_agent.agent_run import job_runner
from qai_agent.dependencies import AgentDependencies
from qai_agent.git_push import PushError, Remote, push_history
from qai_agent.jobs import JobRunner, Outcome
from qai_agent.loop import Deadline

logger = Logger()
metrics = Metrics()


def process_push_job(deps: AgentDependencies, job: PushJobRequest, *, deadline: Deadline) -> Outcome:
    logger.thread_safe_append_keys(projectId=job.project_id, pushId=job.push_id)
    return job_runner(deps).run(PushJob(deps, job), receive_count=1, deadline=deadline)


class PushJob:
    retries = False
    claims_in_one_statement = True  # git_pushes.claim_push

    def __init__(self, deps: AgentDependencies, job: PushJobRequest) -> None:
        self.deps = deps
        self.job = job

    def claim(self, conn: Connection, lease_seconds: int) -> DictRow | None:
        return git_pushes.claim_push(
            conn, project_id=self.job.project_id, push_id=self.job.push_id, lease_seconds=lease_seconds
        )

    def unclaimed(self, receive_count: int, runner: JobRunner) -> Outcome:
        logger.info("Nothing to do for this push job")  # finished, replaced, held, or deleted with its project
        return "skipped"

    def work(self, claim: DictRow) -> Outcome:
        settings = self.deps.settings
        try:
            token = self.deps.sealer.unseal(bytes(claim["sealed_token"]), project_id=self.job.project_id)
        except Exception:
            raise PushError("The push's token could not be opened here: push again.") from None
        _, history = project_history(self.deps, claim["user_id"], self.job.project_id)
        commit = history.commit_of[claim["fragment_id"]]
        remote = Remote(url=claim["url"], branch=claim["branch"], username=claim["username"], token=token)
        push_history(
            history,
            commit,
            remote,
            timeout=settings.git_push_timeout_seconds,
            allow_private=settings.git_push_allow_private,
        )
        recorded = self._finish(claim, commit=commit.decode(), error=None)
        metrics.add_metric(name="PushesSucceeded", unit=MetricUnit.Count, value=1)
        return "succeeded" if recorded else "skipped"

    def release(self, claim: DictRow, error: Exception) -> str:
        raise AssertionError("push jobs are not retried")  # retries = False: the runner never asks

    def fail(self, claim: DictRow, error: Exception) -> Outcome:
        reason = str(error) if isinstance(error, PushError) else f"The push failed ({type(error).__name__})."
        self._finish(claim, commit=None, error=reason)
        metrics.add_metric(name="PushesFailed", unit=MetricUnit.Count, value=1)
        return "failed"

    def _finish(self, claim: DictRow, *, commit: str | None, error: str | None) -> bool:
        return self.deps.database.in_transaction(
            lambda conn: git_pushes.finish_push(
                conn,
                project_id=self.job.project_id,
                push_id=self.job.push_id,
                attempt=claim["attempt"],
                commit=commit,
                error=error,
            )
        )
