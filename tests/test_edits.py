"""editFile: exact, unique replacements against the file as it was, all or nothing, refusals the
model can act on; through the E2B adapter (its SDK faked) and the local sandbox in a real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qai_agent.edits import Edit, EditError, apply_edits, parse_edits
from qai_agent.sandboxes import e2b as e2b_provider
from qai_agent.tools import ToolRunner
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages
from tests.test_sandboxes import FakeE2BSandbox, e2b_vm  # noqa: F401 - the fixture

PAGE = """export default function Home() {
  return (
    <main>
      <button className="bg-blue-500">Save</button>
      <button className="bg-blue-500">Cancel</button>
    </main>
  )
}
"""


def test_edits_apply_against_the_file_as_it_was() -> None:
    edited = apply_edits(
        PAGE,
        [
            Edit('className="bg-blue-500">Save', 'className="bg-red-500">Save'),
            Edit("<main>", '<main className="p-4">'),
        ],
    )
    assert 'bg-red-500">Save' in edited and '<main className="p-4">' in edited
    assert 'bg-blue-500">Cancel' in edited
    # The second edit's oldText exists only after the first: it is not found (no chained matches).
    with pytest.raises(EditError, match=r"^edit 2 of 2: oldText not found"):
        apply_edits("a\n", [Edit("a", "b"), Edit("b", "c")])


def test_a_refused_edit_names_which_and_why_with_the_nearest_lines() -> None:
    with pytest.raises(EditError) as missing:
        apply_edits(PAGE, [Edit("<main>", "<section>"), Edit('<button className="bg-green-500">Save', "x")])
    message = str(missing.value)
    assert message.startswith("edit 2 of 2: oldText not found")
    assert '4:       <button className="bg-blue-500">Save</button>' in message  # numbered, as in the file
    with pytest.raises(EditError, match=r"^edit 1 of 1: oldText found 2 times \(at lines 4, 5\)"):
        apply_edits(PAGE, [Edit('className="bg-blue-500"', 'className="bg-red-500"')])
    with pytest.raises(EditError, match=r"^edit 2 of 2: overlaps edit 1"):
        apply_edits(PAGE, [Edit("<main>\n      <button", "x"), Edit('<button className="bg-blue-500">Save', "y")])


@pytest.mark.parametrize(
    ("edits", "problem"),
    [
        (None, "edits must be a non-empty list"),
        ("oldText", "edits must be a non-empty list"),
        ([], "edits must be a non-empty list"),
        (["x"], "edit 1 of 1: must be an object"),
        ([{"oldText": "", "newText": "x"}], "edit 1 of 1: oldText must be a non-empty string"),
        ([{"oldText": "a", "newText": "b"}, {"oldText": "c"}], "edit 2 of 2: newText must be a string"),
    ],
)
def test_malformed_edits_are_refused(edits: Any, problem: str) -> None:
    with pytest.raises(EditError, match=problem):
        parse_edits(edits)


def test_the_tool_through_the_e2b_adapter_is_all_or_nothing(e2b_vm: FakeE2BSandbox) -> None:  # noqa: F811
    sandbox = e2b_provider.E2BSandbox(e2b_vm)
    sandbox.write_files({"app/page.tsx": PAGE})
    runner = ToolRunner(sandbox, command_timeout_seconds=30)
    page = Path(e2b_provider.WORKDIR) / "app" / "page.tsx"

    refused = runner.run(
        "editFile",
        {
            "path": "app/page.tsx",
            "edits": [{"oldText": "<main>", "newText": "<section>"}, {"oldText": "nope", "newText": ""}],
        },
    )
    assert refused.is_error and refused.content.startswith("Error: edit 2 of 2: oldText not found")
    assert page.read_text() == PAGE  # the first edit was not made either

    done = runner.run("editFile", {"path": "app/page.tsx", "edits": [{"oldText": "Save", "newText": "Keep"}]})
    assert (done.is_error, done.content) == (False, "Edited app/page.tsx (1 edit)")
    assert page.read_text() == PAGE.replace("Save", "Keep")

    for arguments, problem in (
        ({"edits": [{"oldText": "a", "newText": "b"}]}, "path must be"),
        ({"path": "../etc/passwd", "edits": [{"oldText": "root", "newText": "x"}]}, "outside|leave|not allowed"),
        ({"path": "app/missing.tsx", "edits": [{"oldText": "a", "newText": "b"}]}, "does not exist"),
        ({"path": "app/page.tsx", "edits": {"oldText": "a"}}, "edits must be a non-empty list"),
        ({"path": "app/page.tsx", "edits": [{"oldText": "", "newText": "b"}]}, "oldText must be a non-empty"),
    ):
        result = runner.run("editFile", arguments)
        assert result.is_error, arguments
        assert any(word in result.content for word in problem.split("|")), (arguments, result.content)


def test_a_follow_up_edits_the_page_instead_of_rewriting_it(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.write_files({"app/page.tsx": PAGE}), sm.summary("Two buttons."))
    project = api.call("POST", "/projects", json_body={"value": "two buttons"})[1]
    worker.drain()
    model_server.script(
        sm.edit_file("app/page.tsx", ('bg-blue-500">Save', 'bg-red-500">Save'), ("nowhere", "x")),
        sm.edit_file("app/page.tsx", ('bg-blue-500">Save', 'bg-red-500">Save')),
        sm.summary("The save button is red."),
    )
    status, message = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "make save red"})
    assert status == 201
    worker.drain()

    # The refused call reached the model as an error result it could act on.
    results = [
        block
        for request in model_server.agent_requests()
        for turn in request["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
        if block.get("type") == "tool_result"
    ]
    assert any(r.get("is_error") and "edit 2 of 2: oldText not found" in str(r["content"]) for r in results)
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    fragment = api.call("GET", f"/projects/{project['id']}/fragments/{items[-1]['fragment']['id']}")[1]
    assert fragment["files"]["app/page.tsx"] == PAGE.replace('bg-blue-500">Save', 'bg-red-500">Save')
    run = api.call("GET", f"/projects/{project['id']}/messages/{message['id']}/run")[1]
    assert any(e["kind"] == "files" and e["text"] == "Edited app/page.tsx" for e in run["events"])
    assert queued_messages(worker.queue_url) == []
