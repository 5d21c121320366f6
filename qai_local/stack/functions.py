"""Load the Lambda functions in one process, with a Lambda context of their own, as AWS would run them."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a module name of its own (all three share ``app``)."""
    module_name = f"qai_function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


# Powertools' HTTP resolvers keep the request they handle in a class attribute that every resolver
# shares (BaseRouter.current_event: the caller, the query, the body). A Lambda execution environment
# takes one request at a time; a process serving requests on several threads must hand them to the
# API functions one at a time too, or a request can be answered with another's event.
_api_requests = threading.Lock()


def invoke_api(function: str, event: dict[str, Any], context: Any, deps: Any = None) -> dict[str, Any]:
    """An API function's answer to an API Gateway event, one request at a time in this process:
    with ``deps`` when given, else with those the function builds from the environment, as in Lambda."""
    module = load_function(function)
    with _api_requests:
        response: dict[str, Any] = (
            module.lambda_handler(event, context) if deps is None else module.handle(event, context, deps)
        )
    return response


class LocalLambdaContext:
    """The parts of Lambda's context object that the handlers and Powertools read."""

    memory_limit_in_mb = 512

    def __init__(self, function_name: str = "qai-local", timeout_seconds: float = 900.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
