"""A model call as it streams: what the model is writing, shown in the run within a second, and a
cancel that closes the stream at once instead of waiting for the call to end.

Progress is a ``writing`` event (``writing app/page.tsx (3.2 kB so far)``, data ``{turn, tool,
path, bytes}``) recorded and written at most once a second per run, so a long reply costs the
database one small write a second; a change is written as its second ends, so none waits longer
(a call done within its first second shows only its result). The writes come from a watcher thread, one per
call (with its own database connection, closed with it), which also asks whether the run was
cancelled while the call is under way and closes the stream when it was; the loop then stops the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import anthropic

from qai_agent.pricing import UsageMeter
from qai_agent.run_log import RunLog, RunStoppedError

PROGRESS_INTERVAL_SECONDS = 1.0
# How often the watcher asks, and how old the answer it gets may be (the log reads the database).
WATCH_SECONDS = 0.25
CANCEL_MAX_AGE_SECONDS = 0.5
VERBS = {"createOrUpdateFiles": "writing", "editFile": "editing", "readFiles": "choosing files to read"}


def _size(count: int) -> str:
    return f"{count / 1000:.1f} kB" if count >= 1000 else f"{count} bytes"


def _path_in(tool: str | None, snapshot: Any) -> str | None:
    """The file a tool call is about, from its input as parsed so far."""
    if not isinstance(snapshot, dict):
        return None
    if tool == "editFile" and isinstance(snapshot.get("path"), str):
        return str(snapshot["path"])
    files = snapshot.get("files")
    if tool == "createOrUpdateFiles" and isinstance(files, list) and files and isinstance(files[-1], dict):
        path = files[-1].get("path")
        return path if isinstance(path, str) else None
    return None


class StreamProgress:
    """What the model has written so far in this call, as ``writing`` events, at most one a second.

    The loop's thread reports each stream event (``on_event``); the call's watcher thread writes
    (``write_if_due``) each second's changes as the second ends, so none waits longer than a second."""

    def __init__(self, log: RunLog | None, turn: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._turn = turn
        self._clock = clock
        self.changed = threading.Condition()
        # As if written at the call's start: a call done within a second shows only its result.
        self._recorded_at = clock()
        self._tool: str | None = None
        self._path: str | None = None
        self._bytes = 0
        self._shown_bytes = 0

    def on_event(self, event: Any) -> None:
        with self.changed:
            if event.type == "content_block_start":
                block = event.content_block
                self._tool = block.name if block.type == "tool_use" else None
                self._path, self._bytes, self._shown_bytes = None, 0, 0
            elif event.type == "input_json":
                self._bytes += len(event.partial_json.encode())
                self._path = _path_in(self._tool, event.snapshot) or self._path
            elif event.type == "text":
                self._bytes += len(event.text.encode())
            else:
                return
            self.changed.notify()

    def seconds_until_due(self) -> float | None:
        """How long until the pending change may be written; None when nothing is pending."""
        with self.changed:
            if self._bytes == self._shown_bytes:
                return None
            return max(0.0, self._recorded_at + PROGRESS_INTERVAL_SECONDS - self._clock())

    def write_if_due(self) -> None:
        with self.changed:
            due = self.seconds_until_due()
            if due is None or due > 0 or self._log is None:
                return
            self._recorded_at = self._clock()
            self._shown_bytes = self._bytes
            data = {"turn": self._turn, "tool": self._tool, "path": self._path, "bytes": self._bytes}
            text = self.describe()
        self._log.record("writing", text, **data)
        self._log.flush(now=True)

    def describe(self) -> str:
        so_far = f"({_size(self._bytes)} so far)"
        if self._tool is None:
            return f"thinking aloud {so_far}"
        if self._tool == "terminal":
            return f"writing a command {so_far}"
        verb = VERBS.get(self._tool, f"calling {self._tool}")
        return f"{verb} {self._path} {so_far}" if self._path else f"{verb} {so_far}"


class StreamWatch:
    """While a model call streams, a thread of its own: writes the call's progress when due, and
    closes the stream once the run is cancelled (asking at most every CANCEL_MAX_AGE_SECONDS when
    no write told it meanwhile)."""

    def __init__(self, log: RunLog | None, progress: StreamProgress, close: Callable[[], None]) -> None:
        self._log = log
        self._progress = progress
        self._close = close
        self._done = False
        self.cancelled = False
        self._thread = threading.Thread(target=self._watch, name="qai-stream-watch", daemon=True)

    def __enter__(self) -> StreamWatch:
        if self._log is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        with self._progress.changed:
            self._done = True
            self._progress.changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        assert self._log is not None
        try:
            while self._wait():
                self._progress.write_if_due()
                if self._log.stop_requested(max_age=CANCEL_MAX_AGE_SECONDS):
                    self.cancelled = True
                    self._close()
                    return
        finally:
            self._log.release_connection()

    def _wait(self) -> bool:
        """Until a write is due or it is time to ask again; False once the call has ended."""
        with self._progress.changed:
            if not self._done:
                due = self._progress.seconds_until_due()
                self._progress.changed.wait(WATCH_SECONDS if due is None else min(due, WATCH_SECONDS))
            return not self._done


def streamed_call(
    client: anthropic.Anthropic, *, log: RunLog | None, turn: int, meter: UsageMeter, model: str, **request: Any
) -> anthropic.types.Message:
    """One model call, streamed: its progress shown, a cancel closing it at once (RunStoppedError,
    the tokens of the cut-short call counted), its usage added to ``meter``."""
    progress = StreamProgress(log, turn)
    with client.messages.stream(model=model, **request) as stream:
        with StreamWatch(log, progress, stream.close) as watch:
            try:
                for event in stream:
                    progress.on_event(event)
            except Exception:
                if not watch.cancelled:
                    raise
        if watch.cancelled:
            _count_cut_short(stream, meter, model)
            raise RunStoppedError("The user cancelled the run during a model call")
        response = stream.get_final_message()
    meter.add(response.usage, model)
    return response


def _count_cut_short(stream: Any, meter: UsageMeter, model: str) -> None:
    """The tokens of a call closed mid-way: its input was read, and some output written."""
    try:
        usage = stream.current_message_snapshot.usage
    except AssertionError:  # closed before the message started: nothing was counted
        return
    meter.add(usage, model)
