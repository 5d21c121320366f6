"""The web client in a real browser (Playwright driving Debian's chromium) against the local stack,
with the scripted model standing in for Claude: what a person clicks and sees."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import struct
import subprocess
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dulwich.repo import Repo
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from qai_tools import scripted_model as sm
from tests.conftest import GIT_TOKEN, GIT_USER, GitServer
from tests.test_local_stack import RunningStack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CREDITS = 3
SLOW_COMMAND = "sleep 60"
THINKING_SECONDS = 1.0  # each model turn: long enough to watch the run's events arrive
REPLY = "Your todo app is ready. Add a few tasks and try it out!"
ANSWER = "The page shows one heading: what you asked for."
BREAKS = "a counter with a button that throws"
BROKEN = "The counter broke at 3"
# A page whose button throws when clicked (enabled once React runs it), and the page that fixes it.
BREAKING_PAGE = f"""'use client';
import {{ useEffect, useState }} from "react";

export default function Home() {{
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);
  const breakIt = () => {{
    throw new Error("{BROKEN}");
  }};
  return (
    <main>
      <h1>{BREAKS}</h1>
      <button disabled={{!ready}} onClick={{breakIt}}>Break it</button>
    </main>
  );
}}
"""
FIXED_PAGE = "export default function Home() {\n  return <h1>The counter works</h1>;\n}\n"
# What the API answers 404 for until there is one: the project's site and its last push (the client
# takes that as none yet).
NONE_YET = re.compile(r"/projects/[0-9a-f-]+/(site|git/push)$")


def png(width: int, height: int) -> bytes:
    """A valid PNG of red pixels, for a browser to show."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def agent_turn(request: dict[str, Any]) -> sm.Reply:
    """A run in three turns, so that there is something to watch: a command, the page, the summary.
    A prompt that says "slowly" starts with a long command instead (for the Stop button)."""
    messages, prompt = request.get("messages", []), sm.request_prompt(request)
    if "answer questions" in str(request.get("system", "")):  # ask mode: read the page, then answer
        answer = sm.read_files(["app/page.tsx"]) if len(messages) == 1 else sm.text(ANSWER)
        return dataclasses.replace(answer, delay_seconds=THINKING_SECONDS)
    if len(messages) == 1:
        reply = sm.terminal(SLOW_COMMAND if "slowly" in prompt else "echo building the app")
    elif len(messages) == 3:
        page = BREAKING_PAGE if prompt == BREAKS else FIXED_PAGE if prompt.startswith("Fix this error") else None
        reply = sm.write_files({"app/page.tsx": page or sm.page_naming(prompt)})
        if "streamed" in prompt:  # written slowly enough to watch: about 15 chunks, 0.4 s apart
            return dataclasses.replace(reply, chunk_seconds=0.4)
    else:
        reply = sm.summary("Wrote a page for the request.")
    return dataclasses.replace(reply, delay_seconds=THINKING_SECONDS)


@pytest.fixture(scope="module")
def model() -> Iterator[sm.ScriptedModelServer]:
    server = sm.ScriptedModelServer().start()
    server.responder = agent_turn
    server.chunk_chars = 8  # a streamed reply in many small chunks (only "streamed" prompts pause between them)
    server.reply = REPLY
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model: sm.ScriptedModelServer) -> Iterator[RunningStack]:
    running = RunningStack(
        tmp_path_factory.mktemp("web") / "qai-data",
        model.url,
        CREDITS_PER_PERIOD=str(CREDITS),
        AGENT_CHECK_APP="false",
        AGENT_COMMAND_TIMEOUT_SECONDS="120",
        # The git server of the push test runs on this machine, a private address.
        GIT_PUSH_ALLOW_PRIVATE="true",
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def expected_statuses() -> set[int]:
    """The API error statuses a test means to provoke; any other one fails it."""
    return set()


@pytest.fixture
def app_errors() -> list[tuple[str, str]]:
    """The errors a test makes the app in the preview throw on purpose: (the preview's origin, the
    error's message, without its name). Any other uncaught error, the client's or an app's, fails the test."""
    return []


@pytest.fixture
def page(
    browser: Browser, stack: RunningStack, expected_statuses: set[int], app_errors: list[tuple[str, str]]
) -> Iterator[Page]:
    """A fresh browser context on the client; the test fails if the client logs an error or gets
    an error answer it did not expect."""
    context = authorized_context(browser, stack, viewport={"width": 1366, "height": 860})
    opened = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The client's own errors; the preview's app is framed from another origin and is its own.
        # Failed requests are checked below, against what the test expects.
        own = message.location.get("url", "").startswith(stack.api_url + "/")
        if message.type == "error" and own and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        own = response.url.startswith(stack.api_url)  # not the framed app's own requests
        none_yet = response.status == 404 and response.request.method == "GET" and NONE_YET.search(response.url)
        if own and response.status >= 400 and response.status not in expected_statuses and not none_yet:
            errors.append(f"{response.status} {response.request.method} {response.url}")

    opened.on("console", on_console)
    opened.on("response", on_response)

    def on_page_error(error: PlaywrightError) -> None:
        # Errors thrown in the preview's frame reach the page too: only those a test meant, thrown
        # by the app's own code at the preview's origin, are let through.
        first_frame = next((line for line in (error.stack or "").splitlines() if line.lstrip().startswith("at ")), "")
        if not any(message == error.message and f"({origin}/" in first_frame for origin, message in app_errors):
            errors.append(f"{error} {error.stack}")

    opened.on("pageerror", on_page_error)
    opened.goto(stack.api_url + "/")
    yield opened
    context.close()
    assert errors == [], errors


def authorized_context(browser: Browser, stack: RunningStack, **options: Any) -> BrowserContext:
    """A browser that holds the stack's token, as one that has opened the start command's address has
    (that address itself is tried in its own test)."""
    context = browser.new_context(**options)
    context.add_init_script(f"localStorage.setItem('qai.localToken', {json.dumps(stack.token)})")
    return context


def create_project(page: Page, prompt: str) -> None:
    page.get_by_label("Your app").fill(prompt)
    page.get_by_role("button", name="Build it").click()


def open_as(page: Page, user: str, url: str) -> None:
    """Become that local user (as the user menu does), then open the URL as them."""
    page.evaluate(f"localStorage.setItem('qai.localUser', {json.dumps(user)})")
    page.reload()  # on the page it is on (the project list): nothing of the old user's is asked for
    page.goto(url)


def spend_credits(stack: RunningStack, user: str) -> None:
    for n in range(CREDITS):
        assert stack.call("POST", "/projects", {"value": f"app {n}"}, user=user)[0] == 201


def test_build_watch_preview_files_follow_up_and_restore(page: Page, stack: RunningStack, tmp_path: Path) -> None:
    expect(page.get_by_text("No model is configured")).to_have_count(0)
    create_project(page, "a todo app")
    events = page.get_by_label("Run events")
    expect(events.get_by_text("$ echo building the app", exact=False)).to_be_visible(timeout=60_000)
    expect(page.get_by_text(REPLY)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("succeeded")).to_be_visible()

    preview = page.frame_locator("iframe[title^='Preview of']")
    expect(preview.get_by_role("heading", name="a todo app")).to_be_visible(timeout=120_000)

    page.get_by_role("tab", name="Files").click()
    page.get_by_text("app", exact=True).click()
    page.get_by_text("page.tsx").click()
    code = page.get_by_label("Contents of app/page.tsx")
    expect(code).to_contain_text("<h1>a todo app</h1>")
    expect(code.locator(".hljs-keyword").first).to_have_text("export")  # highlighted

    page.get_by_label("Ask for a change").fill("add dark mode")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_label("Run events").get_by_text("$ echo building the app")).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="Preview").click()  # (the run is changing the app it shows)
    # The README's picture: a follow-up being built next to the app it changes.
    page.screenshot(path=os.environ.get("QAI_SCREENSHOT") or str(tmp_path / "web-client.png"))
    expect(page.get_by_text(REPLY)).to_have_count(2, timeout=60_000)

    page.get_by_role("tab", name="Versions").click()
    versions = page.get_by_label("Versions")
    expect(versions.get_by_role("listitem")).to_have_count(2)
    # What the follow-up changed: its summary, then its patch.
    changes = versions.get_by_role("listitem").first.get_by_role("button", name=re.compile("^1 file changed"))
    expect(changes).to_have_text(re.compile(r"^1 file changed\s*\+1\s*\u22121$"))
    changes.click()
    dialog = page.get_by_role("dialog", name="What v2 changed")
    expect(dialog.get_by_role("heading", name="app/page.tsx")).to_be_visible()
    patch = dialog.get_by_label("Changes to app/page.tsx")
    expect(patch.locator("ins")).to_have_text("+  return <h1>add dark mode</h1>;")
    expect(patch.locator("del")).to_have_text("-  return <h1>a todo app</h1>;")
    expect(patch.locator("ins")).to_be_in_viewport()
    expect(patch.locator("del")).to_be_in_viewport()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download v1").click()
    assert download.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.value.path()) as archive:
        page_file = next(name for name in archive.namelist() if name.endswith("/app/page.tsx"))
        assert b"<h1>a todo app</h1>" in archive.read(page_file)
    page.get_by_role("button", name="Restore v1").click()
    expect(page.get_by_text("Restored the version")).to_be_visible()
    expect(versions.get_by_role("listitem")).to_have_count(3)
    expect(versions.get_by_role("listitem").first).to_contain_text("current")


def test_ask_about_the_app_and_nothing_changes(page: Page, stack: RunningStack) -> None:
    status, project = stack.call("POST", "/projects", {"value": "an app to ask about"}, user="curious-user")
    assert status == 201
    stack.wait_for_messages(project["id"], 2, user="curious-user")
    open_as(page, "curious-user", f"{stack.api_url}/#/projects/{project['id']}")
    expect(page.get_by_text(REPLY)).to_be_visible(timeout=60_000)
    mode = page.get_by_label("Mode")
    mode.get_by_text("Ask", exact=True).click()  # Mantine's SegmentedControl: hidden radios under labels
    question = page.get_by_label("Ask about the app (nothing is changed)")
    question.fill("what does the page show?")
    # An image goes with the question: the "Add image" button's file input; a type the API does
    # not take is refused in the client.
    picker = page.locator("input[type=file]")
    picker.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    expect(page.get_by_text("notes.txt is not a PNG, JPEG, GIF or WebP image (text/plain).")).to_be_visible()
    picker.set_input_files(files=[{"name": "sketch.png", "mimeType": "image/png", "buffer": png(8, 6)}])
    attached = page.get_by_role("list", name="Attached images")
    expect(attached.get_by_role("img", name="sketch.png")).to_be_visible()
    expect(page.get_by_text("notes.txt is not")).to_have_count(0)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text(ANSWER)).to_be_visible(timeout=60_000)
    expect(attached).to_have_count(0)  # cleared once sent
    # The sent message shows it, its bytes fetched from the API with the token; a click opens it larger.
    sent = page.get_by_test_id("message-user").filter(has_text="what does the page show?")
    thumbnail = sent.get_by_role("img", name="Image 1")
    expect(thumbnail).to_be_visible()
    expect(thumbnail).to_have_js_property("naturalWidth", 8)
    assert thumbnail.get_attribute("src").startswith("blob:")
    thumbnail.click()
    large = page.get_by_role("dialog").get_by_role("img", name="Image 1")
    expect(large).to_have_js_property("naturalHeight", 6)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text("question", exact=True)).to_be_visible()
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_label("Versions").get_by_role("listitem")).to_have_count(1)  # no new version
    mode.get_by_text("Build", exact=True).click()
    expect(page.get_by_label("Ask for a change")).to_be_visible()


def test_images_are_pasted_or_dropped_on_the_prompt_and_the_client_refuses_what_the_api_would(
    page: Page, stack: RunningStack
) -> None:
    box = page.get_by_label("Your app")
    sketch = list(png(4, 4))
    # A clipboard image pasted into the box, and files dropped on it (an image and one too big).
    box.evaluate(
        """(box, bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "pasted.png", { type: "image/png" }));
            box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        sketch,
    )
    box.evaluate(
        """(box, bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
            data.items.add(new File([new Uint8Array(2 * 1024 * 1024 + 1)], "huge.gif", { type: "image/gif" }));
            box.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }""",
        sketch,
    )
    attached = page.get_by_role("list", name="Attached images")
    expect(attached.get_by_role("listitem")).to_have_count(2)
    expect(attached.get_by_role("img", name="pasted.png")).to_have_js_property("naturalWidth", 4)
    expect(page.get_by_text("huge.gif is 2.0 MB: an image may be at most 2 MB.")).to_be_visible()
    picker = page.locator("input[type=file]")
    expect(picker).to_have_attribute("accept", "image/png,image/jpeg,image/gif,image/webp")
    image = {"mimeType": "image/png", "buffer": png(2, 2)}
    picker.set_input_files(files=[{"name": f"{n}.png", **image} for n in range(3)])
    expect(attached.get_by_role("listitem")).to_have_count(4)
    expect(page.get_by_text("At most 4 images go with a prompt: 2.png was not added.")).to_be_visible()
    attached.get_by_role("button", name="Remove pasted.png").click()
    expect(attached.get_by_role("img", name="pasted.png")).to_have_count(0)
    expect(attached.get_by_role("listitem")).to_have_count(3)


def test_the_page_being_written_shows_live_and_the_finished_run_its_usage(page: Page, stack: RunningStack) -> None:
    status, project = stack.call("POST", "/projects", {"value": "a page, streamed"}, user="watcher")
    assert status == 201
    open_as(page, "watcher", f"{stack.api_url}/#/projects/{project['id']}")
    events = page.get_by_label("Run events")
    expect(events.get_by_text(re.compile(r"^Claude is writing app/page\.tsx \(\d+ bytes so far\)$"))).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_text(REPLY)).to_be_visible(timeout=60_000)
    expect(events.get_by_text("Claude is writing", exact=False)).to_have_count(0)  # replaced by what it wrote
    page.get_by_role("button", name="Show steps").click()
    expect(page.get_by_label("Run usage")).to_have_text(re.compile(r"^4 model calls · .* tokens in .* · \$0\.\d{4}$"))


def test_stop_a_run(page: Page, stack: RunningStack) -> None:
    create_project(page, "a calendar, built slowly")
    expect(page.get_by_label("Run events").get_by_text(SLOW_COMMAND, exact=False)).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Stopped: you cancelled this run")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("cancelled", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)


def test_another_user_sees_only_their_projects_and_hits_the_credit_limit(
    page: Page, stack: RunningStack, expected_statuses: set[int]
) -> None:
    expected_statuses.add(429)
    page.get_by_role("button", name="Signed in as local-user").click()
    page.get_by_label("Switch to user").fill("spender")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("button", name="Signed in as spender")).to_be_visible()
    expect(page.get_by_text("No projects yet.")).to_be_visible()
    assert json.loads(urllib.request.urlopen(stack.api_url + "/config.json").read())["auth"] == {"mode": "local"}

    spend_credits(stack, "spender")
    page.reload()
    create_project(page, "one app too many")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("You have used all your credits")
    expect(alert).to_contain_text("They come back on")
    expect(page.get_by_text(f"0/{CREDITS} credits")).to_be_visible()

    projects = page.get_by_role("navigation", name="Projects").get_by_role("link")
    expect(projects).to_have_count(CREDITS)
    doomed = projects.first.get_attribute("href") or ""
    page.get_by_role("button", name=re.compile("^Delete ")).first.click()
    dialog = page.get_by_role("dialog", name="Delete this project?")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_have_count(0)
    expect(projects).to_have_count(CREDITS - 1)
    assert stack.call("GET", f"/projects/{doomed.rsplit('/', 1)[-1]}", user="spender")[0] == 404


def test_at_phone_width_the_chat_and_the_app_are_tabs(browser: Browser, stack: RunningStack) -> None:
    status, project = stack.call("POST", "/projects", {"value": "a phone app"}, user="phone-user")
    assert status == 201
    context = authorized_context(browser, stack, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{stack.api_url}/#/")
        open_as(page, "phone-user", f"{stack.api_url}/#/projects/{project['id']}")
        expect(page.get_by_role("link", name=re.compile(project["name"]))).not_to_be_in_viewport()  # folded away
        page.get_by_role("button", name="Projects").click()
        expect(page.get_by_role("link", name=re.compile(project["name"]))).to_be_visible()
        page.get_by_role("link", name=re.compile(project["name"])).click()
        page.get_by_role("tab", name="Chat").click()
        expect(page.get_by_text(REPLY)).to_be_visible(timeout=60_000)
        page.get_by_role("tab", name="Preview").click()
        frame = page.frame_locator("iframe[title^='Preview of']")
        expect(frame.get_by_role("heading", name="a phone app")).to_be_visible(timeout=120_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        page.get_by_role("tab", name="Versions").click()
        expect(page.get_by_role("region", name="Site").get_by_role("status")).to_have_text("Not published")
        expect(page.get_by_role("button", name="Publish v1")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_an_expired_preview_is_brought_back(page: Page, stack: RunningStack) -> None:
    status, project = stack.call("POST", "/projects", {"value": "an app to bring back"}, user="returning-user")
    assert status == 201
    reply = stack.wait_for_messages(project["id"], 2, user="returning-user")[1]
    port = urllib.parse.urlsplit(reply["fragment"]["sandboxUrl"]).port
    ports = json.loads((stack.data_dir / "sandboxes" / ".previews.json").read_text())  # sandbox id → its port
    (sandbox_id,) = [sandbox for sandbox, its_port in ports.items() if its_port == port]
    # The sandbox expires: its directory goes at once (its dev server may still be writing in it).
    expired = stack.data_dir / "sandboxes" / sandbox_id
    expired.rename(expired.with_name(f"{sandbox_id}.expired"))
    shutil.rmtree(expired.with_name(f"{sandbox_id}.expired"), ignore_errors=True)

    open_as(page, "returning-user", f"{stack.api_url}/#/projects/{project['id']}")
    expect(page.get_by_text("This preview is not running")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Bring it back").click()
    frame = page.frame_locator("iframe[title^='Preview of']")
    expect(frame.get_by_role("heading", name="an app to bring back")).to_be_visible(timeout=120_000)


def test_an_error_the_app_throws_shows_under_the_preview_and_fix_it_asks_for_the_fix(
    page: Page, stack: RunningStack, app_errors: list[tuple[str, str]]
) -> None:
    user = "fixing-user"
    status, project = stack.call("POST", "/projects", {"value": BREAKS}, user=user)
    assert status == 201
    reply = stack.wait_for_messages(project["id"], 2, user=user)[1]
    preview_url = urllib.parse.urlsplit(reply["fragment"]["sandboxUrl"])
    app_errors.append((f"{preview_url.scheme}://{preview_url.netloc}", BROKEN))
    open_as(page, user, f"{stack.api_url}/#/projects/{project['id']}")
    frame = page.frame_locator("iframe[title^='Preview of']")
    frame.get_by_role("button", name="Break it").click(timeout=120_000)

    thrown = page.get_by_role("region", name="Errors in the app")
    expect(thrown).to_contain_text("The app threw 1 error in the browser")
    error = thrown.get_by_role("listitem")
    expect(error).to_have_count(1)
    expect(error).to_contain_text(f"Error: {BROKEN}")
    error.get_by_role("button", name="Show the stack").click()
    expect(error.get_by_label("Stack")).to_contain_text("at breakIt (")
    # The same shape posted by another window (here the client's own) is not the preview's: ignored.
    page.evaluate(
        "window.postMessage({type: 'qai:runtime-error', kind: 'error', message: 'Forged', stack: '', url: ''}, '*')"
    )
    # The app reports a message once a page load: reloaded and thrown again, it counts up.
    page.get_by_role("button", name="Reload the preview").click()
    frame.get_by_role("button", name="Break it").click(timeout=60_000)
    expect(error.get_by_label("Thrown 2 times")).to_have_text("×2")
    expect(error).to_have_count(1)
    expect(page.get_by_text("Forged")).to_have_count(0)

    error.get_by_role("button", name="Fix it").click()
    expect(page.get_by_label("Run events").get_by_text("$ echo building the app")).to_be_visible(timeout=60_000)
    asked = stack.wait_for_messages(project["id"], 3, user=user)[2]
    assert asked["role"] == "USER" and asked["mode"] == "build"
    assert asked["content"].startswith(
        "Fix this error the app throws in the browser:\n\nError: The counter broke at 3\n\nat breakIt ("
    )
    assert asked["content"].endswith(f"\n\nat {reply['fragment']['sandboxUrl']}")
    expect(thrown).to_contain_text("Fix it waits for the run to finish.")
    # The fixed version loads in the preview, without the old version's errors.
    expect(frame.get_by_role("heading", name="The counter works")).to_be_visible(timeout=120_000)
    expect(thrown).to_have_count(0)


def test_select_an_element_of_the_app_and_ask_about_it(
    page: Page, stack: RunningStack, model: sm.ScriptedModelServer
) -> None:
    user, heading = "selecting-user", "a heading to point at"
    status, project = stack.call("POST", "/projects", {"value": heading}, user=user)
    assert status == 201
    preview = urllib.parse.urlsplit(stack.wait_for_messages(project["id"], 2, user=user)[1]["fragment"]["sandboxUrl"])
    preview_origin = f"{preview.scheme}://{preview.netloc}"
    preview_errors: list[str] = []
    page.on("console", lambda m: preview_errors.append(m.text) if m.type == "error" else None)
    open_as(page, user, f"{stack.api_url}/#/projects/{project['id']}")
    frame = page.frame_locator("iframe[title^='Preview of']")
    shown = frame.get_by_role("heading", name=heading)
    expect(shown).to_be_visible(timeout=120_000)
    # The preview's dev build marks each element with where it is written.
    expect(shown).to_have_attribute("data-qai-source", "app/page.tsx:2:10")
    select = page.get_by_role("button", name="Select an element")

    select.click()
    expect(select).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")  # Escape ends it, nothing selected: here, where the keyboard is
    expect(select).to_have_attribute("aria-pressed", "false")
    expect(frame.locator("html")).not_to_have_css("cursor", "crosshair")
    select.click()
    expect(frame.locator("html")).to_have_css("cursor", "crosshair")
    # The app's page loaded again (a reload, the dev server's full refresh) picks it up where it was.
    app = next(f for f in page.frames if f.url.startswith(preview_origin))
    app.goto(app.url, timeout=60_000)  # returns once the new page has loaded
    expect(frame.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
    expect(frame.locator("html")).to_have_css("cursor", "crosshair")
    # or in the app, when it has the keyboard
    frame.locator("html").evaluate("() => window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    expect(select).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("group", name="Selected element")).to_have_count(0)
    # The app's code cannot choose for the person: a selection it reports while Select is off is
    # ignored (the error it posts next shows that both messages were read, in order).
    frame.locator("html").evaluate(
        "() => { parent.postMessage({type: 'qai:selected', file: 'app/page.tsx', line: 2, column: 10,"
        " tag: 'h1', text: 'forged'}, '*'); parent.postMessage({type: 'qai:runtime-error', kind: 'error',"
        " message: 'An unasked selection was sent', stack: '', url: ''}, '*'); }"
    )
    expect(page.get_by_text("An unasked selection was sent")).to_be_visible()
    expect(page.get_by_role("group", name="Selected element")).to_have_count(0)

    select.click()
    shown.hover()
    outline = frame.locator("div[aria-hidden='true'][style*='position: fixed']")
    expect(outline).to_be_visible()
    shown.click()
    expect(select).to_have_attribute("aria-pressed", "false")
    expect(outline).to_have_count(0)
    chip = page.get_by_role("group", name="Selected element")
    expect(chip).to_contain_text(f"<h1> app/page.tsx:2 “{heading}”")
    expect(page.get_by_label("Ask for a change")).to_be_focused()
    chip.get_by_role("button", name="Remove the selection").click()
    expect(chip).to_have_count(0)

    select.click()
    shown.click()
    expect(chip).to_be_visible()
    page.get_by_label("Ask for a change").fill("Make it blue")
    page.get_by_role("button", name="Send").click()
    expect(chip).to_have_count(0)
    sent = page.get_by_test_id("message-user").last
    expect(sent.get_by_label("Pointed at")).to_have_text("app/page.tsx:2")
    asked = stack.wait_for_messages(project["id"], 3, user=user)[2]
    assert asked["selection"] == {"file": "app/page.tsx", "line": 2, "column": 10}
    changed = stack.wait_for_messages(project["id"], 4, user=user)[3]["fragment"]
    prompts = [sm.request_prompt(r) for r in model.agent_requests()]
    told = next(r for r, p in zip(model.agent_requests(), prompts, strict=True) if p == "Make it blue")
    first = told["messages"][0]["content"]
    text = first if isinstance(first, str) else "".join(block.get("text", "") for block in first)
    assert f"> 2 |   return <h1>{heading}</h1>;" in text
    # The marks are the preview's own: the version's files and its download carry none.
    status, fragment = stack.call("GET", f"/projects/{project['id']}/fragments/{changed['id']}", user=user)
    assert status == 200 and "<h1>" in json.dumps(fragment) and "data-qai-source" not in json.dumps(fragment)
    assert not [e for e in preview_errors if "hydrat" in e.lower()], preview_errors


def test_publish_a_version_then_push_the_history_to_git(
    page: Page, stack: RunningStack, git_server: GitServer, expected_statuses: set[int], tmp_path: Path
) -> None:
    user, prompt = "publisher", "a site to publish"
    status, project = stack.call("POST", "/projects", {"value": prompt}, user=user)
    assert status == 201
    stack.wait_for_messages(project["id"], 2, user=user)
    open_as(page, user, f"{stack.api_url}/#/projects/{project['id']}")
    page.get_by_role("tab", name="Versions").click()
    versions = page.get_by_label("Versions")

    # Published: "Publishing v1…" while the static export is built, then its address, on the sites'
    # own origin, serving the app; the version it serves is marked Live.
    site = page.get_by_role("region", name="Site")
    expect(site.get_by_role("status")).to_have_text("Not published")
    page.get_by_role("button", name="Publish v1").click()
    expect(site.get_by_role("status")).to_have_text("Publishing v1…")
    expect(site.get_by_role("status")).to_have_text("v1 is live", timeout=180_000)
    link = site.get_by_role("link")
    url = link.get_attribute("href") or ""
    assert url.startswith("http://127.0.0.1:") and not url.startswith(stack.api_url), url
    assert (link.get_attribute("target"), link.get_attribute("rel")) == ("_blank", "noopener noreferrer")
    expect(versions.get_by_role("link", name=f"Live: v1 is at {url}")).to_have_text("Live")
    with page.expect_popup() as opened:
        link.click()
    expect(opened.value.get_by_role("heading", name=prompt)).to_be_visible()
    opened.value.close()
    # Taken down, after a confirmation: the address answers 404.
    site.get_by_role("button", name="Unpublish").click()
    page.get_by_role("dialog", name="Unpublish the site?").get_by_role("button", name="Unpublish").click()
    expect(site.get_by_role("status")).to_have_text("Not published")
    expect(site.get_by_role("link")).to_have_count(0)
    expect(versions.get_by_role("link", name=re.compile("^Live"))).to_have_count(0)
    assert page.request.get(url).status == 404
    # A publish whose build failed (as the API tells it): next's output, and the version still serving.
    first = stack.wait_for_messages(project["id"], 2, user=user)[1]["fragment"]["id"]
    output = "Error: export const dynamic = 'force-dynamic' on page /\n" + "\n".join(
        f"    at step {n}" for n in range(40)
    )
    failed = {"status": "FAILED", "url": url, "fragmentId": first, "liveFragmentId": first, "publishedAt": None}
    page.route("**/site", lambda route: route.fulfill(json=failed | {"error": output}))
    page.get_by_role("tab", name="Preview").click()
    page.get_by_role("tab", name="Versions").click()  # asked again
    expect(site.get_by_role("status")).to_have_text("Publishing v1 failed")
    expect(site).to_contain_text("v1, published before, still serves.")
    expect(site.get_by_role("link")).to_have_attribute("href", url)
    build_output = site.get_by_label("The build's output")
    expect(build_output).to_contain_text("at step 39")
    block = build_output.locator("pre")
    box = build_output.bounding_box()
    assert box and block.evaluate("e => e.scrollHeight") > box["height"]  # it scrolls
    assert "monospace" in block.evaluate("e => getComputedStyle(e).fontFamily")
    page.unroute("**/site")

    # The history as a bundle that git clones.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download history (git bundle)").click()
    assert download.value.suggested_filename == f"{project['name']}.bundle"
    expect(page.get_by_text(f"git clone {project['name']}.bundle")).to_be_visible()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    cloned = subprocess.run(["git", "clone", "-q", str(bundle), str(tmp_path / "clone")], capture_output=True)
    assert cloned.returncode == 0, cloned.stderr
    assert f"<h1>{prompt}</h1>" in (tmp_path / "clone" / "app" / "page.tsx").read_text()

    # Pushed to a git server with a token, which the browser keeps nowhere.
    expected_statuses.add(400)  # a branch name git refuses
    page.get_by_role("button", name="Push to git").click()
    dialog = page.get_by_role("dialog", name="Push to git")
    url_field, token = dialog.get_by_label("Repository URL"), dialog.get_by_role("textbox", name="Token")
    assert (token.get_attribute("type"), token.get_attribute("autocomplete")) == ("password", "off")
    expect(dialog.get_by_label("Branch")).to_have_value("main")
    expect(dialog.get_by_label("Username")).to_have_value("x-access-token")
    expect(dialog).to_contain_text("GitLab uses oauth2")
    url_field.fill("git@example.com:you/app.git")
    dialog.get_by_role("button", name="Push", exact=True).click()
    expect(dialog).to_contain_text("The URL starts with https://")  # checked here; nothing was sent
    url_field.fill(git_server.url)
    dialog.get_by_label("Branch").fill("no..dots")
    dialog.get_by_label("Username").fill(GIT_USER)
    token.fill(GIT_TOKEN)
    dialog.get_by_role("button", name="Push", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("is not a branch name git takes")
    dialog.get_by_label("Branch").fill("main")
    dialog.get_by_role("button", name="Push", exact=True).click()
    pushed = dialog.get_by_role("status")
    expect(pushed).to_contain_text("Pushed", timeout=60_000)
    head = Repo(str(git_server.path)).refs[b"refs/heads/main"].decode()
    expect(pushed).to_contain_text(f"main is at {head[:7]} on {git_server.url}")
    expect(token).to_have_value("")  # sent once
    stored = page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert GIT_TOKEN not in stored
    # A token the server refuses: the push fails, and says why.
    token.fill("not-the-token")
    dialog.get_by_role("button", name="Push", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("refused the credentials (HTTP 401)", timeout=60_000)
    # Opened again: the last push as it ended, where it went, and no token.
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    page.get_by_role("button", name="Push to git").click()
    expect(dialog.get_by_role("alert")).to_contain_text("refused the credentials (HTTP 401)")
    expect(url_field).to_have_value(git_server.url)
    expect(dialog.get_by_label("Username")).to_have_value(GIT_USER)
    expect(token).to_have_value("")


def test_a_stack_without_a_model_says_how_to_configure_one(page: Page) -> None:
    page.route("**/local/status", lambda route: route.fulfill(json={"model": "missing"}))
    page.reload()
    alert = page.get_by_role("alert").filter(has_text="No model is configured")
    expect(alert).to_contain_text("ANTHROPIC_API_KEY")


def test_the_start_address_keeps_the_token_and_drops_it_from_the_address_bar(
    browser: Browser, stack: RunningStack
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        for address in (stack.web_url, f"{stack.api_url}/"):  # later, without it: the browser kept it
            with page.expect_response(lambda answer: urllib.parse.urlsplit(answer.url).path == "/projects") as listed:
                page.goto(address)
            assert listed.value.status == 200
            expect(page.get_by_role("button", name="Build it")).to_be_visible()
            expect(page).not_to_have_url(re.compile("token"))
            page.goto("about:blank")
    finally:
        context.close()


def test_a_browser_without_the_token_is_told_where_to_find_it(browser: Browser, stack: RunningStack) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        refused: list[int] = []
        page.on("response", lambda response: refused.append(response.status) if response.status == 401 else None)
        page.goto(f"{stack.api_url}/")
        expect(page.get_by_text("This browser needs the local API's token").first).to_be_visible()
        assert refused, "the API answered without the token"
    finally:
        context.close()
