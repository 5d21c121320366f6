"""The sample events in events/ (those `sam local invoke -e` takes) go through their handlers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import psycopg

from qai import messages, projects
from qai.db import Connection, Database
from qai_local.stack.functions import load_function
from tests.conftest import AgentWorker, Api, LambdaContextStub, ResponseUrl

EVENTS = Path(__file__).parent.parent / "events"
PROJECT_ID = "6f1c2a8e-3b7d-4c1e-9a2f-5d8e7b6a4c3d"
FRAGMENT_ID = "9b2d4f6a-8c1e-4a3b-b5d7-1e2f3a4b5c6d"

MIGRATION_EVENTS = ("create", "update", "delete")
# In the order a user would go: the delete comes last.
EXPECTED = [
    ("projects/create.json", 201),
    ("projects/list.json", 200),
    ("projects/get.json", 200),
    ("messages/list.json", 200),
    ("messages/fragment.json", 200),
    ("messages/preview-get.json", 200),
    ("messages/preview-post.json", 202),
    ("messages/restore.json", 201),
    ("messages/download.json", 200),
    ("messages/diff.json", 200),
    ("messages/image.json", 404),
    ("git/bundle.json", 200),
    ("git/push.json", 202),
    ("git/push-get.json", 200),
    ("sites/publish.json", 202),
    ("sites/get.json", 200),
    ("sites/delete.json", 204),
    ("messages/post.json", 201),
    ("projects/delete.json", 204),
]


def seed_project_with_fragment(database: Database) -> None:
    def work(conn: Connection) -> None:
        projects.insert_project(conn, project_id=PROJECT_ID, name="brave-otter", user_id="local-user")
        messages.insert_message(
            conn, message_id="m-user", project_id=PROJECT_ID, content="a todo app", role="USER", type_="RESULT"
        )
        messages.insert_message(
            conn, message_id="m-reply", project_id=PROJECT_ID, content="Done.", role="ASSISTANT", type_="RESULT"
        )
        messages.insert_fragment(
            conn,
            fragment_id=FRAGMENT_ID,
            message_id="m-reply",
            content=messages.FragmentContent(
                sandbox_url="http://127.0.0.1:1/", title="Todo", files={"app/page.tsx": "x"}, summary=None
            ),
        )

    database.in_transaction(work)


def test_every_sample_event_is_listed() -> None:
    others = [
        "agent/sqs.json",
        "agent/preview-job.json",
        "sites_not_found/missing.json",
        *(f"migrations/{k}.json" for k in MIGRATION_EVENTS),
    ]
    assert sorted(str(p.relative_to(EVENTS)) for p in EVENTS.glob("*/*.json")) == sorted(
        [name for name, _ in EXPECTED] + others
    )


def test_sample_http_events_reach_their_handlers(api: Api) -> None:
    seed_project_with_fragment(api.deps.database)
    for name, expected in EXPECTED:
        function = name.split("/")[0]
        event = json.loads((EVENTS / name).read_text())
        response = load_function(function).handle(event, LambdaContextStub(), api.deps)
        assert response["statusCode"] == expected, (name, response.get("body"))


def test_openapi_document_is_current() -> None:
    from qai_tools.openapi import OPENAPI_PATH, openapi_document

    document = openapi_document()
    assert OPENAPI_PATH.read_text() == document, "openapi.json is stale: run `make openapi`"
    paths = json.loads(document)["paths"]
    assert set(paths) == {
        "/projects",
        "/projects/{projectId}",
        "/projects/{projectId}/messages",
        "/projects/{projectId}/messages/{messageId}/run",
        "/projects/{projectId}/messages/{messageId}/run/cancel",
        "/projects/{projectId}/fragments/{fragmentId}",
        "/projects/{projectId}/fragments/{fragmentId}/preview",
        "/projects/{projectId}/fragments/{fragmentId}/restore",
        "/projects/{projectId}/fragments/{fragmentId}/download",
        "/projects/{projectId}/fragments/{fragmentId}/diff",
        "/projects/{projectId}/messages/{messageId}/images/{imageId}",
        "/projects/{projectId}/git",
        "/projects/{projectId}/git/push",
        "/projects/{projectId}/fragments/{fragmentId}/publish",
        "/projects/{projectId}/site",
        "/usage",
    }
    preview = paths["/projects/{projectId}/fragments/{fragmentId}/preview"]["post"]["responses"]
    assert {"200", "202"} <= set(preview)
    assert paths["/projects"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Project"
    }


def test_template_routes_and_resolver_routes_agree() -> None:
    from qai_tools.openapi import openapi_document
    from qai_tools.template import http_routes

    paths = json.loads(openapi_document())["paths"]
    documented = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert {(r.method, r.path) for r in http_routes()} == documented


def test_sample_sqs_event_reaches_the_agent(worker: AgentWorker, env: str) -> None:
    seed_project_with_fragment(worker.deps.database)
    event = json.loads((EVENTS / "agent" / "sqs.json").read_text())
    body = json.loads(event["Records"][0]["body"])
    with psycopg.connect(env, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO "AgentRun" (id, "projectId", "messageId", status) VALUES ('r', %s, 'm-user', 'SUCCEEDED')""",
            (body["projectId"],),
        )
    # The sample's message was answered already: a redelivery is acknowledged without work.
    assert body["messageId"] == "m-user"
    assert worker.module.handle(event, LambdaContextStub(), worker.deps) == {"batchItemFailures": []}


def test_sample_preview_job_event_reaches_the_agent(worker: AgentWorker) -> None:
    seed_project_with_fragment(worker.deps.database)
    event = json.loads((EVENTS / "agent" / "preview-job.json").read_text())
    assert json.loads(event["Records"][0]["body"])["kind"] == "preview"
    # No preview was asked for: the job finds nothing to do, and the record is not retried.
    assert worker.module.handle(event, LambdaContextStub(), worker.deps) == {"batchItemFailures": []}


def test_sample_custom_resource_events_reach_the_migrations_function(env: str, response_url: ResponseUrl) -> None:
    """Each answers SUCCESS; the answer goes to the event's ResponseURL (a stand-in here)."""
    for kind in MIGRATION_EVENTS:
        event = json.loads((EVENTS / "migrations" / f"{kind}.json").read_text())
        event["ResponseURL"] = response_url.url
        load_function("migrations").lambda_handler(event, LambdaContextStub())
    answers = response_url.bodies
    assert [a["Status"] for a in answers] == ["SUCCESS"] * 3
    assert answers[0]["Data"] == {"Applied": "none"}  # the test database is migrated already


def test_sample_function_url_event_reaches_the_sites_not_found_function(aws: None) -> None:
    """CloudFront's request after the bucket had no such file: the site's own 404 page."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="qai-sites")
    s3.put_object(Bucket="qai-sites", Key="shop-1a2b3c4d/0123456789abcdef/404.html", Body=b"<h1>Lost?</h1>")
    event = json.loads((EVENTS / "sites_not_found" / "missing.json").read_text())
    response = load_function("sites_not_found").handle(event, LambdaContextStub(), "qai-sites", s3)
    assert response["statusCode"] == 404 and base64.b64decode(response["body"]) == b"<h1>Lost?</h1>"
