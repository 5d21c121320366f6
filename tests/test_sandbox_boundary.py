"""Escape tests for what sandboxes share: no sandbox can change a file another sandbox or the
template cache sees, whether the stack runs as root or as an ordinary user."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from qai_local.sandbox import isolation
from qai_local.sandbox.previews import LocalPreviews
from qai_local.sandbox.sandbox import LocalSandbox
from qai_local.sandbox.template_cache import TemplateCache

needs_bubblewrap = pytest.mark.skipif(
    not isolation.isolation_status().bubblewrap, reason="bubblewrap cannot run on this machine"
)
SHARED_FILES = (
    "node_modules/react/package.json",
    "node_modules/@types/node/package.json",
    "node_modules/next/dist/server/next.js",
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_bubblewrap
def test_no_sandbox_can_change_a_shared_file(tmp_path: Path, template: TemplateCache, previews: LocalPreviews) -> None:
    attacker = LocalSandbox.create(tmp_path / "root", template, previews)
    before = {path: digest(template.app_dir / path) for path in SHARED_FILES}
    attempts = [
        f"chmod u+w {path}; echo TAMPERED >> {path}; chmod 0666 {path}; truncate -s 0 {path}" for path in SHARED_FILES
    ]
    attempts += [
        # through the directory: make it writable, replace the file, then write through a fresh link
        "chmod -R u+w node_modules/react; rm -f node_modules/react/package.json; echo '{}' > node_modules/react/x",
        "ln -f node_modules/react/index.js own-link.js; chmod u+w own-link.js; echo TAMPERED >> own-link.js",
        "touch -d 2000-01-01 node_modules/react/index.js; chown 0 node_modules/react/index.js",
    ]
    for command in attempts:
        attacker.run(command, timeout_seconds=20)
    assert {path: digest(template.app_dir / path) for path in SHARED_FILES} == before
    assert "TAMPERED" not in (template.app_dir / "node_modules/react/index.js").read_text()
    assert (template.app_dir / "node_modules/react/package.json").exists()
    # A sandbox made after the attempts gets the template exactly as it was.
    later = LocalSandbox.create(tmp_path / "root", template, previews)
    assert {path: digest(later.dir / path) for path in SHARED_FILES} == before
    outcome = later.run("cat node_modules/react/index.js", timeout_seconds=20)
    assert outcome.exit_code == 0 and "TAMPERED" not in outcome.stdout


@needs_bubblewrap
def test_a_sandbox_still_adds_packages_of_its_own(sandbox: LocalSandbox, template: TemplateCache) -> None:
    outcome = sandbox.run(
        "mkdir -p node_modules/mine && echo ok > node_modules/mine/index.js && cat node_modules/mine/index.js",
        timeout_seconds=20,
    )
    assert outcome.stdout.strip() == "ok"
    assert not (template.app_dir / "node_modules/mine").exists()
