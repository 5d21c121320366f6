"""The per-environment connection survives a dropped backend; secrets are read once."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg
import pytest

from qai import db, settings
from tests.conftest import Api


def terminate_other_backends(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_second_invocation_succeeds_after_the_backend_was_terminated(api: Api, env: str) -> None:
    assert api.call("POST", "/projects", json_body={"value": "a todo app"})[0] == 201
    assert terminate_other_backends(env) >= 1
    status, page = api.call("GET", "/projects")
    assert status == 200 and len(page["items"]) == 1
    # And a write after another drop.
    assert terminate_other_backends(env) >= 1
    assert api.call("DELETE", f"/projects/{page['items'][0]['id']}")[0] == 204


def test_database_from_an_rds_style_secret_read_once(api: Api, env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = urlsplit(env)
    secret = {
        "engine": "postgres",
        "host": parse_qs(url.query)["host"][0],
        "port": 5432,
        "username": "postgres",
        "password": "p@ss/w:rd",
        "dbname": url.path.lstrip("/"),
    }
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="qai/db", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    settings.reset_caches()
    db.close()

    assert api.call("GET", "/projects")[0] == 200
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    db.close()  # a new connection still needs no second Secrets Manager call
    assert api.call("GET", "/projects")[0] == 200


def test_secret_or_env_prefers_the_plain_value(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="k", SecretString="from-secret")["ARN"]
    monkeypatch.setenv("SOME_KEY_SECRET_ARN", arn)
    monkeypatch.delenv("SOME_KEY", raising=False)
    settings.reset_caches()
    assert settings.secret_or_env("SOME_KEY", "SOME_KEY_SECRET_ARN") == "from-secret"
    monkeypatch.setenv("SOME_KEY", "direct")
    assert settings.secret_or_env("SOME_KEY", "SOME_KEY_SECRET_ARN") == "direct"
