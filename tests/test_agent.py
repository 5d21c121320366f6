"""The agent worker end to end: SQS event → real SDK → scripted model server → local sandbox → Postgres."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from typing import Any

import psycopg
import pytest

from qai import runs
from qai.app_files import TEMPLATE_DIR
from qai_agent.prompts import title_and_reply
from qai_local.stack.lambda_events import QueuedMessage
from qai_tools import scripted_model as sm
from tests.conftest import ANTHROPIC_TEST_KEY, AgentWorker, Api, queued_messages, run_concurrently

PAGE = "<!doctype html><title>Todos</title><h1>Todo list</h1><script src='app.js'></script>"


def create_project(api: Api, value: str = "a todo app") -> tuple[dict, dict[str, str]]:
    status, project = api.call("POST", "/projects", json_body={"value": value})
    assert status == 201
    return project, {}


def conversation(api: Api, project_id: str) -> list[dict]:
    status, body = api.call("GET", f"/projects/{project_id}/messages")
    assert status == 200
    return body["items"]


def run_row(database_url: str, message_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute(
            'SELECT status::text, attempts, error, "replyMessageId", "inputTokens", "outputTokens",'
            ' "cacheReadTokens", "cacheWriteTokens", "modelTurns", "modelCalls", "finishedAt" FROM "AgentRun"'
            ' WHERE "messageId" = %s',
            (message_id,),
        ).fetchone()
    assert row is not None
    return row


def fragment_sandboxes(database_url: str, project_id: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            'SELECT f."sandboxId" FROM "Fragment" f JOIN "Message" m ON m.id = f."messageId" WHERE m."projectId" = %s',
            (project_id,),
        ).fetchall()
    return {row[0] for row in rows}


def tool_results(model_server: sm.ScriptedModelServer) -> list[dict]:
    """Every tool_result the agent sent back to the model, in order."""
    results = []
    for request in model_server.agent_requests():
        last = request["messages"][-1]
        if last["role"] == "user" and isinstance(last["content"], list):
            results.extend(block for block in last["content"] if block.get("type") == "tool_result")
    # The same results are repeated in later requests' histories; keep the first sighting.
    unique = {r["tool_use_id"]: r for r in results}
    return list(unique.values())


PAGE_TSX = """import dayjs from "dayjs";
import { GREETING } from "@/lib/greeting";

export default function Home() {
  return (
    <main className="p-8">
      <h1 className="text-2xl font-bold">Todo list</h1>
      <p>{dayjs("2024-03-05").format("MMMM YYYY")}</p>
      <p>{GREETING}</p>
    </main>
  );
}
"""


def test_happy_path_from_sqs_event_to_a_served_preview(
    api: Api,
    worker: AgentWorker,
    model_server: sm.ScriptedModelServer,
    env: str,
    agent_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real app: a page written by the tool, a file made by a shell command, an npm package
    installed and imported, and the preview rendering all three through Next.js."""

    monkeypatch.setenv("AGENT_COMMAND_TIMEOUT_SECONDS", "120")
    monkeypatch.setenv("AGENT_CHECK_APP", "true")
    worker.reload()
    model_server.script(
        sm.terminal("npm install dayjs@1.11.13"),
        sm.terminal("mkdir -p lib && echo 'export const GREETING = \"made by a shell\";' > lib/greeting.ts"),
        sm.write_files({"app/page.tsx": PAGE_TSX}),
        sm.summary("A todo list with add and delete."),
    )
    project, _ = create_project(api)
    (queued,) = worker.drain()
    assert [r["is_error"] for r in tool_results(model_server)] == [False, False, False]

    user, reply = conversation(api, project["id"])
    assert (reply["role"], reply["type"]) == ("ASSISTANT", "RESULT")
    assert reply["content"] == model_server.reply
    fragment = reply["fragment"]
    assert fragment["title"] == "Todo App"
    assert fragment["summary"] == "A todo list with add and delete."
    # The whole app: what the tool wrote, what a shell command made, what npm changed.
    assert fragment["paths"] == ["app/page.tsx", "lib/greeting.ts", "package-lock.json", "package.json"]
    assert fragment["checkError"] is None  # the app was checked: it type-checks and its page renders
    assert fragment["sandboxUrl"].startswith("http://127.0.0.1:")
    with urllib.request.urlopen(fragment["sandboxUrl"], timeout=120) as response:
        page = response.read().decode()
    assert "Todo list" in page and "March 2024" in page and "made by a shell" in page

    row = run_row(env, queued["messageId"])
    assert row["status"] == "SUCCEEDED" and row["attempts"] == 1 and row["replyMessageId"] == reply["id"]
    # Four agent turns and one fast-model call (the title and the reply), each reporting the scripted usage.
    assert (row["modelTurns"], row["modelCalls"]) == (4, 5)
    assert (row["inputTokens"], row["outputTokens"]) == (5 * 120, 5 * 40)
    assert (row["cacheReadTokens"], row["cacheWriteTokens"]) == (5 * 900, 5 * 30)

    first = model_server.agent_requests()[0]
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert [t["name"] for t in first["tools"]] == ["terminal", "createOrUpdateFiles", "editFile", "readFiles"]
    system_prompt = first["system"][0]["text"]
    assert "local sandbox" in system_prompt and "Next.js 16." in system_prompt and "radix-ui@" in system_prompt
    assert "No shadcn/ui components are installed" in system_prompt
    assert first["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<request>\na todo app\n</request>", "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    # Later turns move the conversation's breakpoint to the newest block, and keep no other.
    last = model_server.agent_requests()[-1]["messages"]
    assert last[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sum("cache_control" in block for m in last for block in m["content"]) == 1
    assert user["content"] == "a todo app"

    # The sandbox expires; a follow-up rebuilds the app from the fragment, npm package included.
    (sandbox_dir,) = [path for path in agent_env.iterdir() if path.is_dir()]
    worker.previews.supervisor.stop(sandbox_dir.name)  # it would write .next meanwhile
    shutil.rmtree(sandbox_dir)
    model_server.requests.clear()
    model_server.script(
        sm.read_files(["lib/greeting.ts"]),
        sm.terminal("node -e \"console.log(require('dayjs')('2024-03-05').year())\""),
        sm.summary("Checked."),
    )
    status, _ = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "check it"})
    assert status == 201
    worker.drain()
    read_back, ran = tool_results(model_server)
    assert json.loads(read_back["content"])[0]["content"].startswith("export const GREETING")
    assert "2024" in ran["content"] and not ran["is_error"]
    latest = conversation(api, project["id"])[-1]["fragment"]
    assert latest["paths"] == fragment["paths"] and latest["sandboxUrl"] != fragment["sandboxUrl"]
    with urllib.request.urlopen(latest["sandboxUrl"], timeout=120) as response:
        assert "March 2024" in response.read().decode()


def test_follow_up_sees_and_edits_the_earlier_files(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qai_local.sandbox.sandbox import LocalSandbox

    commands: list[str] = []
    real_run = LocalSandbox.run
    monkeypatch.setattr(
        LocalSandbox, "run", lambda self, command, **kw: commands.append(command) or real_run(self, command, **kw)
    )
    manifest = json.loads((TEMPLATE_DIR / "package.json").read_text())
    changed_manifest = json.dumps({**manifest, "description": "a todo app"}, indent=2)
    model_server.script(
        sm.write_files({"index.html": PAGE, "styles.css": "body{}", "package.json": changed_manifest}),
        sm.summary("Todo list."),
    )
    project, _ = create_project(api)
    worker.drain()
    assert commands == []

    model_server.requests.clear()
    model_server.script(
        sm.read_files(["index.html"]),
        sm.write_files({"index.html": PAGE.replace("</h1>", "</h1><footer>made with QAI</footer>")}),
        sm.summary("Added a footer."),
    )
    status, _ = api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "add a footer"})
    assert status == 201
    worker.drain()

    first = model_server.agent_requests()[0]["messages"][0]["content"][0]["text"]
    assert first.count("add a footer") == 1
    assert "User: a todo app" in first and f"Assistant: {model_server.reply}" in first
    assert "<existing_files>\nindex.html\npackage.json\nstyles.css\n</existing_files>" in first
    read_back = json.loads(tool_results(model_server)[0]["content"])
    assert read_back == [{"path": "index.html", "content": PAGE}]

    items = conversation(api, project["id"])
    assert [m["role"] for m in items] == ["USER", "ASSISTANT", "USER", "ASSISTANT"]
    status, fragment = api.call("GET", f"/projects/{project['id']}/fragments/{items[-1]['fragment']['id']}")
    # The whole app as it stands: the earlier files and the edited page.
    assert fragment["files"] == {
        "index.html": PAGE.replace("</h1>", "</h1><footer>made with QAI</footer>"),
        "package.json": changed_manifest,
        "styles.css": "body{}",
    }
    # The same live sandbox, reconnected: same preview, nothing reinstalled though package.json differs.
    assert fragment["sandboxUrl"] == items[1]["fragment"]["sandboxUrl"]
    assert commands == []
    assert len(fragment_sandboxes(env, project["id"])) == 1


BROKEN_PAGE = (
    'import confetti from "not-installed-anywhere";\nexport default function Home() { return <h1>{confetti}</h1> }\n'
)
FIXED_PAGE = "export default function Home() { return <h1>Fixed at last</h1> }\n"


@pytest.fixture
def checked(worker: AgentWorker, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("AGENT_CHECK_APP", "true")
    monkeypatch.setenv("AGENT_COMMAND_TIMEOUT_SECONDS", "60")
    worker.reload()


def test_a_build_error_goes_back_to_the_model_which_fixes_it(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, checked: None
) -> None:
    model_server.script(
        sm.write_files({"app/page.tsx": BROKEN_PAGE}),
        sm.summary("A page."),
        sm.write_files({"app/page.tsx": FIXED_PAGE}),
        sm.summary("A page, fixed."),
    )
    project, _ = create_project(api)
    worker.drain()
    requests = model_server.agent_requests()
    assert len(requests) == 4 and model_server.remaining() == 0
    feedback = requests[2]["messages"][-1]["content"][-1]["text"]
    assert "does not work yet" in feedback and "fails to load (HTTP 500)" in feedback
    assert "not-installed-anywhere" in feedback  # the dev server's own words, for the model to act on
    assert "error TS2307" in feedback  # and the type checker's
    reply = conversation(api, project["id"])[-1]
    assert reply["type"] == "RESULT" and reply["content"] == model_server.reply
    assert reply["fragment"]["checkError"] is None and reply["fragment"]["summary"] == "A page, fixed."
    with urllib.request.urlopen(reply["fragment"]["sandboxUrl"], timeout=60) as response:
        assert "Fixed at last" in response.read().decode()


def test_an_app_still_failing_its_check_is_saved_but_never_reported_ready(
    api: Api,
    worker: AgentWorker,
    model_server: sm.ScriptedModelServer,
    checked: None,
    env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.setenv("AGENT_MAX_TURNS", "2")
    worker.reload()
    model_server.script(sm.write_files({"app/page.tsx": BROKEN_PAGE}), sm.summary("A page."))
    project, _ = create_project(api)
    (queued,) = worker.drain()
    reply = conversation(api, project["id"])[-1]
    assert reply["type"] == "RESULT" and reply["fragment"]["paths"] == ["app/page.tsx"]
    assert reply["content"].startswith("I saved the app, but it does not work yet: the type check")
    assert model_server.reply not in reply["content"]
    assert "not-installed-anywhere" in reply["fragment"]["checkError"]
    assert run_row(env, queued["messageId"])["status"] == "SUCCEEDED"


def test_a_failing_command_is_a_result_the_model_recovers_from(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(
        sm.terminal("echo broken >&2; exit 3"),
        sm.write_files({"index.html": PAGE}),
        sm.summary(),
    )
    project, _ = create_project(api)
    worker.drain()
    failed = tool_results(model_server)[0]
    assert failed["is_error"] is True
    assert failed["content"].startswith("exit code 3") and "broken" in failed["content"]
    assert conversation(api, project["id"])[-1]["type"] == "RESULT"


def test_an_app_too_large_to_keep_is_a_clear_error_reply_with_the_credit_back(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("FRAGMENT_MAX_BYTES", "200000")
    worker.reload()
    model_server.script(
        sm.terminal("mkdir -p public && head -c 300000 /dev/urandom > public/video.bin"),
        sm.write_files({"index.html": PAGE}),
        sm.summary(),
    )
    project, _ = create_project(api)
    (queued,) = worker.drain()
    reply = conversation(api, project["id"])[-1]
    assert (reply["type"], reply["fragment"]) == ("ERROR", None)
    assert reply["content"].startswith("The app is too large to save") and "at most 0.2 MB" in reply["content"]
    assert run_row(env, queued["messageId"])["status"] == "FAILED"
    usage = api.call("GET", "/usage")[1]
    assert usage["remaining"] == usage["limit"]  # the credit came back


def test_no_summary_is_an_error_reply(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_MAX_TURNS", "3")

    worker.reload()
    model_server.script(sm.write_files({"index.html": PAGE}), sm.text("All done!"), sm.text("Really done."))
    project, _ = create_project(api)
    (queued,) = worker.drain()
    reply = conversation(api, project["id"])[-1]
    assert (reply["role"], reply["type"], reply["fragment"]) == ("ASSISTANT", "ERROR", None)
    assert reply["content"] == "Something went wrong. Please try again."
    row = run_row(env, queued["messageId"])
    assert row["status"] == "FAILED" and "task summary" in row["error"]
    # The model was nudged to finish after an answer without tools.
    assert "task_summary" in model_server.agent_requests()[2]["messages"][-1]["content"][0]["text"]


def test_no_files_is_an_error_reply(api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer) -> None:
    model_server.script(sm.summary("Nothing to do."))
    project, _ = create_project(api)
    worker.drain()
    assert conversation(api, project["id"])[-1]["type"] == "ERROR"


def test_the_loop_stops_at_15_model_turns(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str
) -> None:
    model_server.script(*[sm.terminal(f"echo {i}") for i in range(20)])
    project, _ = create_project(api)
    (queued,) = worker.drain()
    assert len(model_server.agent_requests()) == 15
    assert model_server.remaining() == 5
    assert conversation(api, project["id"])[-1]["type"] == "ERROR"
    row = run_row(env, queued["messageId"])
    assert row["modelTurns"] == 15 and "max_turns" in row["error"]


def test_a_reply_cut_off_at_max_tokens_continues(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(
        sm.cut_off("I'll write the page now, starting with"),
        sm.write_files({"index.html": PAGE}),
        sm.summary(),
    )
    project, _ = create_project(api)
    worker.drain()
    assert conversation(api, project["id"])[-1]["type"] == "RESULT"
    after_cut = model_server.agent_requests()[1]["messages"]
    assert after_cut[-2] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "I'll write the page now, starting with"}],
    }
    assert "cut off" in after_cut[-1]["content"][0]["text"]


def test_model_errors_are_retried_by_the_sdk(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.script(
        sm.error(429, "rate_limit_error"),
        sm.error(529, "overloaded_error"),
        sm.write_files({"index.html": PAGE}),
        sm.error(500, "api_error"),
        sm.summary(),
    )
    project, _ = create_project(api)
    worker.drain()
    assert conversation(api, project["id"])[-1]["type"] == "RESULT"
    assert len(model_server.agent_requests()) == 5


def test_persistent_model_failure_is_retried_by_the_queue_then_ends_as_error(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str
) -> None:
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    model_server.script(*[sm.error(529, "overloaded_error")] * 3)
    first = QueuedMessage(json.dumps(body), receive_count=1)
    assert worker.deliver(first) == [first.message_id]
    row = run_row(env, body["messageId"])
    assert (row["status"], row["attempts"]) == ("QUEUED", 1)
    assert "Overloaded" in row["error"] or "overloaded" in row["error"]
    assert len(conversation(api, project["id"])) == 1  # no reply yet: the queue will try again

    model_server.script(*[sm.error(500, "api_error")] * 3)
    assert worker.deliver_body(body, receive_count=2) != []
    model_server.script(*[sm.error(500, "api_error")] * 3)
    assert worker.deliver_body(body, receive_count=3) == []  # the last delivery is acknowledged
    reply = conversation(api, project["id"])[-1]
    assert (reply["role"], reply["type"]) == ("ASSISTANT", "ERROR")
    row = run_row(env, body["messageId"])
    assert (row["status"], row["attempts"]) == ("FAILED", 3)
    # Each failed attempt left its sandbox directory removed.
    assert not [p for p in worker.settings.local_sandbox_root.iterdir() if p.is_dir()]


def test_the_same_message_delivered_three_times_at_once_gets_one_reply(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str
) -> None:
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    slow_write = sm.write_files({"index.html": PAGE})
    model_server.script(sm.Reply(slow_write.content, slow_write.stop_reason, delay_seconds=0.5), sm.summary())
    failures = run_concurrently(lambda: worker.deliver_body(body), 3)
    # One delivery builds; the two that found it held come back later instead of being deleted.
    assert sorted(len(f) for f in failures) == [0, 1, 1]
    replies = [m for m in conversation(api, project["id"]) if m["role"] == "ASSISTANT"]
    assert len(replies) == 1 and replies[0]["type"] == "RESULT"
    assert run_row(env, body["messageId"])["attempts"] == 1
    # A later redelivery of the finished run does nothing either.
    assert worker.deliver_body(body, receive_count=2) == []
    assert len(conversation(api, project["id"])) == 2


def test_a_run_whose_worker_died_is_taken_over_and_the_stale_worker_cannot_reply(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str
) -> None:
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    # A first worker claims the run and dies: its lease runs out.
    dead = worker.deps.database.in_transaction(
        lambda conn: runs.claim_run(conn, project_id=body["projectId"], message_id=body["messageId"], lease_seconds=60)
    )
    assert dead is not None and dead.attempt == 1
    model_server.script(sm.write_files({"index.html": PAGE}), sm.summary())
    assert len(worker.deliver_body(body, receive_count=2)) == 1  # the lease is live: come back later
    assert model_server.agent_requests() == []
    with psycopg.connect(env, autocommit=True) as conn:
        conn.execute("""UPDATE "AgentRun" SET "leaseExpiresAt" = now() AT TIME ZONE 'UTC' - interval '1 second'""")

    assert worker.deliver_body(body, receive_count=2) == []
    row = run_row(env, body["messageId"])
    assert (row["status"], row["attempts"]) == ("SUCCEEDED", 2)
    # The first worker wakes up and tries to record its own outcome: refused.
    stale = worker.deps.database.in_transaction(
        lambda conn: runs.finish_run(
            conn, dead, status="FAILED", reply_message_id=row["replyMessageId"], usage=runs.RunUsage()
        )
    )
    assert stale is False
    assert len(conversation(api, project["id"])) == 2


def test_malformed_bodies_fail_alone_in_their_batch(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    model_server.script(sm.write_files({"index.html": PAGE}), sm.summary())
    bad = [QueuedMessage("not json"), QueuedMessage('{"projectId": 1}'), QueuedMessage("{}")]
    good = QueuedMessage(json.dumps(body))
    failed = worker.deliver(bad[0], good, bad[1], bad[2])
    assert sorted(failed) == sorted(m.message_id for m in bad)
    assert conversation(api, project["id"])[-1]["type"] == "RESULT"


def test_a_message_whose_run_does_not_exist_is_acknowledged_at_once(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    # The API sends only after its commit: no run means its project was deleted, not "not yet".
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    assert api.call("DELETE", f"/projects/{project['id']}")[0] == 204
    assert worker.deliver_body(body, receive_count=1) == []
    assert model_server.requests == []


def test_path_escapes_and_secret_leaks_through_the_tools(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str, tmp_path: Any
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret")
    model_server.script(
        sm.write_files({"../escape.txt": "x"}),
        sm.write_files({"/tmp/escape.txt": "x"}),
        sm.terminal(f"ln -s {outside} link.txt && ln -s {tmp_path} linkdir"),
        sm.read_files(["link.txt", "../../outside.txt", "/etc/hostname"]),
        sm.write_files({"linkdir/planted.txt": "x"}),
        sm.terminal("env; cat /proc/self/environ | tr '\\0' '\\n'"),
        sm.write_files({"index.html": PAGE}),
        sm.summary(),
    )
    project, _ = create_project(api)
    worker.drain()
    results = tool_results(model_server)
    assert [r["is_error"] for r in results] == [True, True, False, True, True, False, False]
    assert "leaves the app directory" in results[0]["content"]
    assert "absolute paths" in results[1]["content"]
    assert "host secret" not in results[3]["content"]
    assert not (tmp_path / "planted.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
    environment = results[5]["content"]
    assert ANTHROPIC_TEST_KEY not in environment
    assert env not in environment and "DATABASE_URL" not in environment and "AWS_" not in environment
    fragment = conversation(api, project["id"])[-1]["fragment"]
    assert "link.txt" not in fragment["paths"]


def test_a_run_stops_before_the_lambda_deadline_and_records_its_outcome(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, env: str
) -> None:
    model_server.script(sm.write_files({"index.html": PAGE}), sm.summary())
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    # 30 s left, and the default margin keeps 60 s back: no model turn may start.
    started = time.monotonic()
    assert worker.deliver_body(body, remaining_ms=30_000) == []
    assert time.monotonic() - started < 5
    assert model_server.agent_requests() == []
    assert conversation(api, project["id"])[-1]["type"] == "ERROR"
    assert "deadline" in run_row(env, body["messageId"])["error"]


def test_fast_model_failure_falls_back_to_safe_title_and_reply(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    model_server.fast_model_error = sm.error(400, "invalid_request_error")
    model_server.script(sm.write_files({"index.html": PAGE}), sm.summary())
    project, _ = create_project(api, "weather dashboard for Paris please")
    worker.drain()
    reply = conversation(api, project["id"])[-1]
    assert reply["type"] == "RESULT"
    assert reply["fragment"]["title"] == "weather dashboard for"
    assert reply["content"] == "Your app is ready: have a look at the preview."


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Todo App\n\nYour todo app is ready.", ("Todo App", "Your todo app is ready.")),
        ("  Todo App  \nReady: try it!\nAdd a task.  ", ("Todo App", "Ready: try it!\nAdd a task.")),
        ("Todo App", ("Todo App", None)),  # no reply: the fixed one stands in
        ("Your todo app is ready to try.", (None, "Your todo app is ready to try.")),  # no title: the prompt's words
        ("\n\nYour todo app is ready.", (None, "Your todo app is ready.")),
        ("", (None, None)),
        (None, (None, None)),  # the fast model failed
    ],
)
def test_the_title_and_the_reply_come_from_one_answer(answer: str | None, expected: tuple[str | None, ...]) -> None:
    assert title_and_reply(answer) == expected


def test_title_is_at_most_three_words(api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer) -> None:
    model_server.title = '"Super Fancy Todo Manager Pro"'
    model_server.script(sm.write_files({"index.html": PAGE}), sm.summary())
    project, _ = create_project(api)
    worker.drain()
    assert conversation(api, project["id"])[-1]["fragment"]["title"] == "Super Fancy Todo"
    (title_call,) = [r for r in model_server.requests if r.get("model") != model_server.agent_model]
    assert title_call["max_tokens"] == 330  # the title's 30 tokens and the reply's 300


def test_without_a_model_configured_the_run_ends_with_a_clear_reason(
    api: Api, worker: AgentWorker, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    worker.reload()
    project, _ = create_project(api)
    (queued,) = worker.drain()
    assert conversation(api, project["id"])[-1]["type"] == "ERROR"
    assert "ANTHROPIC_API_KEY" in run_row(env, queued["messageId"])["error"]


def test_a_project_deleted_during_its_run_is_acknowledged(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    project, _ = create_project(api)
    (body,) = queued_messages(worker.queue_url)
    slow = sm.write_files({"index.html": PAGE})
    model_server.script(sm.Reply(slow.content, slow.stop_reason, delay_seconds=0.5), sm.summary())
    deleter = threading.Timer(0.2, lambda: api.call("DELETE", f"/projects/{project['id']}"))
    deleter.start()
    assert worker.deliver_body(body) == []
    deleter.join()
    assert api.call("GET", f"/projects/{project['id']}")[0] == 404


def test_a_failed_attempt_comes_back_after_the_retry_delay_not_the_visibility_timeout(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("AGENT_RETRY_BASE_SECONDS", "1")
    worker.reload()
    create_project(api)
    sqs = boto3.client("sqs")
    (received,) = sqs.receive_message(QueueUrl=worker.queue_url, VisibilityTimeout=600)["Messages"]
    model_server.script(*[sm.error(500, "api_error")] * 3)
    failed = worker.deliver(QueuedMessage(received["Body"], 1, received["MessageId"], received["ReceiptHandle"]))
    assert failed == [received["MessageId"]]
    assert "Messages" not in sqs.receive_message(QueueUrl=worker.queue_url)
    time.sleep(1.3)
    (again,) = sqs.receive_message(QueueUrl=worker.queue_url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert again["MessageId"] == received["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_an_unexpected_failure_is_named_by_its_kind_never_its_text() -> None:
    import anthropic
    import httpx

    from qai_agent.agent_run import _failure

    secret = "postgresql://admin:hunter2@db.internal:5432/qai"
    said = _failure(RuntimeError(f"could not connect to {secret}"), "msg-1")
    assert said == "An unexpected error stopped this attempt (RuntimeError, reference msg-1)"
    request = httpx.Request("POST", "https://api.anthropic.com/v1/messages")
    response = httpx.Response(529, request=request, json={"error": {"message": "at host x.internal"}})
    model_error = anthropic.APIStatusError("at host x.internal", response=response, body=None)
    assert _failure(model_error, "msg-1") == "The model answered 529 (APIStatusError)"
    unreachable = anthropic.APIConnectionError(message="no route to 10.0.0.7", request=request)
    assert _failure(unreachable, "msg-1") == "The model could not be reached (APIConnectionError)"
