"""A follow-up about an element selected in the preview: selection {file, line, column}, checked
against the newest version, kept on the message, and shown to the model with its lines marked."""

from __future__ import annotations

from typing import Any

import pytest

from qai_agent.prompts import selection_excerpt
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages
from tests.test_api_messages import finish_run_with_reply

PAGE = "export default function Home() {\n  return (\n    <main>\n      <h1>Hello</h1>\n    </main>\n  );\n}\n"


def a_version(api: Api) -> str:
    project = api.call("POST", "/projects", json_body={"value": "a page"})[1]
    finish_run_with_reply(api.deps.database, project["id"], {"app/page.tsx": PAGE})
    queued_messages(api.deps.settings.agent_queue_url)
    return str(project["id"])


def test_the_selection_is_kept_and_the_model_sees_its_lines(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    project_id = a_version(api)
    selection = {"file": "app/page.tsx", "line": 4, "column": 7}
    model_server.script(sm.write_files({"app/page.tsx": PAGE.replace("Hello", "Hi")}), sm.summary("Renamed."))
    status, message = api.call(
        "POST", f"/projects/{project_id}/messages", json_body={"value": "make this bigger", "selection": selection}
    )
    assert status == 201 and message["selection"] == selection
    listed = api.call("GET", f"/projects/{project_id}/messages")[1]["items"][-1]
    assert listed["selection"] == selection
    worker.drain()
    text = model_server.agent_requests()[0]["messages"][0]["content"][-1]["text"]
    assert "app/page.tsx, line 4, column 7" in text
    assert "> 4 |       <h1>Hello</h1>" in text and "  1 | export default function Home() {" in text
    assert text.index("<selected_element") < text.index("<request>")
    # A template file the version never changed is a file of it too.
    status, _ = api.call(
        "POST",
        f"/projects/{project_id}/messages",
        json_body={"value": "and the layout", "selection": {"file": "app/layout.tsx", "line": 1, "column": 1}},
    )
    assert status == 201


@pytest.mark.parametrize(
    ("selection", "says"),
    [
        ({"file": "app/missing.tsx", "line": 1, "column": 1}, "selection.file: not a text file of the newest version"),
        ({"file": "app/page.tsx", "line": 99, "column": 1}, "selection.line: app/page.tsx has 7 lines"),
        ({"file": "app/page.tsx", "line": 0, "column": 1}, "selection.line"),
        ({"file": "", "line": 1, "column": 1}, "selection.file"),
        ({"file": "app/page.tsx", "line": 1}, "selection.column"),
        ("app/page.tsx:4:7", "selection"),
    ],
)
def test_a_selection_not_in_the_newest_version_is_400(api: Api, selection: Any, says: str) -> None:
    project_id = a_version(api)
    status, body = api.call(
        "POST", f"/projects/{project_id}/messages", json_body={"value": "change it", "selection": selection}
    )
    assert status == 400 and says in body["error"]["message"], body
    assert [m["role"] for m in api.call("GET", f"/projects/{project_id}/messages")[1]["items"]] == [
        "USER",
        "ASSISTANT",
    ]


def test_the_excerpt_marks_the_line_and_stays_within_the_file() -> None:
    content = "".join(f"line {n}\n" for n in range(1, 31))
    excerpt = selection_excerpt(content, file="a.tsx", line=2, column=3)
    assert ">  2 | line 2" in excerpt and "   1 | line 1" in excerpt and "10 | line 10" in excerpt
    assert "11 | line 11" not in excerpt
    assert "> 30 | line 30" in selection_excerpt(content, file="a.tsx", line=30, column=1)
