"""Following a run from the terminal: its events as they arrive (GET …/run?after=), a spinner with
the turn and what is running now, and Ctrl-C to stop it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm

FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
POLL_SECONDS = 1.0


class RunApi(Protocol):
    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any: ...


class RunDetachedError(Exception):
    """The user left the run going and stopped watching it."""


def event_line(event: dict[str, Any]) -> str | None:
    """One finished event as a line of the log (rich markup), or None for what only the spinner shows."""
    kind, text, data = event["kind"], escape(event["text"]), event.get("data") or {}
    if kind == "command":
        if data.get("status") == "running":
            return None
        failed = data.get("error")
        return f"[{'red' if failed else 'green'}]$[/] {text} [dim]({escape(str(data.get('status')))})[/]"
    if kind == "files":
        paths = data.get("written") or data.get("read") or []
        shown = ", ".join(paths[:6]) + (", …" if len(paths) > 6 else "")
        return f"[cyan]✎[/] {text}: {escape(shown)}" if paths else f"[cyan]✎[/] {text}"
    if kind == "check":
        return f"[green]✓[/] {text}" if data.get("passed") else f"[yellow]✗ check:[/] {text}"
    if kind == "error":
        return f"[red]![/] {text}"
    if kind == "status":
        return f"[dim]• {text}[/]"
    return None  # a model turn, or what it is writing: the spinner says


def activity(event: dict[str, Any], turn: str) -> str:
    """What the spinner says after this event."""
    data = event.get("data") or {}
    if event["kind"] == "command" and data.get("status") == "running":
        return f"{turn} · running [bold]{escape(event['text'][:60])}[/]"
    if event["kind"] == "check":
        return f"{turn} · checking the app"
    if event["kind"] == "writing":  # the model's reply as it streams: which file, how much so far
        return f"{turn} · {escape(event['text'][:80])}"
    return f"{turn} · thinking"


def _tokens(count: int) -> str:
    return f"{count / 1000:.1f}k" if count >= 1000 else str(count)


def usage_line(usage: dict[str, Any]) -> str:
    """What the run's model calls used and cost, in one line."""
    cached = usage["cacheReadTokens"] + usage["cacheWriteTokens"]
    cost = "cost unknown" if usage["costUsd"] is None else f"${usage['costUsd']:.4f}"
    calls = usage["modelCalls"]
    return (
        f"{calls} model call{'s' if calls != 1 else ''} · {_tokens(usage['inputTokens'] + cached)} tokens in "
        f"({_tokens(usage['cacheReadTokens'])} from the cache) · {_tokens(usage['outputTokens'])} out · {cost}"
    )


def follow_run(
    client: RunApi,
    run_path: str,
    console: Console,
    *,
    timeout: float,
    confirm: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Show the run as it happens until it finishes; the finished run. Ctrl-C asks whether to stop
    it: yes cancels and waits for the stop, no raises RunDetachedError."""
    ask = confirm or (lambda question: Confirm.ask(question, default=False, console=console))
    started = time.monotonic()
    after, turn, doing = 0, "Waiting for a worker", "Waiting for a worker"
    with console.status(doing) as spinner:
        while True:
            try:
                run: dict[str, Any] = client.call("GET", f"{run_path}?after={after}")
                for event in run["events"]:
                    if event["kind"] == "model":
                        turn = escape(event["text"])
                    if line := event_line(event):
                        console.print(line)
                    doing = activity(event, turn)
                after = run["nextAfter"]
                if run["status"] in FINISHED:
                    if run.get("usage", {}).get("modelCalls"):
                        console.print(f"[dim]{usage_line(run['usage'])}[/]")
                    return run
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"the run is still {run['status']} after {int(timeout)} s")
                spinner.update(f"{doing} [dim]{int(time.monotonic() - started)}s[/]")
                time.sleep(POLL_SECONDS)
            except KeyboardInterrupt:
                spinner.stop()
                if not _ask(ask, "Stop this run?"):
                    raise RunDetachedError from None
                client.call("POST", f"{run_path}/cancel")
                console.print("[yellow]Stopping the run…[/]")
                spinner.start()


def _ask(ask: Callable[[str], bool], question: str) -> bool:
    try:
        return ask(question)
    except (KeyboardInterrupt, EOFError):  # a second Ctrl-C, or no terminal to answer from
        return False
