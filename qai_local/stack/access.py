"""Who may use the local API: programs that hold its token, through 127.0.0.1 or localhost only.

The local stack listens on the user's own machine, where every web page the user opens and every
other program can reach it. So a request is answered only when

- its ``Host`` is ``127.0.0.1:<port>`` or ``localhost:<port>`` (a page on a rebound DNS name has
  another ``Host``),
- an ``Origin`` it carries is the API's own or the Vite dev server's (a page elsewhere gets 403,
  and CORS is granted to no one else), and
- it carries the token made at first start, kept in ``<data folder>/api-token`` (mode 0600), as
  ``Authorization: Bearer <token>``. ``X-QAI-User`` counts only then.

The web client's page, ``/openapi.json``, ``/local/status`` (no user's data) and download links
(each a secret of its own, as a presigned URL is) need no token.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

TOKEN_FILE = "api-token"  # noqa: S105 (a file name, not a secret)
# `npm run dev` in web/ (vite.config.ts) serves the client from here, in front of the stack.
VITE_DEV_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
PUBLIC_GET_PATHS = ("/openapi.json", "/local/status", "/config.json", "/", "/index.html")
PUBLIC_GET_PREFIXES = ("/assets/", "/local/downloads/")


def local_hosts(port: int) -> tuple[str, ...]:
    """The ``Host`` values of a request to a server of the stack on ``port``: a page on a rebound DNS
    name (a name of its own resolving to 127.0.0.1) sends its own name."""
    return (f"127.0.0.1:{port}", f"localhost:{port}")


def api_token(data_dir: Path) -> str:
    """The stack's token: read from the data folder, or made there (readable by its owner only)."""
    path = data_dir / TOKEN_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if token:
            path.chmod(0o600)
            return token
        path.unlink()
        return api_token(data_dir)
    token = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")
    return token


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class LocalAccess:
    token: str
    port: int

    @property
    def hosts(self) -> tuple[str, ...]:
        return local_hosts(self.port)

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(f"http://{host}" for host in self.hosts) + VITE_DEV_ORIGINS

    def refusal(self, method: str, path: str, headers: dict[str, str]) -> Refusal | None:
        """Why the request is refused (headers with lower-case names); None when it may go on."""
        host = headers.get("host", "")
        if host not in self.hosts:
            return Refusal(403, "FORBIDDEN", f"This API answers at {self.hosts[0]} only, not {host or 'no host'}")
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return Refusal(403, "FORBIDDEN", f"Requests from {origin} are not allowed")
        if method == "OPTIONS" or self.is_public(method, path):
            return None
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return Refusal(
                401,
                "UNAUTHORIZED",
                "The local API needs its token (Authorization: Bearer <token>); it is in the data folder's "
                f"{TOKEN_FILE} file, and in the web client's address that the start command prints",
            )
        return None

    @staticmethod
    def is_public(method: str, path: str) -> bool:
        return method == "GET" and (path in PUBLIC_GET_PATHS or path.startswith(PUBLIC_GET_PREFIXES))

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        if origin is None or origin not in self.origins:
            return {"vary": "origin"}
        return {
            "vary": "origin",
            "access-control-allow-origin": origin,
            "access-control-allow-headers": "authorization, content-type, x-qai-user",
            "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
        }
