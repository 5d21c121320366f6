"""The build check's verdicts, against a stand-in sandbox and a small HTTP server for its preview
(the real dev server's verdicts are in test_agent)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from qai_agent.check import check_app
from qai_agent.sandboxes.base import CommandOutcome


@dataclass
class StubSandbox:
    url: str
    typecheck: CommandOutcome = field(default_factory=lambda: CommandOutcome(0, "", ""))
    log_lines: list[str] = field(default_factory=lambda: ["ready"])
    log_during_request: str = ""

    def run(self, command: str, *, timeout_seconds: float, stop: object = None) -> CommandOutcome:
        assert "tsc --noEmit" in command and timeout_seconds >= 1
        return self.typecheck

    def preview_url(self) -> str:
        return self.url

    def server_log(self) -> str:
        return "\n".join(self.log_lines)


@pytest.fixture
def page() -> Iterator[dict]:
    """A preview whose status and body the test sets; requests add the sandbox's log lines."""
    answer: dict = {"status": 200, "body": "<h1>ok</h1>", "sandbox": None}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if answer["sandbox"] and answer["sandbox"].log_during_request:
                answer["sandbox"].log_lines.append(answer["sandbox"].log_during_request)
            body = answer["body"].encode()
            self.send_response(answer["status"])
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}/"
    yield answer
    server.shutdown()
    server.server_close()


def check(sandbox: StubSandbox) -> str | None:
    return check_app(sandbox, time_left=lambda: 60.0, page_timeout=5)  # type: ignore[arg-type]


def test_a_working_app_passes(page: dict) -> None:
    assert check(StubSandbox(page["url"])) is None


def test_a_type_error_fails_and_a_missing_type_checker_is_skipped(page: dict) -> None:
    failing = StubSandbox(page["url"], typecheck=CommandOutcome(2, "app/page.tsx(1,1): error TS2322: no", ""))
    assert check(failing) == "The type check (tsc --noEmit) failed.\napp/page.tsx(1,1): error TS2322: no"
    assert check(StubSandbox(page["url"], typecheck=CommandOutcome(127, "", "tsc: not found"))) is None
    assert check(StubSandbox(page["url"], typecheck=CommandOutcome(-1, "", "", timed_out=True))) is None


def test_an_error_page_fails_with_the_dev_servers_output_of_that_request(page: dict) -> None:
    sandbox = StubSandbox(page["url"], log_lines=["old \x1b[31mnoise\x1b[0m"], log_during_request="⨯ Error: kaboom")
    page.update(status=200, body="<html id='__next_error__'>", sandbox=sandbox)
    problem = check(sandbox)
    assert problem == "The page fails to load (HTTP 200).\nThe dev server's output:\n⨯ Error: kaboom"


def test_errors_printed_while_the_page_loads_fail_it(page: dict) -> None:
    sandbox = StubSandbox(page["url"], log_during_request=" GET / 200\n ⨯ unhandledRejection: Error: late")
    page["sandbox"] = sandbox
    assert check(sandbox) == "The page loads, but the dev server reported errors.\n ⨯ unhandledRejection: Error: late"


def test_the_start_up_banners_list_of_experiments_is_not_an_error(page: dict) -> None:
    """next dev marks an experimental option that is set to off with the same cross as an error."""
    banner = "▲ Next.js 16.5.0 (Turbopack)\n- Experiments (use with caution):\n  ⨯ agentUpgrade\n  ✓ reactCompiler\n"
    sandbox = StubSandbox(page["url"], log_during_request=banner + " GET / 200 in 254ms")
    page["sandbox"] = sandbox
    assert check(sandbox) is None
    sandbox.log_during_request = banner + " ⨯ ./app/page.tsx:3:1\n GET / 200 in 254ms"
    assert check(sandbox) == "The page loads, but the dev server reported errors.\n ⨯ ./app/page.tsx:3:1"


def test_a_preview_that_does_not_answer_fails() -> None:
    problem = check(StubSandbox("http://127.0.0.1:9/"))
    assert problem is not None and problem.startswith("The preview did not answer (")
