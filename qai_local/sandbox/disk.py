"""A sandbox directory's disk budget (``LOCAL_SANDBOX_DISK_MB``, 2048), measured rather than enforced
by the file system (no quota needs setting up on the user's machine).

What counts is what the sandbox wrote: every file and directory under it once, except the shared
packages it holds as hard links of the template's own (their inodes are the template's). A walk of a
fresh app takes about 75 ms, so a command is measured after each second it runs, and commands
shorter than that once a second of them has added up: a sandbox overshoots by at most about one
second of writing before it is stopped.
"""

from __future__ import annotations

import os
from pathlib import Path

from qai_local.settings import sandbox_settings

CHECK_EVERY_SECONDS = 1.0


def disk_limit_mb() -> int:
    return sandbox_settings().local_sandbox_disk_mb


def _walk(directory: Path, skip: frozenset[tuple[int, int]], keys: set[tuple[int, int]] | None) -> int:
    """Bytes used under ``directory`` (each inode once, none in ``skip``); collects inodes in ``keys``."""
    total, seen, pending = 0, set(), [str(directory)]
    device = os.stat(directory).st_dev
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:  # gone or swapped while we looked: what is there is counted next time
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key in skip or key in seen:
                continue
            seen.add(key)
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False) and info.st_dev == device:
                pending.append(entry.path)
    if keys is not None:
        keys.update(seen)
    return total


def template_inodes(template_app_dir: Path) -> frozenset[tuple[int, int]]:
    """The template's own files, which every sandbox shares by hard link (a ``MachineProbe`` reads
    them once: a prepared template directory never changes)."""
    keys: set[tuple[int, int]] = set()
    if template_app_dir.is_dir():
        _walk(template_app_dir, frozenset(), keys)
    return frozenset(keys)


def used_bytes(directory: Path, shared: frozenset[tuple[int, int]]) -> int:
    return _walk(directory, shared, None)


def over_budget(directory: Path, shared: frozenset[tuple[int, int]]) -> str:
    """What the model is told when the directory is over its budget (empty when it is not); the
    ``shared`` inodes (the template's, from ``template_inodes``) do not count."""
    used, limit = used_bytes(directory, shared), disk_limit_mb()
    if used <= limit << 20:
        return ""
    return (
        f"The command was stopped: the app directory uses {used / (1 << 20):.0f} MB, over its disk budget of "
        f"{limit} MB. Remove what is not needed (rm) before going on."
    )
