"""``qai``: the main job from a terminal, against the local stack or a deployed API.

    qai new "a todo app with dark mode"       create a project and wait for the app (--image FILE: a picture with it)
    qai say <projectId> "add a delete button" send a follow-up and wait
    qai ask <projectId> "where is the state?" ask about the app (nothing is changed) and wait
    qai cancel <projectId>                    stop the project's queued or running run
    qai list                                  your projects
    qai show <projectId>                      the conversation
    qai files <projectId> [fragmentId]        the files of the newest (or a given) fragment
    qai preview <fragmentId>                  that version's preview URL, brought back if it expired
    qai restore <fragmentId>                  make that version the newest again
    qai download <fragmentId> [dir]           that version as a runnable app in dir (default ./<name>)
    qai diff <fragmentId> [--base <id>]       what that version changed (from the one before it), as a patch
    qai clone <projectId> [dir]               the project's history as a git repository
    qai push <projectId> <url> [--branch b]   push the history to a git remote (token: $QAI_GIT_TOKEN)
    qai publish <fragmentId>                  publish that version as the project's site; prints its URL
    qai unpublish <projectId>                 take the project's site down

`new`, `say` and `ask` show the run as it happens: the model's turn, each command, the files written, the
build check. Ctrl-C asks whether to stop the run (its credit comes back) or leave it running. They
exit with 2 when the app was saved but failed the agent's build check, 130 when left running.

A fragment is found among your projects; --project <projectId> skips the search.

QAI_API_URL picks the API (default http://127.0.0.1:8787, the local stack); QAI_TOKEN, when set, is
sent as the Bearer token (a deployed API's JWT); otherwise the local stack's token is read from its
data folder (QAI_DATA_DIR, default .qai); QAI_USER names the local user (header X-QAI-User).
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from rich.console import Console

from qai_tools.api_client import ApiError, Client, client_from_environment, find_project_of
from qai_tools.cli_git import GIT_COMMANDS, add_git_commands
from qai_tools.cli_sites import SITE_COMMANDS, add_site_commands
from qai_tools.run_progress import FINISHED, RunDetachedError, follow_run

FAILED_CHECK_EXIT = 2
INTERRUPTED_EXIT = 130  # Ctrl-C, as a shell reports it
NO_MODEL_HINT = (
    "No model is configured for the agent. Stop the stack, then either\n"
    "  export ANTHROPIC_API_KEY=sk-ant-…                 (Claude), or\n"
    "  export ANTHROPIC_BASE_URL=http://127.0.0.1:4000    (any Anthropic-compatible server)\n"
    "and run `make dev` again."
)


def wait_for_reply(client: Client, project_id: str, message_id: str, timeout: float) -> dict[str, Any] | None:
    """Follow the run of that USER message as it happens, then its reply; None when the user left it
    running (Ctrl-C, then no)."""
    console = Console(stderr=True, highlight=False)
    try:
        follow_run(client, f"/projects/{project_id}/messages/{message_id}/run", console, timeout=timeout)
    except RunDetachedError:
        console.print(
            f"The run goes on. See it later with `qai show {project_id}`, or stop it with `qai cancel {project_id}`."
        )
        return None
    except TimeoutError as exc:
        raise ApiError(0, f"{exc}; check again later with `qai show {project_id}`") from None
    items = client.call("GET", f"/projects/{project_id}/messages")["items"]
    ids = [m["id"] for m in items]
    later = items[ids.index(message_id) + 1 :] if message_id in ids else []
    reply = next((m for m in later if m["role"] == "ASSISTANT"), None)
    if reply is None:
        raise ApiError(0, f"the run finished without a reply; see `qai show {project_id}`")
    return reply


def active_run_message(client: Client, project_id: str) -> str:
    """The USER message whose run is queued or running in the project."""
    items = client.call("GET", f"/projects/{project_id}/messages")["items"]
    for message in reversed(items):
        if message.get("run") and message["run"]["status"] not in FINISHED:
            return str(message["id"])
    raise ApiError(409, "no run is queued or running in this project")


def print_reply(client: Client, project_id: str, reply: dict[str, Any] | None) -> int:
    if reply is None:
        return INTERRUPTED_EXIT
    if reply["type"] == "ERROR":
        print(f"✗ {reply['content']}")
        if client.model_missing():
            print(NO_MODEL_HINT, file=sys.stderr)
        return 1
    print(reply["content"])
    fragment = reply["fragment"]
    if fragment:
        print(f"\n{fragment['title']}")
        print(f"  preview: {fragment['sandboxUrl']}")
        print(f"  files:   {', '.join(fragment['paths'])}")
        print(f"  version: {fragment['id']}")
    print(f"  project: {project_id}")
    if fragment and fragment.get("checkError"):
        print("\n✗ The app failed its build check:", file=sys.stderr)
        print("  " + "\n  ".join(fragment["checkError"].splitlines()[:12]), file=sys.stderr)
        return FAILED_CHECK_EXIT
    return 0


def wait_for_preview(client: Client, path: str, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        state: dict[str, Any] = client.call("GET", path)
        if state["status"] != "STARTING" or time.monotonic() - started > timeout:
            return state
        if sys.stderr.isatty():
            sys.stderr.write(f"\rbringing the preview back… {int(time.monotonic() - started)}s")
            sys.stderr.flush()
        time.sleep(1.0)


def show_preview(client: Client, project_id: str, fragment_id: str, timeout: float) -> int:
    path = f"/projects/{project_id}/fragments/{fragment_id}/preview"
    state = client.call("POST", path)
    if state["status"] == "STARTING":
        state = wait_for_preview(client, path, timeout)
    if sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 40 + "\r")
    if state["status"] != "READY":
        print(f"✗ {state['error'] or 'the preview is still starting'}", file=sys.stderr)
        return 1
    print(f"preview: {state['sandboxUrl']}")
    return 0


def download(client: Client, project_id: str, fragment_id: str, directory: str | None) -> int:
    archive = zipfile.ZipFile(
        io.BytesIO(client.fetch("GET", f"/projects/{project_id}/fragments/{fragment_id}/download"))
    )
    folder = PurePosixPath(archive.namelist()[0]).parts[0]
    target = Path(directory or folder)
    if target.exists() and any(target.iterdir()):
        raise ApiError(0, f"{target} is not empty")
    for member in archive.infolist():
        relative = PurePosixPath(member.filename).relative_to(folder)
        if member.is_dir() or ".." in relative.parts or relative.is_absolute():
            continue
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive.read(member))
    print(f"Downloaded to {target}: cd {target} && npm install && npm run dev")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qai", description="Prompt to running app.")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="create a project from a prompt")
    new.add_argument("prompt")
    say = commands.add_parser("say", help="send a follow-up to a project: the agent changes the app")
    ask = commands.add_parser("ask", help="ask about a project's app: the agent answers and changes nothing")
    for follow_up in (say, ask):
        follow_up.add_argument("project_id")
        follow_up.add_argument("prompt")
    for waiting in (new, say, ask):
        waiting.add_argument("--timeout", type=float, default=900, help="seconds to wait for the reply")
        waiting.add_argument(
            "--image", action="append", default=[], metavar="FILE", help="an image to send with it (at most 4)"
        )
    commands.add_parser("cancel", help="stop the project's queued or running run").add_argument("project_id")
    commands.add_parser("list", help="list your projects")
    commands.add_parser("show", help="show a project's conversation").add_argument("project_id")
    files = commands.add_parser("files", help="print a fragment's files")
    files.add_argument("project_id")
    files.add_argument("fragment_id", nargs="?")
    preview = commands.add_parser("preview", help="a version's preview URL, brought back if it expired")
    restore = commands.add_parser("restore", help="make a version the newest again")
    download_ = commands.add_parser("download", help="download a version as a runnable app")
    diff = commands.add_parser("diff", help="what a version changed, as a patch (from --base, else the one before)")
    diff.add_argument("--base", help="the version to compare with")
    for versioned in (preview, restore, download_, diff):
        versioned.add_argument("fragment_id")
        versioned.add_argument("--project", help="the fragment's project (skips the search)")
    for waiting in (preview, restore):
        waiting.add_argument("--timeout", type=float, default=300, help="seconds to wait for the preview")
    download_.add_argument("directory", nargs="?")
    add_git_commands(commands)
    add_site_commands(commands)
    return parser


IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def images_of(paths: list[str]) -> list[dict[str, str]]:
    """--image files as the API takes them (the API checks the bytes)."""
    images = []
    for path in paths:
        media_type = IMAGE_TYPES.get(Path(path).suffix.lower())
        if media_type is None:
            raise ApiError(0, f"{path}: not a .png, .jpg, .gif or .webp image")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ApiError(0, f"{path}: {exc.strerror or exc}") from None
        images.append({"mediaType": media_type, "data": base64.b64encode(data).decode()})
    return images


def command_new(client: Client, args: argparse.Namespace) -> int:
    project = client.call("POST", "/projects", {"value": args.prompt, "images": images_of(args.image)})
    print(f"Project {project['name']} ({project['id']})")
    first = client.call("GET", f"/projects/{project['id']}/messages")["items"][0]
    return print_reply(client, project["id"], wait_for_reply(client, project["id"], first["id"], args.timeout))


def command_say(client: Client, args: argparse.Namespace) -> int:
    mode = "ask" if args.command == "ask" else "build"
    body = {"value": args.prompt, "mode": mode, "images": images_of(args.image)}
    message = client.call("POST", f"/projects/{args.project_id}/messages", body)
    reply = wait_for_reply(client, args.project_id, message["id"], args.timeout)
    return print_reply(client, args.project_id, reply)


def command_cancel(client: Client, args: argparse.Namespace) -> int:
    message_id = active_run_message(client, args.project_id)
    run = client.call("POST", f"/projects/{args.project_id}/messages/{message_id}/run/cancel")
    print("Stopped." if run["status"] == "CANCELLED" else "Stopping: the run ends at its next step.")
    return 0


def command_list(client: Client, args: argparse.Namespace) -> int:
    for project in client.call("GET", "/projects?limit=100")["items"]:
        print(f"{project['id']}  {project['updatedAt']}  {project['name']}")
    return 0


def command_show(client: Client, args: argparse.Namespace) -> int:
    for message in client.call("GET", f"/projects/{args.project_id}/messages")["items"]:
        marker = "you" if message["role"] == "USER" else "qai"
        print(f"[{marker}] {message['content']}")
        if fragment := message["fragment"]:
            print(f"      ↳ {fragment['title']} (version {fragment['id']}): {fragment['sandboxUrl']}")
    return 0


def newest_fragment_id(client: Client, project_id: str) -> str:
    """The id of the project's newest fragment (its latest version with files)."""
    items = client.call("GET", f"/projects/{project_id}/messages")["items"]
    with_fragment = [m["fragment"] for m in items if m["fragment"]]
    if not with_fragment:
        raise ApiError(404, "this project has no files yet")
    return with_fragment[-1]["id"]


def command_files(client: Client, args: argparse.Namespace) -> int:
    fragment_id = args.fragment_id
    if fragment_id is None:
        fragment_id = newest_fragment_id(client, args.project_id)
    fragment = client.call("GET", f"/projects/{args.project_id}/fragments/{fragment_id}")
    for path, content in sorted(fragment["files"].items()):
        print(f"=== {path}\n{content}")
    return 0


def command_preview(client: Client, args: argparse.Namespace) -> int:
    project_id = find_project_of(client, args.fragment_id, args.project)
    return show_preview(client, project_id, args.fragment_id, args.timeout)


def command_restore(client: Client, args: argparse.Namespace) -> int:
    project_id = find_project_of(client, args.fragment_id, args.project)
    restored = client.call("POST", f"/projects/{project_id}/fragments/{args.fragment_id}/restore")
    print(f"{restored['content']} It is version {restored['fragment']['id']}.")
    return show_preview(client, project_id, restored["fragment"]["id"], args.timeout)


def command_download(client: Client, args: argparse.Namespace) -> int:
    project_id = find_project_of(client, args.fragment_id, args.project)
    return download(client, project_id, args.fragment_id, args.directory)


def command_diff(client: Client, args: argparse.Namespace) -> int:
    project_id = find_project_of(client, args.fragment_id, args.project)
    query = f"?base={urllib.parse.quote(args.base)}" if args.base else ""
    diff = client.call("GET", f"/projects/{project_id}/fragments/{args.fragment_id}/diff{query}")
    files = diff["files"]
    print(f"{len(files)} file{'s' if len(files) != 1 else ''} changed +{diff['additions']} -{diff['deletions']}")
    for changed in files:
        print(f"  {changed['status']:<9} {changed['path']}  +{changed['additions']} -{changed['deletions']}")
    for changed in files:
        if changed["patch"]:
            print(changed["patch"], end="" if changed["patch"].endswith("\n") else "\n")
        elif changed["binary"] or changed["truncated"]:
            print(
                f"(no patch for {changed['path']}: {'binary' if changed['binary'] else 'too large for one response'})"
            )
    return 0


COMMANDS: dict[str, Callable[[Client, argparse.Namespace], int]] = {
    "new": command_new,
    "say": command_say,
    "ask": command_say,
    "cancel": command_cancel,
    "list": command_list,
    "show": command_show,
    "files": command_files,
    "preview": command_preview,
    "restore": command_restore,
    "download": command_download,
    "diff": command_diff,
    **GIT_COMMANDS,
    **SITE_COMMANDS,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = client_from_environment()
    try:
        return COMMANDS[args.command](client, args)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
