"""The QAI API from a script or a terminal: its address, its credentials, and JSON calls."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from qai_local.stack.access import TOKEN_FILE

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "http://127.0.0.1:8787"


def api_token() -> str | None:
    """QAI_TOKEN, or the local stack's token from its data folder (None when there is neither)."""
    if token := os.environ.get("QAI_TOKEN"):
        return token
    data_dir = Path(os.environ.get("QAI_DATA_DIR") or ROOT / ".qai")
    try:
        return (data_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Client:
    def __init__(self, base_url: str, token: str | None, user: str | None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"QAI_API_URL must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.headers = {"content-type": "application/json", "accept": "application/json"}
        # Sent to the API only: a redirect to a download link must not carry them.
        self.credentials = {"authorization": f"Bearer {token}"} if token else {}
        if user:
            self.headers["x-qai-user"] = user

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raw = self.fetch(method, path, body)
        return json.loads(raw) if raw else None

    def fetch(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        """The response's bytes, after any redirect (a large download is a link elsewhere)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=self.headers)  # noqa: S310 - http(s) only, checked above
        for name, value in self.credentials.items():
            request.add_unredirected_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - see above
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode(errors="replace") or exc.reason
            raise ApiError(exc.code, message) from None
        except urllib.error.URLError as exc:
            raise ApiError(0, f"cannot reach {self.base_url} ({exc.reason}); is `make dev` running?") from None

    def model_missing(self) -> bool:
        try:
            return bool(self.call("GET", "/local/status").get("model") == "missing")
        except ApiError:
            return False  # a deployed API has no local status


def client_from_environment() -> Client:
    """QAI_API_URL (default the local stack), with QAI_TOKEN or the local stack's token, and QAI_USER."""
    return Client(os.environ.get("QAI_API_URL", DEFAULT_API_URL), api_token(), os.environ.get("QAI_USER"))


def find_project_of(client: Client, fragment_id: str, project_id: str | None) -> str:
    """The project that holds the fragment: the one given, or found among the caller's projects."""
    candidates = [project_id] if project_id else [p["id"] for p in client.call("GET", "/projects?limit=100")["items"]]
    for candidate in candidates:
        items = client.call("GET", f"/projects/{candidate}/messages")["items"]
        if any(m["fragment"] and m["fragment"]["id"] == fragment_id for m in items):
            return candidate
    raise ApiError(404, f"no version {fragment_id} among your projects")
