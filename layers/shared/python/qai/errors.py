"""Typed errors with the tRPC-style codes of the original app; one place maps them to HTTP."""

from __future__ import annotations


class QaiError(Exception):
    """An error whose message is safe to show to the caller."""

    code = "INTERNAL_SERVER_ERROR"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(QaiError):
    code = "BAD_REQUEST"
    status = 400


class UnauthorizedError(QaiError):
    code = "UNAUTHORIZED"
    status = 401


class NotFoundError(QaiError):
    code = "NOT_FOUND"
    status = 404


class ConflictError(QaiError):
    code = "CONFLICT"
    status = 409


class TooManyRequestsError(QaiError):
    code = "TOO_MANY_REQUESTS"
    status = 429


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


class ServiceUnavailableError(QaiError):
    """Something this deployment needs for the request is not set up (its message says what)."""

    code = "SERVICE_UNAVAILABLE"
    status = 503
