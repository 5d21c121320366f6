"""The run's events, recorded as they happen: buffered within a model turn, written at its end in
one round trip ("RunEvent", qai/run_events.py), so a client polling GET …/run sees each turn.

Bounded: at most MAX_EVENTS events per run (one more says the rest were left out) and MAX_TEXT
characters of text per event; a command's output is its last MAX_OUTPUT characters. Recording is
best effort: an event that cannot be written is logged, never a reason to fail the run.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from qai import db, run_events

logger = Logger()

MAX_EVENTS = 400
MAX_TEXT = 500
MAX_OUTPUT = 2000


class RunLog:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._recorded = 0
        self._pending: list[tuple[str, str, dict[str, Any]]] = []

    def record(self, kind: str, text: str, **data: Any) -> None:
        if self._recorded > MAX_EVENTS:
            return
        if self._recorded == MAX_EVENTS:
            kind, text, data = "error", f"More than {MAX_EVENTS} events: the rest are not recorded.", {}
        self._pending.append((kind, text[:MAX_TEXT], data))
        self._recorded += 1

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            db.in_autocommit(lambda conn: run_events.append(conn, run_id=self.run_id, events=pending))
        except Exception:
            logger.warning("Run events not recorded", extra={"events": len(pending)}, exc_info=True)


def tool_event(log: RunLog, name: str, arguments: Any, content: str, is_error: bool) -> None:
    """What a tool call did, in words a person follows."""
    arguments = arguments if isinstance(arguments, dict) else {}
    if name == "terminal":
        status = content.split("\n", 1)[0]  # "exit code N" or "timed out"
        log.record(
            "command", str(arguments.get("command", "")), status=status, output=content[-MAX_OUTPUT:], error=is_error
        )
    elif name == "createOrUpdateFiles":
        paths = [str(f.get("path")) for f in arguments.get("files", []) if isinstance(f, dict)][:50]
        log.record("files", content if is_error else f"Wrote {len(paths)} file(s)", written=paths, error=is_error)
    elif name == "readFiles":
        paths = [str(p) for p in arguments.get("files", [])][:50]
        log.record("files", f"Read {len(paths)} file(s)", read=paths, error=is_error)
    else:
        log.record("error", f"Unknown tool {name}")
