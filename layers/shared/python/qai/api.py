"""What the API functions share: the resolver set-up, the error mapping and the caller's identity.

The error → status mapping lives here and nowhere else: typed QaiErrors keep their code,
request validation becomes 400 with the offending field named, an unknown route 404, and any
other exception a 500 whose text says nothing of the internals.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import psycopg
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel

from qai.dependencies import Dependencies
from qai.errors import NotFoundError, QaiError, UnauthorizedError, error_body
from qai.models import Caller, Download, ErrorResponse, storable_text

logger = Logger()
SIGN_IN = "Sign in to continue."

_ERROR_DESCRIPTIONS = {
    400: "BAD_REQUEST: malformed JSON or an invalid field (the message names it)",
    401: "UNAUTHORIZED: no authenticated caller",
    404: "NOT_FOUND: no such resource for this caller",
    409: "CONFLICT: the project is busy (a run or a push under way) or has no version yet",
    429: "TOO_MANY_REQUESTS: no credits left",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE: the database cannot be reached right now; try again after Retry-After seconds",
}
COMMON_ERRORS = (400, 401, 404, 500, 503)
RETRY_AFTER_SECONDS = 5
# The largest body this API takes is a prompt with its images (4 MiB, in base64): Lambda's own 6 MB
# limit on a request. Anything larger is refused before parsing.
MAX_BODY_CHARS = 6 * 2**20


def documented_responses(
    *,
    ok: type[BaseModel] | None = None,
    created: type[BaseModel] | None = None,
    accepted: type[BaseModel] | None = None,
    no_content: bool = False,
    errors: tuple[int, ...] = COMMON_ERRORS,
) -> dict[int, OpenAPIResponse]:
    """The OpenAPI responses of a route: its 200, 201, 202 or 204, and the error bodies. (Powertools
    documents a route's 200 only when no responses are given, so it is named here too.)"""
    responses: dict[int, OpenAPIResponse] = {
        status: {
            "description": _ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
        for status in errors
    }
    if ok is not None:
        responses[200] = {"description": "OK", "content": {"application/json": {"model": ok}}}
    if created is not None:
        responses[201] = {"description": "Created", "content": {"application/json": {"model": created}}}
    if accepted is not None:
        responses[202] = {"description": "Accepted", "content": {"application/json": {"model": accepted}}}
    if no_content:
        responses[204] = {"description": "No content", "content": {}}  # no body: Powertools would add one
    return responses


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=error_body(code, message), headers=headers
    )


def _describe_validation_errors(errors: Sequence[Any]) -> str:
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return "body: malformed JSON"
    # loc is ("body", "value"), ("query", "limit"), ("body",) for a body that is not an object …
    field = ".".join(str(part) for part in first.get("loc", ())[1:] if not isinstance(part, int))
    where = field or str(first.get("loc", ("body",))[0])
    return f"{where}: {first.get('msg', 'invalid')}"


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(QaiError)
    def _typed_error(exc: QaiError) -> Response[Any]:
        return _error_response(exc.status, exc.code, exc.message)

    # Powertools validates the request before the route runs; an anonymous caller still hears 401
    # first, so that nothing about the API's shape is revealed before authentication.
    def _bad_request(message: str) -> Response[Any]:
        if _jwt_subject(app) is None:
            return _typed_error(UnauthorizedError(SIGN_IN))
        return _error_response(400, "BAD_REQUEST", message)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[Any]:
        return _bad_request(_describe_validation_errors(exc.errors()))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response[Any]:
        return _bad_request("body: Content-Type must be application/json")

    # Powertools decodes a base64 body as UTF-8 before validating it.
    @app.exception_handler(UnicodeDecodeError)
    def _undecodable_body(_: UnicodeDecodeError) -> Response[Any]:
        return _bad_request("body: malformed JSON")

    @app.not_found
    def _no_route(_: Exception) -> Response[Any]:
        event = app.current_event
        return _error_response(404, "NOT_FOUND", f"No route for {event.http_method} {event.path}")

    # The database down, restarting or failing over (after the one reconnect db.in_transaction makes):
    # the client should come back shortly, and nothing of the request was committed.
    @app.exception_handler(psycopg.OperationalError)
    def _database_unavailable(_: psycopg.OperationalError) -> Response[Any]:
        logger.warning("Database unavailable", exc_info=True)
        message = "The service cannot reach its database right now. Try again shortly."
        return _error_response(503, "SERVICE_UNAVAILABLE", message, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response[Any]:
        logger.exception("Unhandled error")
        return _error_response(500, "INTERNAL_SERVER_ERROR", "Something went wrong on our side.")

    return app


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    """Route an API Gateway event, with ``deps`` for the routes (``dependencies(app)``). Bodies are
    JSON only: Powertools would also parse form and multipart bodies (and then report their JSON
    fields missing), so those are refused as an unsupported content type, which the handler above
    answers 400 naming the Content-Type."""
    body = event.get("body") or ""
    authenticated = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims", {})
    if len(body) > MAX_BODY_CHARS and authenticated.get("sub"):  # anonymous callers hear 401 first
        return {
            "statusCode": 413,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(error_body("PAYLOAD_TOO_LARGE", f"body: at most {MAX_BODY_CHARS} bytes")),
            "isBase64Encoded": False,
        }
    headers = event.get("headers") or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "").strip().lower()
    if event.get("body") and content_type and not content_type.startswith("application/json"):
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        event = {**event, "headers": {**headers, "content-type": "application/x-not-json"}}
    # Powertools' way to share data with routes: the context lives for this request only.
    app.append_context(deps=deps)
    return app.resolve(event, context)


def dependencies(app: APIGatewayHttpResolver) -> Dependencies:
    """The dependencies of the request being handled."""
    deps: Dependencies = app.context["deps"]
    return deps


def _jwt_subject(app: APIGatewayHttpResolver) -> str | None:
    sub = app.current_event.request_context.authorizer.jwt_claim.get("sub")
    # A subject the database cannot store names nobody (a verified token would never carry one).
    return sub if isinstance(sub, str) and sub and storable_text(sub) else None


def caller(app: APIGatewayHttpResolver) -> Caller:
    """The authenticated user: the JWT ``sub`` claim that API Gateway's authorizer verified, and
    the plan claim that sets their credits."""
    sub = _jwt_subject(app)
    if sub is None:
        raise UnauthorizedError(SIGN_IN)
    plan = app.current_event.request_context.authorizer.jwt_claim.get(dependencies(app).settings.credits_plan_claim)
    return Caller(user_id=sub, plan=plan if isinstance(plan, str) and plan else None)


def resource_id(raw: str, kind: str) -> str:
    """A path id in canonical form; anything that is not a UUID names nothing, so it is a 404."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFoundError(f"{kind} not found") from None


def file_responses(
    description: str, content_type: str, errors: tuple[int, ...] = COMMON_ERRORS
) -> dict[int, OpenAPIResponse]:
    """The documented answers of a download: the file, or a link to it when too large for a response."""
    return {
        **documented_responses(errors=errors),
        200: {
            "description": description,
            "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        302: {"description": "Found: a short-lived link to the file (too large for one response)", "content": {}},
    }


def download_response(download: Download, content_type: str) -> Response[str]:
    """The file as an attachment, or 302 to its short-lived link."""
    if download.url is not None:
        return Response(status_code=302, headers={"Location": download.url}, body="")
    # Encoded here rather than given as bytes: response validation would decode bytes as UTF-8 text.
    response = Response(
        status_code=200,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
        body=base64.b64encode(download.data or b"").decode("ascii"),
    )
    response.base64_encoded = True
    return response


Handle = Callable[[dict[str, Any], Any, Dependencies], dict[str, Any]]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def api_handlers(app: APIGatewayHttpResolver, logger: Logger) -> tuple[Handle, LambdaHandler]:
    """An API function's entry points: ``handle(event, context, deps)`` (the local stack and tests
    pass their own dependencies) and ``lambda_handler``, whose dependencies are built once per
    execution environment, on its first request."""
    environment_dependencies = cache(Dependencies.from_environment)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    def handle(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
        return resolve(app, event, context, deps)

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handle(event, context, environment_dependencies())

    return handle, lambda_handler
