"""Deployed functions reach the database over TLS with the server's certificate and name checked.

The embedded PostgreSQL is built without TLS, so the tests put a TLS front before it, as RDS Proxy
is: it answers PostgreSQL's SSLRequest, holds a certificate for ``localhost`` from an authority
made here, and relays the decrypted protocol to the session's server. The URL built from an
RDS-style secret connects only when that authority is the one it trusts and the host is the name
on the certificate.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import certifi
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from qai.settings import RDS_CA_BUNDLE, url_from_rds_secret

SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL's SSLRequest message


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, signing_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_server(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    base = tmp_path_factory.mktemp("pg-tls")
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("QAI test authority", ca_key, None)
    ca_file, cert_file, key_file = base / "ca.pem", base / "server.pem", base / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(
        _certificate("localhost", server_key, ("QAI test authority", ca_key)).public_bytes(serialization.Encoding.PEM)
    )
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    query = parse_qs(urlsplit(pg_server).query)
    backend = Path(query["host"][0]) / f".s.PGSQL.{query.get('port', ['5432'])[0]}"
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_serve_tls, args=(listener, context, backend), daemon=True).start()
    try:
        yield TlsServer(listener.getsockname()[1], ca_file)
    finally:
        listener.close()


def _serve_tls(listener: socket.socket, context: ssl.SSLContext, backend: Path) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # closed at the end of the module
        threading.Thread(target=_relay_tls, args=(client, context, backend), daemon=True).start()


def _relay_tls(client: socket.socket, context: ssl.SSLContext, backend: Path) -> None:
    with client:
        if client.recv(8) != SSL_REQUEST:
            return
        client.sendall(b"S")
        try:
            secure = context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused the certificate
        with secure, socket.socket(socket.AF_UNIX) as server:
            server.connect(str(backend))
            threading.Thread(target=_pipe, args=(server, secure), daemon=True).start()
            _pipe(secure, server)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _secret(port: int, host: str = "localhost") -> dict[str, object]:
    return {"host": host, "port": port, "username": "postgres", "password": "unused", "dbname": "postgres"}


# One of the older RDS authorities has a serial number that newer rules disallow; OpenSSL takes it.
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_the_url_from_a_secret_verifies_the_certificate_and_its_host() -> None:
    url = url_from_rds_secret(_secret(5432, "db.example.rds.amazonaws.com"))
    assert url.endswith(f"?sslmode=verify-full&sslrootcert={RDS_CA_BUNDLE}")
    bundle = RDS_CA_BUNDLE.read_bytes()
    authorities = x509.load_pem_x509_certificates(bundle)
    names = {a.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for a in authorities}
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in names  # RDS instances
    assert "Amazon Root CA 1" in names  # RDS Proxy's certificates chain to the public Amazon roots


def test_a_hosted_database_with_a_public_certificate_is_checked_against_the_public_authorities() -> None:
    url = url_from_rds_secret(_secret(5432, "db.neon.example") | {"ca": "public"})
    assert url.endswith(f"?sslmode=verify-full&sslrootcert={certifi.where()}")
    with pytest.raises(RuntimeError, match='"ca" must be "rds" or "public", not \'none\''):
        url_from_rds_secret(_secret(5432) | {"ca": "none"})


def test_a_server_with_a_certificate_from_the_trusted_authority_is_reached_over_tls(tls_server: TlsServer) -> None:
    with psycopg.connect(url_from_rds_secret(_secret(tls_server.port), tls_server.ca_file), connect_timeout=10) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_server_whose_certificate_no_rds_authority_signed_is_refused(tls_server: TlsServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(url_from_rds_secret(_secret(tls_server.port)), connect_timeout=10)


def test_a_server_reached_by_a_name_not_on_its_certificate_is_refused(tls_server: TlsServer) -> None:
    url = url_from_rds_secret(_secret(tls_server.port, host="127.0.0.1"), tls_server.ca_file)
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(url, connect_timeout=10)
