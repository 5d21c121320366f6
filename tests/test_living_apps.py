"""Apps that stay alive: previews that come back, versions that restore, with the local sandbox,
the scripted model and real Postgres."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages, run_concurrently


def page(text: str) -> str:
    return f"export default function Home() {{ return <h1>{text}</h1> }}\n"


def build(api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, text: str) -> dict:
    """A new project whose app shows ``text``; its project and its ASSISTANT message."""
    model_server.script(sm.write_files({"app/page.tsx": page(text)}), sm.summary(f"Shows {text}."))
    status, project = api.call("POST", "/projects", json_body={"value": f"show {text}"})
    assert status == 201
    worker.drain()
    return {"project": project, "reply": messages(api, project["id"])[-1]}


def follow_up(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, project_id: str, *steps: Any
) -> dict:
    model_server.script(*steps)
    status, _ = api.call("POST", f"/projects/{project_id}/messages", json_body={"value": "change it"})
    assert status == 201
    worker.drain()
    return messages(api, project_id)[-1]


def messages(api: Api, project_id: str) -> list[dict]:
    status, body = api.call("GET", f"/projects/{project_id}/messages")
    assert status == 200
    return body["items"]


def preview_path(project_id: str, fragment_id: str) -> str:
    return f"/projects/{project_id}/fragments/{fragment_id}/preview"


def wait_until_ready(api: Api, path: str, timeout: float = 90) -> dict:
    """GET …/preview until READY: the first probe may find the dev server still starting."""
    deadline = time.monotonic() + timeout
    while True:
        status, state = api.call("GET", path)
        assert status == 200 and state["status"] in ("READY", "STARTING"), state
        if state["status"] == "READY" or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=90) as response:
        return response.read().decode()


def expire(sandbox_root: Path) -> None:
    """Delete every sandbox directory, as an expired sandbox looks on one machine."""
    from qai_agent.config import get_agent_settings
    from qai_agent.sandboxes import local_previews

    for directory in [path for path in sandbox_root.iterdir() if path.is_dir()]:
        local_previews(get_agent_settings()).supervisor.stop(directory.name)  # it would write .next meanwhile
        shutil.rmtree(directory)


def test_an_expired_preview_comes_back_with_one_job_for_two_requests(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_env: Path, agent_queue_url: str
) -> None:
    built = build(api, worker, model_server, "Hello again")
    project_id, fragment = built["project"]["id"], built["reply"]["fragment"]
    path = preview_path(project_id, fragment["id"])
    assert wait_until_ready(api, path) == {"status": "READY", "sandboxUrl": fragment["sandboxUrl"], "error": None}
    usage_before = api.call("GET", "/usage")[1]["remaining"]

    expire(agent_env)
    status, state = api.call("GET", path)
    assert (status, state["status"]) == (200, "FAILED") and "expired" in state["error"]

    answers = run_concurrently(lambda: api.call("POST", path), 2)
    assert [status for status, _ in answers] == [202, 202]
    assert all(state["status"] == "STARTING" for _, state in answers)
    (job,) = queued_messages(agent_queue_url)
    assert job == {"kind": "preview", "projectId": project_id, "fragmentId": fragment["id"]}
    assert api.call("GET", path)[1]["status"] == "STARTING"

    assert worker.deliver_body(job) == []
    state = wait_until_ready(api, path)
    assert state["status"] == "READY" and state["sandboxUrl"] != fragment["sandboxUrl"]
    assert "Hello again" in fetch(state["sandboxUrl"])
    status, stored = api.call("GET", f"/projects/{project_id}/fragments/{fragment['id']}")
    assert stored["sandboxUrl"] == state["sandboxUrl"]  # the fragment's URL works again

    assert api.call("POST", path) == (200, state)  # idempotent: it answers, nothing to do
    assert worker.deliver_body(job) == []  # a redelivered job finds nothing to do
    assert queued_messages(agent_queue_url) == []
    assert api.call("GET", "/usage")[1]["remaining"] == usage_before  # no credit


def test_a_rebuild_that_fails_ends_failed_with_the_reason(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_env: Path, env: str
) -> None:
    broken = {"name": "app", "private": True, "dependencies": {"qai-surely-missing-package-000": "1.0.0"}}
    model_server.script(
        sm.write_files({"app/page.tsx": page("Broken deps"), "package.json": json.dumps(broken)}), sm.summary()
    )
    status, project = api.call("POST", "/projects", json_body={"value": "an app"})
    worker.drain()
    fragment = messages(api, project["id"])[-1]["fragment"]
    expire(agent_env)
    path = preview_path(project["id"], fragment["id"])
    assert api.call("POST", path)[0] == 202
    worker.drain()
    status, state = api.call("GET", path)
    assert status == 200 and state["status"] == "FAILED" and "npm install failed" in state["error"]
    assert not [p for p in agent_env.iterdir() if p.is_dir()]  # the failed sandbox is not left behind
    assert api.call("POST", path)[0] == 202  # asking again starts another job


def test_restore_makes_an_earlier_version_the_newest_and_the_next_follow_up_continues_it(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_queue_url: str
) -> None:
    built = build(api, worker, model_server, "Version one")
    project_id, first = built["project"]["id"], built["reply"]["fragment"]
    second = follow_up(
        api, worker, model_server, project_id, sm.write_files({"app/page.tsx": page("Version two")}), sm.summary()
    )["fragment"]
    assert second["sandboxUrl"] == first["sandboxUrl"]  # the follow-up took the same sandbox over
    status, state = api.call("GET", preview_path(project_id, first["id"]))
    assert state["status"] == "FAILED" and "newer version" in state["error"]

    status, restored = api.call("POST", f"/projects/{project_id}/fragments/{first['id']}/restore")
    assert status == 201
    assert (restored["role"], restored["type"]) == ("ASSISTANT", "RESULT")
    assert restored["content"] == 'Restored the version "Todo App".'
    assert restored["fragment"]["paths"] == first["paths"] and restored["fragment"]["id"] != first["id"]
    assert messages(api, project_id)[-1]["id"] == restored["id"]
    (job,) = queued_messages(agent_queue_url)
    assert job["kind"] == "preview" and job["fragmentId"] == restored["fragment"]["id"]
    assert worker.deliver_body(job) == []
    state = wait_until_ready(api, preview_path(project_id, restored["fragment"]["id"]))
    assert state["sandboxUrl"] == second["sandboxUrl"]  # the app's sandbox, now holding version one
    assert "Version one" in fetch(state["sandboxUrl"])

    # While a run is queued, restoring is a conflict; the run continues from the restored version.
    model_server.script(sm.read_files(["app/page.tsx"]), sm.summary("Read it."))
    assert api.call("POST", f"/projects/{project_id}/messages", json_body={"value": "look"})[0] == 201
    status, body = api.call("POST", f"/projects/{project_id}/fragments/{second['id']}/restore")
    assert status == 409 and body["error"]["code"] == "CONFLICT"
    worker.drain()
    read = [r for r in model_server.agent_requests()[-1]["messages"][-1]["content"] if r["type"] == "tool_result"]
    assert "Version one" in json.loads(read[0]["content"])[0]["content"]


def test_another_user_gets_404_on_every_new_route(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    built = build(api, worker, model_server, "Mine")
    project_id, fragment_id = built["project"]["id"], built["reply"]["fragment"]["id"]
    base = f"/projects/{project_id}/fragments/{fragment_id}"
    for method, suffix in (("GET", "/preview"), ("POST", "/preview"), ("POST", "/restore")):
        status, body = api.call(method, base + suffix, user="user-2")
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), (method, suffix)
        assert api.call(method, f"/projects/{project_id}/fragments/not-a-uuid{suffix}")[0] == 404
        assert api.call(method, base + suffix, user=None)[0] == 401
    other_project = api.call("POST", "/projects", json_body={"value": "another"})[1]["id"]
    assert api.call("GET", f"/projects/{other_project}/fragments/{fragment_id}/preview")[0] == 404


def test_a_preview_job_for_a_deleted_project_or_a_bad_kind_does_nothing_harmful(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_queue_url: str
) -> None:
    built = build(api, worker, model_server, "Short-lived")
    project_id, fragment_id = built["project"]["id"], built["reply"]["fragment"]["id"]
    assert api.call("DELETE", f"/projects/{project_id}")[0] == 204
    assert worker.deliver_body({"kind": "preview", "projectId": project_id, "fragmentId": fragment_id}) == []
    # An unknown kind is malformed: reported failed, so it ends in the dead-letter queue.
    assert worker.deliver_body({"kind": "mystery", "projectId": project_id}) != []
