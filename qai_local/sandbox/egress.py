"""The sandboxes' only way out: an allowlisting HTTPS proxy on a Unix socket.

A sandbox has its own network namespace with nothing but loopback. Inside it, a relay listens on
``127.0.0.1:3128`` and forwards to this proxy's socket, which is bound read-only into the sandbox
(the host's file, so a sandbox cannot swap it). The proxy takes one ``CONNECT host:443`` per
connection, lets it through only to an allowed host name (the npm registry npm is configured
with), resolves that name itself and refuses loopback, private and link-local answers (a DNS
answer pointing home is refused too). Anything else gets ``403`` and is closed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

HTTPS_PORT = 443
HEAD_LIMIT = 8 * 1024
HEAD_TIMEOUT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 15
CHUNK = 64 * 1024
DEFAULT_REGISTRY = "https://registry.npmjs.org/"
# Never a way in: this machine, its networks, and the cloud's metadata addresses.
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def registry_host() -> str:
    """The host name of the npm registry this user's npm is configured with (a ``MachineProbe`` asks once)."""
    try:
        answer = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=30)
        url = answer.stdout.strip() if answer.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        url = ""
    host = urlsplit(url).hostname or urlsplit(DEFAULT_REGISTRY).hostname or ""
    return host.lower()


def blocked_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(ip in network for network in BLOCKED_NETWORKS if network.version == ip.version)


class EgressRefusedError(Exception):
    """The request is not one the proxy lets through; the text says why."""


def parse_connect(head: bytes, allowed_hosts: frozenset[str]) -> tuple[str, int]:
    """The allowed ``(host, port)`` of a ``CONNECT`` request's head, or EgressRefusedError."""
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        raise EgressRefusedError("only HTTPS through CONNECT is allowed")
    host, _, port_text = parts[1].rpartition(":")
    host = host.strip("[]").lower().rstrip(".")
    if not port_text.isdigit() or int(port_text) != HTTPS_PORT:
        raise EgressRefusedError(f"only port {HTTPS_PORT} is allowed")
    if host not in allowed_hosts:
        raise EgressRefusedError(f"{host} is not reachable from a sandbox (only {', '.join(sorted(allowed_hosts))})")
    return host, HTTPS_PORT


def connect_public(host: str, port: int) -> socket.socket:
    """A connection to the first public address of ``host``; never to this machine or its networks."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise EgressRefusedError(f"{host} does not resolve") from exc
    public = [answer for answer in answers if not blocked_address(str(answer[4][0]))]
    if not public:
        raise EgressRefusedError(f"{host} resolves to a private address")
    family, kind, proto, _name, address = public[0]
    upstream = socket.socket(family, kind, proto)
    upstream.settimeout(CONNECT_TIMEOUT_SECONDS)
    try:
        upstream.connect(address)
    except OSError as exc:
        upstream.close()
        raise EgressRefusedError(f"{host} cannot be reached") from exc
    upstream.settimeout(None)
    return upstream


def _read_head(client: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(1024)
        if not chunk or len(head) + len(chunk) > HEAD_LIMIT:
            raise EgressRefusedError("incomplete request")
        head += chunk
    return head


def _pipe(source: socket.socket, destination: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(CHUNK):
            destination.sendall(chunk)
    with contextlib.suppress(OSError):
        destination.shutdown(socket.SHUT_WR)


class _ConnectHandler(socketserver.BaseRequestHandler):
    server: EgressProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(HEAD_TIMEOUT_SECONDS)
        try:
            host, port = parse_connect(_read_head(client), self.server.allowed_hosts)
            upstream = connect_public(host, port)
        except (EgressRefusedError, OSError) as exc:
            logger.info("Sandbox egress refused: %s", exc)
            with contextlib.suppress(OSError):
                client.sendall(f"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\n{exc}\n".encode())
            return
        client.settimeout(None)
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join()


class EgressProxy(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, socket_path: Path, allowed_hosts: frozenset[str]) -> None:
        self.allowed_hosts = allowed_hosts
        super().__init__(str(socket_path), _ConnectHandler)
        # Only this user (and its sandboxes, which run as this user outside their namespace) may connect.
        socket_path.chmod(0o600)
        self._thread = threading.Thread(target=self.serve_forever, name="qai-sandbox-egress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
