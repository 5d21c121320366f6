"""A project's versions as git history, in memory (dulwich, pure Python: it runs in Lambda).

One commit per version, oldest first, each holding the whole app as the zip does (the template's
files overlaid with the version's own). Everything in a commit comes from the version (its title
and the request that made it, its time, the project's owner), so the same versions always give the
same commit ids, and a push after a new version is a fast-forward.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dulwich.bundle import create_bundle_from_repo, write_bundle
from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.refs import HEADREF, Ref
from dulwich.repo import MemoryRepo

from qai.app_files import TEMPLATE_DIR, decode_content, is_app_file, stored_path_problem, template_files

BRANCH = Ref(b"refs/heads/main")
FILE_MODE = 0o100644
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass(frozen=True)
class Version:
    """What a commit is made of: a fragment, the request that made it, and its owner."""

    title: str
    request: str
    created_at: datetime
    files: Mapping[str, str]
    fragment_id: str = ""


def commit_message(version: Version) -> bytes:
    """The title, then the user's request (when there is one)."""
    request = version.request.strip()
    return (version.title.strip() + ("\n\n" + request if request else "") + "\n").encode()


def author_line(user_id: str) -> bytes:
    """``<user> <<user>@users.qai.invalid>``: the project's owner, made safe for a git header."""
    name = _NOT_IN_A_NAME.sub("-", user_id).strip("-") or "user"
    return f"{name} <{name}@users.qai.invalid>".encode()


class History:
    """The history being built: add versions oldest first, then read ``head`` or ``bundle()``."""

    def __init__(self, user_id: str, template: Path = TEMPLATE_DIR) -> None:
        self.repo = MemoryRepo()
        self._author = author_line(user_id)
        self._template = template
        self._template_blobs: dict[str, ObjectID] = {}
        self.head: ObjectID | None = None
        self.commits: list[ObjectID] = []
        self.commit_of: dict[str, ObjectID] = {}  # by fragment id

    def _blob(self, data: bytes) -> ObjectID:
        blob = Blob.from_string(data)
        self.repo.object_store.add_object(blob)
        return blob.id

    def _template_blob(self, relative: str) -> ObjectID:
        if relative not in self._template_blobs:
            self._template_blobs[relative] = self._blob((self._template / relative).read_bytes())
        return self._template_blobs[relative]

    def _tree(self, files: Mapping[str, str]) -> ObjectID:
        entries = {
            relative: self._template_blob(relative)
            for relative in template_files(self._template)
            if relative not in files
        }
        for relative, content in files.items():
            if is_app_file(relative) and stored_path_problem(relative) is None:
                entries[relative] = self._blob(decode_content(content))
        return commit_tree(
            self.repo.object_store, [(path.encode(), sha, FILE_MODE) for path, sha in sorted(entries.items())]
        )

    def add(self, version: Version) -> ObjectID:
        """A commit of that version on top of the last one; its id."""
        commit = Commit()
        commit.tree = self._tree(version.files)
        commit.parents = [self.head] if self.head else []
        commit.author = commit.committer = self._author
        commit.author_time = commit.commit_time = int(version.created_at.timestamp())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = commit_message(version)
        self.repo.object_store.add_object(commit)
        self.head = commit.id
        self.commits.append(commit.id)
        self.commit_of[version.fragment_id] = commit.id
        self.repo.refs[BRANCH] = commit.id
        return commit.id

    def bundle(self) -> bytes:
        """A git bundle of ``main`` (with HEAD pointing at it) that ``git clone`` takes."""
        self.repo.refs.set_symbolic_ref(HEADREF, BRANCH)
        out = io.BytesIO()
        write_bundle(out, create_bundle_from_repo(self.repo, refs=[BRANCH, HEADREF]))
        return out.getvalue()


def build_history(user_id: str, versions: Iterable[Version], template: Path = TEMPLATE_DIR) -> History:
    history = History(user_id, template)
    for version in versions:
        history.add(version)
    return history
