"""Where a sandbox's cgroups go and what is written there, on cgroup v1 and v2 machines.

The kernel's side (a limit that holds) is tried on this machine's own cgroups by the fork bomb and
memory tests in test_local_sandbox.py; here each layout is laid out in a folder standing in for
/sys/fs/cgroup, so the v2 layout is checked on machines that have v1 and the other way round.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qai_local.sandbox import cgroups
from qai_local.sandbox.rlimits import Rlimits, describe_limits


@pytest.fixture
def tree(tmp_path: Path) -> cgroups.CgroupTree:
    """A machine laid out in a folder: its cgroup root, and this process's /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    root.mkdir()
    return cgroups.CgroupTree(root, tmp_path / "self-cgroup")


def unified(tree: cgroups.CgroupTree, own_controllers: str) -> Path:
    """A cgroup v2 machine where this process is in user.slice/qai.scope."""
    (tree.root / "cgroup.controllers").write_text("cpu io memory pids\n")
    own = tree.root / "user.slice" / "qai.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(own_controllers)
    tree.self_cgroup.write_text("0::/user.slice/qai.scope\n")
    return own


def test_on_v2_one_cgroup_holds_both_limits_under_a_leaf_this_process_moved_to(tree: cgroups.CgroupTree) -> None:
    own = unified(tree, "memory pids\n")
    groups = tree.sandbox_cgroups("s1")
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


def test_on_v2_another_tree_of_the_same_process_divides_the_same_cgroup(tree: cgroups.CgroupTree) -> None:
    own = unified(tree, "memory pids\n")
    tree.sandbox_cgroups("s1")
    tree.self_cgroup.write_text("0::/user.slice/qai.scope/stack\n")  # where the first tree moved it
    (own / "stack" / "cgroup.controllers").write_text("memory pids\n")
    again = cgroups.CgroupTree(tree.root, tree.self_cgroup)
    assert again.sandbox_cgroups("s2") == {"pids": own / "qai" / "s2", "memory": own / "qai" / "s2"}
    assert not (own / "stack" / "stack").exists() and not (own / "stack" / "qai").exists()


def test_on_v2_the_counters_are_read_from_memory_events_and_pids_events(tree: cgroups.CgroupTree) -> None:
    own = unified(tree, "memory pids\n")
    tree.sandbox_cgroups("s1")
    sandbox = own / "qai" / "s1"
    (sandbox / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    (sandbox / "pids.events").write_text("max 3\n")
    counts = tree.limit_counts("s1")
    assert counts == {"pids": 3, "memory": 1}
    said = cgroups.limits_hit({"pids": 3, "memory": 0}, counts)
    assert "over its memory limit" in said and "could not start" not in said


def test_on_v2_without_a_delegated_cgroup_rlimits_stand_in_and_the_banner_says_how(tree: cgroups.CgroupTree) -> None:
    own = unified(tree, "cpu\n")  # memory and pids not ours to hand down
    assert tree.sandbox_cgroups("s1") == {}
    assert not (own / "qai").exists() and not (own / "stack").exists()
    assert tree.controllers_held() == frozenset() and tree.kind == "cgroup v2"
    banner = describe_limits(Rlimits("/usr/bin/prlimit"), tree.controllers_held(), tree.kind, tree.no_cgroup_hint())
    assert f"memory {cgroups.memory_limit_mb()} MB per process (RLIMIT_DATA)" in banner
    assert "no cgroup this user may make, so no memory or process limit per sandbox" in banner
    assert "systemd-run --user --scope -p Delegate=yes make dev" in banner
    assert f"a {cgroups.TMP_SIZE_MB} MB /tmp" in banner
    assert tree.limit_counts("s1") == {}  # no cgroup, no count: the rlimits' notes apply instead


def test_on_v1_each_controller_has_its_own_cgroup(tree: cgroups.CgroupTree) -> None:
    tree.self_cgroup.write_text("9:name=systemd:/\n8:pids:/\n4:memory:/box/1\n0::/\n")
    (tree.root / "pids").mkdir()
    (tree.root / "memory" / "box" / "1").mkdir(parents=True)
    groups = tree.sandbox_cgroups("s1")
    assert groups == {"pids": tree.root / "pids/qai/s1", "memory": tree.root / "memory/box/1/qai/s1"}
    assert (groups["memory"] / "memory.limit_in_bytes").read_text() == str(cgroups.memory_limit_mb() << 20)
    assert (groups["pids"] / "pids.max").read_text() == str(cgroups.PIDS_LIMIT)
    assert cgroups.joining(groups).count("echo $$") == 2
    (groups["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert tree.limit_counts("s1") == {"memory": 2}  # pids.events is missing: no count, not a zero
