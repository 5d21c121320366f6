"""The run's events, recorded as they happen: buffered within a model turn, written at its end in
one round trip ("RunEvent", qai/run_events.py), so a client polling GET …/run sees each turn. The
same round trip tells the worker whether the user asked the run to stop.

Writes are at most every FLUSH_INTERVAL_SECONDS (clients poll once a second, so a faster pace
shows nothing more), except before a command, which may run for minutes and is shown while it
runs. The last events are written in the transaction that records the reply.

Bounded: at most MAX_EVENTS events per run (one more says the rest were left out) and MAX_TEXT
characters of text per event; a command's output is its last MAX_OUTPUT characters. Recording is
best effort: an event that cannot be written is logged, never a reason to fail the run, and a write
along the way does not wait for the database's disk (the last events, with the reply, do).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aws_lambda_powertools import Logger

from qai import run_events
from qai.db import Database

logger = Logger()

MAX_EVENTS = 400
MAX_WRITING_EVENTS = 300
MAX_TEXT = 500
MAX_OUTPUT = 2000
FLUSH_INTERVAL_SECONDS = 0.5
# Between two writes, a stop is looked for at most this often: before a tool call, and while a
# command runs.
CANCEL_POLL_SECONDS = 2.0


class RunStoppedError(Exception):
    """The user cancelled the run: it ends CANCELLED at this step."""


class RunLog:
    """The run's events on their way to the database. Thread-safe: while a model call streams, a
    watcher thread asks for the cancel flag (streaming.py)."""

    def __init__(self, database: Database, run_id: str, *, cancel_requested: bool = False) -> None:
        self._database = database
        self.run_id = run_id
        self.cancel_requested = cancel_requested
        self._lock = threading.RLock()
        self._recorded = 0
        self._writing = 0
        self._pending: list[tuple[str, str, dict[str, Any]]] = []
        self._written_at = time.monotonic()  # also when the cancel flag was last read

    def record(self, kind: str, text: str, **data: Any) -> None:
        with self._lock:
            if kind == "writing":  # progress of a streamed call: bounded on its own
                if self._writing < MAX_WRITING_EVENTS:
                    self._writing += 1
                    self._pending.append((kind, text[:MAX_TEXT], data))
                return
            if self._recorded > MAX_EVENTS:
                return
            if self._recorded == MAX_EVENTS:
                kind, text, data = "error", f"More than {MAX_EVENTS} events: the rest are not recorded.", {}
            self._pending.append((kind, text[:MAX_TEXT], data))
            self._recorded += 1

    def flush(self, *, now: bool = False) -> None:
        """Write the pending events (unless the last write was under FLUSH_INTERVAL_SECONDS ago and
        ``now`` is not asked for), and learn whether the run was cancelled."""
        with self._lock:
            if not self._pending or (not now and time.monotonic() - self._written_at < FLUSH_INTERVAL_SECONDS):
                return
            self._write()

    def drain(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The pending events, handed over to be written with the run's reply."""
        with self._lock:
            pending, self._pending = self._pending, []
            return pending

    def _write(self) -> None:
        # Under the lock: the watcher's write and the loop's are one after the other, in order.
        pending = self.drain()
        try:
            asked = self._database.in_autocommit(
                lambda conn: run_events.append(conn, run_id=self.run_id, events=pending, durable=False)
            )
        except Exception:
            logger.warning("Run events not recorded", extra={"events": len(pending)}, exc_info=True)
            return
        self._written_at = time.monotonic()
        self.cancel_requested = self.cancel_requested or asked

    def stop_requested(self, max_age: float = CANCEL_POLL_SECONDS) -> bool:
        """Whether the user cancelled the run, as of at most ``max_age`` seconds ago."""
        with self._lock:
            if not self.cancel_requested and time.monotonic() - self._written_at >= max_age:
                self._write()
            return self.cancel_requested

    def release_connection(self) -> None:
        """Close the database connection of the calling thread (a watcher's, as it ends)."""
        self._database.close()

    def stop_if_requested(self) -> None:
        if self.stop_requested():
            raise RunStoppedError("The user cancelled the run")


def tool_started(log: RunLog, name: str, arguments: Any) -> None:
    """Before a tool call: stop here if the run was cancelled. A command may take minutes, so the
    events so far and the command itself are shown while it runs."""
    if name == "terminal" and isinstance(arguments, dict):
        log.record("command", str(arguments.get("command", "")), status="running")
        log.flush(now=True)
    log.stop_if_requested()


def tool_event(log: RunLog, name: str, arguments: Any, content: str, is_error: bool) -> None:
    """What a tool call did, in words a person follows."""
    arguments = arguments if isinstance(arguments, dict) else {}
    if name == "terminal":
        status = content.split("\n", 1)[0]  # "exit code N", "timed out" or "stopped"
        log.record(
            "command", str(arguments.get("command", "")), status=status, output=content[-MAX_OUTPUT:], error=is_error
        )
    elif name == "createOrUpdateFiles":
        paths = [str(f.get("path")) for f in arguments.get("files", []) if isinstance(f, dict)][:50]
        log.record("files", content if is_error else f"Wrote {len(paths)} file(s)", written=paths, error=is_error)
    elif name == "editFile":
        path = str(arguments.get("path", ""))
        log.record("files", content if is_error else f"Edited {path}", edited=[path], error=is_error)
    elif name == "listFiles":
        log.record("files", "Listed the app's files", error=is_error)
    elif name == "searchFiles":
        pattern = str(arguments.get("pattern", ""))[:200]
        log.record(
            "files", content if is_error else f"Searched the files for {pattern}", searched=pattern, error=is_error
        )
    elif name == "readFiles":
        paths = [str(p) for p in arguments.get("files", [])][:50]
        log.record("files", f"Read {len(paths)} file(s)", read=paths, error=is_error)
    else:
        log.record("error", f"Unknown tool {name}")
