"""A run's events, as a client polling GET …/messages/{messageId}/run sees them."""

from __future__ import annotations

import pytest

from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api


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
        "status", "status", "model", "command", "model", "files", "model", "files", "model", "status",
    ]  # fmt: skip
    assert events[0]["data"] == {"status": "RUNNING", "attempt": 1}
    assert events[2]["text"] == "Turn 1 of 15" and events[2]["data"]["inputTokens"] == 120
    assert events[3]["text"] == "echo hello from the sandbox" and events[3]["data"]["status"] == "exit code 0"
    assert "hello from the sandbox" in events[3]["data"]["output"]
    assert events[5]["data"]["written"] == ["app/page.tsx"] and events[7]["data"]["read"] == ["app/page.tsx"]
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
