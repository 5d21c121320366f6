"""The job runner on its own, with jobs of its interface: when a failure comes back through the
queue, when it is recorded at once, and when nothing is recorded (the job was taken over)."""

from __future__ import annotations

from typing import Any

import pytest

from qai.db import Connection, Database
from qai_agent.jobs import JobRunner, Outcome
from qai_agent.loop import Deadline
from qai_agent.run_errors import FinalRunError, LostRunError, RetryLaterError

LATER = Deadline(lambda: 600_000, 0)
PASSED = Deadline(lambda: 0, 60)


class ScriptedJob:
    """A job whose work raises what it is given, and that notes what the runner asked of it."""

    def __init__(self, error: Exception | None = None, *, retries: bool = True, lost_on_fail: bool = False) -> None:
        self.error = error
        self.retries = retries
        self.claims_in_one_statement = False
        self.lost_on_fail = lost_on_fail
        self.asked: list[str] = []

    def claim(self, conn: Connection, lease_seconds: int) -> int | None:
        conn.execute("SELECT 1")  # in a transaction of the runner's database
        self.asked.append(f"claim {lease_seconds}")
        return 7

    def unclaimed(self, receive_count: int, runner: JobRunner) -> Outcome:
        return "skipped"

    def work(self, claim: int) -> Outcome:
        self.asked.append(f"work {claim}")
        if self.error:
            raise self.error
        return "succeeded"

    def release(self, claim: int, error: Exception) -> str:
        self.asked.append(f"release {type(error).__name__}")
        return "given back"

    def fail(self, claim: int, error: Exception) -> Outcome:
        self.asked.append(f"fail {type(error).__name__}")
        if self.lost_on_fail:
            raise LostRunError("taken over")
        return "failed"


@pytest.fixture
def runner(fresh_database: str) -> Any:
    database = Database(fresh_database)
    yield JobRunner(database, lease_seconds=90, max_receive_count=3, retry_base_seconds=30)
    database.close()


def test_a_job_that_works_succeeds(runner: JobRunner) -> None:
    job = ScriptedJob()
    assert runner.run(job, receive_count=1, deadline=LATER) == "succeeded"
    assert job.asked == ["claim 90", "work 7"]


@pytest.mark.parametrize(("receive_count", "delay"), [(1, 30), (2, 60)])
def test_an_unexpected_failure_comes_back_sooner_each_delivery(
    runner: JobRunner, receive_count: int, delay: int
) -> None:
    job = ScriptedJob(RuntimeError("boom"))
    with pytest.raises(RetryLaterError) as retry:
        runner.run(job, receive_count=receive_count, deadline=LATER)
    assert (retry.value.delay_seconds, str(retry.value)) == (delay, "given back")
    assert job.asked[-1] == "release RuntimeError"


@pytest.mark.parametrize(
    ("job", "receive_count", "deadline"),
    [
        (ScriptedJob(RuntimeError("boom")), 3, LATER),  # the last delivery
        (ScriptedJob(RuntimeError("boom")), 1, PASSED),  # no time left for another
        (ScriptedJob(FinalRunError("no model")), 1, LATER),  # another attempt would not fix it
        (ScriptedJob(RuntimeError("boom"), retries=False), 1, LATER),  # a job kind without retries
    ],
)
def test_a_failure_is_recorded_when_it_is_not_retried(
    runner: JobRunner, job: ScriptedJob, receive_count: int, deadline: Deadline
) -> None:
    assert runner.run(job, receive_count=receive_count, deadline=deadline) == "failed"
    assert job.asked[-1].startswith("fail ") and not any(a.startswith("release") for a in job.asked)


def test_a_job_taken_over_records_nothing(runner: JobRunner) -> None:
    assert runner.run(ScriptedJob(LostRunError("lease lost")), receive_count=1, deadline=LATER) == "skipped"
    lost_while_failing = ScriptedJob(FinalRunError("no"), lost_on_fail=True)
    assert runner.run(lost_while_failing, receive_count=1, deadline=LATER) == "skipped"
