"""An agent run as a job of the queue: claimed under a lease, worked on (worker.py), its one reply
recorded fenced by the attempt; a failed attempt given back for another, the last one's failure
recorded as the reply (jobs.py drives it)."""

from __future__ import annotations

import time
from typing import get_args

import anthropic
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from qai import runs
from qai.db import Connection
from qai.models import AgentRunRequest
from qai.runs import ClaimedRun
from qai_agent.config import prices
from qai_agent.dependencies import AgentDependencies
from qai_agent.jobs import JobRunner, Outcome
from qai_agent.loop import Deadline
from qai_agent.pricing import UsageMeter
from qai_agent.run_errors import FinalRunError, RetryLaterError
from qai_agent.run_log import RunLog, RunStoppedError
from qai_agent.worker import BuiltApp, record_outcome, work_on_message

logger = Logger()
metrics = Metrics()

OUTCOME_METRICS = {"succeeded": "RunsSucceeded", "failed": "RunsFailed", "cancelled": "RunsCancelled"}


def job_runner(deps: AgentDependencies) -> JobRunner:
    settings = deps.settings
    return JobRunner(
        deps.database,
        lease_seconds=settings.lease_seconds,
        max_receive_count=settings.agent_max_receive_count,
        retry_base_seconds=settings.retry_base_seconds,
    )


def process_run_request(
    deps: AgentDependencies, request: AgentRunRequest, *, receive_count: int, deadline: Deadline
) -> Outcome:
    # Thread-local: the local stack runs several workers in one process (the handler clears them).
    logger.thread_safe_append_keys(projectId=request.project_id, messageId=request.message_id)
    job = AgentRunJob(deps, request, deadline)
    try:
        outcome = job_runner(deps).run(job, receive_count=receive_count, deadline=deadline)
    finally:
        job.finish()
    if job.log is not None:  # claimed: this delivery worked on the run
        metrics.add_metric(name=OUTCOME_METRICS.get(outcome, "RunsNotRecorded"), unit=MetricUnit.Count, value=1)
        logger.info("Run finished", extra={"outcome": outcome, "turns": job.meter.model_turns})
    return outcome


class AgentRunJob:
    """An agent run as the job runner drives it: one reply per USER message."""

    retries = True
    claims_in_one_statement = True  # runs.claim_run

    def __init__(self, deps: AgentDependencies, request: AgentRunRequest, deadline: Deadline) -> None:
        self.deps = deps
        self.request = request
        self.deadline = deadline
        self.meter = UsageMeter(prices=prices(deps.settings))
        self.log: RunLog | None = None
        self._started = time.monotonic()

    def claim(self, conn: Connection, lease_seconds: int) -> ClaimedRun | None:
        request = self.request
        return runs.claim_run(
            conn, project_id=request.project_id, message_id=request.message_id, lease_seconds=lease_seconds
        )

    def unclaimed(self, receive_count: int, runner: JobRunner) -> Outcome:
        """A delivery that could not claim its run: acknowledge it, or report it failed to see it again."""
        run = self.deps.database.in_transaction(lambda conn: runs.find_run(conn, message_id=self.request.message_id))
        if run is not None and run["status"] in get_args(runs.FinalStatus):
            logger.info("Nothing to do: the run is finished")
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
            return "skipped"
        if receive_count >= runner.max_receive_count:
            logger.warning("Giving up on this delivery", extra={"runStatus": run["status"] if run else None})
            metrics.add_metric(name="DeliveriesGivenUp", unit=MetricUnit.Count, value=1)
            return "skipped"
        if run is None:
            # The API sends only after its commit: the run was deleted with its project.
            logger.info("Nothing to do: no such run")
            metrics.add_metric(name="RunsNotFound", unit=MetricUnit.Count, value=1)
            return "skipped"
        # Another delivery holds the run. This copy comes back later rather than being deleted: should
        # that delivery fail, this may be the copy of the message that brings the run back.
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        # Back when the holder's lease would have run out, so a dead holder is replaced at once.
        raise RetryLaterError(f"run {run['id']} is held by another delivery", runner.lease_seconds)

    def work(self, claim: ClaimedRun) -> Outcome:
        logger.thread_safe_append_keys(runId=claim.id, attempt=claim.attempt)
        metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
        log = self.log = RunLog(self.deps.database, claim.id, cancel_requested=claim.cancel_requested)
        log.record("status", f"Started (attempt {claim.attempt})", status="RUNNING", attempt=claim.attempt)
        try:
            built = work_on_message(self.deps, self.request, self.deadline, self.meter, log)
        except RunStoppedError:
            logger.info("Run cancelled by the user")
            log.record("status", "Stopped at your request", status="CANCELLED")
            reply = runs.CANCELLED_RUN_REPLY
            self._record(claim, built=None, error=None, error_reply=reply, cancelled=True)
            return "cancelled"
        log.record("status", "Done: the reply is ready", status="SUCCEEDED")
        self._record(claim, built=built, error=None)
        return "succeeded"

    def release(self, claim: ClaimedRun, error: Exception) -> str:
        reason = _failure(error, self.request.message_id)
        self.deps.database.in_transaction(lambda conn: runs.release_run(conn, claim, error=reason, usage=self.meter))
        metrics.add_metric(name="RunRetries", unit=MetricUnit.Count, value=1)
        if self.log is not None:
            self.log.record("error", reason)
            self.log.record("status", "This attempt failed: it will be tried again", status="QUEUED")
        return reason

    def fail(self, claim: ClaimedRun, error: Exception) -> Outcome:
        if isinstance(error, FinalRunError):
            reason, reply = str(error), error.reply
        else:
            reason, reply = _failure(error, self.request.message_id), None
        if self.log is not None:
            self.log.record("error", reason)
            self.log.record("status", "Failed", status="FAILED")
        self._record(claim, built=None, error=reason, error_reply=reply)
        return "failed"

    def finish(self) -> None:
        """After the attempt, whatever its end: the last events, the metrics."""
        if self.log is None:
            return
        self.log.flush(now=True)  # what an attempt given back to the queue recorded last
        metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=time.monotonic() - self._started)
        metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=self.meter.input_tokens)
        metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=self.meter.output_tokens)

    def _record(
        self,
        claim: ClaimedRun,
        *,
        built: BuiltApp | None,
        error: str | None,
        error_reply: str | None = None,
        cancelled: bool = False,
    ) -> None:
        assert self.log is not None
        record_outcome(
            self.deps,
            claim,
            self.request,
            self.meter,
            self.log,
            built=built,
            error=error,
            error_reply=error_reply,
            cancelled=cancelled,
        )


def _failure(exc: Exception, reference: str) -> str:
    """What the run's events and API say of an unexpected failure: its kind, never its text, which
    may name hosts, paths or accounts (the text is in the log)."""
    if isinstance(exc, anthropic.APIStatusError):
        return f"The model answered {exc.status_code} ({type(exc).__name__})"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"The model could not be reached ({type(exc).__name__})"
    return f"An unexpected error stopped this attempt ({type(exc).__name__}, reference {reference})"
