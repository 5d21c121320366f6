"""POST /projects/{projectId}/git/push: the history pushed to a real git server over HTTP with basic
auth (dulwich's server over a bare repository), as a job through the agent's queue."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dulwich.repo import Repo

from qai.git_history import build_history
from qai.git_remote import public_address
from qai_agent.git_push import PushError, Remote, push_history
from tests.conftest import GIT_TOKEN as TOKEN
from tests.conftest import GIT_USER as USER
from tests.conftest import AgentWorker, Api, GitServer, queued_messages
from tests.test_api_messages import finish_run_with_reply
from tests.test_git import PAGE, git


@pytest.fixture
def pushing(api: Api, worker: AgentWorker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git server on this machine is a private address: allowed here, as GIT_PUSH_ALLOW_PRIVATE does."""
    monkeypatch.setenv("GIT_PUSH_ALLOW_PRIVATE", "true")
    api.reload()
    worker.reload()


def project_with_versions(api: Api, count: int = 2) -> str:
    """A project with versions written as the agent would, its run messages taken off the queue."""
    project = api.call("POST", "/projects", json_body={"value": "a counter app"})[1]
    for n in range(count):
        if n:
            assert api.call("POST", f"/projects/{project['id']}/messages", json_body={"value": f"v{n}"})[0] == 201
        finish_run_with_reply(api.deps.database, project["id"], {"app/page.tsx": PAGE.replace("One", f"V{n}")})
    queued_messages(api.deps.settings.agent_queue_url)
    return str(project["id"])


def push(api: Api, project_id: str, url: str, **fields: str) -> tuple[int, Any]:
    body = {"url": url, "username": USER, "token": TOKEN, **fields}
    return api.call("POST", f"/projects/{project_id}/git/push", json_body=body)


def push_and_run(api: Api, worker: AgentWorker, project_id: str, url: str, **fields: str) -> dict[str, Any]:
    status, queued = push(api, project_id, url, **fields)
    assert status == 202 and queued["status"] == "PUSHING", queued
    (body,) = queued_messages(worker.queue_url)
    assert body == {"kind": "push", "projectId": project_id, "pushId": body["pushId"]}  # no token on the queue
    assert worker.deliver_body(body) == []
    status, done = api.call("GET", f"/projects/{project_id}/git/push")
    assert status == 200
    return dict(done)


def stored_token(env: str, project_id: str) -> bytes | None:
    with psycopg.connect(env) as conn:
        row = conn.execute('SELECT "sealedToken" FROM "GitPush" WHERE "projectId" = %s', (project_id,)).fetchone()
    assert row is not None
    return None if row[0] is None else bytes(row[0])


def test_the_history_is_pushed_and_the_next_version_fast_forwards(
    api: Api,
    worker: AgentWorker,
    git_server: GitServer,
    pushing: None,
    env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project_id = project_with_versions(api)
    status, queued = push(api, project_id, git_server.url)
    assert status == 202 and TOKEN not in str(queued) and "token" not in queued
    assert queued["url"] == git_server.url and queued["branch"] == "main" and queued["username"] == USER
    sealed = stored_token(env, project_id)
    assert sealed is not None and TOKEN.encode() not in sealed  # sealed while the job waits
    (body,) = queued_messages(worker.queue_url)
    assert TOKEN not in str(body)
    assert worker.deliver_body(body) == []
    done = api.call("GET", f"/projects/{project_id}/git/push")[1]
    assert done["status"] == "PUSHED" and done["error"] is None and done["finishedAt"]
    assert stored_token(env, project_id) is None  # forgotten once the job ended
    logged = capsys.readouterr()
    assert TOKEN not in logged.out + logged.err
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(git_server.path), str(clone)], check=True)
    assert git(clone, "rev-parse", "HEAD").strip() == done["commit"]
    assert git(clone, "log", "--format=%s").split() == ["Todo", "App", "Todo", "App"]
    assert (clone / "app" / "page.tsx").read_text() == PAGE.replace("One", "V1")

    # A redelivered message of a finished push does nothing.
    assert worker.deliver_body(body) == []
    assert api.call("GET", f"/projects/{project_id}/git/push")[1]["finishedAt"] == done["finishedAt"]

    assert api.call("POST", f"/projects/{project_id}/messages", json_body={"value": "v2"})[0] == 201
    finish_run_with_reply(api.deps.database, project_id, {"app/page.tsx": PAGE.replace("One", "V2")})
    queued_messages(worker.queue_url)
    again = push_and_run(api, worker, project_id, git_server.url)
    assert again["status"] == "PUSHED", again["error"]
    subprocess.run(["git", "pull", "-q", "--ff-only"], cwd=clone, check=True)
    assert git(clone, "rev-parse", "HEAD~1").strip() == done["commit"]
    assert git(clone, "rev-parse", "HEAD").strip() == again["commit"]

    # To another branch, the same commits.
    other = push_and_run(api, worker, project_id, git_server.url, branch="feature/qai")
    assert other["status"] == "PUSHED" and other["commit"] == again["commit"]


def test_a_wrong_token_an_unreachable_host_and_a_diverged_branch_each_fail_clearly(
    api: Api, worker: AgentWorker, git_server: GitServer, pushing: None, env: str, tmp_path: Path
) -> None:
    project_id = project_with_versions(api)
    refused = push_and_run(api, worker, project_id, git_server.url, token="not-the-token")
    assert refused["status"] == "FAILED" and "refused the credentials (HTTP 401)" in refused["error"]
    assert stored_token(env, project_id) is None

    unreachable = push_and_run(api, worker, project_id, "http://127.0.0.1:9/repo.git")
    assert unreachable["status"] == "FAILED" and unreachable["error"].startswith("Could not push to 127.0.0.1")

    missing = push_and_run(api, worker, project_id, git_server.url.replace("repo.git", "other.git"))
    assert missing["status"] == "FAILED" and "No git repository" in missing["error"]

    # The remote's main moved on without us: not a fast-forward, and nothing is overwritten.
    work = tmp_path / "elsewhere"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README.md").write_text("someone else's\n")
    git(work, "add", ".")
    git(work, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "theirs")
    git(work, "push", "-q", str(git_server.path), "main")
    theirs = git(work, "rev-parse", "HEAD").strip()
    diverged = push_and_run(api, worker, project_id, git_server.url)
    assert diverged["status"] == "FAILED" and "not a fast-forward" in diverged["error"]
    assert Repo(str(git_server.path)).refs[b"refs/heads/main"].decode() == theirs


def test_a_remote_at_a_private_address_is_refused_when_connecting(git_server: GitServer) -> None:
    """Checked by the address reached, so a name that later resolves to this machine is refused too."""
    from datetime import UTC, datetime

    from qai.git_history import Version

    history = build_history("u", [Version("t", "r", datetime(2026, 1, 1, tzinfo=UTC), {"app/page.tsx": "x"}, "f")])
    assert history.head is not None
    remote = Remote(url=git_server.url, branch="main", username=USER, token=TOKEN)
    with pytest.raises(PushError, match=r"127\.0\.0\.1 is at a private address"):
        push_history(history, history.head, remote, timeout=5, allow_private=False)
    assert git_server.requests == []  # not one byte reached it
    push_history(history, history.head, remote, timeout=5, allow_private=True)
    assert Repo(str(git_server.path)).refs[b"refs/heads/main"] == history.head


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"url": "file:///etc/passwd"}, "url: String should match pattern"),
        ({"url": "ssh://git@github.com/a/b.git"}, "url: String should match pattern"),
        ({"url": "git@github.com:a/b.git"}, "url: String should match pattern"),
        ({"url": "http://github.com/a/b.git"}, "only https:// remotes"),
        ({"url": "https://localhost/a.git"}, "private address"),
        ({"url": "https://127.1/a.git"}, "private address"),
        ({"url": "https://10.1.2.3/a.git"}, "private address"),
        ({"url": "https://169.254.169.254/latest"}, "private address"),
        ({"url": "https://[::1]/a.git"}, "private address"),
        ({"url": "https://[::ffff:127.0.0.1]/a.git"}, "private address"),
        ({"url": "https://user:pw@github.com/a/b.git"}, "no credentials in the URL"),
        ({"url": "https://github.com/a/b.git?x=1"}, "no query"),
        ({"url": "https://github.com:99999/a.git"}, "not a URL"),
        ({"url": "https://github.com/a\n.git"}, "url"),
        ({"token": ""}, "token"),
        ({"token": "x" * 1001}, "token"),
        ({"token": "line\nbreak"}, "token"),
        ({"branch": ""}, "branch"),
        ({"branch": "b" * 201}, "branch"),
        ({"branch": "a..b"}, "branch"),
        ({"branch": "-x"}, "branch"),
        ({"branch": "x.lock"}, "branch"),
        ({"branch": "with space"}, "branch"),
        ({"branch": "HEAD"}, "branch"),
        ({"username": "a:b"}, "username"),
    ],
)
def test_bad_push_requests_are_400_and_never_echo_the_token(
    api: Api, fields: dict[str, str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = api.call("POST", "/projects", json_body={"value": "an app"})[1]
    body = {"url": "https://github.com/a/b.git", "token": "tok-" + "9" * 12, **fields}
    status, answer = api.call("POST", f"/projects/{project['id']}/git/push", json_body=body)
    assert status == 400 and answer["error"]["code"] == "BAD_REQUEST"
    assert says in answer["error"]["message"]
    token = body["token"]
    if len(token) > 3:
        assert token not in str(answer) and token not in capsys.readouterr().out


def test_who_may_push_and_when(api: Api, worker: AgentWorker, git_server: GitServer, pushing: None) -> None:
    project_id = project_with_versions(api, count=1)
    assert api.call("GET", f"/projects/{project_id}/git/push")[0] == 404  # none yet
    status, body = api.call(
        "POST", f"/projects/{project_id}/git/push", json_body={"url": git_server.url, "token": "t"}, user="user-2"
    )
    assert status == 404
    assert api.call("GET", f"/projects/{project_id}/git/push", user="user-2")[0] == 404
    assert push(api, project_id, git_server.url)[0] == 202
    status, body = push(api, project_id, git_server.url)
    assert status == 409 and "under way" in body["error"]["message"]
    fresh = api.call("POST", "/projects", json_body={"value": "empty"})[1]
    status, body = push(api, fresh["id"], git_server.url)
    assert status == 409 and "no version yet" in body["error"]["message"]


def test_without_a_sealing_key_a_push_is_refused_with_what_to_set(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_PUSH_KEY_FILE", raising=False)
    monkeypatch.delenv("GIT_PUSH_KMS_KEY_ID", raising=False)
    api.reload()
    project_id = project_with_versions(api, count=1)
    status, body = push(api, project_id, "https://github.com/a/b.git")
    assert status == 503 and "GIT_PUSH_KMS_KEY_ID" in body["error"]["message"]


def test_public_addresses() -> None:
    assert public_address("140.82.121.4") and public_address("2606:4700::1111")
    for private in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "::1", "fe80::1%eth0"):
        assert not public_address(private), private
    assert not public_address("::ffff:10.0.0.1") and not public_address("100.64.0.1") and not public_address("0.0.0.0")  # noqa: S104


def test_a_push_whose_job_was_lost_ends_failed_with_its_token_forgotten(
    api: Api, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qai.sweeper import PUSH_LOST, sweep

    project_id = project_with_versions(api, count=1)
    assert push(api, project_id, "https://github.com/a/b.git")[0] == 202
    assert sweep(api.deps).pushes_ended == 0  # a fresh push waits for its job
    monkeypatch.setenv("GIT_PUSH_STALE_SECONDS", "1")
    api.reload()
    with psycopg.connect(env, autocommit=True) as conn:
        conn.execute("""UPDATE "GitPush" SET "requestedAt" = "requestedAt" - interval '1 minute'""")
    assert sweep(api.deps).pushes_ended == 1
    lost = api.call("GET", f"/projects/{project_id}/git/push")[1]
    assert lost["status"] == "FAILED" and lost["error"] == PUSH_LOST
    assert stored_token(env, project_id) is None
    assert push(api, project_id, "https://github.com/a/b.git")[0] == 202  # and a new push may start


def test_tokens_are_sealed_to_their_project(tmp_path: Path) -> None:
    import boto3
    from botocore.exceptions import ClientError
    from cryptography.exceptions import InvalidTag
    from moto import mock_aws

    from qai.sealing import KeyFileSealer, KmsSealer

    key_file = tmp_path / "keys" / "push-key"
    sealer = KeyFileSealer(key_file)
    sealed = sealer.seal(TOKEN, project_id="p1")
    assert TOKEN.encode() not in sealed and sealer.unseal(sealed, project_id="p1") == TOKEN
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_bytes()) == 32
    assert KeyFileSealer(key_file).unseal(sealed, project_id="p1") == TOKEN  # another process, the same key
    with pytest.raises(InvalidTag):
        sealer.unseal(sealed, project_id="p2")
    assert sealer.seal(TOKEN, project_id="p1") != sealed  # a fresh nonce each time
    with mock_aws():
        key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
        kms = KmsSealer(key_id)
        sealed = kms.seal(TOKEN, project_id="p1")
        assert TOKEN.encode() not in sealed and kms.unseal(sealed, project_id="p1") == TOKEN
        with pytest.raises(ClientError, match="InvalidCiphertext"):
            kms.unseal(sealed, project_id="p2")


def test_a_push_the_queue_refuses_fails_at_once_and_forgets_its_token(
    api: Api, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = project_with_versions(api, count=1)

    def refused(**_: str) -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(api.deps.queue, "enqueue_push_job", refused)
    status, push_ = push(api, project_id, "https://github.com/a/b.git")
    assert status == 202 and push_["status"] == "FAILED" and "could not be queued" in push_["error"]
    assert stored_token(env, project_id) is None
    monkeypatch.undo()
