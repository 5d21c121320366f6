"""The app template (``qai/app_template/``) and an app's files as a fragment stores them.

A fragment holds the whole app as it differs from the template: every file added or changed,
whoever wrote it (the agent's tools, shell commands, package managers), without installed
packages, build output, caches or ``.git``. Contents are strings: a file that is not UTF-8 text
(an image, a font) is stored as ``BINARY_PREFIX`` followed by its bytes in base64, and so is a
text file that holds a NUL (JSONB cannot store one) or itself starts with the prefix, so that
every stored string decodes back to exactly the bytes of the file.

The template ships in the shared layer because both sides need it: the agent starts sandboxes
from it, the API puts it in the app's download.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path, PurePosixPath

TEMPLATE_DIR = Path(__file__).resolve().parent / "app_template"
BINARY_PREFIX = "data:application/octet-stream;base64,"
# Installed packages, build output, caches and version control: made again from the files kept.
SKIPPED_DIRS = frozenset({"node_modules", ".next", ".git", ".turbo", ".cache", ".npm", ".swc", ".vercel"})
SKIPPED_SUFFIXES = (".tsbuildinfo",)
DEFAULT_MAX_BYTES = 4_000_000


class AppTooLargeError(ValueError):
    """The app's files exceed what one fragment may hold; the message is meant for the user."""


def stored_path_problem(relative: str) -> str | None:
    """Why a path cannot be stored in a fragment or a zip, or None: ``/`` separators only, relative,
    no ``..`` or empty segment, no backslash or control character (unpacked elsewhere, such a name
    could land outside its folder)."""
    if "\\" in relative:
        return "its name holds a backslash"
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in relative):
        return "its name holds a control character"
    if relative.startswith("/") or any(part in ("", ".", "..") for part in relative.split("/")):
        return "its path is not a plain relative path"
    return None


def is_app_file(relative: str) -> bool:
    """Whether a path (relative to the app) belongs in a fragment rather than being made again."""
    parts = PurePosixPath(relative).parts
    return not any(part in SKIPPED_DIRS for part in parts[:-1]) and not relative.endswith(SKIPPED_SUFFIXES)


def encode_content(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith(BINARY_PREFIX):
        return BINARY_PREFIX + base64.b64encode(data).decode("ascii")
    return text


def decode_content(content: str) -> bytes:
    if content.startswith(BINARY_PREFIX):
        return base64.b64decode(content[len(BINARY_PREFIX) :])
    return content.encode("utf-8")


def stored_size(files: dict[str, str]) -> int:
    return sum(len(path.encode()) + len(content.encode()) for path, content in files.items())


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def too_large(size: int, max_bytes: int) -> AppTooLargeError:
    return AppTooLargeError(
        f"The app is too large to save: its files (without node_modules and build output) come to "
        f"{_megabytes(size)}, and a version holds at most {_megabytes(max_bytes)}. Remove large files "
        "(images, videos, data) or load them from elsewhere, then try again."
    )


def encode_app(raw: Iterable[tuple[str, bytes]], max_bytes: int) -> dict[str, str]:
    """The files as a fragment stores them; AppTooLargeError past ``max_bytes``, never a silent cut."""
    files: dict[str, str] = {}
    size = 0
    for path, data in raw:
        files[path] = encode_content(data)
        size += len(path.encode()) + len(files[path].encode())
        if size > max_bytes:
            raise too_large(size, max_bytes)
    return dict(sorted(files.items()))


@cache
def template_files(source: Path = TEMPLATE_DIR) -> tuple[str, ...]:
    """The template's own files (paths relative to it, POSIX style), in a stable order."""
    return tuple(
        sorted(
            path.relative_to(source).as_posix()
            for path in source.rglob("*")
            if path.is_file() and is_app_file(path.relative_to(source).as_posix())
        )
    )


@cache
def template_texts(source: Path = TEMPLATE_DIR) -> dict[str, str]:
    """The template's files as text (path → content), read once: what a version has where it has none of its own."""
    return {path: (source / path).read_text(errors="replace") for path in template_files(source)}


@cache
def template_packages(source: Path = TEMPLATE_DIR) -> dict[str, str]:
    """Every package the template's package.json installs (dependencies and devDependencies)."""
    manifest = json.loads((source / "package.json").read_text())
    return {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}


def app_archive(files: dict[str, str], folder: str, source: Path = TEMPLATE_DIR) -> bytes:
    """A zip of the whole runnable app in ``folder/``: the template's files overlaid with the fragment's."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in template_files(source):
            if relative not in files:
                archive.write(source / relative, f"{folder}/{relative}")
        for relative, content in sorted(files.items()):
            # Stored paths came through the sandbox's rules; a zip entry never leaves its folder anyway.
            if is_app_file(relative) and stored_path_problem(relative) is None:
                archive.writestr(f"{folder}/{relative}", decode_content(content))
    return buffer.getvalue()
