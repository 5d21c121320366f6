"""A model call as it streams: what the model is writing, shown in the run within a second, and a
cancel that closes the stream at once instead of waiting for the call to end.

Progress is a ``writing`` event (``writing app/page.tsx (3.2 kB so far)``, data ``{turn, tool,
path, bytes}``) recorded and written at most once a second per run, so a long reply costs the
database one small write a second. A watcher thread asks whether the run was cancelled while the
call is under way and closes the stream when it was; the loop then stops the run.
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
WATCH_SECONDS = 0.5
CANCEL_MAX_AGE_SECONDS = 1.0
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
    """Turns the SDK's stream events into ``writing`` events, at most one a second."""

    def __init__(self, log: RunLog | None, turn: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._turn = turn
        self._clock = clock
        self._recorded_at = clock()
        self._tool: str | None = None
        self._path: str | None = None
        self._bytes = 0
        self._shown_bytes = 0

    def on_event(self, event: Any) -> None:
        if event.type == "content_block_start":
            block = event.content_block
            self._tool = block.name if block.type == "tool_use" else None
            self._path, self._bytes = None, 0
        elif event.type == "input_json":
            self._bytes += len(event.partial_json.encode())
            self._path = _path_in(self._tool, event.snapshot) or self._path
        elif event.type == "text":
            self._bytes += len(event.text.encode())
        else:
            return
        if self._clock() - self._recorded_at >= PROGRESS_INTERVAL_SECONDS and self._bytes != self._shown_bytes:
            self._record()

    def describe(self) -> str:
        so_far = f"({_size(self._bytes)} so far)"
        if self._tool is None:
            return f"thinking aloud {so_far}"
        if self._tool == "terminal":
            return f"writing a command {so_far}"
        verb = VERBS.get(self._tool, f"calling {self._tool}")
        return f"{verb} {self._path} {so_far}" if self._path else f"{verb} {so_far}"

    def _record(self) -> None:
        self._recorded_at = self._clock()
        self._shown_bytes = self._bytes
        if self._log is not None:
            data = {"turn": self._turn, "tool": self._tool, "path": self._path, "bytes": self._bytes}
            self._log.record("writing", self.describe(), **data)
            self._log.flush(now=True)


class CancelWatch:
    """While a model call streams: a thread that closes the stream once the run is cancelled."""

    def __init__(self, log: RunLog | None, close: Callable[[], None]) -> None:
        self._log = log
        self._close = close
        self._done = threading.Event()
        self.cancelled = False
        self._thread = threading.Thread(target=self._watch, name="qai-cancel-watch", daemon=True)

    def __enter__(self) -> CancelWatch:
        if self._log is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        assert self._log is not None
        try:
            while not self._done.wait(WATCH_SECONDS):
                if self._log.stop_requested(max_age=CANCEL_MAX_AGE_SECONDS):
                    self.cancelled = True
                    self._close()
                    return
        finally:
            self._log.release_connection()


def streamed_call(
    client: anthropic.Anthropic, *, log: RunLog | None, turn: int, meter: UsageMeter, model: str, **request: Any
) -> anthropic.types.Message:
    """One model call, streamed: its progress shown, a cancel closing it at once (RunStoppedError,
    the tokens of the cut-short call counted), its usage added to ``meter``."""
    progress = StreamProgress(log, turn)
    with client.messages.stream(model=model, **request) as stream:
        with CancelWatch(log, stream.close) as watch:
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
