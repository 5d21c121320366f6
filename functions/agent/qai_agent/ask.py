"""Ask mode: the model answers a question about the app without changing it.

No sandbox: the model reads the newest version's files (over the app template they change) with
read-only tools, and its final text is the reply, a RESULT without a fragment. It streams like a
build, so the run shows what it reads and a cancel stops it at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anthropic

from qai.app_files import BINARY_PREFIX, template_texts
from qai_agent.pricing import UsageMeter
from qai_agent.prompts import ASK_SYSTEM_PROMPT
from qai_agent.run_log import RunLog, tool_event
from qai_agent.streaming import streamed_call
from qai_agent.tools import READ_FILES_TOOL

MAX_READ_CHARS = 60_000
MAX_MATCHES = 100
NO_ANSWER = "I could not finish looking into this. Ask me again, perhaps more narrowly."

ASK_TOOLS: list[dict[str, Any]] = [
    {
        "name": "listFiles",
        "description": "List the app's files (paths relative to the app), optionally only those under a folder.",
        "input_schema": {"type": "object", "properties": {"under": {"type": "string"}}},
    },
    READ_FILES_TOOL,
    {
        "name": "searchFiles",
        "description": "Search the app's text files for a regular expression; returns path:line: text for each match.",
        "input_schema": {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "under": {"type": "string"}},
            "required": ["pattern"],
        },
    },
]


@dataclass(frozen=True)
class AppFiles:
    """The app as one version has it: the template's files with the version's own over them."""

    files: Mapping[str, str]

    @classmethod
    def of_version(cls, version_files: Mapping[str, str]) -> AppFiles:
        return cls({**template_texts(), **version_files})

    def text(self, path: str) -> str | None:
        content = self.files.get(path.strip().lstrip("./"))
        if content is None:
            return None
        return "(a binary file)" if content.startswith(BINARY_PREFIX) else content

    def paths(self, under: str = "") -> list[str]:
        prefix = under.strip().strip("/")
        return sorted(p for p in self.files if not prefix or p == prefix or p.startswith(prefix + "/"))


def run_ask_tool(app: AppFiles, name: str, arguments: Any) -> tuple[str, bool]:
    """A read-only tool's result and whether it is an error; never raises on the model's input."""
    arguments = arguments if isinstance(arguments, dict) else {}
    under = arguments.get("under") if isinstance(arguments.get("under"), str) else ""
    if name == "listFiles":
        return "\n".join(app.paths(under)) or "No files there.", False
    if name == "readFiles":
        paths = arguments.get("files")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            return "Error: files must be a non-empty list of paths", True
        texts = [(p, app.text(p)) for p in paths]
        found = [{"path": p, "content": text[:MAX_READ_CHARS]} for p, text in texts if text is not None]
        missing = [{"path": p, "error": "no such file"} for p, text in texts if text is None]
        return json.dumps(found + missing), not found
    if name == "searchFiles":
        return _search(app, arguments.get("pattern"), under)
    return f"Unknown tool {name!r}: this conversation can only read the app", True


def _search(app: AppFiles, pattern: Any, under: str) -> tuple[str, bool]:
    if not isinstance(pattern, str) or not pattern:
        return "Error: pattern must be a non-empty regular expression", True
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"Error: not a regular expression: {exc}", True
    matches = []
    for path in app.paths(under):
        text = app.text(path) or ""
        for number, line in enumerate(text.splitlines(), start=1):
            if compiled.search(line):
                matches.append(f"{path}:{number}: {line.strip()[:200]}")
                if len(matches) == MAX_MATCHES:
                    return "\n".join(matches) + f"\n(stopped at {MAX_MATCHES} matches)", False
    return "\n".join(matches) or "No match.", False


def answer_question(
    client: anthropic.Anthropic,
    *,
    model: str,
    max_tokens: int,
    max_turns: int,
    app: AppFiles,
    first_message: str,
    meter: UsageMeter,
    log: RunLog | None,
    timeout: float,
    images: Sequence[dict[str, Any]] = (),
) -> str:
    """The model's answer: its final text once it calls no more tools (``images`` with the question)."""
    content = [*images, {"type": "text", "text": first_message}] if images else first_message
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    text = ""
    for turn in range(1, max_turns + 1):
        if log:
            log.stop_if_requested()
        response = streamed_call(
            client,
            log=log,
            turn=turn,
            meter=meter,
            model=model,
            max_tokens=max_tokens,
            system=ASK_SYSTEM_PROMPT,
            tools=ASK_TOOLS,
            messages=messages,
            timeout=timeout,
        )
        meter.model_turns += 1
        text = "".join(block.text for block in response.content if block.type == "text").strip()
        calls = [block for block in response.content if block.type == "tool_use"]
        if not calls:
            return text or NO_ANSWER
        messages.append({"role": "assistant", "content": [block.model_dump() for block in response.content]})
        results = []
        for call in calls:
            content, is_error = run_ask_tool(app, call.name, call.input)
            if log:
                tool_event(log, call.name, call.input, content, is_error)
            results.append({"type": "tool_result", "tool_use_id": call.id, "content": content, "is_error": is_error})
        if log:
            log.flush()
        messages.append({"role": "user", "content": results})
    return text or NO_ANSWER
