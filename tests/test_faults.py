"""Faults survived: the database going away between and during requests. Real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from qai import db, projects, settings
from tests.conftest import Api


def terminate_other_backends(database_url: str) -> int:
    """What a database restart does to the connections the functions hold."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_a_restart_between_requests_is_not_noticed(api: Api, env: str) -> None:
    assert api.call("POST", "/projects", json_body={"value": "a todo app"})[0] == 201
    assert terminate_other_backends(env) >= 1
    status, page = api.call("GET", "/projects")  # the dropped connection is re-opened once
    assert status == 200 and len(page["items"]) == 1


def test_a_database_that_cannot_be_reached_is_503_with_retry_after_and_then_recovers(api: Api, env: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none?connect_timeout=2")
        settings.reset_caches()
        db.close()
        for method, path, body in (("GET", "/projects", None), ("POST", "/projects", {"value": "a todo app"})):
            response = api.invoke(method, path, json_body=body)
            assert response["statusCode"] == 503
            assert response["headers"]["Retry-After"] == "5"
            assert '"SERVICE_UNAVAILABLE"' in response["body"] and "127.0.0.1" not in response["body"]
    settings.reset_caches()
    db.close()
    assert api.call("POST", "/projects", json_body={"value": "a todo app"})[0] == 201


def test_a_connection_dropped_during_a_request_is_503_and_leaves_nothing_half_written(
    api: Api, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert = projects.insert_project

    def dropped_midway(conn: db.Connection, **kwargs: str) -> object:
        row = insert(conn, **kwargs)
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # the server goes away mid-transaction
        return row

    monkeypatch.setattr(projects, "insert_project", dropped_midway)
    status, body = api.call("POST", "/projects", json_body={"value": "a todo app"})
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    monkeypatch.undo()
    with psycopg.connect(env) as conn:
        assert conn.execute('SELECT count(*) FROM "Project"').fetchone() == (0,)
    assert api.call("POST", "/projects", json_body={"value": "a todo app"})[0] == 201
