"""A small HTTP server that speaks the Anthropic Messages API with scripted replies.

Point ``ANTHROPIC_BASE_URL`` at it and the real ``anthropic`` SDK and the real agent loop run
against it: tool_use blocks, stop reasons, usage, error statuses with their retry headers. The
agent model's calls take the scripted replies in order; calls to any other model (the fast model's
title and reply) get short canned answers. Used by the tests, the end-to-end test and the benchmark.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHARS_PER_TOKEN = 4
USAGE = {"input_tokens": 120, "output_tokens": 40, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 30}


@dataclass(frozen=True)
class Reply:
    """One scripted answer: content blocks and a stop reason, or an HTTP error."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    status: int = 200
    error_type: str = ""
    delay_seconds: float = 0.0
    # Streamed (the request asked for ``stream``): the pause between two chunks of the reply.
    chunk_seconds: float = 0.0


def text(value: str) -> Reply:
    return Reply(content=[{"type": "text", "text": value}])


def summary(value: str = "Built the app.") -> Reply:
    return text(f"<task_summary>\n{value}\n</task_summary>")


def tool(name: str, arguments: dict[str, Any], *, note: str = "") -> Reply:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": note}] if note else []
    blocks.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": arguments})
    return Reply(content=blocks, stop_reason="tool_use")


def write_files(files: dict[str, str]) -> Reply:
    return tool("createOrUpdateFiles", {"files": [{"path": p, "content": c} for p, c in files.items()]})


def terminal(command: str) -> Reply:
    return tool("terminal", {"command": command})


def edit_file(path: str, *edits: tuple[str, str]) -> Reply:
    return tool("editFile", {"path": path, "edits": [{"oldText": old, "newText": new} for old, new in edits]})


def read_files(paths: list[str]) -> Reply:
    return tool("readFiles", {"files": paths})


def cut_off(partial: str) -> Reply:
    return Reply(content=[{"type": "text", "text": partial}], stop_reason="max_tokens")


def error(status: int, error_type: str) -> Reply:
    return Reply(status=status, error_type=error_type)


def request_prompt(request: dict[str, Any]) -> str:
    """What the user asked for, as the agent's first message quotes it."""
    first = request["messages"][0]["content"]
    text = first if isinstance(first, str) else "".join(block.get("text", "") for block in first)
    return text.rsplit("<request>", 1)[-1].split("</request>", 1)[0].strip()


def page_from_request(request: dict[str, Any]) -> Reply:
    """A responder for any number of concurrent runs: write a page naming the request, then finish."""
    if len(request.get("messages", [])) > 1:
        return summary("Wrote a page for the request.")
    return write_files({"app/page.tsx": page_naming(request_prompt(request))})


def page_naming(prompt: str) -> str:
    """The Next.js page that ``page_from_request`` writes: a heading with the prompt."""
    return f"export default function Home() {{\n  return <h1>{prompt}</h1>;\n}}\n"


def stream_events(message: dict[str, Any], chunk_chars: int) -> Iterator[dict[str, Any]]:
    """The server-sent events of ``message``: its text and tool inputs cut into chunks."""
    usage = message["usage"]
    yield {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": usage}}
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            whole, delta = json.dumps(block["input"]), "input_json_delta"
        else:
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            whole, delta = block["text"], "text_delta"
        for start in range(0, len(whole), chunk_chars):
            piece = whole[start : start + chunk_chars]
            body = (
                {"type": delta, "partial_json": piece}
                if delta == "input_json_delta"
                else {"type": delta, "text": piece}
            )
            yield {"type": "content_block_delta", "index": index, "delta": body}
        yield {"type": "content_block_stop", "index": index}
    final_usage = {"output_tokens": usage["output_tokens"]}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": final_usage,
    }
    yield {"type": "message_stop"}


class ScriptedModelServer:
    def __init__(self, agent_model: str = "claude-sonnet-5-5") -> None:
        self.agent_model = agent_model
        self.requests: list[dict[str, Any]] = []
        # When each request arrived (time.perf_counter()): a benchmark's "time to the first model call".
        self.received_at: list[float] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.title = "Todo App"
        self.reply = "Your todo app is ready. Add a few tasks and try it out!"
        self.fast_model_error: Reply | None = None
        # Answers the agent model when the script is empty; None answers 500 instead.
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        # Time spent answering, measured inside the server: the "model latency" a benchmark subtracts.
        self.busy_seconds = 0.0
        # Streamed replies: characters per chunk, the pause between chunks, and each event sent with when.
        self.chunk_chars = 64
        self.chunk_seconds = 0.0
        # A model that writes at a steady rate: the pause between chunks follows from their size
        # (about 4 characters a token), and the usage counts the reply's own output tokens.
        self.tokens_per_second: float | None = None
        # Each event streamed, with its wall-clock time (time.time(): comparable with the database's).
        self.streamed: list[tuple[dict[str, Any], float]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-model", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ScriptedModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def agent_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == self.agent_model]

    def remaining(self) -> int:
        return len(self._script)

    def _answer(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.received_at.append(time.perf_counter())
            if request.get("model") != self.agent_model:
                if self.fast_model_error is not None:
                    return self.fast_model_error
                return text(f"{self.title}\n\n{self.reply}")  # the title and the reply (prompts.py)
            if self._script:
                return self._script.popleft()
            return self.responder(request) if self.responder else error(500, "api_error")

    def usage_of(self, content: list[dict[str, Any]]) -> dict[str, int]:
        """The usage a reply reports: the fixed USAGE, or at a set rate its own output tokens."""
        if self.tokens_per_second is None:
            return USAGE
        return {**USAGE, "output_tokens": max(1, len(json.dumps(content)) // CHARS_PER_TOKEN)}

    def chunk_pause(self) -> float:
        if self.tokens_per_second is None:
            return self.chunk_seconds
        return self.chunk_chars / CHARS_PER_TOKEN / self.tokens_per_second

    def _sent(self, out: Any, event: dict[str, Any]) -> None:
        """One server-sent event written out (a chunk of the response), and noted with when."""
        data = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        out.write(b"%x\r\n%s\r\n" % (len(data), data))
        out.flush()
        with self._lock:
            self.streamed.append((event, time.time()))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"model_server": self})


class _Handler(BaseHTTPRequestHandler):
    """The Messages API's one route, answered from the server's script (``model_server``)."""

    model_server: ScriptedModelServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    started = 0.0  # when the request being answered began to be parsed

    def parse_request(self) -> bool:
        # The server's time starts with the request's head, which the Messages API parses on its side.
        self.started = time.perf_counter()
        return super().parse_request()

    def do_POST(self) -> None:
        started = self.started
        try:
            self._answer_post()
        finally:
            with self.model_server._lock:
                self.model_server.busy_seconds += time.perf_counter() - started

    def _answer_post(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path.split("?")[0] != "/v1/messages":
            self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "no route"}})
            return
        reply = self.model_server._answer(request)
        if reply.delay_seconds:
            threading.Event().wait(reply.delay_seconds)
        if reply.status != 200:
            body = {"type": "error", "error": {"type": reply.error_type, "message": reply.error_type}}
            self._send(reply.status, body, {"retry-after-ms": "1", "x-should-retry": "true"})
            return
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model"),
            "content": reply.content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": self.model_server.usage_of(reply.content),
        }
        if request.get("stream"):
            self._stream(message, reply.chunk_seconds or self.model_server.chunk_pause())
        else:
            self._send(200, message)

    def _stream(self, message: dict[str, Any], chunk_seconds: float) -> None:
        """The message as the Messages API streams it (server-sent events), in small chunks."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        # Chunked, on a connection kept for the next call, as the Messages API streams.
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for event in stream_events(message, self.model_server.chunk_chars):
                if event["type"] == "content_block_delta" and chunk_seconds:
                    threading.Event().wait(chunk_seconds)
                self.model_server._sent(self.wfile, event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client closed the stream (a cancelled run)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:12]}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass
