"""The agent queue's one job runner, for every kind of job (agent runs, preview jobs, and those to
come): claim the job under a lease, do its work, record its outcome fenced by the attempt number,
and on a failure either give it back to the queue for another attempt or record the failure.

A duplicate delivery finds the job held or finished and does no work; a worker whose lease was
taken over cannot record a second outcome (the record is fenced by the attempt, and the job says
so with LostRunError); a failure another attempt could fix comes back sooner than the queue's
visibility timeout (RetryLaterError, doubling with each delivery), and the last delivery records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from aws_lambda_powertools import Logger

from qai.db import Connection, Database
from qai_agent.loop import Deadline
from qai_agent.run_errors import FinalRunError, LostRunError, RetryLaterError

logger = Logger()

Outcome = Literal["succeeded", "failed", "cancelled", "skipped"]
Claim = TypeVar("Claim")


class Job(Protocol[Claim]):
    # Whether a failure that is not final is given back to the queue (else it is recorded at once).
    retries: bool
    # Whether claim() is one statement, atomic by itself: it then runs outside a transaction.
    claims_in_one_statement: bool

    def claim(self, conn: Connection, lease_seconds: int) -> Claim | None:
        """The job, now this attempt's under a lease; None when it is finished, held or gone."""
        ...

    def unclaimed(self, receive_count: int, runner: JobRunner) -> Outcome:
        """What a delivery that could not claim the job does: skip it, or RetryLaterError."""
        ...

    def work(self, claim: Claim) -> Outcome:
        """The job's work and its recorded outcome; raises for a failure."""
        ...

    def release(self, claim: Claim, error: Exception) -> str:
        """Give the claim back for another attempt; what the failure is called (shown, logged)."""
        ...

    def fail(self, claim: Claim, error: Exception) -> Outcome:
        """Record the failure as the job's outcome (fenced: LostRunError when it is no longer ours)."""
        ...


@dataclass(frozen=True)
class JobRunner:
    database: Database
    lease_seconds: int
    max_receive_count: int
    retry_base_seconds: int

    def retry_delay(self, receive_count: int) -> int:
        return self.retry_base_seconds * 2 ** (receive_count - 1)

    def run(self, job: Job[Claim], *, receive_count: int, deadline: Deadline) -> Outcome:
        unit = self.database.in_autocommit if job.claims_in_one_statement else self.database.in_transaction
        claim = unit(lambda conn: job.claim(conn, self.lease_seconds))
        if claim is None:
            return job.unclaimed(receive_count, self)
        try:
            try:
                return job.work(claim)
            except (LostRunError, RetryLaterError):
                raise
            except Exception as exc:
                if self._may_retry(job, exc, receive_count, deadline):
                    logger.exception("Attempt failed; the queue will deliver the message again")
                    reason = job.release(claim, exc)
                    raise RetryLaterError(reason, self.retry_delay(receive_count)) from exc
                logger.warning("Job failed", exc_info=not isinstance(exc, FinalRunError))
                return job.fail(claim, exc)
        except LostRunError as exc:
            logger.warning("Outcome not recorded", extra={"reason": str(exc)})
            return "skipped"

    def _may_retry(self, job: Job[Claim], exc: Exception, receive_count: int, deadline: Deadline) -> bool:
        final = isinstance(exc, FinalRunError) or not job.retries
        return not final and receive_count < self.max_receive_count and not deadline.passed()
