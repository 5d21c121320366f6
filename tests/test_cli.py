"""The command-line client's error paths, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from qai_tools import cli


class FakeClient:
    def __init__(self, model_missing: bool) -> None:
        self._model_missing = model_missing

    def model_missing(self) -> bool:
        return self._model_missing


ERROR_REPLY: dict[str, Any] = {"type": "ERROR", "content": "Something went wrong. Please try again.", "fragment": None}


def test_an_error_reply_without_a_model_tells_how_to_configure_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.print_reply(FakeClient(model_missing=True), "p", ERROR_REPLY) == 1  # type: ignore[arg-type]
    out = capsys.readouterr()
    assert "Something went wrong" in out.out
    assert "ANTHROPIC_API_KEY" in out.err and "ANTHROPIC_BASE_URL" in out.err


def test_an_error_reply_with_a_model_gives_no_key_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.print_reply(FakeClient(model_missing=False), "p", ERROR_REPLY) == 1  # type: ignore[arg-type]
    assert "ANTHROPIC_API_KEY" not in capsys.readouterr().err


def test_an_unreachable_api_is_an_error_exit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAI_API_URL", "http://127.0.0.1:9")
    assert cli.main(["list"]) == 1
    assert "is `make dev` running?" in capsys.readouterr().err


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        cli.Client("file:///etc/passwd", None, None)


def test_an_app_that_failed_its_check_is_said_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    fragment = {
        "id": "f1",
        "title": "Todo",
        "sandboxUrl": "http://127.0.0.1:1/",
        "paths": ["app/page.tsx"],
        "checkError": "The page fails to load (HTTP 500).\nModule not found: Can't resolve 'x'",
    }
    reply = {"type": "RESULT", "content": "I saved the app, but it does not work yet.", "fragment": fragment}
    assert cli.print_reply(FakeClient(model_missing=False), "p", reply) == cli.FAILED_CHECK_EXIT  # type: ignore[arg-type]
    out = capsys.readouterr()
    assert "version: f1" in out.out
    assert "failed its build check" in out.err and "Module not found" in out.err


class ScriptedRunApi:
    """GET …/run answers from a script of (status, events) polls; POST …/cancel is recorded."""

    def __init__(self, polls: list[tuple[str, list[dict[str, Any]]]], interrupt_at: int | None = None) -> None:
        self.polls = polls
        self.interrupt_at = interrupt_at
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        self.calls.append((method, path))
        if method == "POST":
            return {"status": "RUNNING"}
        gets = sum(1 for m, _ in self.calls if m == "GET")
        if gets == self.interrupt_at:
            raise KeyboardInterrupt
        status, events = self.polls[min(gets - 1, len(self.polls) - 1)]
        usage = {"inputTokens": 1200, "outputTokens": 340, "cacheReadTokens": 9000, "cacheWriteTokens": 300}
        usage |= {"modelCalls": 4, "costUsd": 0.01234}
        return {"status": status, "events": events, "nextAfter": events[-1]["seq"] if events else 0, "usage": usage}


def event(seq: int, kind: str, text: str, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "at": "2026-01-01T00:00:00.000Z", "kind": kind, "text": text, "data": data}


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from qai_tools import run_progress

    monkeypatch.setattr(run_progress, "POLL_SECONDS", 0)


def test_a_run_is_shown_as_it_happens(no_wait: None) -> None:
    from rich.console import Console

    from qai_tools.run_progress import follow_run

    api = ScriptedRunApi(
        [
            ("QUEUED", []),
            ("RUNNING", [event(1, "status", "Started (attempt 1)"), event(2, "model", "Turn 1 of 15")]),
            ("RUNNING", [event(3, "command", "npm install dayjs", status="running")]),
            (
                "SUCCEEDED",
                [
                    event(4, "command", "npm install dayjs", status="exit code 0", error=False),
                    event(5, "files", "Wrote 1 file(s)", written=["app/page.tsx"]),
                    event(6, "check", "The app type-checks and its page loads.", passed=True),
                    event(7, "status", "Done: the reply is ready", status="SUCCEEDED"),
                ],
            ),
        ]
    )
    console = Console(record=True, width=100)
    run = follow_run(api, "/projects/p/messages/m/run", console, timeout=60)
    assert run["status"] == "SUCCEEDED"
    assert [path for _, path in api.calls] == [
        "/projects/p/messages/m/run?after=0",
        "/projects/p/messages/m/run?after=0",
        "/projects/p/messages/m/run?after=2",
        "/projects/p/messages/m/run?after=3",
    ]
    shown = console.export_text()
    assert "$ npm install dayjs (exit code 0)" in shown and "✎ Wrote 1 file(s): app/page.tsx" in shown
    assert "✓ The app type-checks" in shown and "• Done: the reply is ready" in shown
    assert shown.count("npm install") == 1  # the running command is the spinner's, not a line
    assert "4 model calls · 10.5k tokens in (9.0k from the cache) · 340 out · $0.0123" in shown


def test_a_run_whose_cost_is_unknown_says_so() -> None:
    from qai_tools.run_progress import usage_line

    usage = {"inputTokens": 10, "outputTokens": 5, "cacheReadTokens": 0, "cacheWriteTokens": 0, "modelCalls": 1}
    assert (
        usage_line(usage | {"costUsd": None}) == "1 model call · 10 tokens in (0 from the cache) · 5 out · cost unknown"
    )


def test_ctrl_c_offers_to_stop_the_run(no_wait: None) -> None:
    from rich.console import Console

    from qai_tools.run_progress import RunDetachedError, follow_run

    polls = [("RUNNING", []), ("CANCELLED", [event(1, "status", "Stopped at your request", status="CANCELLED")])]
    api = ScriptedRunApi(polls, interrupt_at=2)
    run = follow_run(api, "/r", Console(record=True), timeout=60, confirm=lambda question: True)
    assert run["status"] == "CANCELLED" and ("POST", "/r/cancel") in api.calls

    api = ScriptedRunApi(polls, interrupt_at=2)
    with pytest.raises(RunDetachedError):  # "no": the run goes on, unwatched
        follow_run(api, "/r", Console(record=True), timeout=60, confirm=lambda question: False)
    assert ("POST", "/r/cancel") not in api.calls


def test_what_the_model_is_writing_shows_in_the_spinner_not_the_log() -> None:
    from qai_tools.run_progress import activity, event_line

    writing = event(5, "writing", "writing app/page.tsx (3.2 kB so far)", turn=2, tool="createOrUpdateFiles")
    assert event_line(writing) is None
    assert activity(writing, "Turn 2 of 15") == "Turn 2 of 15 · writing app/page.tsx (3.2 kB so far)"
