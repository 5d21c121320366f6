"""What changed between two versions of an app: per file, its status, its added and deleted lines,
and a unified patch (3 lines of context, as git writes it: ``--- a/<path>`` / ``+++ b/<path>``,
``/dev/null`` for the missing side), so that ``git apply`` takes it.

A fragment stores the app as it differs from the template, so a file's content in a version is its
own, else the template's, else none. Binary files get no patch. Patches past ``max_patch_bytes``
each, or past ``max_total_bytes`` together, are left out and marked truncated, so the response
stays within Lambda's 6 MB.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from qai.app_files import BINARY_PREFIX, template_texts
from qai.models import FileDiff, FileStatus, VersionDiff


def _content(files: Mapping[str, str] | None, path: str) -> str | None:
    """The file in that version: its own, the template's, or None (None ``files``: the template itself)."""
    if files is not None and path in files:
        return files[path]
    return template_texts().get(path)


NO_NEWLINE = "\n\\ No newline at end of file\n"


@dataclass(frozen=True)
class DiffLimits:
    max_patch_bytes: int
    max_total_bytes: int


def _lines_changed(before: list[str], after: list[str]) -> tuple[int, int]:
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    added = deleted = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            deleted += i2 - i1
            added += j2 - j1
    return added, deleted


def _file_diff(path: str, before: str | None, after: str | None) -> FileDiff | None:
    if before == after:
        return None
    status: FileStatus = "added" if before is None else "deleted" if after is None else "modified"
    if (before or "").startswith(BINARY_PREFIX) or (after or "").startswith(BINARY_PREFIX):
        return FileDiff(path=path, status=status, additions=0, deletions=0, patch=None, binary=True)
    old, new = (before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        old,
        new,
        fromfile=f"a/{path}" if before is not None else "/dev/null",
        tofile=f"b/{path}" if after is not None else "/dev/null",
        n=3,
    )
    # A last line without its newline is marked as git marks it, or git apply refuses the patch.
    patch = "".join(line if line.endswith("\n") else line + NO_NEWLINE for line in lines)
    additions, deletions = _lines_changed(old, new)
    return FileDiff(path=path, status=status, additions=additions, deletions=deletions, patch=patch)


def version_diff(
    base: Mapping[str, str] | None, head: Mapping[str, str], limits: DiffLimits, *, base_id: str | None
) -> VersionDiff:
    """From ``base`` (None: the template) to ``head``, file by file in path order."""
    paths = sorted(set(head) | set(base or {}))
    files = []
    total = 0
    for path in paths:
        diff = _file_diff(path, _content(base, path), _content(head, path))
        if diff is None:
            continue
        size = len(diff.patch or "")
        if diff.patch is not None and (size > limits.max_patch_bytes or total + size > limits.max_total_bytes):
            diff = diff.model_copy(update={"patch": None, "truncated": True})
        else:
            total += size
        files.append(diff)
    return VersionDiff(
        base_id=base_id,
        files=files,
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
    )
