"""A run's events against their models in the OpenAPI document: one model per kind (qai.models.RunEvent),
each naming the data keys the agent records for it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from qai.models import RunEvent
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages
from tests.test_agent import BROKEN_PAGE, FIXED_PAGE

RUN_EVENT: TypeAdapter[Any] = TypeAdapter(RunEvent)
EVENT_MODELS = get_args(get_args(RunEvent.__value__)[0])
KINDS = {get_args(model.model_fields["kind"].annotation)[0]: model for model in EVENT_MODELS}


def declared_keys(kind: str) -> set[str]:
    """The data keys the kind's model names (of each of its data shapes)."""
    data = KINDS[kind].model_fields["data"].annotation
    shapes = get_args(data) or (data,)
    return {key for shape in shapes for key in shape.__required_keys__ | shape.__optional_keys__}


def event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": 1, "at": datetime(2026, 1, 2, tzinfo=UTC), "kind": kind, "text": "what happened", "data": data}


def run_events(api: Api, project_id: str) -> list[dict[str, Any]]:
    message_id = api.call("GET", f"/projects/{project_id}/messages")[1]["items"][0]["id"]
    return api.call("GET", f"/projects/{project_id}/messages/{message_id}/run")[1]["events"]


@pytest.fixture
def checked(agent_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build check on (set before the worker starts, which reads it from the environment)."""
    monkeypatch.setenv("AGENT_CHECK_APP", "true")
    monkeypatch.setenv("AGENT_COMMAND_TIMEOUT_SECONDS", "60")


def test_the_events_real_runs_record_each_match_the_model_of_their_kind(
    checked: None, api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    # A run with every kind of step: a command, files written, edited and read, a tool the agent
    # does not know, a build check that fails and then passes, a link left out of the saved app, and
    # a reply streamed slowly.
    model_server.script(
        sm.terminal("mkdir -p lib && ln -s ../package.json lib/link.json && echo made"),
        sm.write_files({"app/page.tsx": BROKEN_PAGE}),
        sm.tool("paint", {"colour": "red"}),
        sm.summary("A page."),
        # Streamed slowly enough (3 chunks, 0.6 s apart) to show what the model is writing.
        dataclasses.replace(sm.write_files({"app/page.tsx": FIXED_PAGE}), chunk_seconds=0.6),
        sm.edit_file("app/page.tsx", ("<h1>", "<h1 className='title'>")),
        sm.read_files(["app/page.tsx"]),
        sm.summary("A page, fixed."),
    )
    built = api.call("POST", "/projects", json_body={"value": "a page"})[1]
    worker.drain()
    # A run stopped before it started: the API records its event.
    stopped = api.call("POST", "/projects", json_body={"value": "a page"})[1]
    message_id = api.call("GET", f"/projects/{stopped['id']}/messages")[1]["items"][0]["id"]
    assert api.call("POST", f"/projects/{stopped['id']}/messages/{message_id}/run/cancel")[0] == 202
    worker.drain()
    # A run whose model call fails: tried again, then failed for good.
    model_server.script(sm.error(400, "invalid_request_error"), sm.error(400, "invalid_request_error"))
    failed = api.call("POST", "/projects", json_body={"value": "a page"})[1]
    (body,) = queued_messages(worker.queue_url)
    assert worker.deliver_body(body) != []  # given back to the queue
    assert worker.deliver_body(body, receive_count=3) == []

    events = [e for project in (built, stopped, failed) for e in run_events(api, project["id"])]
    for recorded in events:
        model = type(RUN_EVENT.validate_python(recorded))
        assert model is KINDS[recorded["kind"]]
        assert set(recorded["data"]) <= declared_keys(recorded["kind"]), recorded  # named, not only let through
    assert {e["kind"] for e in events} == set(KINDS)
    statuses = {e["data"].get("status") for e in events if e["kind"] == "status"}
    assert statuses == {None, "RUNNING", "SUCCEEDED", "CANCELLED", "QUEUED", "FAILED"}
    assert [e["data"]["passed"] for e in events if e["kind"] == "check"] == [False, True]
    files = [e["data"] for e in events if e["kind"] == "files"]
    assert {"written", "edited", "read", "skipped"} <= {key for data in files for key in data}
    commands = [e["data"]["status"] for e in events if e["kind"] == "command"]
    assert commands == ["running", "exit code 0"]


def test_an_event_keeps_data_keys_its_model_does_not_name() -> None:
    # Stored by an older or a newer agent: still served, as stored.
    parsed = RUN_EVENT.validate_python(event("model", {"turn": 2, "inputTokens": 9, "outputTokens": 3, "cached": 7}))
    assert parsed.data == {"turn": 2, "inputTokens": 9, "outputTokens": 3, "cached": 7}
    assert parsed.model_dump(mode="json", by_alias=True)["data"]["cached"] == 7


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("model", {"turn": 1}),  # no token counts
        ("check", {"passed": "maybe", "problem": ""}),
        ("command", {"status": "exit code 0"}),  # ended, without its output
        ("status", {"status": "DONE"}),  # not a run status
        ("files", {"written": "app/page.tsx"}),
        ("progress", {}),  # no such kind
    ],
)
def test_an_event_whose_data_does_not_fit_its_kind_is_refused(kind: str, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RUN_EVENT.validate_python(event(kind, data))
