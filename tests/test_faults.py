"""Faults survived: the database unreachable, or gone in the middle of a request. Real PostgreSQL.
(A restart between requests: test_connection_and_settings.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import psycopg
import pytest

from qai import projects
from qai.db import Connection
from qai.sweeper import sweep
from qai_local.stack.lambda_events import QueuedMessage, sqs_event
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages


def test_a_database_that_cannot_be_reached_is_503_with_retry_after_and_then_recovers(api: Api, env: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none?connect_timeout=2")
        api.reload()
        for method, path, body in (("GET", "/projects", None), ("POST", "/projects", {"value": "a todo app"})):
            response = api.invoke(method, path, json_body=body)
            assert response["statusCode"] == 503
            assert response["headers"]["Retry-After"] == "5"
            assert '"SERVICE_UNAVAILABLE"' in response["body"] and "127.0.0.1" not in response["body"]
    api.reload()
    assert api.call("POST", "/projects", json_body={"value": "a todo app"})[0] == 201


def test_a_connection_dropped_during_a_request_is_503_and_leaves_nothing_half_written(
    api: Api, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert = projects.insert_project

    def dropped_midway(conn: Connection, **kwargs: str) -> object:
        row = insert(conn, **kwargs)
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # the server goes away mid-transaction
        return row

    monkeypatch.setattr(projects, "insert_project", dropped_midway)
    status, body = api.call("POST", "/projects", json_body={"value": "a todo app"})
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    monkeypatch.undo()
    with psycopg.connect(env) as conn:
        assert conn.execute('SELECT count(*) FROM "Project"').fetchone() == (0,)
    assert api.call("POST", "/projects", json_body={"value": "a todo app"})[0] == 201


def test_a_sandbox_deleted_mid_run_fails_the_attempt_and_the_next_one_answers_once(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_env: Path, env: str
) -> None:
    calls = []

    def responder(request: dict[str, Any]) -> sm.Reply:
        calls.append(request)
        if len(calls) == 1:  # the sandbox vanishes while the model thinks
            for directory in [p for p in agent_env.iterdir() if p.is_dir()]:
                shutil.rmtree(directory)
        return sm.page_from_request(request)

    model_server.responder = responder
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    (body,) = queued_messages(worker.queue_url)
    assert worker.deliver_body(body, receive_count=1) == [ANY]  # given back to the queue
    with psycopg.connect(env) as conn:
        row = conn.execute('SELECT status::text, error FROM "AgentRun" WHERE "projectId" = %s', (project["id"],))
        status, error = row.fetchone()
    assert status == "QUEUED" and "SandboxLostError" in error
    assert worker.deliver_body(body, receive_count=2) == []
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert [(m["role"], m["type"]) for m in items] == [("USER", "RESULT"), ("ASSISTANT", "RESULT")]
    assert items[1]["fragment"]["paths"] == ["app/page.tsx"]
    assert api.call("GET", "/usage")[1]["remaining"] == api.call("GET", "/usage")[1]["limit"] - 1


def test_the_database_failing_while_the_worker_records_its_outcome_loses_nothing(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qai_agent import worker as worker_module

    record = worker_module.record_reply
    failures = [psycopg.OperationalError("server closed the connection unexpectedly")]

    def flaky(*args: Any, **kwargs: Any) -> str:
        if failures:
            raise failures.pop()
        return record(*args, **kwargs)

    monkeypatch.setattr(worker_module, "record_reply", flaky)
    model_server.responder = sm.page_from_request
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    (body,) = queued_messages(worker.queue_url)
    assert worker.deliver_body(body, receive_count=1) == [ANY]  # nothing recorded: the queue brings it back
    assert worker.deliver_body(body, receive_count=2) == []
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert [m["type"] for m in items if m["role"] == "ASSISTANT"] == ["RESULT"]
    with psycopg.connect(env) as conn:
        assert conn.execute('SELECT status::text, attempts FROM "AgentRun"').fetchone() == ("SUCCEEDED", 2)


def test_a_command_killed_mid_run_is_a_result_the_model_sees_and_the_run_goes_on(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    monkeypatch.setenv("AGENT_COMMAND_TIMEOUT_SECONDS", "60")
    worker.reload()
    model_server.script(
        sm.terminal("sleep 47 && echo finished"),
        sm.write_files({"app/page.tsx": "export default function Home() { return <h1>Still here</h1> }\n"}),
        sm.summary(),
    )
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    (body,) = queued_messages(worker.queue_url)
    killed: list[int] = []

    def kill_the_command() -> None:  # from outside, as an OOM killer or an operator would
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for process in psutil.process_iter(["pid", "cmdline"]):
                if process.info["cmdline"] == ["sleep", "47"]:  # the command's own process, not a wrapper
                    process.kill()
                    killed.append(process.info["pid"])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_command)
    killer.start()
    started = time.monotonic()
    assert worker.deliver_body(body) == []
    killer.join()
    assert killed and time.monotonic() - started < 30  # it did not wait for the sleep
    command = [r for r in model_server.agent_requests()[1]["messages"][-1]["content"] if r["type"] == "tool_result"]
    assert command[0]["is_error"] is True and "finished" not in command[0]["content"]
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert [(m["role"], m["type"]) for m in items] == [("USER", "RESULT"), ("ASSISTANT", "RESULT")]


WORKER_PROCESS = """
import json, sys
from qai_local.stack.functions import LocalLambdaContext, load_function
print(load_function("agent").lambda_handler(json.loads(sys.stdin.read()), LocalLambdaContext()))
"""


def test_a_worker_killed_mid_run_loses_its_lease_and_the_run_is_answered_once(
    api: Api,
    worker: AgentWorker,
    model_server: sm.ScriptedModelServer,
    agent_env: Path,
    env: str,
    agent_queue_url: str,
) -> None:
    """A real SIGKILL: the agent handler in a process of its own, killed while it waits for the model."""
    reached, hold = threading.Event(), threading.Event()

    def responder(request: dict[str, Any]) -> sm.Reply:
        if not reached.is_set():
            reached.set()
            hold.wait(30)  # the first worker never hears back: it is killed meanwhile
        return sm.page_from_request(request)

    model_server.responder = responder
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    (body,) = queued_messages(agent_queue_url)
    environment = {**os.environ, "AGENT_LEASE_SECONDS": "2", "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", WORKER_PROCESS], stdin=subprocess.PIPE, env=environment, text=True)
    assert child.stdin is not None
    child.stdin.write(json.dumps(sqs_event([QueuedMessage(json.dumps(body))])))
    child.stdin.close()
    try:
        assert reached.wait(60), "the first worker never called the model"
    finally:
        child.kill()  # SIGKILL
        child.wait()
        hold.set()
    with psycopg.connect(env) as conn:
        assert conn.execute('SELECT status::text, attempts FROM "AgentRun"').fetchone() == ("RUNNING", 1)
    time.sleep(2.5)  # its lease runs out; the sweeper sends the run again and a new delivery takes it over
    assert sweep(api.deps, grace_seconds=0, resend_after_seconds=0).resent == 1
    worker.drain()
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert [(m["role"], m["type"]) for m in items] == [("USER", "RESULT"), ("ASSISTANT", "RESULT")]
    with psycopg.connect(env) as conn:
        assert conn.execute('SELECT status::text, attempts FROM "AgentRun"').fetchone() == ("SUCCEEDED", 2)
        charges = conn.execute('SELECT count(*) FROM "CreditCharge" WHERE "refundedAt" IS NULL').fetchone()
    assert charges == (1,)
