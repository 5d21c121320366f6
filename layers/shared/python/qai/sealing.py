"""Sealing a push's token between the request that takes it and the job that uses it.

Deployed, with a KMS key (GIT_PUSH_KMS_KEY_ID): the API may encrypt and only the agent may decrypt.
On one machine, with a key in a file (LOCAL_PUSH_KEY_FILE, made 0600 on first use) and AES-GCM.
Either way the project's id is bound in (KMS's encryption context, GCM's associated data), so a
sealed token copied onto another project's push does not open.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from qai.errors import ServiceUnavailableError
from qai.settings import Settings

NONCE_BYTES = 12


class SealingUnavailableError(ServiceUnavailableError):
    """Neither GIT_PUSH_KMS_KEY_ID nor LOCAL_PUSH_KEY_FILE is set: a token could not be kept safe."""


class TokenSealer(Protocol):
    def seal(self, token: str, *, project_id: str) -> bytes: ...

    def unseal(self, sealed: bytes, *, project_id: str) -> str: ...


class KmsSealer:
    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    @cached_property
    def _kms(self) -> Any:
        import boto3

        return boto3.client("kms")

    def seal(self, token: str, *, project_id: str) -> bytes:
        sealed = self._kms.encrypt(
            KeyId=self._key_id, Plaintext=token.encode(), EncryptionContext={"qai:projectId": project_id}
        )
        return bytes(sealed["CiphertextBlob"])

    def unseal(self, sealed: bytes, *, project_id: str) -> str:
        opened = self._kms.decrypt(
            KeyId=self._key_id, CiphertextBlob=sealed, EncryptionContext={"qai:projectId": project_id}
        )
        return bytes(opened["Plaintext"]).decode()


class KeyFileSealer:
    """AES-256-GCM with a key kept in a file only its owner can read."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _key(self) -> bytes:
        try:
            return self._path.read_bytes()
        except FileNotFoundError:
            key = secrets.token_bytes(32)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                return self._path.read_bytes()
            with os.fdopen(descriptor, "wb") as file:
                file.write(key)
            return key

    def _cipher(self) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._key())

    def seal(self, token: str, *, project_id: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + bytes(self._cipher().encrypt(nonce, token.encode(), project_id.encode()))

    def unseal(self, sealed: bytes, *, project_id: str) -> str:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        return bytes(self._cipher().decrypt(nonce, ciphertext, project_id.encode())).decode()


class NoSealer:
    """What a push meets when nothing can seal its token: a clear refusal, never the token in clear."""

    def seal(self, token: str, *, project_id: str) -> bytes:
        raise SealingUnavailableError("Pushing is not set up here: set GIT_PUSH_KMS_KEY_ID (or LOCAL_PUSH_KEY_FILE)")

    def unseal(self, sealed: bytes, *, project_id: str) -> str:
        raise SealingUnavailableError("Pushing is not set up here: set GIT_PUSH_KMS_KEY_ID (or LOCAL_PUSH_KEY_FILE)")


def token_sealer(settings: Settings) -> TokenSealer:
    if settings.git_push_kms_key_id:
        return KmsSealer(settings.git_push_kms_key_id)
    if settings.local_push_key_file:
        return KeyFileSealer(Path(settings.local_push_key_file))
    return NoSealer()
