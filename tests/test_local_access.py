"""Who may use the local API: the token, the Host and the Origin, tried as an attacker would, first
on the rules themselves and then against the stack as `make dev` runs it."""

from __future__ import annotations

import http.client
import json
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from qai_local.stack.access import TOKEN_FILE, LocalAccess, api_token
from qai_local.stack.stack import without_password
from qai_tools import scripted_model as sm
from tests.test_local_stack import ROOT, RunningStack

PORT = 8787
ACCESS = LocalAccess("the-token", PORT)
OWN = {"host": f"127.0.0.1:{PORT}", "authorization": "Bearer the-token"}


def test_the_token_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    token = api_token(tmp_path)
    assert len(token) >= 40
    assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600
    assert api_token(tmp_path) == token  # the next start keeps it
    (tmp_path / TOKEN_FILE).chmod(0o644)
    assert api_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600
    (tmp_path / TOKEN_FILE).write_text("")
    assert api_token(tmp_path) not in ("", token)  # an emptied file gets a new token


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": f"127.0.0.1:{PORT}"}, 401),
        ({"host": f"127.0.0.1:{PORT}", "authorization": "Bearer the-toke"}, 401),
        ({"host": f"127.0.0.1:{PORT}", "authorization": "Bearer the-token-and-more"}, 401),
        ({"host": f"127.0.0.1:{PORT}", "authorization": "Basic the-token"}, 401),
        ({"host": f"127.0.0.1:{PORT}", "authorization": "Bearer ünïcode"}, 401),
        ({"host": f"127.0.0.1:{PORT}", "x-qai-user": "victim"}, 401),
        (OWN | {"host": "evil.example"}, 403),  # DNS rebinding: the page's own name
        (OWN | {"host": f"evil.example:{PORT}"}, 403),
        (OWN | {"host": "127.0.0.1:9999"}, 403),
        ({k: v for k, v in OWN.items() if k != "host"}, 403),
        (OWN | {"origin": "http://evil.example"}, 403),
        (OWN | {"origin": "null"}, 403),
        (OWN | {"origin": f"http://127.0.0.1:{PORT + 1}"}, 403),  # a preview's origin
        (OWN, None),
        (OWN | {"host": f"localhost:{PORT}", "origin": f"http://localhost:{PORT}"}, None),
        (OWN | {"origin": "http://localhost:5173"}, None),  # the Vite dev server
        (OWN | {"authorization": "bearer the-token"}, None),
    ],
)
def test_only_the_token_through_the_own_host_and_origins(headers: dict[str, str], status: int | None) -> None:
    refusal = ACCESS.refusal("GET", "/projects", headers)
    assert (refusal.status if refusal else None) == status


def test_the_page_the_schema_status_and_download_links_need_no_token() -> None:
    host = {"host": f"localhost:{PORT}"}
    for path in ("/", "/index.html", "/assets/index-abc.js", "/config.json", "/openapi.json", "/local/status"):
        assert ACCESS.refusal("GET", path, host) is None, path
    assert ACCESS.refusal("GET", "/local/downloads/secret/app.zip", host) is None
    assert ACCESS.refusal("POST", "/openapi.json", host) is not None
    assert ACCESS.refusal("DELETE", "/", host) is not None
    assert ACCESS.refusal("GET", "/", {"host": "evil.example"}) is not None  # even the page: no rebinding


def test_cors_only_for_the_own_origins() -> None:
    assert "access-control-allow-origin" not in ACCESS.cors_headers("http://evil.example")
    assert "access-control-allow-origin" not in ACCESS.cors_headers(None)
    assert ACCESS.cors_headers("http://localhost:5173")["access-control-allow-origin"] == "http://localhost:5173"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    model = sm.ScriptedModelServer().start()
    model.responder = sm.page_from_request
    running = RunningStack(
        tmp_path_factory.mktemp("access") / "qai-data",
        model.url,
        AGENT_CHECK_APP="false",
        LOCAL_PREVIEW_PRESTART="false",
    )
    yield running
    assert running.stop() == []
    model.stop()


def raw_request(
    stack: RunningStack, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    """A request with exactly these headers (Host included), as a hostile page or program sends it."""
    connection = http.client.HTTPConnection("127.0.0.1", int(stack.api_url.rsplit(":", 1)[1]), timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        raw = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw) if raw else None
    finally:
        connection.close()


def test_the_stack_refuses_callers_without_the_token_or_from_elsewhere(stack: RunningStack) -> None:
    host = stack.api_url.removeprefix("http://")
    status, _, _ = raw_request(stack, "GET", "/projects", {"host": host} | stack.auth | {"x-qai-user": "victim"})
    assert status == 200
    attempts = {
        "no token, another user": ({"host": host, "x-qai-user": "victim"}, 401, "UNAUTHORIZED"),
        "a wrong token": ({"host": host, "authorization": "Bearer guess"}, 401, "UNAUTHORIZED"),
        "a rebound name": ({"host": "evil.example"} | stack.auth, 403, "FORBIDDEN"),
        "another page": ({"host": host, "origin": "http://evil.example"} | stack.auth, 403, "FORBIDDEN"),
    }
    for name, (headers, expected, code) in attempts.items():
        status, answer_headers, body = raw_request(stack, "GET", "/projects", headers)
        assert (status, body["error"]["code"]) == (expected, code), name
        assert "access-control-allow-origin" not in answer_headers, name
    # A preflight from another page learns nothing and is allowed nothing.
    status, answer_headers, _ = raw_request(
        stack,
        "OPTIONS",
        "/projects",
        {"host": host, "origin": "http://evil.example", "access-control-request-method": "DELETE"},
    )
    assert status == 403 and "access-control-allow-origin" not in answer_headers
    status, answer_headers, _ = raw_request(
        stack,
        "OPTIONS",
        "/projects",
        {"host": host, "origin": "http://localhost:5173", "access-control-request-method": "POST"},
    )
    assert status == 204 and answer_headers["access-control-allow-origin"] == "http://localhost:5173"
    assert raw_request(stack, "GET", "/openapi.json", {"host": host})[0] == 200


def test_users_requests_interleaved_across_the_api_workers_each_see_their_own(stack: RunningStack) -> None:
    """Requests of eight users at once, spread over the worker processes: nobody gets another's answer."""
    host = stack.api_url.removeprefix("http://")

    def user_session(user: str) -> tuple[set[str], set[str]]:
        headers = {"host": host, "content-type": "application/json", "x-qai-user": user} | stack.auth
        port = int(stack.api_url.rsplit(":", 1)[1])
        created = set()
        for i in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/projects", json.dumps({"value": f"{user} app {i}"}), headers)
            response = connection.getresponse()
            assert response.status == 201
            created.add(json.loads(response.read())["id"])
            connection.close()
        listing = {"host": host, "x-qai-user": user} | stack.auth
        status, _, page = raw_request(stack, "GET", "/projects?limit=100", listing)
        assert status == 200
        return created, {project["id"] for project in page["items"]}

    users = [f"interleaved-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for created, listed in pool.map(user_session, users):
            assert listed == created


def test_a_body_larger_than_api_gateway_takes_is_refused_with_413(stack: RunningStack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(stack.api_url.rsplit(":", 1)[1]), timeout=30)
    headers = {"host": stack.api_url.removeprefix("http://"), "content-type": "application/json"} | stack.auth
    connection.request("POST", "/projects", b"x" * (10 * 2**20 + 1), headers)
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    connection.close()


def test_the_banner_gives_the_address_with_the_token_and_no_database_password(stack: RunningStack) -> None:
    assert stack.web_url in "".join(stack.output)
    assert without_password("postgresql://qai:s3cret@db:5432/qai") == "postgresql://qai:***@db:5432/qai"
    assert without_password("postgresql://qai:@/qai?host=/run") == "postgresql://qai:@/qai?host=/run"


def test_the_cli_reads_the_token_from_the_data_folder(stack: RunningStack) -> None:
    assert stack.cli("list").returncode == 0
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "QAI_API_URL": stack.api_url,
        "QAI_DATA_DIR": "/nonexistent",
    }
    refused = subprocess.run(
        [sys.executable, "-m", "qai_tools.cli", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "token" in refused.stdout + refused.stderr


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({"QAI_DATA_DIR": "{file}/data"}, "The data folder {file}/data cannot be written"),
        ({"LOCAL_SANDBOX_MEMORY_MB": "lots"}, "LOCAL_SANDBOX_MEMORY_MB: Input should be a valid integer"),
        ({"QAI_API_WORKERS": "0"}, "QAI_API_WORKERS: Input should be greater than 0 (got '0')"),
    ],
)
def test_a_stack_that_cannot_start_says_why(tmp_path: Path, setting: dict[str, str], said: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "QAI_DATA_DIR": str(tmp_path / "data")}
    env |= {name: value.format(file=a_file) for name, value in setting.items()}
    started = subprocess.run(
        [sys.executable, "-m", "qai_local.stack.stack"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 2, started.stderr[-2000:]
    assert said.format(file=a_file) in started.stderr
    assert "Traceback" not in started.stderr
