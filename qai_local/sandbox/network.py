"""The network of the local sandboxes: their only way out, and the host's way in to each preview.

Each sandboxed process runs in its own network namespace (bubblewrap's ``--unshare-net``): it sees
loopback and nothing of the host. Two bridges cross the boundary, both over Unix sockets in a
directory only this user can open:
- out: a relay inside the sandbox (socat, ``127.0.0.1:3128``) to the allowlisting proxy
  (``egress``), whose socket is bound read-only into every sandbox;
- in: the host makes a listening socket per dev server and passes its descriptor to a small relay
  inside the sandbox (``netbridge.js``), which connects each client to the dev server's port in
  the sandbox. The socket's path is never visible to the sandbox, so it cannot be swapped.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from qai_local.sandbox.egress import EgressProxy, registry_host

EGRESS_SOCKET = "egress.sock"
PROXY_PORT = 3128
NETBRIDGE = Path(__file__).with_name("netbridge.js")
READY_BYTE = b"+"


class SandboxNetwork:
    """This process's egress proxy and ingress sockets, in a private runtime directory."""

    def __init__(self, allowed_hosts: frozenset[str] | None = None) -> None:
        # Short and private: Unix socket paths are limited to about 100 bytes.
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="qai-net-"))
        self.egress_dir = self.runtime_dir / "egress"
        self.egress_dir.mkdir(mode=0o700)
        (self.runtime_dir / "in").mkdir(mode=0o700)
        self.allowed_hosts = allowed_hosts or frozenset({registry_host()})
        self._proxy = EgressProxy(self.egress_dir / EGRESS_SOCKET, self.allowed_hosts)

    def ingress_path(self, sandbox_id: str) -> Path:
        return self.runtime_dir / "in" / f"{sandbox_id}.sock"

    def listen_ingress(self, sandbox_id: str) -> socket.socket:
        """A new listening socket for the sandbox's dev server, to hand to its relay."""
        path = self.ingress_path(sandbox_id)
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(128)
        return listener

    def stop(self) -> None:
        self._proxy.stop()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


def ingress_answers(path: Path, timeout: float = 0.5) -> bool:
    """Whether the dev server behind a sandbox's ingress socket accepts connections now."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(str(path))
            return probe.recv(1) == READY_BYTE
        except OSError:
            return False
