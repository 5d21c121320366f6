"""A run's events, as a client polling GET …/messages/{messageId}/run sees them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages, wait_for


def run_path(project_id: str, message_id: str) -> str:
    return f"/projects/{project_id}/messages/{message_id}/run"


def test_a_run_records_what_it_does_in_order_and_serves_the_newer_events(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(
        sm.terminal("echo hello from the sandbox"),
        sm.write_files({"app/page.tsx": "export default function Home() { return <h1>Hi</h1> }\n"}),
        sm.read_files(["app/page.tsx"]),
        sm.summary(),
    )
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    user_message = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]
    status, queued = api.call("GET", run_path(project["id"], user_message["id"]))
    assert status == 200 and queued["status"] == "QUEUED" and queued["events"] == [] and queued["nextAfter"] == 0
    assert user_message["run"] == {"id": queued["id"], "status": "QUEUED"}
    worker.drain()

    status, run = api.call("GET", run_path(project["id"], user_message["id"]))
    assert status == 200 and run["status"] == "SUCCEEDED" and run["startedAt"] and run["finishedAt"]
    events = run["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and run["nextAfter"] == len(events)
    assert [e["kind"] for e in events] == [
        "status", "status", "model", "command", "command", "model", "files", "model", "files", "model", "status",
    ]  # fmt: skip
    assert events[0]["data"] == {"status": "RUNNING", "attempt": 1}
    assert events[2]["text"] == "Turn 1 of 15" and events[2]["data"]["inputTokens"] == 120
    assert events[3]["text"] == "echo hello from the sandbox" and events[3]["data"] == {"status": "running"}
    assert events[4]["text"] == "echo hello from the sandbox" and events[4]["data"]["status"] == "exit code 0"
    assert "hello from the sandbox" in events[4]["data"]["output"]
    assert events[6]["data"]["written"] == ["app/page.tsx"] and events[8]["data"]["read"] == ["app/page.tsx"]
    assert events[-1]["data"] == {"status": "SUCCEEDED"}

    status, newer = api.call("GET", run_path(project["id"], user_message["id"]), query="after=7")
    assert [e["seq"] for e in newer["events"]] == list(range(8, len(events) + 1))
    assert api.call("GET", run_path(project["id"], user_message["id"]), query=f"after={len(events)}")[1]["events"] == []
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert items[0]["run"] == {"id": run["id"], "status": "SUCCEEDED"} and items[1]["run"] is None


@pytest.mark.parametrize("query", ["after=abc", "after=-1", "after=1.5", "after=99999999999"])
def test_a_malformed_after_is_400(api: Api, query: str) -> None:
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    message_id = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]["id"]
    status, body = api.call("GET", run_path(project["id"], message_id), query=query)
    assert status == 400 and body["error"]["message"].startswith("after:"), body


def test_another_user_or_a_message_without_a_run_is_404(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.write_files({"index.html": "<h1>x</h1>"}), sm.summary())
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    worker.drain()
    user_message, reply = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert api.call("GET", run_path(project["id"], user_message["id"]), user="user-2")[0] == 404
    assert api.call("GET", run_path(project["id"], reply["id"]))[0] == 404  # an ASSISTANT message asked for none
    assert api.call("GET", run_path(project["id"], "not-a-uuid"))[0] == 404
    assert api.call("GET", run_path(project["id"], user_message["id"]), user=None)[0] == 401


def test_events_per_run_are_bounded(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qai_agent import run_log

    monkeypatch.setattr(run_log, "MAX_EVENTS", 4)
    model_server.script(*[sm.terminal(f"echo {i}") for i in range(5)], sm.write_files({"a.txt": "a"}), sm.summary())
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    worker.drain()
    message_id = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]["id"]
    events = api.call("GET", run_path(project["id"], message_id))[1]["events"]
    assert len(events) == 5 and events[-1]["kind"] == "error" and events[-1]["text"].startswith("More than 4 events")


def cancel_path(project_id: str, message_id: str) -> str:
    return run_path(project_id, message_id) + "/cancel"


def test_cancelling_a_queued_run_ends_it_at_once_with_one_reply_and_the_credit_back(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.write_files({"a.txt": "a"}), sm.summary())
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    message_id = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]["id"]
    credits_left = api.call("GET", "/usage")[1]["remaining"]

    status, run = api.call("POST", cancel_path(project["id"], message_id))
    assert status == 202 and run["status"] == "CANCELLED" and run["finishedAt"]
    assert run["events"][-1]["data"] == {"status": "CANCELLED"}
    worker.drain()  # the queue still delivers the message: it finds the run finished
    worker.deliver_body({"projectId": project["id"], "messageId": message_id})
    assert model_server.remaining() == 2  # no model call was made

    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert [(m["role"], m["type"]) for m in items] == [("USER", "RESULT"), ("ASSISTANT", "ERROR")]
    assert items[1]["content"].startswith("Stopped") and items[0]["run"]["status"] == "CANCELLED"
    assert api.call("GET", "/usage")[1]["remaining"] == credits_left + 1
    status, body = api.call("POST", cancel_path(project["id"], message_id))
    assert status == 409 and body["error"]["code"] == "CONFLICT"
    # A cancelled run is finished: the project takes a new message.
    assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "again"})[0] == 201


def test_cancelling_a_running_run_kills_its_command_and_ends_it_cancelled(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("AGENT_COMMAND_TIMEOUT_SECONDS", "120")
    worker.reload()
    model_server.script(sm.terminal("echo working; sleep 60"), sm.write_files({"a.txt": "a"}), sm.summary())
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    message_id = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]["id"]
    credits_left = api.call("GET", "/usage")[1]["remaining"]
    bodies = queued_messages(worker.queue_url)
    delivery = threading.Thread(target=worker.deliver_body, args=(bodies[0],))
    delivery.start()
    try:
        running = wait_for(lambda: _command_running(api, project["id"], message_id))
        assert running["status"] == "RUNNING" and running["events"][-1]["text"] == "echo working; sleep 60"
        asked = time.monotonic()
        status, run = api.call("POST", cancel_path(project["id"], message_id))
        assert status == 202 and run["status"] == "RUNNING"  # asked to stop; it stops at its next step
        assert api.call("POST", cancel_path(project["id"], message_id))[0] == 202  # asking twice is fine
    finally:
        delivery.join(timeout=60)
    assert not delivery.is_alive() and time.monotonic() - asked < 10  # not the minute the command wanted

    run = api.call("GET", run_path(project["id"], message_id))[1]
    assert run["status"] == "CANCELLED" and run["finishedAt"]
    command = [e for e in run["events"] if e["kind"] == "command"][-1]
    assert command["data"]["status"] == "stopped" and "working" in command["data"]["output"]
    assert run["events"][-1]["data"] == {"status": "CANCELLED"}
    assert model_server.remaining() == 2  # the model was not asked again

    worker.deliver_body(bodies[0])  # a redelivery adds nothing
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert [(m["role"], m["type"]) for m in items] == [("USER", "RESULT"), ("ASSISTANT", "ERROR")]
    assert items[1]["content"].startswith("Stopped")
    assert api.call("GET", "/usage")[1]["remaining"] == credits_left + 1
    assert api.call("POST", cancel_path(project["id"], message_id))[0] == 409


def _command_running(api: Api, project_id: str, message_id: str) -> dict[str, Any] | None:
    run = api.call("GET", run_path(project_id, message_id))[1]
    last = run["events"][-1] if run["events"] else None
    return run if last and last["kind"] == "command" and last["data"]["status"] == "running" else None


def test_cancel_is_404_for_another_user_or_no_run_and_409_once_finished(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.write_files({"index.html": "<h1>x</h1>"}), sm.summary())
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    user_message = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]
    assert api.call("POST", cancel_path(project["id"], user_message["id"]), user="user-2")[0] == 404
    worker.drain()
    reply = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][1]
    assert api.call("POST", cancel_path(project["id"], reply["id"]))[0] == 404
    assert api.call("POST", cancel_path(project["id"], "nope"))[0] == 404
    assert api.call("POST", cancel_path(project["id"], user_message["id"]), user=None)[0] == 401
    status, body = api.call("POST", cancel_path(project["id"], user_message["id"]))
    assert status == 409 and body["error"]["message"] == "The run has already finished."
    assert api.call("GET", run_path(project["id"], user_message["id"]))[1]["status"] == "SUCCEEDED"


def test_a_run_reports_its_usage_and_cost_over_every_model_call(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_server.script(
        sm.write_files({"app/page.tsx": "export default function Home() { return null }\n"}), sm.summary()
    )
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    message = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"][0]
    assert api.call("GET", run_path(project["id"], message["id"]))[1]["usage"] == {
        "inputTokens": 0,
        "outputTokens": 0,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "modelCalls": 0,
        "costUsd": 0,
    }
    worker.drain()
    usage = api.call("GET", run_path(project["id"], message["id"]))[1]["usage"]
    # Two agent turns and the title-and-reply call, each with the scripted usage.
    assert {k: v for k, v in usage.items() if k != "costUsd"} == {
        "inputTokens": 360,
        "outputTokens": 120,
        "cacheReadTokens": 2700,
        "cacheWriteTokens": 90,
        "modelCalls": 3,
    }
    sonnet, haiku = (2 * 120 + 10 * 40 + 0.1 * 900 + 2.5 * 30) / 1e6, (12 + 20 + 9 + 3.75) / 1e6
    assert usage["costUsd"] == pytest.approx(2 * sonnet + haiku, abs=1e-6)

    # AGENT_PRICES over the built-in prices; a model with no price makes the cost unknown.
    monkeypatch.setenv(
        "AGENT_PRICES", '{"claude-sonnet-5-5": {"input": 0, "output": 1000, "cacheRead": 0, "cacheWrite": 0}}'
    )
    worker.reload()
    model_server.script(sm.summary("Nothing to change."))
    follow_up = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "again"})[1]
    worker.drain()
    priced = api.call("GET", run_path(project["id"], follow_up["id"]))[1]["usage"]
    assert priced["costUsd"] == pytest.approx(1000 * 40 / 1e6 + haiku, abs=1e-6)
    monkeypatch.setenv("AGENT_FAST_MODEL", "a-model-without-a-price")
    worker.reload()
    model_server.script(sm.summary("Still nothing."))
    unknown = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "once more"})[1]
    worker.drain()
    assert api.call("GET", run_path(project["id"], unknown["id"]))[1]["usage"]["costUsd"] is None
