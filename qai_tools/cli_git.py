"""``qai clone`` and ``qai push``: a project's history as a git repository, here or on a remote.

qai clone <projectId> [dir]                     the history (one commit per version) as a git clone
qai push <projectId> <url> [--branch main]      push it to a remote's branch; the token is read
                                                from QAI_GIT_TOKEN, never from the command line
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qai_tools.api_client import ApiError, Client

TOKEN_VARIABLE = "QAI_GIT_TOKEN"  # noqa: S105 - the variable's name, not a token
POLL_SECONDS = 1.0


def add_git_commands(commands: Any) -> None:
    """The git commands on the CLI's sub-command parser."""
    clone = commands.add_parser("clone", help="the project's history as a git repository (one commit per version)")
    clone.add_argument("project_id")
    clone.add_argument("directory", nargs="?")
    push = commands.add_parser("push", help=f"push the project's history to a git remote (token: ${TOKEN_VARIABLE})")
    push.add_argument("project_id")
    push.add_argument("url", help="https://… of the remote repository")
    push.add_argument("--branch", default="main")
    push.add_argument("--username", default="x-access-token", help="for basic auth (GitLab: oauth2)")
    push.add_argument("--timeout", type=float, default=300, help="seconds to wait for the push")


def command_clone(client: Client, args: argparse.Namespace) -> int:
    git = shutil.which("git")
    if git is None:
        raise ApiError(0, f"git is not installed; the bundle itself is GET /projects/{args.project_id}/git")
    project = client.call("GET", f"/projects/{args.project_id}")
    target = Path(args.directory or project["name"])
    if target.exists() and any(target.iterdir()):
        raise ApiError(0, f"{target} is not empty")
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / f"{project['name']}.bundle"
        bundle.write_bytes(client.fetch("GET", f"/projects/{args.project_id}/git"))
        subprocess.run([git, "clone", "-q", "-b", "main", str(bundle), str(target)], check=True)
        subprocess.run([git, "-C", str(target), "remote", "remove", "origin"], check=True)
    print(f"Cloned to {target}: cd {target} && git log")
    return 0


def command_push(client: Client, args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise ApiError(0, f"set {TOKEN_VARIABLE} to a token that may push to {args.url}")
    body = {"url": args.url, "branch": args.branch, "username": args.username, "token": token}
    path = f"/projects/{args.project_id}/git/push"
    push = client.call("POST", path, body)
    print(f"Pushing to {push['url']} ({push['branch']})…", flush=True)
    deadline = time.monotonic() + args.timeout
    while push["status"] == "PUSHING" and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        push = client.call("GET", path)
    if push["status"] == "PUSHED":
        print(f"✓ {push['branch']} is at {push['commit']}")
        return 0
    print(f"✗ {push['error'] or 'the push is still under way'}", file=sys.stderr)
    return 1


GIT_COMMANDS: dict[str, Callable[[Client, argparse.Namespace], int]] = {
    "clone": command_clone,
    "push": command_push,
}
