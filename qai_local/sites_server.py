"""Published sites on one machine: ``LOCAL_SITES_DIR`` served on a port of their own (never the API's
origin, so a site's scripts cannot call the API with the user's token), by the rules CloudFront
applies deployed: ``/<slug>/`` is the site's current prefix, a path ending in ``/`` or without an
extension is its folder's ``index.html``, a missing file is the site's own ``404.html`` with status
404, Next's hashed assets are cached for good and everything else is asked again.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from qai.sites_store import POINTER, PREFIX, SLUG, cache_control, content_type, site_path


class SitesHandler(BaseHTTPRequestHandler):
    server_version = "qai-sites"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    directory: Path

    def log_message(self, format: str, *args: object) -> None:
        pass  # a site's visitors are not the stack's log

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        slug, _, rest = path.lstrip("/").partition("/")
        if not SLUG.fullmatch(slug):
            return self._send(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain; charset=utf-8", send_body)
        if "/" not in path.lstrip("/"):  # /<slug>: the site's pages are relative to /<slug>/
            return self._redirect(f"/{slug}/")
        base = self._live(slug)
        relative = site_path(rest)
        if base is None or relative is None:
            return self._not_found(base, send_body)
        try:
            data = (base / relative).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return self._not_found(base, send_body)
        self._send(HTTPStatus.OK, data, content_type(relative), send_body, cache_control(relative))

    def _live(self, slug: str) -> Path | None:
        try:
            prefix = os.readlink(self.directory / slug / POINTER)
        except OSError:
            return None
        return self.directory / slug / prefix if PREFIX.fullmatch(prefix) else None

    def _not_found(self, base: Path | None, send_body: bool) -> None:
        try:
            page = (base / "404.html").read_bytes() if base is not None else None
        except OSError:
            page = None
        if page is None:
            return self._send(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain; charset=utf-8", send_body)
        self._send(HTTPStatus.NOT_FOUND, page, "text/html; charset=utf-8", send_body, cache_control("404.html"))

    def _redirect(self, location: str) -> None:
        self._write(HTTPStatus.MOVED_PERMANENTLY, [("Location", location), ("Content-Length", "0")], b"")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, send_body: bool, cache: str = "no-store") -> None:
        headers = [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache),
            ("X-Content-Type-Options", "nosniff"),
        ]
        self._write(status, headers, body if send_body else b"")

    def _write(self, status: HTTPStatus, headers: list[tuple[str, str]], body: bytes) -> None:
        """The whole response in one write: status line, headers and body."""
        lines = [f"{self.protocol_version} {status.value} {status.phrase}", f"Server: {self.server_version}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


class SitesServer:
    """The sites folder served on 127.0.0.1:``port`` (0: a free one) from a thread of its own."""

    def __init__(self, directory: Path, port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        handler = type("BoundSitesHandler", (SitesHandler,), {"directory": directory})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="qai-sites", daemon=True)

    def start(self) -> SitesServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


if __name__ == "__main__":  # python -m qai_local.sites_server <folder> <port>: the sites alone
    import sys

    sites = SitesServer(Path(sys.argv[1]), int(sys.argv[2])).start()
    print(sites.url, flush=True)
    threading.Event().wait()
