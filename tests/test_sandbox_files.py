"""Escape tests for the host's file operations in a sandbox: the sandbox's own processes swap
directories and files for links while the host reads, lists, snapshots, writes and removes, and
nothing of the host ever comes back or changes."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from qai.app_files import AppTooLargeError, app_archive, stored_path_problem
from qai_agent.sandboxes.base import SandboxPathError
from qai_local.sandbox.sandbox import LocalSandbox

HOST_SECRET = "root:x:0:0:host-only"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory no sandbox may read or change, shaped like /etc."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "passwd").write_text(HOST_SECRET)
    (directory / "hostname").write_text("host")
    return directory


def test_swapping_directories_and_files_for_links_never_reaches_the_host(sandbox: LocalSandbox, outside: Path) -> None:
    swapper = (
        "i=0; while [ $i -lt 4000 ]; do "
        f"rm -rf d; ln -s {outside} d; rm -f d; mkdir d; echo inside > d/passwd; echo inside > d/hostname; "
        f"rm -f p.txt; ln -s {outside}/passwd p.txt; rm -f p.txt; echo inside > p.txt; "
        "i=$((i+1)); done"
    )
    swapping = threading.Thread(target=sandbox.run, args=(swapper,), kwargs={"timeout_seconds": 15})
    swapping.start()
    seen: list[str] = []
    skipped: list[tuple[str, str]] = []
    deadline = time.monotonic() + 4
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        for path in ("d/passwd", "p.txt"):
            with contextlib.suppress(SandboxPathError, FileNotFoundError, NotADirectoryError):
                seen.append(sandbox.read_file(path))
        with contextlib.suppress(SandboxPathError, FileNotFoundError):
            sandbox.write_files({"d/planted.txt": "planted"})
        with contextlib.suppress(SandboxPathError, FileNotFoundError):
            sandbox.remove_files(["d/hostname"])
        files = sandbox.snapshot(1_000_000, skipped=lambda path, reason: skipped.append((path, reason)))
        seen.extend(files.values())
    swapping.join()
    assert rounds > 20 and any("inside" in text for text in seen)  # the race really ran
    assert not any(HOST_SECRET in text for text in seen)
    assert sorted(p.name for p in outside.iterdir()) == ["hostname", "passwd"]  # nothing planted or removed
    assert (outside / "hostname").read_text() == "host"


def test_a_link_on_the_way_is_refused(sandbox: LocalSandbox, outside: Path) -> None:
    assert sandbox.run(f"ln -s {outside} evil && ln -s {outside}/passwd leak.txt", timeout_seconds=10).exit_code == 0
    with pytest.raises(SandboxPathError):
        sandbox.write_files({"evil/planted.txt": "x"})
    with pytest.raises(SandboxPathError):
        sandbox.read_file("evil/passwd")
    with pytest.raises(SandboxPathError):
        sandbox.read_file("leak.txt")
    with pytest.raises(SandboxPathError):
        sandbox.remove_files(["evil/passwd"])
    assert (outside / "passwd").read_text() == HOST_SECRET and not (outside / "planted.txt").exists()
    # Writing over a link replaces the link; its target is never written through.
    sandbox.write_files({"leak.txt": "mine"})
    assert sandbox.read_file("leak.txt") == "mine" and (outside / "passwd").read_text() == HOST_SECRET


def test_a_huge_sparse_file_is_refused_from_its_size_unread(sandbox: LocalSandbox) -> None:
    # 2 GB: the largest file a sandbox may make (its disk budget, RLIMIT_FSIZE).
    assert sandbox.run("truncate -s 2G big.bin && echo small > small.txt", timeout_seconds=10).exit_code == 0
    started = time.monotonic()
    with pytest.raises(AppTooLargeError, match=r"2147\.5 MB|too large"):
        sandbox.snapshot(4_000_000)
    assert time.monotonic() - started < 10  # reading 2 GB would take far longer, or run out of memory
    with pytest.raises(AppTooLargeError):
        sandbox.read_file("big.bin")


def test_names_a_fragment_cannot_store_are_left_out_with_the_reason(sandbox: LocalSandbox) -> None:
    made = sandbox.run(
        "touch 'win\\dows.txt' \"$(printf 'bell\\007.txt')\" && mkfifo pipe.txt && echo kept > kept.txt",
        timeout_seconds=10,
    )
    assert made.exit_code == 0, made.stderr
    skipped: dict[str, str] = {}
    files = sandbox.snapshot(1_000_000, skipped=lambda path, reason: skipped.update({path: reason}))
    assert files == {"kept.txt": "kept\n"}  # the FIFO is not waited on, the odd names are not stored
    assert skipped["win\\dows.txt"] == "its name holds a backslash"
    assert skipped["bell\x07.txt"] == "its name holds a control character"
    assert skipped["pipe.txt"] == "not a regular file"


@pytest.mark.parametrize(
    "path", ["a\\..\\..\\evil.bat", "dir\\file.txt", "bell\x07.txt", "../up.txt", "a/../../b", "/abs.txt", "a//b"]
)
def test_a_zip_never_holds_a_name_an_extractor_could_misread(path: str) -> None:
    import io
    import zipfile

    assert stored_path_problem(path) is not None
    archive = zipfile.ZipFile(io.BytesIO(app_archive({path: "x", "ok.txt": "fine"}, "app")))
    names = archive.namelist()
    assert "app/ok.txt" in names and not any(path in name for name in names)
    assert all(stored_path_problem(name) is None for name in names)
