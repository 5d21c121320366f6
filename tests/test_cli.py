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
