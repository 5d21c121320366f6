"""How an attempt at a run can end other than with a reply: what the worker and its handler do next."""

from __future__ import annotations


class FinalRunError(Exception):
    """A failure that another attempt would not fix (configuration, no summary, the deadline).

    ``reply`` is what the user is told, when there is more to say than the generic error reply.
    """

    def __init__(self, message: str, *, reply: str | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class RetryLaterError(Exception):
    """The queue should deliver this message again, after ``delay_seconds``."""

    def __init__(self, message: str, delay_seconds: int) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


class LostRunError(Exception):
    """The run is no longer this worker's to finish (lease taken over, or the project deleted)."""
