"""``qai publish`` and ``qai unpublish``: a version as the project's site, and the site taken down.

qai publish <fragmentId> [--project <id>]   publish that version; waits and prints the site's URL
qai unpublish <projectId>                   take the site down (its URL answers 404)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from qai_tools.api_client import Client, find_project_of

POLL_SECONDS = 1.0


def add_site_commands(commands: Any) -> None:
    publish = commands.add_parser("publish", help="publish a version as the project's site and print its URL")
    publish.add_argument("fragment_id")
    publish.add_argument("--project", help="the fragment's project (skips the search)")
    publish.add_argument("--timeout", type=float, default=900, help="seconds to wait for the site")
    unpublish = commands.add_parser("unpublish", help="take the project's site down")
    unpublish.add_argument("project_id")


def command_publish(client: Client, args: argparse.Namespace) -> int:
    project_id = find_project_of(client, args.fragment_id, args.project)
    site = client.call("POST", f"/projects/{project_id}/fragments/{args.fragment_id}/publish")
    print(f"Publishing to {site['url']}…", flush=True)
    deadline = time.monotonic() + args.timeout
    while site["status"] == "PUBLISHING" and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        site = client.call("GET", f"/projects/{project_id}/site")
    if site["status"] == "PUBLISHED":
        print(f"✓ published: {site['url']}")
        return 0
    print(f"✗ {site['error'] or 'the site is still being published'}", file=sys.stderr)
    return 1


def command_unpublish(client: Client, args: argparse.Namespace) -> int:
    client.call("DELETE", f"/projects/{args.project_id}/site")
    print("✓ the site is down")
    return 0


SITE_COMMANDS: dict[str, Callable[[Client, argparse.Namespace], int]] = {
    "publish": command_publish,
    "unpublish": command_unpublish,
}
