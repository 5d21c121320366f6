"""Where a sandbox's cgroups go and what is written there, on cgroup v1 and v2 machines.

The kernel's side (a limit that holds) is tried on this machine's own cgroups by the fork bomb and
memory tests in test_local_sandbox.py; here each layout is laid out in a folder standing in for
/sys/fs/cgroup, so the v2 layout is checked on machines that have v1 and the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qai_local.sandbox import cgroups


@pytest.fixture
def cgroup_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "cgroup"
    root.mkdir()
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", root)
    monkeypatch.setattr(cgroups, "PROC_SELF_CGROUP", tmp_path / "self-cgroup")
    caches = (cgroups._unified, cgroups._v1_base, cgroups._v2_base)
    for cached in caches:
        cached.cache_clear()
    yield root
    for cached in caches:
        cached.cache_clear()


def unified(root: Path, own_controllers: str) -> Path:
    """A cgroup v2 machine where this process is in user.slice/qai.scope."""
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    own = root / "user.slice" / "qai.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(own_controllers)
    cgroups.PROC_SELF_CGROUP.write_text("0::/user.slice/qai.scope\n")
    return own


def test_on_v2_one_cgroup_holds_both_limits_under_a_leaf_this_process_moved_to(cgroup_root: Path) -> None:
    own = unified(cgroup_root, "memory pids\n")
    groups = cgroups.sandbox_cgroups("s1")
    sandbox = own / "qai" / "s1"
    assert groups == {"pids": sandbox, "memory": sandbox}
    assert (sandbox / "memory.max").read_text() == str(cgroups.memory_limit_mb() << 20)
    assert (sandbox / "memory.swap.max").read_text() == "0"
    assert (sandbox / "pids.max").read_text() == str(cgroups.PIDS_LIMIT)
    # A cgroup with processes in it cannot hand controllers down: this process leaves for a leaf.
    assert (own / "stack" / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (own / "qai" / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert cgroups.joining(groups) == f'echo $$ > "{sandbox}/cgroup.procs"'  # joined once


def test_on_v2_the_counters_are_read_from_memory_events_and_pids_events(cgroup_root: Path) -> None:
    own = unified(cgroup_root, "memory pids\n")
    cgroups.sandbox_cgroups("s1")
    sandbox = own / "qai" / "s1"
    (sandbox / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    (sandbox / "pids.events").write_text("max 3\n")
    counts = cgroups.limit_counts("s1")
    assert counts == {"pids": 3, "memory": 1}
    said = cgroups.limits_hit({"pids": 3, "memory": 0}, counts)
    assert "over its memory limit" in said and "could not start" not in said


def test_on_v2_without_a_delegated_cgroup_there_are_no_limits_and_the_banner_says_how(cgroup_root: Path) -> None:
    own = unified(cgroup_root, "cpu\n")  # memory and pids not ours to hand down
    assert cgroups.sandbox_cgroups("s1") == {}
    assert not (own / "qai").exists() and not (own / "stack").exists()
    banner = cgroups.limits_in_force()
    assert "no memory or pids limit" in banner
    assert "systemd-run --user --scope -p Delegate=yes make dev" in banner
    assert f"a {cgroups.TMP_SIZE_MB} MB /tmp" in banner


def test_on_v1_each_controller_has_its_own_cgroup(cgroup_root: Path) -> None:
    cgroups.PROC_SELF_CGROUP.write_text("9:name=systemd:/\n8:pids:/\n4:memory:/box/1\n0::/\n")
    (cgroup_root / "pids").mkdir()
    (cgroup_root / "memory" / "box" / "1").mkdir(parents=True)
    groups = cgroups.sandbox_cgroups("s1")
    assert groups == {"pids": cgroup_root / "pids/qai/s1", "memory": cgroup_root / "memory/box/1/qai/s1"}
    assert (groups["memory"] / "memory.limit_in_bytes").read_text() == str(cgroups.memory_limit_mb() << 20)
    assert (groups["pids"] / "pids.max").read_text() == str(cgroups.PIDS_LIMIT)
    assert cgroups.joining(groups).count("echo $$") == 2
    (groups["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cgroups.limit_counts("s1") == {"memory": 2}  # pids.events is missing: no count, not a zero
