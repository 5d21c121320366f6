"""The migrations function as CloudFormation runs it: real custom-resource events (events/migrations/),
real PostgreSQL, and the answer PUT to a stand-in for the presigned response URL."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

import schema_migrations
from qai_local.stack.functions import load_function
from qai_tools.template import load_template
from tests.conftest import LambdaContextStub, ResponseUrl

ROOT = Path(__file__).parent.parent
EVENTS = ROOT / "events" / "migrations"
MIGRATIONS = sorted(p.stem for p in (ROOT / "migrations").glob("*.sql"))


@pytest.fixture
def database(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", empty_database)
    return empty_database


@pytest.fixture
def migrations_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of migrations/ that a test may add to, used by the function in place of its own."""
    directory = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", directory)
    monkeypatch.setattr(schema_migrations, "MIGRATIONS_DIR", directory)
    return directory


def invoke(kind: str, response_url: ResponseUrl, *, remaining_ms: int = 300_000) -> dict[str, Any]:
    """The sample event of that kind, answered to the stand-in; the answer CloudFormation got."""
    event = json.loads((EVENTS / f"{kind}.json").read_text())
    event["ResponseURL"] = response_url.url
    sent = len(response_url.bodies)
    returned = load_function("migrations").lambda_handler(event, LambdaContextStub(remaining_ms))
    assert len(response_url.bodies) == sent + 1, "exactly one answer per request"
    answer = response_url.bodies[-1]
    assert answer == returned
    assert (answer["StackId"], answer["RequestId"]) == (event["StackId"], event["RequestId"])
    assert (answer["LogicalResourceId"], answer["PhysicalResourceId"]) == ("DatabaseSchema", "qai-database-schema")
    return answer


def tables(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_create_then_updates_apply_what_is_pending(
    database: str, response_url: ResponseUrl, migrations_dir: Path
) -> None:
    created = invoke("create", response_url)
    assert created["Status"] == "SUCCESS" and created["Data"] == {"Applied": ", ".join(MIGRATIONS)}
    assert {"Project", "Message", "Fragment", "AgentRun", "PreviewJob"} <= tables(database)
    assert response_url.headers[-1]["content-type"] == ""  # as the presigned URL was signed

    (migrations_dir / "0099_notes.sql").write_text('-- depends: 0005_living_apps\nCREATE TABLE "Note" (id TEXT);\n')
    updated = invoke("update", response_url)
    assert updated["Status"] == "SUCCESS" and updated["Data"] == {"Applied": "0099_notes"}
    assert "Note" in tables(database)

    unchanged = invoke("update", response_url)
    assert unchanged["Status"] == "SUCCESS" and unchanged["Data"] == {"Applied": "none"}


def test_a_failing_migration_fails_the_deploy_with_its_error_and_leaves_nothing_half_done(
    database: str, response_url: ResponseUrl, migrations_dir: Path
) -> None:
    assert invoke("create", response_url)["Status"] == "SUCCESS"
    (migrations_dir / "0099_broken.sql").write_text(
        '-- depends: 0005_living_apps\nCREATE TABLE "Half" (id TEXT);\nSELECT * FROM no_such_table;\n'
    )
    failed = invoke("update", response_url)
    assert failed["Status"] == "FAILED"
    assert (
        failed["Reason"].startswith("Migration failed:")
        and 'relation "no_such_table" does not exist' in failed["Reason"]
    )
    assert "Half" not in tables(database)  # its transaction rolled back; the earlier ones stay
    assert "PreviewJob" in tables(database)


def test_delete_leaves_the_data(database: str, response_url: ResponseUrl) -> None:
    assert invoke("create", response_url)["Status"] == "SUCCESS"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("""INSERT INTO "Project" (id, name, "userId") VALUES ('p', 'kept', 'u')""")
    assert invoke("delete", response_url)["Status"] == "SUCCESS"
    with psycopg.connect(database) as conn:
        assert conn.execute('SELECT name FROM "Project"').fetchall() == [("kept",)]


def test_an_unreachable_database_is_a_failed_answer_not_a_silent_wait(
    response_url: ResponseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:9/none?connect_timeout=2")
    failed = invoke("create", response_url)
    assert failed["Status"] == "FAILED" and "OperationalError" in failed["Reason"]
    assert "secret" not in failed["Reason"]


def test_a_run_that_would_outlast_the_function_answers_before_its_timeout(
    database: str, response_url: ResponseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(*args: Any) -> list[str]:
        time.sleep(3)
        return []

    monkeypatch.setattr(schema_migrations, "migrate", slow)
    started = time.monotonic()
    failed = invoke("create", response_url, remaining_ms=16_000)  # 1 s left after the answer's margin
    assert failed["Status"] == "FAILED" and "did not finish within 1 s" in failed["Reason"]
    assert time.monotonic() - started < 2.5


def test_an_answer_refused_at_first_is_sent_again(database: str, response_url: ResponseUrl) -> None:
    response_url.refuse = 2
    assert invoke("delete", response_url)["Status"] == "SUCCESS"


def test_an_event_without_a_response_url_is_refused_without_sending(response_url: ResponseUrl) -> None:
    answer = load_function("migrations").lambda_handler({"RequestType": "Create"}, LambdaContextStub())
    assert answer["Status"] == "FAILED" and response_url.bodies == []


def migrations_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def test_the_templates_hash_of_the_migrations_is_current() -> None:
    properties: dict[str, Callable[..., Any] | Any] = load_template()["Resources"]["DatabaseSchema"]["Properties"]
    expected = migrations_hash(ROOT / "migrations")
    assert properties["MigrationsHash"] == expected, (
        f"set DatabaseSchema's MigrationsHash to {expected} in template.yaml"
    )
    assert (ROOT / "functions" / "migrations" / "sql").resolve() == (ROOT / "migrations").resolve()
