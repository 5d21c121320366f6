#!/usr/bin/env bash
# The README's commands and the sandbox's boundary as an ordinary user, not root (CI runs as root):
# a user is made when missing, gets a copy of this tree's tracked files, builds its own virtual
# environment and web client, and runs the start command's smoke and every sandbox escape test
# (and the limits' tests, whose sandboxes have no cgroup and so run under rlimits).
set -euo pipefail
cd "$(dirname "$0")/.."
user=${QAI_CHECK_USER:-qai-check}
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
rm -rf "$home/qai"
mkdir -p "$home/qai"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$home/qai"
chown -R "$user:" "$home/qai"
runuser -u "$user" -- bash -c '
	set -euo pipefail
	cd ~/qai
	test "$(id -u)" != 0
	bash scripts/smoke-dev.sh
	# A data folder this user cannot write is a start-up error that names it.
	if QAI_DATA_DIR=/root/qai-data .venv/bin/python -m qai_local.stack 2>err.txt; then exit 1; fi
	grep -q "The data folder /root/qai-data cannot be written" err.txt || { cat err.txt; exit 1; }
	.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_sandbox_network.py tests/test_sandbox_boundary.py tests/test_sandbox_files.py \
		tests/test_sandbox_limits.py
'
