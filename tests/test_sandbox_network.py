"""Escape tests for the sandbox's network: each tries a way out of a sandbox, and each must fail.

A sandboxed command and a sandbox's dev server have their own network namespace: no host loopback
port (the local API, the queue, PostgreSQL, other previews), no other address of the host, and
the egress proxy lets through the npm registry only.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qai_local.sandbox import egress, isolation
from qai_local.sandbox.devservers import DevServerSupervisor
from qai_local.sandbox.egress import EgressRefusedError, parse_connect
from qai_local.sandbox.machine import MachineProbe
from qai_local.sandbox.network import SandboxNetwork
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.sandbox import LocalSandbox, local_description
from qai_local.sandbox.template_cache import TemplateCache

needs_bubblewrap = pytest.mark.skipif(
    not MachineProbe().isolation.bubblewrap, reason="bubblewrap cannot run on this machine"
)

# Node in the sandbox: try a TCP connection and print CONNECTED or the error's code.
TRY_CONNECT = (
    "const [h, p] = process.argv.slice(1); const s = require('net').connect(Number(p), h);"
    "s.setTimeout(3000, () => { console.log('TIMEOUT'); process.exit(0); });"
    "s.on('connect', () => { console.log('CONNECTED'); process.exit(0); });"
    "s.on('error', (e) => { console.log('REFUSED ' + e.code); process.exit(0); });"
)
# Node in the sandbox: send one request line through the egress relay and print the status line.
THROUGH_PROXY = (
    "const s = require('net').connect(3128, '127.0.0.1', () => s.write(process.argv[1] + '\\r\\n\\r\\n'));"
    "s.on('data', (d) => { console.log(String(d).split('\\r\\n')[0]); process.exit(0); });"
    "s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(0); });"
)


class HostListener:
    """A TCP listener on the host that records whether anything reached it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.socket = socket.create_server((host, 0))
        self.host, self.port = host, self.socket.getsockname()[1]
        self.reached = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            connection, _ = self.socket.accept()
        except OSError:
            return
        self.reached.set()
        connection.close()

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def host_listener() -> Iterator[HostListener]:
    listener = HostListener()
    yield listener
    listener.close()


def host_address() -> str | None:
    """This machine's address on its outward interface, when it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            return str(probe.getsockname()[0])
        except OSError:
            return None


def node(sandbox: LocalSandbox, script: str, *args: str) -> str:
    quoted = " ".join(json.dumps(arg) for arg in args)
    outcome = sandbox.run(f"node -e {json.dumps(script)} {quoted}", timeout_seconds=30)
    return outcome.stdout.strip() or outcome.stderr.strip()


@needs_bubblewrap
def test_a_command_cannot_reach_any_host_port(sandbox: LocalSandbox, host_listener: HostListener) -> None:
    assert node(sandbox, TRY_CONNECT, "127.0.0.1", str(host_listener.port)).startswith("REFUSED")
    address = host_address()
    if address is not None:
        outward = HostListener(address)
        try:
            assert node(sandbox, TRY_CONNECT, address, str(outward.port)) != "CONNECTED"
            assert not outward.reached.wait(0.5)
        finally:
            outward.close()
    assert not host_listener.reached.wait(0.5)


@needs_bubblewrap
def test_a_command_cannot_reach_another_sandboxs_preview(
    tmp_path: Path, template: TemplateCache, previews: LocalPreviews
) -> None:
    target = LocalSandbox.create(tmp_path / "root", template, previews)
    other = LocalSandbox.create(tmp_path / "root", template, previews)
    other_port = other.preview_url().rsplit(":", 1)[1].strip("/")
    assert node(target, TRY_CONNECT, "127.0.0.1", other_port).startswith("REFUSED")
    assert previews.supervisor.running() == []  # nothing started the other sandbox's server


@needs_bubblewrap
@pytest.mark.parametrize(
    ("request_line", "reason"),
    [
        ("CONNECT 127.0.0.1:{port} HTTP/1.1", "only port 443"),
        ("CONNECT 127.0.0.1:443 HTTP/1.1", "not reachable"),
        ("CONNECT localhost:443 HTTP/1.1", "not reachable"),
        ("CONNECT example.com:443 HTTP/1.1", "not reachable"),
        ("CONNECT {registry}:22 HTTP/1.1", "only port 443"),
        ("GET http://{registry}/ HTTP/1.1", "only HTTPS"),
    ],
)
def test_the_egress_proxy_refuses_everything_but_the_registry(
    sandbox: LocalSandbox, machine: MachineProbe, host_listener: HostListener, request_line: str, reason: str
) -> None:
    line = request_line.format(port=host_listener.port, registry=machine.registry_host)
    assert node(sandbox, THROUGH_PROXY, line) == "HTTP/1.1 403 Forbidden"
    with pytest.raises(EgressRefusedError, match=reason):
        parse_connect(f"{line}\r\n\r\n".encode(), frozenset({machine.registry_host}))
    assert not host_listener.reached.wait(0.2)


def test_an_allowed_name_that_resolves_home_is_refused() -> None:
    with pytest.raises(EgressRefusedError, match="private address"):
        egress.connect_public("localhost", 443)
    for address in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.1.1", "::1", "fe80::1", "::ffff:127.0.0.1"):
        assert egress.blocked_address(address), address
    assert not egress.blocked_address("104.16.0.35")


@needs_bubblewrap
def test_the_registry_answers_through_the_proxy(sandbox: LocalSandbox, machine: MachineProbe) -> None:
    answer = node(sandbox, THROUGH_PROXY, f"CONNECT {machine.registry_host}:443 HTTP/1.1")
    if answer == "HTTP/1.1 403 Forbidden":
        pytest.skip("the npm registry cannot be reached from this machine")
    assert answer == "HTTP/1.1 200 Connection Established"


@needs_bubblewrap
def test_the_bridges_cannot_be_swapped_or_seen(sandbox: LocalSandbox) -> None:
    network = sandbox._previews.supervisor.network
    outcome = sandbox.run(
        f"ls -a {isolation.SANDBOX_EGRESS_DIR}; rm -f {isolation.SANDBOX_EGRESS_DIR}/egress.sock;"
        f" ln -s /tmp/x {isolation.SANDBOX_EGRESS_DIR}/in; ls {network.runtime_dir}",
        timeout_seconds=10,
    )
    assert outcome.stdout.split() == [".", "..", "egress.sock"]
    assert outcome.exit_code != 0
    assert (network.egress_dir / "egress.sock").exists()
    assert not (network.egress_dir / "in").exists()


@needs_bubblewrap
def test_a_dev_server_cannot_reach_the_host_either(tmp_path: Path, host_listener: HostListener) -> None:
    """The preview's own server is in the sandbox's namespace too; the host still reaches it."""
    server = (
        "const net = require('net'); const c = net.connect(Number(process.argv[1]), '127.0.0.1');"
        "let result = 'PENDING'; c.on('connect', () => result = 'CONNECTED');"
        "c.on('error', (e) => result = 'REFUSED ' + e.code);"
        "require('http').createServer((q, s) => s.end(result)).listen(Number(process.env.PORT), '127.0.0.1');"
    )
    root = tmp_path / "root"
    supervisor = DevServerSupervisor(
        root,
        idle_seconds=600,
        max_running=1,
        server_argv=lambda port: ["node", "-e", server, str(host_listener.port)],
    )
    previews = LocalPreviews(root, supervisor).start()
    try:
        (root / "app").mkdir(parents=True)
        import urllib.request

        with urllib.request.urlopen(previews.url_for("app"), timeout=30) as response:
            assert response.read().decode().startswith("REFUSED")
        assert not host_listener.reached.wait(0.5)
    finally:
        previews.stop()


def test_the_model_is_told_the_truth_about_the_network(machine: MachineProbe) -> None:
    environment = local_description(machine.isolation).environment
    assert "no network but one way out: the npm registry" in environment
    assert "Only the npm registry is reachable" not in environment


def test_a_stopped_network_leaves_nothing_behind() -> None:
    network = SandboxNetwork()
    listener = network.listen_ingress("a" * 32)
    listener.close()
    assert (network.egress_dir / "egress.sock").exists()
    assert (network.runtime_dir.stat().st_mode & 0o077) == 0  # only this user may open the sockets
    network.stop()
    assert not network.runtime_dir.exists()
