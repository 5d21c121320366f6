"""Faults survived: the database unreachable, or gone in the middle of a request. Real PostgreSQL.
(A restart between requests: test_connection_and_settings.py.)"""

from __future__ import annotations

import psycopg
import pytest

from qai import db, projects, settings
from tests.conftest import Api


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
