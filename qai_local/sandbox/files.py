"""The host's file operations in a sandbox's directory, safe against the sandbox's own processes.

A sandbox's processes may swap any directory for a symlink, or a file for a FIFO, at any moment.
So nothing here resolves a path and opens it again by name: every step opens the next component
relative to the descriptor of the one before, with ``O_NOFOLLOW``, starting from the sandbox
directory's own descriptor; listings walk by descriptor too (``os.fwalk``). A file's size comes
from ``fstat`` on the opened file, before any of it is read, and no more than that is read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from qai.app_files import SKIPPED_DIRS, is_app_file, stored_path_problem, too_large
from qai_agent.sandboxes.base import SandboxPathError, Skipped

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO the sandbox planted must not wait for a writer.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# O_EXCL on a name just unlinked: always a new file, never a write through a link or a shared inode.
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
LINK_ERRORS = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


class FileChangedError(OSError):
    """The file changed while it was read (it grew, or stopped being a regular file)."""


@contextlib.contextmanager
def opened_directory(root: Path) -> Iterator[int]:
    fd = os.open(root, DIRECTORY_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def _parent(root_fd: int, relative: str, *, create: bool) -> tuple[int, str]:
    """A descriptor of the file's directory (the caller closes it) and the file's own name."""
    *parents, name = relative.split("/")
    fd = os.dup(root_fd)
    try:
        for part in parents:
            try:
                child = os.open(part, DIRECTORY_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as exc:
        os.close(fd)
        if exc.errno in LINK_ERRORS:
            raise SandboxPathError(f"{relative}: a directory on the way is a link or not a directory") from exc
        raise
    return fd, name


def _read_opened(fd: int, max_bytes: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise FileChangedError(errno.EINVAL, "not a regular file")
    if info.st_size > max_bytes:
        raise too_large(info.st_size, max_bytes)
    chunks, left = [], info.st_size + 1  # one byte more than its size tells that it grew
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > info.st_size:
        raise FileChangedError(errno.EAGAIN, "it changed while it was read")
    return data


def read_bytes(root_fd: int, relative: str, max_bytes: int) -> bytes:
    parent, name = _parent(root_fd, relative, create=False)
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in LINK_ERRORS:
            raise SandboxPathError(f"{relative}: is a link") from exc
        raise
    finally:
        os.close(parent)
    try:
        return _read_opened(fd, max_bytes)
    finally:
        os.close(fd)


def write_bytes(root_fd: int, relative: str, data: bytes) -> None:
    parent, name = _parent(root_fd, relative, create=True)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent)  # a link (symlink or hard link) goes, never written through
        fd = os.open(name, CREATE_FLAGS, 0o644, dir_fd=parent)
    finally:
        os.close(parent)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def remove(root_fd: int, relative: str) -> None:
    try:
        parent, name = _parent(root_fd, relative, create=False)
    except FileNotFoundError:
        return
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent)
    finally:
        os.close(parent)


def _template_stat(template_file: Path) -> os.stat_result | None:
    try:
        return os.stat(template_file, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


def changed_files(root: Path, template_dir: Path, max_bytes: int, skipped: Skipped) -> Iterator[tuple[str, bytes]]:
    """Every app file of the sandbox that differs from the template, walked and read by descriptor.

    A file the sandbox changes, swaps or removes under us, a link, or a name a fragment cannot store
    is passed to ``skipped`` with the reason and left out; a file larger than ``max_bytes`` is
    refused from its size (AppTooLargeError), unread.
    """
    with opened_directory(root) as root_fd:
        for directory, dirs, names, dir_fd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in sorted(names):
                relative = os.path.normpath(os.path.join(directory, name))
                if not is_app_file(relative):
                    continue
                if problem := stored_path_problem(relative):
                    skipped(relative, problem)
                    continue
                try:
                    fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
                except FileNotFoundError:
                    skipped(relative, "removed while the app was saved")
                    continue
                except OSError as exc:
                    if exc.errno not in LINK_ERRORS:
                        raise
                    skipped(relative, "a link, not a file")
                    continue
                try:
                    if (data := _changed_content(fd, template_dir / relative, max_bytes)) is not None:
                        yield relative, data
                except FileChangedError as exc:
                    skipped(relative, exc.strerror or "it changed while it was read")
                finally:
                    os.close(fd)


def _changed_content(fd: int, template_file: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it is the template's own (the same link, or the same bytes)."""
    mine, theirs = os.fstat(fd), _template_stat(template_file)
    if theirs is not None and (mine.st_ino, mine.st_dev) == (theirs.st_ino, theirs.st_dev):
        return None
    data = _read_opened(fd, max_bytes)
    if theirs is not None and theirs.st_size == len(data) and template_file.read_bytes() == data:
        return None
    return data


def tree_files(root: Path, directory: str, max_bytes: int) -> Iterator[tuple[str, bytes]]:
    """Every regular file under ``directory`` of the sandbox (paths relative to it), walked and read by
    descriptor without following a link; FileNotFoundError without the directory, AppTooLargeError
    once the files together pass ``max_bytes``."""
    total = 0
    with opened_directory(root) as root_fd:
        parent, name = _parent(root_fd, directory, create=False)
        try:
            top = os.open(name, DIRECTORY_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise FileNotFoundError(f"{directory}: no such directory") from exc
        finally:
            os.close(parent)
        try:
            for folder, _dirs, names, dir_fd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
                for file_name in sorted(names):
                    relative = os.path.normpath(os.path.join(folder, file_name))
                    try:
                        fd = os.open(file_name, READ_FLAGS, dir_fd=dir_fd)
                    except OSError:
                        continue  # a link, or gone meanwhile
                    try:
                        size = os.fstat(fd).st_size
                        if total + size > max_bytes:
                            raise too_large(total + size, max_bytes)
                        data = _read_opened(fd, max_bytes - total)
                    except FileChangedError:
                        continue  # not a regular file
                    finally:
                        os.close(fd)
                    total += len(data)
                    yield relative, data
        finally:
            os.close(top)
