"""Pushing a project's history to a git remote's branch over HTTP(S), with dulwich.

Only a fast-forward is pushed: the remote branch must be missing or hold one of the project's own
commits (which it does after an earlier push, since the history is deterministic). Every connection
is checked by the address it reached, not the name it asked for, so a remote whose name resolves to
a private address by the time of the push (or a redirect there) is refused unless private remotes
are allowed. Each failure is a PushError whose message is shown to the user; none holds the token.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from dulwich.client import HTTPUnauthorized, Urllib3HttpGitClient
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.objects import ZERO_SHA, ObjectID
from dulwich.refs import Ref
from urllib3.connection import HTTPConnection, HTTPSConnection

from qai.git_history import History
from qai.git_remote import public_address


class PushError(Exception):
    """Why a push failed, in words for the user."""


class PrivateAddressError(Exception):
    """A connection reached an address that is not public (not an OSError: nothing retries it)."""


class _PublicOnly:
    """A connection that refuses, before sending a byte, to talk to an address that is not public."""

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        address = str(sock.getpeername()[0])
        if not public_address(address):
            sock.close()
            raise PrivateAddressError(address)
        return sock


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


def pool_manager(*, timeout: float, allow_private: bool) -> urllib3.PoolManager:
    """Connections for one push: no proxy from the environment, a timeout, public addresses only."""
    manager = urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False)
    if not allow_private:
        manager.pool_classes_by_scheme = {"http": _PublicHTTPConnectionPool, "https": _PublicHTTPSConnectionPool}
    return manager


@dataclass(frozen=True)
class Remote:
    url: str
    branch: str
    username: str
    token: str


def push_history(history: History, commit: ObjectID, remote: Remote, *, timeout: float, allow_private: bool) -> None:
    """Make the remote's branch point at ``commit`` (a fast-forward), sending what it lacks."""
    ref = Ref(f"refs/heads/{remote.branch}".encode())
    ours = set(history.commits[: history.commits.index(commit) + 1])

    def update_refs(remote_refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
        current = remote_refs.get(ref, ZERO_SHA)
        if current != ZERO_SHA and current not in ours:
            raise PushError(
                f"The remote's branch {remote.branch} has commits this project does not have (not a fast-forward): "
                "push to a new branch, or to an empty repository."
            )
        return {ref: commit}

    client = Urllib3HttpGitClient(
        remote.url,
        pool_manager=pool_manager(timeout=timeout, allow_private=allow_private),
        username=remote.username,
        password=remote.token,
        quiet=True,
    )
    try:
        result = client.send_pack("", update_refs, history.repo.object_store.generate_pack_data)
    except PushError:
        raise
    except Exception as exc:
        raise PushError(_reason(exc, remote)) from None
    refused = (result.ref_status or {}).get(ref)
    if refused:
        raise PushError(f"The remote refused to update {remote.branch}: {_without(refused, remote.token)}")


def _reason(exc: Exception, remote: Remote) -> str:
    host = urlsplit(remote.url).hostname or remote.url
    reason: str
    if isinstance(exc, HTTPUnauthorized):
        reason = (
            "The remote refused the credentials (HTTP 401): check the username and the token, "
            "and that the token may push to this repository."
        )
    elif isinstance(exc, NotGitRepository):
        reason = f"No git repository at {remote.url} (HTTP 404), or the token may not see it."
    elif isinstance(exc, PrivateAddressError):
        reason = f"{host} is at a private address ({exc}): only public remotes are allowed here."
    elif isinstance(exc, GitProtocolError | HangupException) and "unexpected http resp 403" in str(exc):
        reason = "The remote refused the push (HTTP 403): the token may not push to this repository."
    elif isinstance(exc, GitProtocolError | HangupException | OSError | urllib3.exceptions.HTTPError):
        reason = f"Could not push to {host}: {_short(exc)}"
    else:
        reason = f"The push failed ({type(exc).__name__})."
    return _without(reason, remote.token)


def _short(exc: Any) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _without(text: str, token: str) -> str:
    """Whatever a remote or a library said, never with the token in it."""
    return text.replace(token, "***") if token else text
