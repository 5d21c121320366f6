"""The outbox: the API commits, then sends; the sweeper sends what was not sent or seems lost, and
ends runs abandoned after their last attempt. Real PostgreSQL, moto's SQS, the agent's real claim."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from qai import runs
from qai.dependencies import Dependencies
from qai.sweeper import SweepResult, sweep
from qai_local.stack.functions import load_function
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, LambdaContextStub, queued_messages, run_concurrently

NOW = {"grace_seconds": 0, "resend_after_seconds": 3600}


def run_row(database_url: str, project_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute(
            'SELECT id, status::text AS status, attempts, "sentAt" AS sent_at, error FROM "AgentRun"'
            ' WHERE "projectId" = %s',
            (project_id,),
        ).fetchone()
    assert row is not None
    return row


def replies(database_url: str, project_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            """SELECT type::text, content FROM "Message" WHERE "projectId" = %s AND role = 'ASSISTANT'""",
            (project_id,),
        ).fetchall()


def refused_send(api: Api, monkeypatch: pytest.MonkeyPatch, queue_url: str) -> dict[str, Any]:
    """A project whose run's message the queue refused (after the commit)."""
    monkeypatch.setenv("AGENT_QUEUE_URL", queue_url + "-missing")
    api.reload()
    status, project = api.call("POST", "/projects", json_body={"value": "a todo app"})
    assert status == 201
    monkeypatch.setenv("AGENT_QUEUE_URL", queue_url)
    api.reload()
    return project


def test_a_run_whose_send_failed_is_sent_by_the_sweeper_and_answered_once(
    api: Api,
    worker: AgentWorker,
    model_server: sm.ScriptedModelServer,
    env: str,
    agent_queue_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = refused_send(api, monkeypatch, agent_queue_url)
    assert queued_messages(agent_queue_url) == [] and run_row(env, project["id"])["sent_at"] is None
    assert sweep(api.deps, grace_seconds=3600) == SweepResult(0, 0, 0)  # within the grace period
    assert sweep(api.deps, **NOW) == SweepResult(resent=1, unsent=0, abandoned=0)
    assert sweep(api.deps, **NOW) == SweepResult(0, 0, 0)  # sent now: not again before resend_after
    model_server.script(sm.write_files({"index.html": "<h1>hi</h1>"}), sm.summary())
    (body,) = worker.drain()
    assert body == {"projectId": project["id"], "messageId": body["messageId"]}
    assert [kind for kind, _ in replies(env, project["id"])] == ["RESULT"]


def test_duplicates_the_sweeper_causes_are_harmless(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, agent_queue_url: str
) -> None:
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    # A message that looks lost (resend_after 0) is sent again while the first is still queued.
    assert sweep(api.deps, grace_seconds=0, resend_after_seconds=0).resent == 1
    bodies = queued_messages(agent_queue_url)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    model_server.script(sm.write_files({"index.html": "<h1>hi</h1>"}), sm.summary())
    assert all(worker.deliver_body(body) == [] for body in bodies)  # the second finds the run finished
    assert [kind for kind, _ in replies(env, project["id"])] == ["RESULT"]
    assert run_row(env, project["id"])["attempts"] == 1


def test_concurrent_sweepers_send_each_run_once(
    api: Api, env: str, agent_queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITS_PER_PERIOD", "100")
    for _ in range(5):
        refused_send(api, monkeypatch, agent_queue_url)
    results = run_concurrently(lambda: sweep(api.deps, **NOW), 4)
    assert sum(result.resent for result in results) == 5
    assert len(queued_messages(agent_queue_url)) == 5


@pytest.mark.parametrize("cancel_requested", [False, True])
def test_a_run_abandoned_after_its_last_attempt_ends_as_an_error_with_its_credit_back(
    api: Api, env: str, agent_queue_url: str, cancel_requested: bool
) -> None:
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    remaining = api.call("GET", "/usage")[1]["remaining"]
    queued_messages(agent_queue_url)
    with psycopg.connect(env, autocommit=True) as conn:  # its third worker died mid-run
        conn.execute(
            """UPDATE "AgentRun" SET status = 'RUNNING', attempts = 3,
                   "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 minute',
                   "cancelRequestedAt" = CASE WHEN %s THEN now() END
               WHERE "projectId" = %s""",
            (cancel_requested, project["id"]),
        )
    assert sweep(api.deps, **NOW) == SweepResult(resent=0, unsent=0, abandoned=1)
    row = run_row(env, project["id"])
    if cancel_requested:  # the user asked it to stop, and it has
        assert replies(env, project["id"]) == [("ERROR", runs.CANCELLED_RUN_REPLY)]
        assert row["status"] == "CANCELLED" and row["error"] is None
    else:
        assert replies(env, project["id"]) == [("ERROR", "Something went wrong. Please try again.")]
        assert row["status"] == "FAILED" and "worker stopped" in row["error"]
    assert api.call("GET", "/usage")[1]["remaining"] == remaining + 1
    assert sweep(api.deps, **NOW) == SweepResult(0, 0, 0)
    assert queued_messages(agent_queue_url) == []


def test_a_run_whose_worker_died_with_attempts_left_is_sent_again(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, agent_queue_url: str
) -> None:
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    queued_messages(agent_queue_url)  # the message is in flight with the worker that dies
    with psycopg.connect(env, autocommit=True) as conn:
        conn.execute(
            """UPDATE "AgentRun" SET status = 'RUNNING', attempts = 1,
                   "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') - interval '1 minute',
                   "sentAt" = (now() AT TIME ZONE 'UTC') - interval '2 hours' WHERE "projectId" = %s""",
            (project["id"],),
        )
    assert sweep(api.deps, **NOW).resent == 1
    model_server.script(sm.write_files({"index.html": "<h1>hi</h1>"}), sm.summary())
    worker.drain()  # the new delivery takes the expired lease over
    assert [kind for kind, _ in replies(env, project["id"])] == ["RESULT"]
    assert run_row(env, project["id"])["attempts"] == 2


def test_a_refused_send_while_sweeping_is_left_for_the_next_sweep(
    api: Api, env: str, agent_queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = refused_send(api, monkeypatch, agent_queue_url)
    monkeypatch.setenv("AGENT_QUEUE_URL", agent_queue_url + "-missing")
    api.reload()
    assert sweep(api.deps, **NOW) == SweepResult(resent=0, unsent=1, abandoned=0)
    assert run_row(env, project["id"])["sent_at"] is None


def test_the_scheduled_function_sweeps(
    api: Api, env: str, agent_queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused_send(api, monkeypatch, agent_queue_url)
    monkeypatch.setenv("SWEEPER_GRACE_SECONDS", "0")
    scheduled = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}
    result = load_function("sweeper").handle(scheduled, LambdaContextStub(), Dependencies.from_environment())
    assert result == {"resent": 1, "unsent": 0, "abandoned": 0, "pushes_ended": 0}
    assert len(queued_messages(agent_queue_url)) == 1
