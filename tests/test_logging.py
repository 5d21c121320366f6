"""Logs under concurrent workers: every line carries its own run's ids, and no secret."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Iterator

import psycopg
import pytest

from qai_tools import scripted_model as sm
from tests.conftest import ANTHROPIC_TEST_KEY, AgentWorker, Api, queued_messages


@pytest.fixture
def agent_log() -> Iterator[io.StringIO]:
    """The agent's log lines (Powertools' JSON, its own formatter) at INFO, collected."""
    from qai_agent import worker

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(worker.logger.registered_formatter)
    underlying = logging.getLogger(worker.logger.name)
    level = underlying.level
    underlying.addHandler(handler)
    underlying.setLevel(logging.INFO)
    yield stream
    underlying.removeHandler(handler)
    underlying.setLevel(level)


def test_two_runs_at_once_each_log_their_own_ids_and_no_secret(
    api: Api,
    worker: AgentWorker,
    model_server: sm.ScriptedModelServer,
    env: str,
    agent_queue_url: str,
    agent_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A password in the database URL (the test server trusts local connections and ignores it).
    monkeypatch.setenv("DATABASE_URL", env.replace("postgres:@", "postgres:db-pw-SECRET@", 1))
    assert "db-pw-SECRET" in os.environ["DATABASE_URL"]
    api.reload()
    worker.reload()
    model_server.responder = sm.page_from_request
    for prompt in ("a todo app", "a weather app"):
        assert api.call("POST", "/projects", json_body={"value": prompt})[0] == 201
    bodies = queued_messages(agent_queue_url)
    barrier = threading.Barrier(len(bodies))
    failures: list[list[str]] = []

    def deliver(body: dict[str, str]) -> None:
        barrier.wait()
        failures.append(worker.deliver_body(body))

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [[], []]

    with psycopg.connect(env) as conn:
        runs = dict(conn.execute('SELECT "messageId", id FROM "AgentRun"').fetchall())
    projects = {body["messageId"]: body["projectId"] for body in bodies}
    lines = [json.loads(line) for line in agent_log.getvalue().splitlines()]
    finished = [line for line in lines if line["message"] == "Run finished"]
    assert sorted(line["messageId"] for line in finished) == sorted(runs)
    for line in lines:
        if "messageId" in line:
            assert line["projectId"] == projects[line["messageId"]], line
            assert line.get("runId", runs[line["messageId"]]) == runs[line["messageId"]], line
    # Neither the model's key nor the database's password ("SECRET" is in both).
    assert ANTHROPIC_TEST_KEY not in agent_log.getvalue() and "SECRET" not in agent_log.getvalue()
    # A later record on the same thread starts clean.
    from qai_agent import worker as worker_module

    assert "runId" not in json.loads(
        worker_module.logger.registered_formatter.format(logging.makeLogRecord({"msg": "x"}))
    )
