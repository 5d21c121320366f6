"""The /projects routes through the real handler, against real Postgres and moto SQS."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.conftest import Api, queued_messages


def create(api: Api, value: str = "a todo app", user: str = "user-1") -> dict:
    status, body = api.call("POST", "/projects", json_body={"value": value}, user=user)
    assert status == 201, body
    return body


def test_create_project_writes_project_message_run_and_enqueues(api: Api, env: str, agent_queue_url: str) -> None:
    project = create(api, "  a todo app with dark mode  ")
    assert set(project) == {"id", "name", "createdAt", "updatedAt"}
    assert project["createdAt"].endswith("Z")
    assert project["name"].count("-") >= 1 and project["name"].islower()

    with psycopg.connect(env) as conn:
        owner = conn.execute('SELECT "userId" FROM "Project" WHERE id = %s', (project["id"],)).fetchone()
        message = conn.execute(
            'SELECT id, content, role::text, type::text FROM "Message" WHERE "projectId" = %s', (project["id"],)
        ).fetchall()
        run = conn.execute(
            'SELECT status::text, "messageId" FROM "AgentRun" WHERE "projectId" = %s', (project["id"],)
        ).fetchall()
    assert owner == ("user-1",)
    assert len(message) == 1 and message[0][1:] == ("a todo app with dark mode", "USER", "RESULT")
    assert run == [("QUEUED", message[0][0])]
    assert queued_messages(agent_queue_url) == [{"projectId": project["id"], "messageId": message[0][0]}]


def test_names_are_readable_and_vary(api: Api) -> None:
    names = {create(api)["name"] for _ in range(5)}
    assert len(names) >= 4
    assert all(name.replace("-", "").isalpha() for name in names)


def test_get_and_delete_project(api: Api, env: str) -> None:
    project = create(api)
    assert api.call("GET", f"/projects/{project['id']}") == (200, project)
    assert api.call("DELETE", f"/projects/{project['id']}") == (204, None)
    assert api.call("GET", f"/projects/{project['id']}")[0] == 404
    assert api.call("DELETE", f"/projects/{project['id']}")[0] == 404
    with psycopg.connect(env) as conn:
        left = conn.execute('SELECT count(*) FROM "Message"').fetchone()
        runs_left = conn.execute('SELECT count(*) FROM "AgentRun"').fetchone()
    assert left == (0,) and runs_left == (0,)


def test_other_users_project_is_not_found(api: Api) -> None:
    project = create(api, user="alice")
    for method, path in [
        ("GET", f"/projects/{project['id']}"),
        ("DELETE", f"/projects/{project['id']}"),
        ("GET", f"/projects/{project['id']}/messages"),
    ]:
        status, body = api.call(method, path, user="mallory")
        assert status == 404, (method, path)
        assert body == {"error": {"code": "NOT_FOUND", "message": "Project not found"}}
    status, body = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "x"}, user="mallory")
    assert status == 404
    assert api.call("GET", "/projects", user="mallory") == (200, {"items": [], "nextCursor": None})
    assert api.call("GET", f"/projects/{project['id']}", user="alice")[0] == 200


def test_list_is_newest_first_and_paginates_with_a_stable_cursor(api: Api) -> None:
    created = [create(api, f"app {i}") for i in range(5)]
    status, page1 = api.call("GET", "/projects", query="limit=2")
    assert status == 200
    assert [p["id"] for p in page1["items"]] == [created[4]["id"], created[3]["id"]]
    # A project created between two page loads does not shift the pages that follow.
    create(api, "late")
    status, page2 = api.call("GET", "/projects", query=f"limit=2&cursor={page1['nextCursor']}")
    assert [p["id"] for p in page2["items"]] == [created[2]["id"], created[1]["id"]]
    status, page3 = api.call("GET", "/projects", query=f"limit=2&cursor={page2['nextCursor']}")
    assert [p["id"] for p in page3["items"]] == [created[0]["id"]]
    assert page3["nextCursor"] is None


def test_default_limit_is_20(api: Api) -> None:
    for i in range(21):
        create(api, f"app {i}")
    status, page = api.call("GET", "/projects")
    assert status == 200 and len(page["items"]) == 20 and page["nextCursor"]


def test_posting_a_message_moves_the_project_to_the_top(api: Api) -> None:
    first = create(api, "first")
    create(api, "second")
    assert api.call("POST", f"/projects/{first['id']}/messages", json_body={"value": "more"})[0] in (201, 409)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=W10", "cursor"),
        ("cursor=WyJ4IiwgInkiXQ", "cursor"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_field(api: Api, query: str, field: str) -> None:
    status, body = api.call("GET", "/projects", query=query)
    assert status == 400, body
    assert body["error"]["code"] == "BAD_REQUEST"
    assert body["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("raw", "expected_field"),
    [
        ("{not json", "body"),
        ("", "body"),
        ("[]", "body"),
        ('"a string"', "body"),
        ("{}", "value"),
        ('{"value": ""}', "value"),
        ('{"value": "   "}', "value"),
        ('{"value": 42}', "value"),
        ('{"value": null}', "value"),
        ('{"value": ["x"]}', "value"),
        ('{"value": "' + "x" * 1001 + '"}', "value"),
        # Valid JSON that PostgreSQL cannot store: a lone surrogate escape, a NUL.
        ('{"value": "\\ud800"}', "value"),
        ('{"value": "a todo app \\udfff"}', "value"),
        ('{"value": "a\\u0000b"}', "value"),
    ],
)
def test_bad_create_bodies_are_400(api: Api, raw: str, expected_field: str, agent_queue_url: str) -> None:
    status, body = api.call("POST", "/projects", body=raw)
    assert status == 400, body
    assert body["error"]["code"] == "BAD_REQUEST"
    assert body["error"]["message"].startswith(f"{expected_field}:"), body
    assert queued_messages(agent_queue_url) == []


def test_value_limit_counts_after_trimming(api: Api) -> None:
    assert api.call("POST", "/projects", json_body={"value": "  " + "x" * 1000 + "  "})[0] == 201


def test_value_limit_is_a_setting(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_VALUE_LENGTH", "10")
    api.reload()
    assert api.call("POST", "/projects", json_body={"value": "x" * 11})[0] == 400
    assert api.call("POST", "/projects", json_body={"value": "x" * 10})[0] == 201


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_non_json_content_type_is_400(api: Api, content_type: str) -> None:
    status, body = api.call("POST", "/projects", body="value=x", headers={"content-type": content_type})
    assert status == 400
    assert body["error"] == {"code": "BAD_REQUEST", "message": "body: Content-Type must be application/json"}


def test_json_content_type_with_charset_is_accepted(api: Api) -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    assert api.call("POST", "/projects", json_body={"value": "x"}, headers=headers)[0] == 201


def test_binary_garbage_body_is_400(api: Api) -> None:
    status, body = api.call("POST", "/projects", body=b"\xff\xfe\x00garbage")
    assert status == 400 and body["error"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/projects"),
        ("POST", "/projects"),
        ("GET", "/projects/8a1d8b57-0a5f-4b1a-9d3c-3c6d3c3c3c3c"),
        ("DELETE", "/projects/8a1d8b57-0a5f-4b1a-9d3c-3c6d3c3c3c3c"),
        ("GET", "/projects/8a1d8b57-0a5f-4b1a-9d3c-3c6d3c3c3c3c/messages"),
        ("POST", "/projects/8a1d8b57-0a5f-4b1a-9d3c-3c6d3c3c3c3c/messages"),
        ("GET", "/projects/8a1d8b57-0a5f-4b1a-9d3c-3c6d3c3c3c3c/fragments/8a1d8b57-0a5f-4b1a-9d3c-3c6d3c3c3c3d"),
    ],
)
def test_no_claim_is_401_on_every_route(api: Api, method: str, path: str) -> None:
    status, body = api.call(method, path, json_body={"value": "x"} if method == "POST" else None, user=None)
    assert status == 401
    assert body["error"]["code"] == "UNAUTHORIZED"


def test_no_claim_is_401_even_with_a_bad_body(api: Api) -> None:
    assert api.call("POST", "/projects", body="{oops", user=None)[0] == 401


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "%00", "8a1d8b57-0a5f-4b1a-9d3c"])
def test_non_uuid_ids_are_404(api: Api, bad_id: str) -> None:
    assert api.call("GET", f"/projects/{bad_id}")[0] == 404
    assert api.call("DELETE", f"/projects/{bad_id}")[0] == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("PUT", "/projects"), ("PATCH", "/projects/x")])
def test_unknown_routes_and_methods_are_404(api: Api, method: str, path: str) -> None:
    status, body = api.call(method, path)
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


def test_a_refused_send_still_answers_201_and_leaves_the_run_to_the_sweeper(
    api: Api, env: str, agent_queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/missing")
    api.reload()
    status, project = api.call("POST", "/projects", json_body={"value": "a todo app"})
    assert status == 201  # committed: the outbox's sweeper sends the message
    with psycopg.connect(env) as conn:
        row = conn.execute('SELECT status::text, "sentAt" FROM "AgentRun" WHERE "projectId" = %s', (project["id"],))
        assert row.fetchone() == ("QUEUED", None)


def test_the_queue_message_is_sent_after_the_commit_without_delay(api: Api, agent_queue_url: str, env: str) -> None:
    project = create(api)
    (body,) = queued_messages(agent_queue_url)  # at once: no delivery delay
    assert body["projectId"] == project["id"]
    with psycopg.connect(env) as conn:
        sent = conn.execute('SELECT "sentAt" IS NOT NULL FROM "AgentRun" WHERE "projectId" = %s', (project["id"],))
        assert sent.fetchone() == (True,)


def test_text_the_database_cannot_store_is_400_on_follow_ups_and_401_as_a_subject(api: Api) -> None:
    project = api.call("POST", "/projects", json_body={"value": "a todo app"})[1]
    for raw in ('{"value": "\\ud83d"}', '{"value": "x\\u0000"}'):
        status, body = api.call("POST", f"/projects/{project['id']}/messages", body=raw)
        assert status == 400 and body["error"]["message"].startswith("value: "), body
    assert "unpaired surrogates" in body["error"]["message"]
    # An emoji (a surrogate pair in JSON) is fine.
    assert api.call("POST", "/projects", body='{"value": "a party app \\ud83c\\udf89"}')[0] == 201
    for sub in ("user\x00", "\ud800"):
        assert api.call("GET", "/projects", user=sub)[0] == 401


def test_a_body_larger_than_a_prompt_and_its_images_is_413_after_authentication(api: Api, agent_queue_url: str) -> None:
    huge = json.dumps({"value": "x" * 6_400_000})
    status, body = api.call("POST", "/projects", body=huge)
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert api.call("POST", "/projects", body=huge, user=None)[0] == 401
    assert queued_messages(agent_queue_url) == []
