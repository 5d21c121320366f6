"""The messages and fragment routes through the real handler."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from qai import messages
from qai.db import Connection, Database
from tests.conftest import Api, queued_messages, run_concurrently


def make_project(api: Api, user: str = "user-1") -> dict:
    status, body = api.call("POST", "/projects", json_body={"value": "a todo app"}, user=user)
    assert status == 201
    return body


def finish_run_with_reply(database: Database, project_id: str, files: dict[str, str]) -> tuple[str, str]:
    """Stand in for the agent: an ASSISTANT reply with a fragment, and the run marked done."""
    reply_id, fragment_id = str(uuid.uuid4()), str(uuid.uuid4())

    def work(conn: Connection) -> None:
        messages.insert_message(
            conn, message_id=reply_id, project_id=project_id, content="Here it is.", role="ASSISTANT", type_="RESULT"
        )
        messages.insert_fragment(
            conn,
            fragment_id=fragment_id,
            message_id=reply_id,
            content=messages.FragmentContent(
                sandbox_url="http://127.0.0.1:1/", title="Todo App", files=files, summary="A todo app."
            ),
        )
        conn.execute(
            """UPDATE "AgentRun" SET status = 'SUCCEEDED', "replyMessageId" = %s WHERE "projectId" = %s""",
            (reply_id, project_id),
        )

    database.in_transaction(work)
    return reply_id, fragment_id


def test_conversation_lists_messages_with_fragment_paths_not_contents(api: Api, env: str) -> None:
    project = make_project(api)
    files = {"app/page.tsx": "export default 1", "README.md": "# hi", "app/layout.tsx": "x"}
    reply_id, fragment_id = finish_run_with_reply(api.deps.database, project["id"], files)

    status, body = api.call("GET", f"/projects/{project['id']}/messages")
    assert status == 200
    first, second = body["items"]
    assert (first["role"], first["type"], first["content"], first["fragment"]) == ("USER", "RESULT", "a todo app", None)
    assert second["id"] == reply_id and second["role"] == "ASSISTANT"
    fragment = second["fragment"]
    assert fragment["id"] == fragment_id
    assert fragment["paths"] == ["README.md", "app/layout.tsx", "app/page.tsx"]
    assert "files" not in fragment
    assert fragment["createdAt"].endswith("Z")
    assert set(second) == {
        "id",
        "projectId",
        "content",
        "role",
        "type",
        "mode",
        "createdAt",
        "updatedAt",
        "fragment",
        "run",
        "images",
        "selection",
    }
    assert second["run"] is None and first["run"]["status"] == "SUCCEEDED"

    status, full = api.call("GET", f"/projects/{project['id']}/fragments/{fragment_id}")
    assert status == 200
    assert full["files"] == files
    assert {k: v for k, v in full.items() if k != "files"} == fragment


def test_fragment_of_another_project_or_user_is_404(api: Api, env: str) -> None:
    mine = make_project(api)
    _, fragment_id = finish_run_with_reply(api.deps.database, mine["id"], {"a.txt": "a"})
    other = make_project(api)
    assert api.call("GET", f"/projects/{other['id']}/fragments/{fragment_id}")[0] == 404
    assert api.call("GET", f"/projects/{mine['id']}/fragments/{fragment_id}", user="mallory")[0] == 404
    assert api.call("GET", f"/projects/{mine['id']}/fragments/not-a-uuid")[0] == 404
    assert api.call("GET", f"/projects/{mine['id']}/fragments/{uuid.uuid4()}")[0] == 404


def test_post_message_is_409_while_a_run_is_queued(api: Api, agent_queue_url: str) -> None:
    project = make_project(api)
    queued_messages(agent_queue_url)  # drain the creation's message
    status, body = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "add a button"})
    assert status == 409
    assert body["error"]["code"] == "CONFLICT"
    assert queued_messages(agent_queue_url) == []
    assert len(api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]) == 1


def test_post_message_after_the_run_finished(api: Api, env: str, agent_queue_url: str) -> None:
    project = make_project(api)
    queued_messages(agent_queue_url)
    finish_run_with_reply(api.deps.database, project["id"], {"a.txt": "a"})
    status, message = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": " add a button "})
    assert status == 201
    assert message["content"] == "add a button"
    assert (message["role"], message["type"], message["fragment"]) == ("USER", "RESULT", None)
    assert queued_messages(agent_queue_url) == [{"projectId": project["id"], "messageId": message["id"]}]
    after = api.call("GET", f"/projects/{project['id']}")[1]
    assert after["updatedAt"] > project["updatedAt"]
    # The touched project is now first in the list.
    make_project(api)
    project_ids = [p["id"] for p in api.call("GET", "/projects")[1]["items"]]
    assert project_ids.index(project["id"]) == 1


def test_two_concurrent_posts_give_one_201_and_one_409(api: Api, env: str, agent_queue_url: str) -> None:
    project = make_project(api)
    finish_run_with_reply(api.deps.database, project["id"], {"a.txt": "a"})
    statuses = run_concurrently(
        lambda: api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "go"})[0], 2
    )
    assert sorted(statuses) == [201, 409]
    with psycopg.connect(env) as conn:
        users = conn.execute(
            """SELECT count(*) FROM "Message" WHERE "projectId" = %s AND role = 'USER'""", (project["id"],)
        ).fetchone()
    assert users == (2,)


@pytest.mark.parametrize("raw", ["{bad", "{}", '{"value": ""}', '{"value": 1}', '{"value": "' + "y" * 1001 + '"}'])
def test_bad_message_bodies_are_400(api: Api, raw: str) -> None:
    project = make_project(api)
    status, body = api.call("POST", f"/projects/{project['id']}/messages", body=raw)
    assert status == 400 and body["error"]["code"] == "BAD_REQUEST"


def test_messages_of_missing_project_are_404(api: Api) -> None:
    assert api.call("GET", f"/projects/{uuid.uuid4()}/messages")[0] == 404
    assert api.call("POST", f"/projects/{uuid.uuid4()}/messages", json_body={"value": "x"})[0] == 404
    assert api.call("GET", "/projects/zzz/messages")[0] == 404


def test_the_database_built_conversation_matches_the_models_field_for_field(api: Api, env: str) -> None:
    """The list is serialised by PostgreSQL for speed; the single routes by pydantic. Same JSON."""
    status, project = api.call("POST", "/projects", json_body={"value": 'a todo app ünïcödé "quoted"\n'})
    reply_id, fragment_id = finish_run_with_reply(api.deps.database, project["id"], {"b.tsx": "x", "a.tsx": "y"})
    with psycopg.connect(env, autocommit=True) as conn:
        conn.execute("""UPDATE "Fragment" SET "checkError" = 'tsc: 1 error' WHERE id = %s""", (fragment_id,))
    status, follow_up = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "more"})
    assert status == 201
    items = api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
    assert items[-1] == follow_up  # a message as pydantic serialised it when it was posted
    fragment = api.call("GET", f"/projects/{project['id']}/fragments/{fragment_id}")[1]
    listed = next(item["fragment"] for item in items if item["id"] == reply_id)
    assert listed == {key: value for key, value in fragment.items() if key != "files"}
    assert listed["paths"] == ["a.tsx", "b.tsx"] and listed["checkError"] == "tsc: 1 error"
    assert items[0]["content"] == 'a todo app ünïcödé "quoted"' and items[0]["fragment"] is None
