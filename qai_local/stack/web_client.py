"""The web client (web/, built into web/dist by `make web`) served at the local API's root URL.

The client's own paths are `/`, `/assets/…` and `/config.json`; everything else is the API's.
The client keeps its page in the URL's hash (#/projects/<id>), so no client path can shadow a route.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = ROOT / "web" / "dist"
# The local user needs no sign-in: the API takes it from X-QAI-User (see local_stack).
LOCAL_CONFIG = json.dumps({"apiUrl": "", "auth": {"mode": "local"}}).encode()
NOT_BUILT = (
    b"<!doctype html><title>QAI</title><p>The web client is not built yet: <code>make web</code> "
    b"(part of <code>make dev</code>) builds it.</p>"
)

Answer = tuple[int, bytes, dict[str, str]]


def web_answer(path: str, dist: Path = WEB_DIST) -> Answer | None:
    """The answer to a GET of one of the client's paths; None for any other path."""
    if path == "/config.json":
        return 200, LOCAL_CONFIG, {"content-type": "application/json", "cache-control": "no-store"}
    if path in ("/", "/index.html"):
        index = dist / "index.html"
        if not index.is_file():
            return 200, NOT_BUILT, {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
        return 200, index.read_bytes(), {"content-type": "text/html; charset=utf-8", "cache-control": "no-cache"}
    if path.startswith("/assets/"):
        assets = (dist / "assets").resolve()
        file = (dist / path.lstrip("/")).resolve()
        if not file.is_relative_to(assets) or not file.is_file():
            return None
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        # Vite puts a content hash in every asset's name: a name never changes its content.
        return 200, file.read_bytes(), {"content-type": kind, "cache-control": "public, max-age=31536000, immutable"}
    return None
