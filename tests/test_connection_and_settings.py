"""The per-environment connection survives a dropped backend; secrets are read once."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg
import pytest

from qai import settings
from qai.settings import Settings, SettingsError, load_settings
from qai_agent.config import AgentSettings
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


@pytest.mark.parametrize("prepared", [True, False])
def test_statements_are_prepared_only_when_the_database_is_reached_directly(
    api: Api, env: str, monkeypatch: pytest.MonkeyPatch, prepared: bool
) -> None:
    if prepared:
        monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "true")
        api.reload()

    def prepared_here() -> int:
        row = api.deps.database.connection().execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()
        assert row is not None
        return int(row["n"])

    for _ in range(6):  # past the threshold
        assert api.call("GET", "/projects")[0] == 200
    assert (prepared_here() > 0) is prepared
    # A dropped connection takes its prepared statements with it: the next request prepares afresh.
    assert terminate_other_backends(env) >= 1
    for _ in range(6):
        assert api.call("GET", "/projects")[0] == 200
    assert (prepared_here() > 0) is prepared


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
    api.reload()

    assert api.call("GET", "/projects")[0] == 200
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    api.deps.database.close()  # a new connection still needs no second Secrets Manager call
    assert api.call("GET", "/projects")[0] == 200


def test_a_secret_given_directly_is_preferred_to_its_arn(aws: None) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="k", SecretString="from-secret")["ARN"]
    assert settings.secret_value("", arn) == "from-secret"
    assert settings.secret_value("direct", arn) == "direct"
    assert settings.secret_value("", "") == ""


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CREDITS_PER_PERIOD", "many", "CREDITS_PER_PERIOD: Input should be a valid integer"),
        ("MAX_VALUE_LENGTH", "0", "MAX_VALUE_LENGTH: Input should be greater than 0"),
        ("CREDITS_PLANS", "{not json", "CREDITS_PLANS"),
        ("AGENT_MAX_TURNS", "-1", "AGENT_MAX_TURNS: Input should be greater than 0"),
        ("AGENT_CHECK_APP", "perhaps", "AGENT_CHECK_APP: Input should be a valid boolean"),
    ],
)
def test_a_setting_that_is_not_valid_is_a_clear_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected) as raised:
        load_settings(AgentSettings)
    assert value not in ("many",) or "'many'" in str(raised.value)  # the value given is shown


def test_settings_are_read_from_the_environment_each_time_they_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITS_PER_PERIOD", "7")
    monkeypatch.setenv("CREDITS_PLANS", '{"team": 250}')
    monkeypatch.setenv("AGENT_MODEL", "  ")  # empty: the default
    first = load_settings(AgentSettings)
    monkeypatch.setenv("CREDITS_PER_PERIOD", "9")
    assert (first.credits_per_period, load_settings(Settings).credits_per_period) == (7, 9)
    assert first.credits_plans == {"team": 250}
    assert first.model == "claude-sonnet-5-5"


def test_no_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    with pytest.raises(SettingsError, match="DATABASE_URL or DATABASE_SECRET_ARN"):
        settings.resolved_database_url(load_settings(Settings))
