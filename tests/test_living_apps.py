"""Apps that stay alive: previews that come back, versions that restore, with the local sandbox,
the scripted model and real Postgres."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

from qai import downloads
from qai.app_files import BINARY_PREFIX
from qai_tools import scripted_model as sm
from tests.conftest import AgentWorker, Api, queued_messages, run_concurrently


def page(text: str) -> str:
    return f"export default function Home() {{ return <h1>{text}</h1> }}\n"


def build(api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, text: str) -> dict:
    """A new project whose app shows ``text``; its project and its ASSISTANT message."""
    model_server.script(sm.write_files({"app/page.tsx": page(text)}), sm.summary(f"Shows {text}."))
    status, project = api.call("POST", "/projects", json_body={"value": f"show {text}"})
    assert status == 201
    worker.drain()
    return {"project": project, "reply": messages(api, project["id"])[-1]}


def follow_up(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, project_id: str, *steps: Any
) -> dict:
    model_server.script(*steps)
    status, _ = api.call("POST", f"/projects/{project_id}/messages", json_body={"value": "change it"})
    assert status == 201
    worker.drain()
    return messages(api, project_id)[-1]


def messages(api: Api, project_id: str) -> list[dict]:
    status, body = api.call("GET", f"/projects/{project_id}/messages")
    assert status == 200
    return body["items"]


def preview_path(project_id: str, fragment_id: str) -> str:
    return f"/projects/{project_id}/fragments/{fragment_id}/preview"


def wait_until_ready(api: Api, path: str, timeout: float = 90) -> dict:
    """GET …/preview until READY: the first probe may find the dev server still starting."""
    deadline = time.monotonic() + timeout
    while True:
        status, state = api.call("GET", path)
        assert status == 200 and state["status"] in ("READY", "STARTING"), state
        if state["status"] == "READY" or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=90) as response:
        return response.read().decode()


def expire(worker: AgentWorker) -> None:
    """Delete every sandbox directory, as an expired sandbox looks on one machine."""
    for directory in [path for path in worker.settings.local_sandbox_root.iterdir() if path.is_dir()]:
        worker.previews.supervisor.stop(directory.name)  # it would write .next meanwhile
        shutil.rmtree(directory)


def test_an_expired_preview_comes_back_with_one_job_for_two_requests(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_env: Path, agent_queue_url: str
) -> None:
    built = build(api, worker, model_server, "Hello again")
    project_id, fragment = built["project"]["id"], built["reply"]["fragment"]
    path = preview_path(project_id, fragment["id"])
    assert wait_until_ready(api, path) == {"status": "READY", "sandboxUrl": fragment["sandboxUrl"], "error": None}
    usage_before = api.call("GET", "/usage")[1]["remaining"]

    expire(worker)
    status, state = api.call("GET", path)
    assert (status, state["status"]) == (200, "FAILED") and "expired" in state["error"]

    answers = run_concurrently(lambda: api.call("POST", path), 2)
    assert [status for status, _ in answers] == [202, 202]
    assert all(state["status"] == "STARTING" for _, state in answers)
    (job,) = queued_messages(agent_queue_url)
    assert job == {"kind": "preview", "projectId": project_id, "fragmentId": fragment["id"]}
    assert api.call("GET", path)[1]["status"] == "STARTING"

    assert worker.deliver_body(job) == []
    state = wait_until_ready(api, path)
    assert state["status"] == "READY" and state["sandboxUrl"] != fragment["sandboxUrl"]
    assert "Hello again" in fetch(state["sandboxUrl"])
    status, stored = api.call("GET", f"/projects/{project_id}/fragments/{fragment['id']}")
    assert stored["sandboxUrl"] == state["sandboxUrl"]  # the fragment's URL works again

    assert api.call("POST", path) == (200, state)  # idempotent: it answers, nothing to do
    assert worker.deliver_body(job) == []  # a redelivered job finds nothing to do
    assert queued_messages(agent_queue_url) == []
    assert api.call("GET", "/usage")[1]["remaining"] == usage_before  # no credit


def test_a_rebuild_that_fails_ends_failed_with_the_reason(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_env: Path, env: str
) -> None:
    broken = {"name": "app", "private": True, "dependencies": {"qai-surely-missing-package-000": "1.0.0"}}
    model_server.script(
        sm.write_files({"app/page.tsx": page("Broken deps"), "package.json": json.dumps(broken)}), sm.summary()
    )
    status, project = api.call("POST", "/projects", json_body={"value": "an app"})
    worker.drain()
    fragment = messages(api, project["id"])[-1]["fragment"]
    expire(worker)
    path = preview_path(project["id"], fragment["id"])
    assert api.call("POST", path)[0] == 202
    worker.drain()
    status, state = api.call("GET", path)
    assert status == 200 and state["status"] == "FAILED" and "npm install failed" in state["error"]
    assert not [p for p in agent_env.iterdir() if p.is_dir()]  # the failed sandbox is not left behind
    assert api.call("POST", path)[0] == 202  # asking again starts another job


def test_restore_makes_an_earlier_version_the_newest_and_the_next_follow_up_continues_it(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_queue_url: str
) -> None:
    built = build(api, worker, model_server, "Version one")
    project_id, first = built["project"]["id"], built["reply"]["fragment"]
    second = follow_up(
        api, worker, model_server, project_id, sm.write_files({"app/page.tsx": page("Version two")}), sm.summary()
    )["fragment"]
    assert second["sandboxUrl"] == first["sandboxUrl"]  # the follow-up took the same sandbox over
    status, state = api.call("GET", preview_path(project_id, first["id"]))
    assert state["status"] == "FAILED" and "newer version" in state["error"]

    status, restored = api.call("POST", f"/projects/{project_id}/fragments/{first['id']}/restore")
    assert status == 201
    assert (restored["role"], restored["type"]) == ("ASSISTANT", "RESULT")
    assert restored["content"] == 'Restored the version "Todo App".'
    assert restored["fragment"]["paths"] == first["paths"] and restored["fragment"]["id"] != first["id"]
    assert messages(api, project_id)[-1]["id"] == restored["id"]
    (job,) = queued_messages(agent_queue_url)
    assert job["kind"] == "preview" and job["fragmentId"] == restored["fragment"]["id"]
    assert worker.deliver_body(job) == []
    state = wait_until_ready(api, preview_path(project_id, restored["fragment"]["id"]))
    assert state["sandboxUrl"] == second["sandboxUrl"]  # the app's sandbox, now holding version one
    assert "Version one" in fetch(state["sandboxUrl"])

    # While a run is queued, restoring is a conflict; the run continues from the restored version.
    model_server.script(sm.read_files(["app/page.tsx"]), sm.summary("Read it."))
    assert api.call("POST", f"/projects/{project_id}/messages", json_body={"value": "look"})[0] == 201
    status, body = api.call("POST", f"/projects/{project_id}/fragments/{second['id']}/restore")
    assert status == 409 and body["error"]["code"] == "CONFLICT"
    worker.drain()
    read = [r for r in model_server.agent_requests()[-1]["messages"][-1]["content"] if r["type"] == "tool_result"]
    assert "Version one" in json.loads(read[0]["content"])[0]["content"]


def test_another_user_gets_404_on_every_new_route(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer
) -> None:
    built = build(api, worker, model_server, "Mine")
    project_id, fragment_id = built["project"]["id"], built["reply"]["fragment"]["id"]
    base = f"/projects/{project_id}/fragments/{fragment_id}"
    for method, suffix in (("GET", "/preview"), ("POST", "/preview"), ("POST", "/restore"), ("GET", "/download")):
        status, body = api.call(method, base + suffix, user="user-2")
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), (method, suffix)
        assert api.call(method, f"/projects/{project_id}/fragments/not-a-uuid{suffix}")[0] == 404
        assert api.call(method, base + suffix, user=None)[0] == 401
    other_project = api.call("POST", "/projects", json_body={"value": "another"})[1]["id"]
    assert api.call("GET", f"/projects/{other_project}/fragments/{fragment_id}/preview")[0] == 404


def test_a_preview_job_for_a_deleted_project_or_a_bad_kind_does_nothing_harmful(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, agent_queue_url: str
) -> None:
    built = build(api, worker, model_server, "Short-lived")
    project_id, fragment_id = built["project"]["id"], built["reply"]["fragment"]["id"]
    assert api.call("DELETE", f"/projects/{project_id}")[0] == 204
    assert worker.deliver_body({"kind": "preview", "projectId": project_id, "fragmentId": fragment_id}) == []
    # An unknown kind is malformed: reported failed, so it ends in the dead-letter queue.
    assert worker.deliver_body({"kind": "mystery", "projectId": project_id}) != []


def unzip(response: dict[str, Any], into: Path) -> list[str]:
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert response["headers"]["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(response["body"]))) as archive:
        archive.extractall(into)
        return sorted(archive.namelist())


def test_the_download_is_the_whole_app_and_it_builds(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, tmp_path: Path
) -> None:
    logo = bytes(range(256))
    model_server.script(
        sm.terminal("npm install dayjs@1.11.13 && mkdir -p public && printf 'x' > public/note.txt"),
        sm.write_files(
            {"app/page.tsx": 'import dayjs from "dayjs";\n' + page("{dayjs('2024-03-05').format('MMMM YYYY')}")}
        ),
        sm.summary(),
    )
    project = api.call("POST", "/projects", json_body={"value": "a dated page"})[1]
    worker.drain()
    fragment = messages(api, project["id"])[-1]["fragment"]
    # A binary file stored in the fragment comes back as bytes (written straight to the row, as a shell would).
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(
            """UPDATE "Fragment" SET files = files || jsonb_build_object('public/logo.png', %s::text) WHERE id = %s""",
            (BINARY_PREFIX + base64.b64encode(logo).decode(), fragment["id"]),
        )

    response = api.invoke("GET", f"/projects/{project['id']}/fragments/{fragment['id']}/download")
    assert response["headers"]["Content-Disposition"] == f'attachment; filename="{project["name"]}.zip"'
    names = unzip(response, tmp_path)
    app = tmp_path / project["name"]
    assert {f"{project['name']}/{path}" for path in ("app/layout.tsx", "next.config.ts", "public/note.txt")} <= set(
        names
    )
    assert not [name for name in names if "node_modules" in name or "/.next/" in name]
    assert (app / "public" / "logo.png").read_bytes() == logo
    assert json.loads((app / "package.json").read_text())["dependencies"]["dayjs"] == "^1.11.13"
    done = subprocess.run(
        ["/bin/sh", "-c", "npm install --no-audit --no-fund --prefer-offline && npm run build"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NEXT_TELEMETRY_DISABLED": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (app / ".next" / "BUILD_ID").is_file()


def test_a_download_too_large_for_one_response_is_a_short_lived_link(
    api: Api, worker: AgentWorker, model_server: sm.ScriptedModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    built = build(api, worker, model_server, "Large")
    download = f"/projects/{built['project']['id']}/fragments/{built['reply']['fragment']['id']}/download"
    monkeypatch.setenv("DOWNLOAD_INLINE_MAX_BYTES", "1000")

    # Deployed: a presigned link to the downloads bucket.
    boto3.client("s3").create_bucket(Bucket="qai-downloads")
    monkeypatch.setenv("DOWNLOADS_BUCKET", "qai-downloads")
    api.reload()
    response = api.invoke("GET", download)
    assert response["statusCode"] == 302 and not response.get("body")
    link = urllib.parse.urlsplit(response["headers"]["Location"])
    assert "qai-downloads" in link.netloc + link.path and "X-Amz-Expires=900" in link.query
    key = urllib.parse.unquote(link.path.split("qai-downloads/")[-1].lstrip("/"))
    stored = boto3.client("s3").get_object(Bucket="qai-downloads", Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(stored)) as archive:
        assert f"{built['project']['name']}/app/page.tsx" in archive.namelist()

    # On one machine: a file the local stack serves until the link expires.
    monkeypatch.delenv("DOWNLOADS_BUCKET")
    monkeypatch.setenv("LOCAL_DOWNLOADS_DIR", str(tmp_path / "downloads"))
    monkeypatch.setenv("LOCAL_DOWNLOADS_URL", "http://127.0.0.1:9/local/downloads")
    api.reload()
    location = api.invoke("GET", download)["headers"]["Location"]
    token, filename = location.removeprefix("http://127.0.0.1:9/local/downloads/").split("/")
    path = downloads.local_file(tmp_path / "downloads", token, filename, 900)
    assert path is not None and path.read_bytes()[:2] == b"PK"
    assert downloads.local_file(tmp_path / "downloads", "../" + token, filename, 900) is None
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert downloads.local_file(tmp_path / "downloads", token, filename, 900) is None and not path.exists()
