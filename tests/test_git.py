"""GET /projects/{projectId}/git: the project's versions as git history, a bundle that git clones."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qai.app_files import BINARY_PREFIX, TEMPLATE_DIR
from qai.git_history import Version, author_line, build_history, commit_message
from tests.conftest import Api
from tests.test_api_messages import finish_run_with_reply

PAGE = "export default function Home() {\n  return <h1>One</h1>\n}\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def three_versions(api: Api) -> tuple[str, list[str]]:
    """A first version, a follow-up that changes it, and the first restored."""
    project = api.call("POST", "/projects", json_body={"value": "a counter app"})[1]
    _, first = finish_run_with_reply(api.deps.database, project["id"], {"app/page.tsx": PAGE})
    assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": "say two"})[0] == 201
    second_files = {"app/page.tsx": PAGE.replace("One", "Two"), "public/dot.png": BINARY_PREFIX + "iVBORw0K"}
    _, second = finish_run_with_reply(api.deps.database, project["id"], second_files)
    status, restored = api.call("POST", f"/projects/{project['id']}/fragments/{first}/restore")
    assert status == 201
    return project["id"], [first, second, restored["fragment"]["id"]]


def clone(api: Api, project_id: str, into: Path, user: str = "user-1") -> Path:
    response = api.invoke("GET", f"/projects/{project_id}/git", user=user)
    assert response["statusCode"] == 200, response.get("body")
    assert response["headers"]["Content-Type"] == "application/x-git-bundle"
    assert response["headers"]["Content-Disposition"].endswith('.bundle"')
    bundle = into / "app.bundle"
    bundle.write_bytes(base64.b64decode(response["body"]))
    git(into, "clone", "-q", str(bundle), "app")
    return into / "app"


def test_the_bundle_clones_to_one_commit_per_version_oldest_first(api: Api, tmp_path: Path) -> None:
    project_id, _ = three_versions(api)
    app = clone(api, project_id, tmp_path)
    log = git(app, "log", "--format=%H %T %an <%ae> %ad|%B%x00", "--date=unix").strip("\n\x00").split("\x00")
    commits = [entry.strip().split("|", 1) for entry in log]
    assert [body.strip() for _, body in commits] == [
        'Todo App\n\nRestored the version "Todo App".',
        "Todo App\n\nsay two",
        "Todo App\n\na counter app",
    ]
    heads = [header.split() for header, _ in commits]
    assert all(h[2:4] == ["user-1", "<user-1@users.qai.invalid>"] for h in heads)
    assert heads[0][1] == heads[2][1] != heads[1][1]  # a restored version: a new commit with the older tree
    assert git(app, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    # The whole app, as the zip holds it: the template's files with the version's own.
    assert (app / "app" / "page.tsx").read_text() == PAGE
    assert (app / "package.json").read_bytes() == (TEMPLATE_DIR / "package.json").read_bytes()
    assert not (app / "public" / "dot.png").exists()
    git(app, "checkout", "-q", "HEAD~1")
    assert (app / "public" / "dot.png").read_bytes() == base64.b64decode("iVBORw0K")
    git(app, "fsck", "--strict")


def test_the_same_versions_give_the_same_commits_and_a_new_version_fast_forwards(api: Api, tmp_path: Path) -> None:
    project_id, _ = three_versions(api)
    for name in ("before", "again", "after"):
        (tmp_path / name).mkdir()
    before = clone(api, project_id, tmp_path / "before")
    again = clone(api, project_id, tmp_path / "again")
    assert git(before, "rev-parse", "HEAD") == git(again, "rev-parse", "HEAD")
    old_head = git(before, "rev-parse", "HEAD").strip()

    assert api.call("POST", f"/projects/{project_id}/messages", json_body={"value": "say three"})[0] == 201
    finish_run_with_reply(api.deps.database, project_id, {"app/page.tsx": PAGE.replace("One", "Three")})
    after = clone(api, project_id, tmp_path / "after")
    assert git(after, "rev-parse", "HEAD~1").strip() == old_head
    git(before, "pull", "-q", "--ff-only", str(tmp_path / "after" / "app.bundle"), "main")
    assert git(before, "rev-parse", "HEAD") == git(after, "rev-parse", "HEAD")


def test_another_users_project_is_404_and_a_project_without_a_version_is_409(api: Api) -> None:
    project_id, _ = three_versions(api)
    status, body = api.call("GET", f"/projects/{project_id}/git", user="user-2")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    assert api.call("GET", "/projects/not-a-uuid/git")[0] == 404
    fresh = api.call("POST", "/projects", json_body={"value": "another app"})[1]
    status, body = api.call("GET", f"/projects/{fresh['id']}/git")
    assert status == 409 and "no version yet" in body["error"]["message"]


def test_a_bundle_too_large_for_one_response_is_a_short_lived_link(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project_id, _ = three_versions(api)
    monkeypatch.setenv("DOWNLOAD_INLINE_MAX_BYTES", "1000")
    monkeypatch.setenv("LOCAL_DOWNLOADS_DIR", str(tmp_path / "downloads"))
    monkeypatch.setenv("LOCAL_DOWNLOADS_URL", "http://127.0.0.1:9/local/downloads")
    api.reload()
    response = api.invoke("GET", f"/projects/{project_id}/git")
    assert response["statusCode"] == 302
    location = response["headers"]["Location"]
    assert location.startswith("http://127.0.0.1:9/local/downloads/") and location.endswith(".bundle")
    (stored,) = (tmp_path / "downloads").glob("*/*.bundle")
    git(tmp_path, "clone", "-q", str(stored), "app")
    assert (tmp_path / "app" / "app" / "page.tsx").is_file()


def test_commit_headers_are_safe_whatever_the_user_id_and_title() -> None:
    assert author_line("a b<evil>\nx@y") == b"a-b-evil-x@y <a-b-evil-x@y@users.qai.invalid>"
    assert author_line("<>") == b"user <user@users.qai.invalid>"
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert commit_message(Version(" Title ", "", at, {})) == b"Title\n"
    history = build_history("u", [Version("Café ☕", "make it ünïcode", at, {"app/page.tsx": "x"})])
    assert history.head is not None
    again = build_history("u", [Version("Café ☕", "make it ünïcode", at, {"app/page.tsx": "x"})])
    assert again.head == history.head
    # Paths the sandbox would never store stay out of the tree.
    unsafe = build_history("u", [Version("t", "r", at, {"../escape.txt": "x", "app/page.tsx": "y"})])
    assert unsafe.head is not None
    tree = unsafe.repo[unsafe.repo[unsafe.head].tree]
    assert b".." not in [entry.path for entry in tree.items()]
