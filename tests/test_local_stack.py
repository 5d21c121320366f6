"""The local stack as a user runs it: a subprocess on free ports with its own data folder, used over
HTTP only, with the scripted model server standing in for Claude."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from qai_local.stack.process import LocalStackProcess, StackDidNotStartError
from qai_tools import scripted_model as sm
from tests.conftest import GIT_TOKEN, GIT_USER, GitServer

ROOT = Path(__file__).parent.parent
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
EVENTS = ROOT / "events"


class RunningStack(LocalStackProcess):
    """The stack with the scripted model for Claude, and what the tests do with it."""

    def __init__(self, data_dir: Path, model_url: str, **extra_env: str) -> None:
        settings = {"AGENT_RETRY_BASE_SECONDS": "1", "ANTHROPIC_BASE_URL": model_url}
        try:
            super().__init__(data_dir, ANTHROPIC_API_KEY="sk-ant-local-test", **settings, **extra_env)
        except StackDidNotStartError as exc:
            pytest.fail(str(exc))

    def call(self, method: str, path: str, body: Any = None, user: str | None = None) -> tuple[int, Any]:
        headers = {"content-type": "application/json"} | self.auth | ({"x-qai-user": user} if user else {})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, json.loads(raw) if raw else None

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "QAI_API_URL": self.api_url, **extra_env}
        env["QAI_DATA_DIR"] = str(self.data_dir)  # where the CLI finds the token
        return subprocess.run(
            [sys.executable, "-m", "qai_tools.cli", *args], env=env, capture_output=True, text=True, timeout=120
        )

    def wait_for_messages(
        self, project_id: str, count: int, timeout: float = 60, user: str | None = None
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.call("GET", f"/projects/{project_id}/messages", user=user)
            assert status == 200
            if len(body["items"]) >= count:
                return body["items"]
            time.sleep(0.2)
        pytest.fail(f"no reply for {project_id}:\n" + "".join(self.output[-30:]))


@pytest.fixture
def scripted_pages(model_server: sm.ScriptedModelServer) -> sm.ScriptedModelServer:
    model_server.responder = sm.page_from_request
    return model_server


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "qai-data"
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if any(str(tmp_path) in part for part in p.info["cmdline"] or [])
    ]
    for process in leftovers:
        process.kill()
    assert leftovers == [], "processes were left behind"


def test_a_user_journey_over_http(
    scripted_pages: sm.ScriptedModelServer, data_dir: Path, tmp_path: Path, git_server: GitServer
) -> None:
    # Downloads above 1 kB go through a short-lived link, as a deployed API does above 4 MB. The git
    # server runs on this machine, a private address, which pushes may reach only when allowed.
    stack = RunningStack(data_dir, scripted_pages.url, DOWNLOAD_INLINE_MAX_BYTES="1000", GIT_PUSH_ALLOW_PRIVATE="true")
    try:
        status, project = stack.call("POST", "/projects", {"value": "a todo app"})
        assert status == 201
        _, reply = stack.wait_for_messages(project["id"], 2)
        assert (reply["role"], reply["type"]) == ("ASSISTANT", "RESULT")
        with urllib.request.urlopen(reply["fragment"]["sandboxUrl"], timeout=120) as page:
            # Rendered by the app's Next.js dev server, which marks where each element is written ("Select").
            assert '<h1 data-qai-source="app/page.tsx:2:10">a todo app</h1>' in page.read().decode()

        status, _ = stack.call("POST", f"/projects/{project['id']}/messages", {"value": "add dark mode"})
        assert status == 201
        items = stack.wait_for_messages(project["id"], 4)
        assert [m["role"] for m in items] == ["USER", "ASSISTANT", "USER", "ASSISTANT"]
        status, fragment = stack.call("GET", f"/projects/{project['id']}/fragments/{items[-1]['fragment']['id']}")
        assert status == 200 and fragment["files"]["app/page.tsx"] == sm.page_naming("add dark mode")

        # The command-line client, as a user types it.
        cli = stack.cli("new", "a weather dashboard")
        assert cli.returncode == 0, cli.stderr
        assert "preview: http://127.0.0.1:" in cli.stdout and "files:   app/page.tsx" in cli.stdout
        missing = stack.cli("say", "00000000-0000-4000-8000-000000000000", "hello")
        assert missing.returncode == 1
        assert missing.stderr.strip() == "error: Project not found"
        picture = tmp_path / "sketch.png"
        picture.write_bytes(base64.b64decode(PNG_1PX))
        asked = stack.cli("ask", project["id"], "what does the page say?", "--image", str(picture))
        assert asked.returncode == 0, asked.stderr
        assert "preview:" not in asked.stdout and f"project: {project['id']}" in asked.stdout  # an answer, no version
        conversation = stack.call("GET", f"/projects/{project['id']}/messages")[1]["items"]
        (question,) = [m for m in conversation if m["mode"] == "ask" and m["role"] == "USER"]
        (sent,) = question["images"]
        with urllib.request.urlopen(urllib.request.Request(stack.api_url + sent["url"], headers=stack.auth)) as got:
            assert got.headers["Content-Type"] == "image/png" and got.read() == picture.read_bytes()

        # Versions from the command line: the first one back as the newest, its preview, its download.
        first = items[1]["fragment"]
        restored = stack.cli("restore", first["id"])
        assert restored.returncode == 0, restored.stderr
        assert 'Restored the version "' in restored.stdout and "preview: http://127.0.0.1:" in restored.stdout
        preview_url = restored.stdout.split("preview: ")[1].split()[0]
        with urllib.request.urlopen(preview_url, timeout=120) as page:
            assert ">a todo app</h1>" in page.read().decode()
        # The restored version took over the app's sandbox: the first one's preview is rebuilt apart.
        rebuilt = stack.cli("preview", first["id"], "--project", project["id"])
        assert rebuilt.returncode == 0, rebuilt.stderr
        rebuilt_url = rebuilt.stdout.split("preview: ")[1].split()[0]
        assert rebuilt_url != preview_url
        with urllib.request.urlopen(rebuilt_url, timeout=120) as page:
            assert ">a todo app</h1>" in page.read().decode()
        changed = stack.cli("diff", items[3]["fragment"]["id"])
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.startswith("1 file changed +1 -1\n  modified  app/page.tsx  +1 -1\n")
        assert (
            "--- a/app/page.tsx\n+++ b/app/page.tsx\n" in changed.stdout
            and "+  return <h1>add dark mode</h1>;" in changed.stdout
        )
        downloaded = stack.cli("download", first["id"], str(tmp_path / "app"))
        assert downloaded.returncode == 0, downloaded.stderr
        assert (tmp_path / "app" / "app" / "page.tsx").read_text() == sm.page_naming("a todo app")
        assert (tmp_path / "app" / "package.json").is_file() and not (tmp_path / "app" / "node_modules").exists()

        # The history as git: cloned here (the bundle through a link: it is over 1 kB), pushed there.
        cloned = stack.cli("clone", project["id"], str(tmp_path / "history"))
        assert cloned.returncode == 0, cloned.stderr
        log = subprocess.run(["git", "log", "--format=%s"], cwd=tmp_path / "history", capture_output=True, text=True)
        assert len(log.stdout.splitlines()) == 3  # two versions and the restored one
        no_token = stack.cli("push", project["id"], git_server.url)
        assert no_token.returncode == 1 and "set QAI_GIT_TOKEN" in no_token.stderr
        pushed = stack.cli("push", project["id"], git_server.url, "--username", GIT_USER, QAI_GIT_TOKEN=GIT_TOKEN)
        assert pushed.returncode == 0, pushed.stderr
        assert pushed.stdout.splitlines()[-1].startswith("✓ main is at ")
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path / "history", capture_output=True, text=True)
        assert pushed.stdout.split()[-1] == head.stdout.strip()
        assert GIT_TOKEN not in "".join(stack.output)

        # Published, on the sites' own origin, then taken down.
        published = stack.cli("publish", first["id"], "--project", project["id"])
        assert published.returncode == 0, published.stderr
        site_url = published.stdout.splitlines()[-1].removeprefix("✓ published: ")
        assert site_url.startswith("http://127.0.0.1:") and not site_url.startswith(stack.api_url)
        with urllib.request.urlopen(site_url, timeout=30) as site:
            assert "<h1>a todo app</h1>" in site.read().decode()  # a build: no element marks
        assert stack.cli("unpublish", project["id"]).returncode == 0
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(site_url, timeout=30)

        assert stack.call("GET", "/projects", user="someone-else") == (200, {"items": [], "nextCursor": None})
        status, document = stack.call("GET", "/openapi.json")
        assert status == 200 and "/projects/{projectId}/messages" in document["paths"]
        status, local = stack.call("GET", "/local/status")
        assert status == 200 and local["sandbox"] == "local"
        assert local["isolation"].startswith(("bubblewrap", "NOT ISOLATED"))
        assert any(line.startswith("  Sandbox      local, ") for line in stack.output)
        assert any(line.startswith("  Sites        http://127.0.0.1:") for line in stack.output)
        status, error = stack.call("GET", "/nope")
        assert status == 404 and error["error"]["code"] == "NOT_FOUND"
        # The sample events (those `sam local invoke -e` takes) go through the stack too.
        for path in (
            sorted(EVENTS.glob("projects/*.json"))
            + sorted(EVENTS.glob("messages/*.json"))
            + sorted(EVENTS.glob("git/*.json"))
        ):
            event = json.loads(path.read_text())
            query = f"?{event['rawQueryString']}" if event["rawQueryString"] else ""
            body = json.loads(event["body"]) if event.get("body") else None
            status, _ = stack.call(event["requestContext"]["http"]["method"], event["rawPath"] + query, body)
            assert status < 500, path.name
    finally:
        assert stack.stop() == []

    # Started again on the same data folder, it keeps the projects.
    stack = RunningStack(data_dir, scripted_pages.url)
    try:
        status, page = stack.call("GET", "/projects")
        assert project["id"] in [p["id"] for p in page["items"]]
        assert stack.call("DELETE", f"/projects/{project['id']}")[0] == 204
        assert stack.call("GET", f"/projects/{project['id']}")[0] == 404
    finally:
        assert stack.stop() == []


def test_twenty_projects_at_once_get_one_reply_each(scripted_pages: sm.ScriptedModelServer, data_dir: Path) -> None:
    # About the queue and the claims: twenty dev servers for the build check would only add minutes.
    stack = RunningStack(data_dir, scripted_pages.url, AGENT_CHECK_APP="false")
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            created = list(pool.map(lambda i: stack.call("POST", "/projects", {"value": f"app number {i}"}), range(20)))
        assert [status for status, _ in created] == [201] * 20
        for _, project in created:
            items = stack.wait_for_messages(project["id"], 2, timeout=120)
            assert [m["role"] for m in items] == ["USER", "ASSISTANT"]
            assert items[1]["type"] == "RESULT"
        time.sleep(1)  # a duplicate reply would have shown up by now
        for _, project in created:
            assert len(stack.call("GET", f"/projects/{project['id']}/messages")[1]["items"]) == 2
    finally:
        assert stack.stop() == []


def test_schemathesis_finds_no_server_error_and_no_failing_check(
    scripted_pages: sm.ScriptedModelServer, data_dir: Path
) -> None:
    """A tester no one here wrote: every check of schemathesis over openapi.json, against the stack
    as a user runs it (its expectations: schemathesis.toml), with a fixed seed."""
    stack = RunningStack(data_dir, scripted_pages.url, AGENT_CHECK_APP="false", LOCAL_PREVIEW_PRESTART="false")
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"{stack.api_url}/openapi.json",
                "--header",
                f"Authorization: Bearer {stack.token}",
                "--checks",
                "all",
                # ST302 (a resource just created answers 404) takes every GET under a path that POST
                # made a resource of: a project's site and its last push exist only once published or
                # pushed, and the contract answers 404 until then.
                "--exclude-checks",
                "ensure_resource_availability",
                "--max-examples",
                "100",
                "--seed",
                "1",
                "--no-color",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-6000:]
        assert re.search(r"\d+ generated, \d+ passed", run.stdout), run.stdout[-2000:]
    finally:
        assert stack.stop() == []
