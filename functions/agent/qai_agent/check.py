"""The agent's check of its own work, before the app is saved.

The app must type-check (``tsc --noEmit``: about 1.5 s on the template), its preview must answer
HTTP 200, and neither the page nor the dev server's output during that request may show an error
(Next.js renders compile and server errors as a 500 page with ``__next_error__``, and prints them
with a cross, U+2A2F). What the check finds goes back to the model as text it can act on. Errors that happen
only in the browser (after hydration) are out of its reach.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable

from qai_agent.sandboxes.base import Sandbox

TYPECHECK_COMMAND = "node_modules/.bin/tsc --noEmit --pretty false"
COMMAND_NOT_FOUND = 127
ERROR_PAGE_MARKER = "__next_error__"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ERROR_LINE = re.compile(r"\u2a2f|\bError\b|Failed to compile|Module not found|error TS\d+")
# next dev's start-up banner lists the experimental options set, one that is off with the error's cross.
EXPERIMENTS_HEADING = "Experiments (use with caution)"
EXPERIMENT_ITEM = re.compile(r"^\s+\S \w+$")  # a mark, then the option's name
EXCERPT_LINES = 40
EXCERPT_CHARS = 3000


def _excerpt(text: str) -> str:
    lines = [line.rstrip() for line in ANSI_ESCAPE.sub("", text).splitlines() if line.strip()]
    return "\n".join(lines[-EXCERPT_LINES:])[-EXCERPT_CHARS:]


def _fetch(url: str, timeout: float) -> tuple[int | None, str]:
    """Status and body of the page; no status when nothing answered (the reason as the body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (the sandbox's own URL)
            return response.status, response.read(2_000_000).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(2_000_000).decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as error:
        return None, str(getattr(error, "reason", error))


def _without_experiments(lines: list[str]) -> list[str]:
    """The output without the banner's list of experimental options."""
    kept, listing = [], False
    for line in lines:
        if EXPERIMENTS_HEADING in line:
            listing = True
        elif listing and EXPERIMENT_ITEM.match(line):
            continue
        else:
            listing = False
            kept.append(line)
    return kept


def _new_output(before: str, after: str) -> str:
    # The log is a bounded tail: when it has moved on past ``before``, all of it is recent enough.
    return after[len(before) :] if after.startswith(before) else after


def check_app(sandbox: Sandbox, *, time_left: Callable[[], float], page_timeout: float) -> str | None:
    """What is broken in the app, as a message for the model; None when it passed."""
    problems = []
    typecheck = sandbox.run(TYPECHECK_COMMAND, timeout_seconds=max(1.0, min(page_timeout, time_left())))
    if typecheck.exit_code not in (0, COMMAND_NOT_FOUND) and not typecheck.timed_out:
        problems.append(f"The type check (tsc --noEmit) failed.\n{_excerpt(typecheck.stdout + typecheck.stderr)}")

    before = sandbox.server_log()
    status, body = _fetch(sandbox.preview_url(), max(1.0, min(page_timeout, time_left())))
    output = _excerpt(_new_output(before, sandbox.server_log()))
    errors = [line for line in _without_experiments(output.splitlines()) if ERROR_LINE.search(line)]
    if status is None:
        problems.append(f"The preview did not answer ({body}).\nThe dev server's output:\n{output}")
    elif status != 200 or ERROR_PAGE_MARKER in body:
        problems.append(f"The page fails to load (HTTP {status}).\nThe dev server's output:\n{output}")
    elif errors:
        problems.append("The page loads, but the dev server reported errors.\n" + "\n".join(errors))
    return "\n\n".join(problems) or None
