"""Which git remotes a push may go to: https:// to public addresses only, with no credentials in
the URL, unless GIT_PUSH_ALLOW_PRIVATE=true also allows http:// and private addresses.

The request is checked here, by name; the push job checks again at each connection, by the address
it actually reached, so a name that resolves differently later (DNS rebinding) still cannot lead
the push into a private network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from qai.errors import BadRequestError


def public_address(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, …)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def checked_remote_url(url: str, *, allow_private: bool) -> str:
    """The URL as given when a push may go there; BadRequestError saying why not otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise BadRequestError("url: not a URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise BadRequestError(f"url: only {' or '.join(s + '://' for s in schemes)} remotes are taken")
    if parts.username is not None or parts.password is not None:
        raise BadRequestError("url: no credentials in the URL: give the token as token")
    if not parts.hostname or parts.query or parts.fragment:
        raise BadRequestError("url: a host and a path, with no query or fragment")
    if not allow_private:
        try:
            found = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            found = []  # not resolvable now: the push will say it could not reach the host
        if any(not public_address(str(entry[4][0])) for entry in found):
            raise BadRequestError("url: the host is at a private address (GIT_PUSH_ALLOW_PRIVATE=true allows it)")
    return url.strip()
