"""Ask mode: a follow-up answered from the app's files, with read-only tools and no sandbox; the
answer is the reply (RESULT, no fragment) and the app stays as it was."""

from __future__ import annotations

import pytest

from qai_agent.ask import AppFiles, run_ask_tool
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api

PAGE = 'export default function Home() {\n  return <button className="bg-blue-500">Save</button>\n}\n'


def messages(api: Api, project_id: str) -> list[dict]:
    return api.call("GET", f"/projects/{project_id}/messages")[1]["items"]


def test_a_question_is_answered_from_the_files_without_changing_the_app(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.write_files({"app/page.tsx": PAGE}), sm.summary("A save button."))
    project = api.call("POST", "/projects", json_body={"value": "a save button"})[1]
    worker.drain()
    built = messages(api, project["id"])[-1]
    sandboxes = {p.name for p in worker.settings.local_sandbox_root.iterdir()}
    credits = api.call("GET", "/usage")[1]["remaining"]

    model_server.script(
        sm.tool("listFiles", {"under": "app"}),
        sm.tool("searchFiles", {"pattern": "bg-\\w+-500"}),
        sm.read_files(["app/page.tsx", "app/missing.tsx"]),
        sm.text("The Save button is blue: app/page.tsx gives it bg-blue-500."),
    )
    status, question = api.call(
        "POST", f"/projects/{project['id']}/messages", json_body={"value": "what colour is save?", "mode": "ask"}
    )
    assert status == 201 and question["mode"] == "ask"
    worker.drain()

    items = messages(api, project["id"])
    reply = items[-1]
    assert (reply["role"], reply["type"], reply["fragment"]) == ("ASSISTANT", "RESULT", None)
    assert reply["content"] == "The Save button is blue: app/page.tsx gives it bg-blue-500."
    assert [m["mode"] for m in items] == ["build", "build", "ask", "build"]  # replies are build (the default)
    run = api.call("GET", f"/projects/{project['id']}/messages/{question['id']}/run")[1]
    assert run["status"] == "SUCCEEDED" and run["usage"]["modelCalls"] == 4  # no title, no reply rewrite
    # The tools saw the version's files over the template, read-only.
    results = [
        str(block["content"])
        for turn in model_server.agent_requests()[-1]["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
        if block.get("type") == "tool_result"
    ]
    assert "app/page.tsx" in results[0] and "app/layout.tsx" in results[0]
    assert "app/page.tsx:2:" in results[1]
    assert "bg-blue-500" in results[2] and "no such file" in results[2]
    # Nothing changed: no new sandbox, the newest version is still the built one, a credit spent.
    assert {p.name for p in worker.settings.local_sandbox_root.iterdir()} == sandboxes
    assert [m["fragment"]["id"] for m in items if m["fragment"]] == [built["fragment"]["id"]]
    assert api.call("GET", "/usage")[1]["remaining"] == credits - 1
    events = [e["text"] for e in run["events"]]
    assert "Reading the app to answer (nothing is changed)" in events
    assert "Searched the files for bg-\\w+-500" in events


@pytest.mark.parametrize("mode", ["chat", "", "ASK", 1, None])
def test_an_unknown_mode_is_400(api: Api, mode: object) -> None:
    project = api.call("POST", "/projects", json_body={"value": "an app"})[1]
    status, body = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "hi", "mode": mode})
    assert status == 400 and body["error"]["code"] == "BAD_REQUEST" and "mode" in body["error"]["message"]


def test_the_read_only_tools_answer_bad_input_as_errors_the_model_sees() -> None:
    app = AppFiles({"app/page.tsx": PAGE, "public/logo.png": "data:application/octet-stream;base64,AAEC"})
    assert run_ask_tool(app, "readFiles", {"files": "app/page.tsx"}) == (
        "Error: files must be a non-empty list of paths",
        True,
    )
    assert run_ask_tool(app, "searchFiles", {"pattern": "("})[1] is True
    assert run_ask_tool(app, "searchFiles", {})[1] is True
    assert run_ask_tool(app, "terminal", {"command": "rm -rf /"}) == (
        "Unknown tool 'terminal': this conversation can only read the app",
        True,
    )
    assert (
        run_ask_tool(app, "readFiles", {"files": ["public/logo.png"]})[0]
        == '[{"path": "public/logo.png", "content": "(a binary file)"}]'
    )
    assert run_ask_tool(app, "listFiles", "not an object") == ("app/page.tsx\npublic/logo.png", False)
    assert run_ask_tool(app, "listFiles", {"under": "../"}) == ("No files there.", False)
