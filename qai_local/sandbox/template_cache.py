"""The app template, prepared once per machine from the npm registry and shared by every sandbox.

The cache holds one directory per template content hash (files, package.json, lockfile): a new
template version gets a new directory and the old one is never changed. Preparation runs
``npm ci`` in a private directory and renames it into place, under an exclusive file lock, so two
processes that start at once prepare it once and a half-prepared cache is never seen.

A sandbox shares the cache's ``node_modules`` through hard links: a new sandbox costs a directory
tree, not 450 MB. The cache's files are made read-only (and, when we are root, owned by a user
that sandboxed commands are not), so a sandbox can add and remove packages in its own tree but
cannot change a shared file in place. The one file npm rewrites in place, its hidden lockfile, is
copied rather than linked.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qai.app_files import TEMPLATE_DIR, template_files
from qai_local.sandbox.processes import dies_with_this_process

# Not a sandbox's user: shared files owned by it cannot be chmod-ed back to writable from a sandbox.
SHARED_OWNER_UID = 65534
NPM_HIDDEN_LOCKFILE = ".package-lock.json"
INSTALL_TIMEOUT_SECONDS = 900

Progress = Callable[[str], None]


class TemplatePreparationError(RuntimeError):
    """``npm ci`` failed: the message carries the tail of its output."""


@cache  # the template is code: read it once per process, not on every new sandbox
def template_hash(source: Path) -> str:
    digest = hashlib.sha256()
    for relative in template_files(source):
        digest.update(relative.encode() + b"\0" + (source / relative).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_environment() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "npm_config_cache", "NPM_CONFIG_CACHE", "npm_config_registry")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update({"NEXT_TELEMETRY_DISABLED": "1", "npm_config_update_notifier": "false", "CI": "1"})
    return env


def _make_shared_files_read_only(node_modules: Path) -> None:
    as_root = os.geteuid() == 0
    for directory, _dirs, files in os.walk(node_modules):
        for name in files:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, stat.S_IMODE(mode) & ~0o222)
                if as_root:
                    os.chown(path, SHARED_OWNER_UID, SHARED_OWNER_UID)


@dataclass(frozen=True)
class TemplateCache:
    """``<root>/<hash>/app`` is the prepared template: its files plus ``node_modules``."""

    root: Path
    source: Path = TEMPLATE_DIR

    @property
    def key(self) -> str:
        return template_hash(self.source)

    @property
    def app_dir(self) -> Path:
        return self.root / self.key / "app"

    def is_prepared(self) -> bool:
        return self.app_dir.is_dir()

    def ensure(self, progress: Progress | None = None) -> Path:
        """The prepared template's directory, preparing it first if no process has yet."""
        if self.is_prepared():
            return self.app_dir
        say = progress or (lambda _message: None)
        with _exclusive_lock(self.root / f"{self.key}.lock"):
            if self.is_prepared():  # another process finished while we waited for the lock
                return self.app_dir
            self._prepare(say)
        return self.app_dir

    def _prepare(self, say: Progress) -> None:
        started = time.monotonic()
        partial = self.root / f"{self.key}.partial-{uuid.uuid4().hex[:8]}"
        try:
            app = partial / "app"
            app.mkdir(parents=True)
            for relative in template_files(self.source):
                (app / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.source / relative, app / relative)
            say("installing the app template's packages with npm ci (once per machine)…")
            done = subprocess.run(
                dies_with_this_process(["npm", "ci", "--no-audit", "--no-fund"]),
                cwd=app,
                env=_npm_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_SECONDS,
            )
            if done.returncode != 0:
                raise TemplatePreparationError(f"npm ci failed: {(done.stdout + done.stderr)[-2000:]}")
            _make_shared_files_read_only(app / "node_modules")
            os.rename(partial, self.root / self.key)  # atomic: the cache appears whole or not at all
            say(f"app template ready in {time.monotonic() - started:.0f} s")
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)

    def new_app(self, destination: Path) -> None:
        """A fresh copy of the prepared template at ``destination``, sharing its node_modules."""
        source = self.ensure()
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("node_modules"))
        shared = source / "node_modules"
        shutil.copytree(shared, destination / "node_modules", copy_function=os.link, symlinks=True)
        hidden_lockfile = destination / "node_modules" / NPM_HIDDEN_LOCKFILE
        hidden_lockfile.unlink()
        shutil.copyfile(shared / NPM_HIDDEN_LOCKFILE, hidden_lockfile)
