"""Benchmark: pointing at the app.

1. An error the app throws in the preview, to its line under the preview in the web client: the
   local stack with the scripted model, which writes a page whose button throws; Chromium opens the
   project, clicks the button in the preview's frame and waits for the error's count to go up under
   it. The time runs from the app's own clock at the throw to the client's when the line shows
   (both Date.now() on this machine). Target: under 1 s.
2. One image of about 1 MB with a follow-up: how much it adds to the API request (its base64 in the
   JSON body), to each request the agent makes to the model (it goes with that turn's text), and
   to the model's input tokens, by Anthropic's rule for images (width x height / 750, after the
   API's own downscale to at most 1568 px a side and about 1.15 megapixels).

Usage: make bench  (or python bench/point_at_app.py [clicks, default 10])
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from harness import ROOT, bench_stack
from load import post
from playwright.sync_api import expect, sync_playwright
from results import record

from qai.images import MOST_IMAGE_TOKENS, image_tokens
from qai_local.stack.process import LocalStackProcess
from qai_tools import scripted_model as sm

TARGET_ERROR_SECONDS = 1.0
IMAGE_SIDE = 580  # an RGB PNG of noise this size is about 1 MB (noise does not compress)
THROWING_PAGE = """'use client';
import { useEffect, useState } from "react";

export default function Home() {
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);
  const breakIt = () => {
    (window as unknown as { thrownAt: number }).thrownAt = Date.now();
    throw new Error("Thrown for the benchmark");
  };
  return (
    <main>
      <h1>An app that throws</h1>
      <button disabled={!ready} onClick={breakIt}>Break it</button>
    </main>
  );
}
"""
# Notes each change of what the errors under the preview say, with the client's clock.
WATCH_ERRORS = """() => {
  window.errorsShown = [];
  new MutationObserver(() => {
    const text = document.querySelector('[aria-label="Errors in the app"]')?.textContent ?? "";
    if (text !== (window.errorsShown.at(-1)?.text ?? "")) window.errorsShown.push({ text, at: Date.now() });
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def noise_png(side: int) -> bytes:
    """An RGB PNG of random pixels: about side x side x 3 bytes, whatever the compressor does."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


def _first_turn(request: dict[str, Any]) -> sm.Reply:
    return sm.write_files({"app/page.tsx": THROWING_PAGE}) if len(request["messages"]) == 1 else sm.summary("Done.")


def _wait_for_reply(stack: LocalStackProcess, project_id: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        request = urllib.request.Request(  # noqa: S310 - the local stack's http URL
            f"{stack.api_url}/projects/{project_id}/messages", headers=stack.auth
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local stack
            if len(json.loads(response.read())["items"]) >= 2:
                return
        time.sleep(0.3)
    raise AssertionError("no reply in 180 s:\n" + "".join(stack.output[-30:]))


def error_to_client_seconds(clicks: int) -> list[float]:
    """Each click's time from the throw in the preview to the error's line in the client."""
    model = sm.ScriptedModelServer().start()
    model.responder = _first_turn
    data = Path(tempfile.mkdtemp(prefix="qai-bench-point-"))
    stack = LocalStackProcess(
        data / "qai-data",
        ANTHROPIC_BASE_URL=model.url,
        ANTHROPIC_API_KEY="sk-ant-local-bench",
        AGENT_CHECK_APP="false",
    )
    try:
        project = post(stack, "/projects", {"value": "an app that throws"})[1]
        _wait_for_reply(stack, project["id"])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
            page = browser.new_page()
            page.goto(stack.web_url)  # the start address: the client keeps its token
            expect(page.get_by_role("button", name="Build it")).to_be_visible()
            page.goto(f"{stack.api_url}/#/projects/{project['id']}")
            frame = page.frame_locator("iframe[title^='Preview of']")
            page.evaluate(WATCH_ERRORS)
            seconds = []
            for click in range(1, clicks + 1):
                if click > 1:  # the app reports a message once a page load
                    page.get_by_role("button", name="Reload the preview").click()
                frame.get_by_role("button", name="Break it").click(timeout=120_000)
                errors = page.get_by_role("region", name="Errors in the app")
                expect(errors.get_by_label(f"Thrown {click} times") if click > 1 else errors).to_be_visible()
                thrown_at = frame.locator("html").evaluate("() => window.thrownAt")
                shown_at = page.evaluate("() => window.errorsShown.at(-1).at")
                seconds.append((shown_at - thrown_at) / 1000)
            browser.close()
        return seconds
    finally:
        stack.stop()
        model.stop()
        shutil.rmtree(data, ignore_errors=True)


def image_costs() -> dict[str, float]:
    """What one ~1 MB image adds: to the API request, to a model request, in input tokens."""
    image = noise_png(IMAGE_SIDE)
    attached = [{"mediaType": "image/png", "data": base64.b64encode(image).decode()}]
    uploads = Path(tempfile.mkdtemp(prefix="qai-bench-uploads-"))
    try:
        with bench_stack(LOCAL_UPLOADS_DIR=str(uploads), AGENT_CHECK_APP="false") as stack:
            stack.model.responder = sm.page_from_request
            project = stack.call("POST", "/projects", {"value": "a page"})
            stack.deliver(stack.take_message())
            sizes = {}
            for name, images in (("without", []), ("with", attached)):
                body = {"value": "Make it look like this", **({"images": images} if images else {})}
                stack.model.requests.clear()
                stack.call("POST", f"/projects/{project['id']}/messages", body)
                stack.deliver(stack.take_message())
                sizes[name] = (len(json.dumps(body)), len(json.dumps(stack.model.agent_requests()[0])))
    finally:  # removed whether the benchmark ends or fails
        shutil.rmtree(uploads, ignore_errors=True)
    return {
        "image_bytes": len(image),
        "api_request_added_bytes": sizes["with"][0] - sizes["without"][0],
        "model_request_added_bytes": sizes["with"][1] - sizes["without"][1],
        "image_input_tokens": image_tokens("image/png", image),
        "largest_image_input_tokens": MOST_IMAGE_TOKENS,
    }


def main(clicks: int) -> int:
    print(f"pointing at the app: {clicks} errors thrown in the preview, one ~1 MB image")
    seconds = error_to_client_seconds(clicks)
    median = statistics.median(seconds)
    print(f"  error thrown → its line in the client  median {median:.3f} s  max {max(seconds):.3f} s")
    record("runtime_error_to_client_s", median, "s", target=TARGET_ERROR_SECONDS)
    costs = image_costs()
    mb = costs["image_bytes"] / 1e6
    added = costs["api_request_added_bytes"] / 1e6
    print(f"  one {mb:.2f} MB PNG ({IMAGE_SIDE}x{IMAGE_SIDE}) adds {added:.2f} MB to the API request")
    print(f"    and {costs['model_request_added_bytes'] / 1e6:.2f} MB to each request to the model of that run")
    print(
        f"    input tokens: {costs['image_input_tokens']:.0f} (Anthropic's rule; an image the API shrinks to "
        f"its largest, {costs['largest_image_input_tokens']:.0f})"
    )
    record("image_1mb_request_added_mb", costs["api_request_added_bytes"] / 1e6, "MB")
    record("image_1mb_input_tokens", costs["image_input_tokens"], "tokens")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
