"""A model call as it streams: what the model is writing, shown in the run within a second, and a
cancel that closes the stream at once instead of waiting for the call to end.

Progress is a ``writing`` event (``writing app/page.tsx (3.2 kB so far)``, data ``{turn, tool,
path, bytes}``) recorded and written at most once a second per run, so a long reply costs the
database one small write a second; a change is written as its second ends, so none waits longer
(a call done within its first second shows only its result). The writes come from a watcher thread, one per
call (with its own database connection, closed with it), which also asks whether the run was
cancelled while the call is under way and closes the stream when it was; the loop then stops the run.

The call's raw events are gathered into its message here, as they come: a text's pieces joined and a
tool call's input parsed once, when its block ends (the SDK's stream helper parses the input so far
again on every piece, and builds an event object more for each).
"""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import anthropic
from jiter import from_json

from qai_agent.pricing import UsageMeter
from qai_agent.run_log import RunLog, RunStoppedError

PROGRESS_INTERVAL_SECONDS = 1.0
# How often the watcher asks, and how old the answer it gets may be (the log reads the database).
WATCH_SECONDS = 0.25
CANCEL_MAX_AGE_SECONDS = 0.5
VERBS = {"createOrUpdateFiles": "writing", "editFile": "editing", "readFiles": "choosing files to read"}


def _size(count: int) -> str:
    return f"{count / 1000:.1f} kB" if count >= 1000 else f"{count} bytes"


def _partial_input(pieces: list[str]) -> Any:
    """A tool call's input as far as it has come (an unfinished string left out), or None."""
    try:
        return from_json("".join(pieces).encode(), partial_mode=True) if pieces else None
    except ValueError:
        return None


def _path_in(tool: str | None, snapshot: Any) -> str | None:
    """The file a tool call is about, from its input as parsed so far: the last one named."""
    if not isinstance(snapshot, dict):
        return None
    if tool == "editFile" and isinstance(snapshot.get("path"), str):
        return str(snapshot["path"])
    files = snapshot.get("files")
    if tool == "createOrUpdateFiles" and isinstance(files, list):
        for file in reversed(files):
            path = file.get("path") if isinstance(file, dict) else None
            if isinstance(path, str):
                return path
    return None


class StreamProgress:
    """What the model has written so far in this call, as ``writing`` events, at most one a second.

    The loop's thread reports each raw stream event (``on_event``); the call's watcher thread writes
    (``write_if_due``) each second's changes as the second ends, so none waits longer than a second.
    The file a tool call writes is read from its input when a change is written, not on every piece."""

    def __init__(self, log: RunLog | None, turn: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._turn = turn
        self._clock = clock
        self.changed = threading.Condition()
        # As if written at the call's start: a call done within a second shows only its result.
        self._recorded_at = clock()
        self._tool: str | None = None
        self._path: str | None = None
        self._input: list[str] = []  # the tool call's input so far, in pieces
        self._bytes = 0
        self._shown_bytes = 0

    def on_event(self, event: Any) -> None:
        with self.changed:
            was_pending = self._bytes != self._shown_bytes
            if event.type == "content_block_start":
                block = event.content_block
                self._tool = block.name if block.type == "tool_use" else None
                self._path, self._input, self._bytes, self._shown_bytes = None, [], 0, 0
            elif event.type != "content_block_delta":
                return
            elif event.delta.type == "input_json_delta":
                self._bytes += len(event.delta.partial_json.encode())
                if self._tool is not None:
                    self._input.append(event.delta.partial_json)
            elif event.delta.type == "text_delta":
                self._bytes += len(event.delta.text.encode())
            else:
                return
            # The watcher wakes at least every WATCH_SECONDS and then waits for the pending change's
            # due time: it is woken only when a change falls due before it would wake anyway, not
            # for every event (a reply streams thousands of them).
            due = None if was_pending else self.seconds_until_due()
            if due is not None and due < WATCH_SECONDS:
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
            self._path = _path_in(self._tool, _partial_input(self._input)) or self._path
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
    no write told it meanwhile).

    The call neither waits for the thread to start nor to end: the thread acts (a write, a question,
    the close) only while it holds ``_acting`` and the call is not over, and the call's end takes
    ``_acting`` first, so that once it has ended the thread has done all it will do for it."""

    def __init__(self, log: RunLog | None, progress: StreamProgress, close: Callable[[], None]) -> None:
        self._log = log
        self._progress = progress
        self._close = close
        self._done = False
        self._acting = threading.Lock()
        self.cancelled = False

    def __enter__(self) -> StreamWatch:
        if self._log is not None:
            _thread.start_new_thread(self._watch, ())
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        with self._acting, self._progress.changed:
            self._done = True
            self._progress.changed.notify()

    def _watch(self) -> None:
        assert self._log is not None
        try:
            while self._wait():
                with self._acting:
                    if self._done:
                        return
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


class StreamedMessage:
    """The call's message, gathered from its raw events as the SDK's stream helper gathers it."""

    def __init__(self) -> None:
        self.message: anthropic.types.Message | None = None  # from message_start on
        self._text: dict[int, list[str]] = {}
        self._input: dict[int, list[str]] = {}

    def add(self, event: Any) -> None:
        if event.type == "message_start":
            self.message = event.message
            return
        message = self.message
        if message is None:
            raise RuntimeError(f'Unexpected event order, got {event.type} before "message_start"')
        if event.type == "content_block_start":
            message.content.append(event.content_block)
        elif event.type == "content_block_delta":
            self._add_piece(message.content[event.index], event.index, event.delta)
        elif event.type == "content_block_stop":
            self._finish_block(event.index)
        elif event.type == "message_delta":
            self._add_delta(message, event)

    def _add_piece(self, block: Any, index: int, delta: Any) -> None:
        if delta.type == "text_delta":
            self._text.setdefault(index, []).append(delta.text)
        elif delta.type == "input_json_delta":
            self._input.setdefault(index, []).append(delta.partial_json)
        elif delta.type == "citations_delta":
            block.citations = [*(block.citations or []), delta.citation]
        elif delta.type == "thinking_delta":
            block.thinking += delta.thinking
        elif delta.type == "signature_delta":
            block.signature = delta.signature

    def _finish_block(self, index: int) -> None:
        assert self.message is not None
        block: Any = self.message.content[index]
        if (text := self._text.pop(index, None)) is not None and block.type == "text":
            block.text += "".join(text)
        if (pieces := self._input.pop(index, None)) is not None and hasattr(block, "input"):
            try:
                block.input = from_json("".join(pieces).encode(), partial_mode=True)
            except ValueError as exc:
                raise ValueError(f"Unable to parse tool parameter JSON from model: {exc}") from exc

    @staticmethod
    def _add_delta(message: anthropic.types.Message, event: Any) -> None:
        delta, usage = event.delta, event.usage
        message.stop_reason = delta.stop_reason
        message.stop_sequence = delta.stop_sequence
        for name in ("stop_details", "container"):
            if getattr(delta, name, None) is not None:
                setattr(message, name, getattr(delta, name))
        # Totals so far, not increments; those left out keep message_start's value.
        message.usage.output_tokens = usage.output_tokens
        for name in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "server_tool_use",
            "output_tokens_details",
        ):
            if getattr(usage, name, None) is not None:
                setattr(message.usage, name, getattr(usage, name))

    def final(self) -> anthropic.types.Message:
        """The whole message, once the stream has ended."""
        if self.message is None:
            raise RuntimeError("The model's stream ended before its message started")
        for index in [*self._text, *self._input]:  # blocks the stream did not end
            self._finish_block(index)
        return self.message


def streamed_call(
    client: anthropic.Anthropic, *, log: RunLog | None, turn: int, meter: UsageMeter, model: str, **request: Any
) -> anthropic.types.Message:
    """One model call, streamed: its progress shown, a cancel closing it at once (RunStoppedError,
    the tokens of the cut-short call counted), its usage added to ``meter``."""
    progress = StreamProgress(log, turn)
    gathered = StreamedMessage()
    with client.messages.create(model=model, stream=True, **request) as stream:
        with StreamWatch(log, progress, stream.close) as watch:
            try:
                for event in stream:
                    gathered.add(event)
                    progress.on_event(event)
            except Exception:
                if not watch.cancelled:
                    raise
        if watch.cancelled:
            if gathered.message is not None:  # else closed before the message started: nothing counted
                meter.add(gathered.message.usage, model)
            raise RunStoppedError("The user cancelled the run during a model call")
    response = gathered.final()
    meter.add(response.usage, model)
    return response
