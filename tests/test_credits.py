"""Usage credits through the handlers, against real Postgres with real concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages, run_concurrently

PAGE = "<h1>x</h1>"


@pytest.fixture
def five_credits(monkeypatch: pytest.MonkeyPatch, api: Api) -> None:
    monkeypatch.setenv("CREDITS_PER_PERIOD", "5")
    api.reload()


def usage(api: Api, **kwargs: object) -> dict:
    status, body = api.call("GET", "/usage", **kwargs)  # type: ignore[arg-type]
    assert status == 200
    return body


def counts(database_url: str) -> tuple[int, int, int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            'SELECT (SELECT count(*) FROM "Project"), (SELECT count(*) FROM "Message"),'
            ' (SELECT count(*) FROM "AgentRun"), (SELECT count(*) FROM "CreditCharge")'
        ).fetchone()
    assert row is not None
    return row


def test_each_run_spends_one_credit_and_none_left_is_429(
    api: Api, five_credits: None, env: str, agent_queue_url: str
) -> None:
    assert usage(api) == {"limit": 5, "remaining": 5, "resetsAt": None}
    before = datetime.now(UTC)
    for i in range(5):
        assert api.call("POST", "/projects", json_body={"value": f"app {i}"})[0] == 201
    after = usage(api)
    assert after["remaining"] == 0
    resets_at = datetime.fromisoformat(after["resetsAt"].replace("Z", "+00:00"))
    assert before + timedelta(days=30) - timedelta(seconds=5) <= resets_at <= datetime.now(UTC) + timedelta(days=30)
    queued_messages(agent_queue_url)

    status, body = api.call("POST", "/projects", json_body={"value": "one more"})
    assert status == 429
    assert body["error"]["code"] == "TOO_MANY_REQUESTS"
    assert "used all 5 credits" in body["error"]["message"]
    assert after["resetsAt"] in body["error"]["message"]
    assert counts(env) == (5, 5, 5, 5)
    assert queued_messages(agent_queue_url) == []
    # Another user has credits of their own.
    assert api.call("POST", "/projects", json_body={"value": "mine"}, user="user-2")[0] == 201


def test_a_follow_up_spends_a_credit_too(
    api: Api, five_credits: None, env: str, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.responder = sm.page_from_request
    _, project = api.call("POST", "/projects", json_body={"value": "app"})
    worker.drain()
    for _ in range(4):
        assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "more"})[0] == 201
        worker.drain()
    assert usage(api)["remaining"] == 0
    assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "more"})[0] == 429
    assert len(api.call("GET", f"/projects/{project['id']}/messages")[1]["items"]) == 10


def test_a_plan_claim_raises_the_limit(api: Api, five_credits: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert usage(api, claims={"plan": "pro"})["limit"] == 100
    assert usage(api, claims={"plan": "unknown"})["limit"] == 5
    monkeypatch.setenv("CREDITS_PLAN_CLAIM", "custom:tier")
    monkeypatch.setenv("CREDITS_PLANS", '{"team": 250}')
    api.reload()
    assert usage(api, claims={"custom:tier": "team"})["limit"] == 250
    for _ in range(6):
        assert api.call("POST", "/projects", json_body={"value": "x"}, claims={"custom:tier": "team"})[0] == 201


def test_409_spends_nothing(api: Api, five_credits: None, agent_queue_url: str) -> None:
    _, project = api.call("POST", "/projects", json_body={"value": "app"})
    assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "more"})[0] == 409
    assert usage(api)["remaining"] == 4


def test_a_failed_run_refunds_once_a_succeeded_run_keeps_it(
    api: Api, five_credits: None, env: str, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(sm.write_files({"index.html": PAGE}), sm.summary())
    api.call("POST", "/projects", json_body={"value": "good"})
    worker.drain()
    assert usage(api)["remaining"] == 4

    model_server.script(sm.summary("wrote nothing"))  # no files: FAILED
    api.call("POST", "/projects", json_body={"value": "bad"})
    (failed,) = worker.drain()
    assert usage(api)["remaining"] == 4

    # A redelivery of the failed run neither spends nor refunds again.
    assert worker.deliver_body(failed, receive_count=2) == []
    assert usage(api)["remaining"] == 4
    with psycopg.connect(env) as conn:
        refunded = conn.execute('SELECT count(*) FROM "CreditCharge" WHERE "refundedAt" IS NOT NULL').fetchone()
    assert refunded == (1,)


def test_a_run_that_fails_on_its_last_delivery_is_refunded(
    api: Api, five_credits: None, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    api.call("POST", "/projects", json_body={"value": "app"})
    (body,) = queued_messages(worker.queue_url)
    model_server.script(*[sm.error(500, "api_error")] * 3)
    assert worker.deliver_body(body, receive_count=1) != []
    assert usage(api)["remaining"] == 4  # still spent while the queue retries
    model_server.script(*[sm.error(500, "api_error")] * 3)
    assert worker.deliver_body(body, receive_count=3) == []
    assert usage(api)["remaining"] == 5


def test_credits_come_back_as_the_window_rolls(api: Api, five_credits: None, env: str) -> None:
    for _ in range(5):
        api.call("POST", "/projects", json_body={"value": "app"})
    with psycopg.connect(env, autocommit=True) as conn:
        conn.execute(
            """UPDATE "CreditCharge" SET "createdAt" = (now() AT TIME ZONE 'UTC') - interval '31 days'
               WHERE id = (SELECT id FROM "CreditCharge" ORDER BY "createdAt" LIMIT 1)"""
        )
    assert usage(api)["remaining"] == 1
    assert api.call("POST", "/projects", json_body={"value": "again"})[0] == 201


def test_twenty_concurrent_requests_with_five_credits_make_five_runs(
    api: Api, five_credits: None, env: str, agent_queue_url: str
) -> None:
    statuses = run_concurrently(lambda: api.call("POST", "/projects", json_body={"value": "race"})[0], 20)
    assert sorted(statuses) == [201] * 5 + [429] * 15
    assert counts(env) == (5, 5, 5, 5)
    assert len(queued_messages(agent_queue_url)) == 5


def test_usage_is_in_the_openapi_document() -> None:
    import json

    from qai_tools.openapi import OPENAPI_PATH

    paths = json.loads(OPENAPI_PATH.read_text())["paths"]
    assert paths["/usage"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Usage"
    }
    assert "429" in paths["/projects"]["post"]["responses"]
    assert "429" in paths["/projects/{projectId}/messages"]["post"]["responses"]


def test_every_credit_query_is_served_by_an_index(fresh_database: str) -> None:
    """The plans, with enough rows that the planner prefers an index when one fits."""
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("""INSERT INTO "CreditAccount" ("userId") SELECT 'u' || g FROM generate_series(1, 2000) g""")
        conn.execute(
            """INSERT INTO "CreditCharge" (id, "userId", "runId", "createdAt", "refundedAt")
               SELECT 'c' || g, 'u' || (g % 2000 + 1), 'r' || g,
                      (now() AT TIME ZONE 'UTC') - (g % 60) * interval '1 day',
                      CASE WHEN g % 7 = 0 THEN now() AT TIME ZONE 'UTC' END
               FROM generate_series(1, 40000) g"""
        )
        conn.execute("ANALYZE")
        queries = {
            "CreditAccount_pkey": """SELECT 1 FROM "CreditAccount" WHERE "userId" = 'u7' FOR UPDATE""",
            "CreditCharge_userId_createdAt_spent_idx": """SELECT count(*), min("createdAt") FROM "CreditCharge"
                WHERE "userId" = 'u7' AND "refundedAt" IS NULL
                  AND "createdAt" > (now() AT TIME ZONE 'UTC') - make_interval(days => 30)""",
            "CreditCharge_runId_key": """UPDATE "CreditCharge" SET "refundedAt" = now()
                WHERE "runId" = 'r7' AND "refundedAt" IS NULL""",
        }
        for index, query in queries.items():
            plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {query}").fetchall())
            assert index in plan, plan
            assert "Seq Scan" not in plan, plan


def test_concurrent_requests_in_one_process_each_keep_their_own_caller(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools keeps the request being handled in state every resolver shares: the local stack and
    these tests serve requests on several threads, and each must be answered from its own event."""
    import time

    from qai.api import caller
    from qai.services import usage
    from qai_local.stack.functions import load_function

    app = load_function("projects").app
    get_usage = usage.get_usage
    seen: list[tuple[str, str]] = []

    def slow_usage(deps: Any, who: Any) -> Any:
        time.sleep(0.05)  # another request's thread runs meanwhile
        seen.append((who.user_id, caller(app).user_id))
        return get_usage(deps, who)

    monkeypatch.setattr(usage, "get_usage", slow_usage)
    users = iter(["user-a", "user-b", "user-c", "user-d"])
    results = run_concurrently(lambda: api.call("GET", "/usage", user=next(users))[0], 4)
    assert results == [200] * 4 and len(seen) == 4
    assert all(asked == current for asked, current in seen), seen
