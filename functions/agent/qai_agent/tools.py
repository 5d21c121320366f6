"""The agent's tools, their schemas, and how a call runs against the sandbox."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qai_agent.edits import apply_edits, parse_edits
from qai_agent.sandboxes.base import Sandbox, SandboxPathError, app_relative_path

# Also one of ask mode's read-only tools (ask.py).
READ_FILES_TOOL: dict[str, Any] = {
    "name": "readFiles",
    "description": "Read files of the app. Returns each path with its content.",
    "input_schema": {
        "type": "object",
        "properties": {"files": {"type": "array", "items": {"type": "string"}}},
        "required": ["files"],
    },
}

TOOLS: list[dict[str, Any]] = [
    {
        "name": "terminal",
        "description": "Run a shell command in the app's directory. Returns the exit code, stdout and stderr.",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string", "description": "The command to run"}},
            "required": ["command"],
        },
    },
    {
        "name": "createOrUpdateFiles",
        "description": "Create or overwrite files in the app, with their whole new content.",
        "input_schema": {
            "type": "object",
            "properties": {
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string", "description": "Relative to the app, e.g. app/page.tsx"},
                            "content": {"type": "string"},
                        },
                        "required": ["path", "content"],
                    },
                }
            },
            "required": ["files"],
        },
    },
    {
        "name": "editFile",
        "description": (
            "Change an existing file by replacing exact text: each oldText must appear exactly once in the "
            "file (include enough surrounding lines), edits must not overlap, and all apply or none does. "
            "Prefer this to rewriting a file for any change smaller than the whole file."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Relative to the app, e.g. app/page.tsx"},
                "edits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "oldText": {"type": "string", "description": "Exact text now in the file"},
                            "newText": {"type": "string", "description": "What replaces it"},
                        },
                        "required": ["oldText", "newText"],
                    },
                },
            },
            "required": ["path", "edits"],
        },
    },
    READ_FILES_TOOL,
]


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


@dataclass
class ToolRunner:
    """Runs the model's tool calls against the sandbox."""

    sandbox: Sandbox
    command_timeout_seconds: float
    # Seconds left before the run must stop; a command never runs past it.
    time_left: Callable[[], float] = field(default=lambda: math.inf)
    # Whether the user cancelled the run: a command still running is then killed.
    stop_requested: Callable[[], bool] = field(default=lambda: False)

    def run(self, name: str, arguments: Any) -> ToolResult:
        try:
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be an object")
            if name == "terminal":
                return self._terminal(arguments)
            if name == "createOrUpdateFiles":
                return self._write(arguments)
            if name == "editFile":
                return self._edit(arguments)
            if name == "readFiles":
                return self._read(arguments)
            return ToolResult(f"Unknown tool {name!r}", is_error=True)
        # Everything a tool call can get wrong goes back to the model as a result it can act on.
        except (SandboxPathError, ValueError, TypeError, KeyError, OSError) as exc:
            return ToolResult(f"Error: {exc}", is_error=True)

    def _terminal(self, arguments: dict[str, Any]) -> ToolResult:
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ValueError("command must be a non-empty string")
        timeout = max(1.0, min(self.command_timeout_seconds, self.time_left()))
        outcome = self.sandbox.run(command, timeout_seconds=timeout, stop=self.stop_requested)
        status = (
            "timed out" if outcome.timed_out else "stopped" if outcome.stopped else f"exit code {outcome.exit_code}"
        )
        text = f"{status}\nstdout:\n{outcome.stdout}\nstderr:\n{outcome.stderr}"
        return ToolResult(text, is_error=outcome.exit_code != 0 or outcome.timed_out or outcome.stopped)

    def _write(self, arguments: dict[str, Any]) -> ToolResult:
        entries = arguments.get("files")
        if not isinstance(entries, list) or not entries:
            raise ValueError("files must be a non-empty list of {path, content}")
        batch: dict[str, str] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
                raise ValueError("each file needs a path and a string content")
            batch[app_relative_path(entry["path"])] = entry["content"]
        self.sandbox.write_files(batch)
        return ToolResult(f"Wrote {len(batch)} file(s): {', '.join(sorted(batch))}")

    def _edit(self, arguments: dict[str, Any]) -> ToolResult:
        raw_path = arguments.get("path")
        if not isinstance(raw_path, str) or not raw_path.strip():
            raise ValueError("path must be the file's path, relative to the app")
        path = app_relative_path(raw_path)
        edits = parse_edits(arguments.get("edits"))
        try:
            original = self.sandbox.read_file(path)
        except FileNotFoundError:
            raise ValueError(f"{path} does not exist: create it with createOrUpdateFiles") from None
        if "\ufffd" in original:  # undecodable bytes: writing text back would corrupt the file
            raise ValueError(f"{path} is not a text file: replace it whole with createOrUpdateFiles")
        self.sandbox.write_files({path: apply_edits(original, edits)})
        return ToolResult(f"Edited {path} ({len(edits)} edit{'s' if len(edits) > 1 else ''})")

    def _read(self, arguments: dict[str, Any]) -> ToolResult:
        paths = arguments.get("files")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise ValueError("files must be a non-empty list of paths")
        contents = []
        for path in paths:
            try:
                contents.append({"path": path, "content": self.sandbox.read_file(path)})
            except (SandboxPathError, OSError) as exc:
                contents.append({"path": path, "error": str(exc)})
        return ToolResult(json.dumps(contents), is_error=all("error" in c for c in contents))
