#!/usr/bin/env bash
# A smoke of the README's start command, as whoever runs it: `make dev` starts, the web client and
# /openapi.json answer, and an interrupt stops it with nothing of it left running.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
data=$(mktemp -d)
QAI_API_PORT=$port QAI_DATA_DIR=$data setsid make dev >"$log" 2>&1 &
leader=$!
stop() { kill -INT -- "-$leader" 2>/dev/null || true; }
trap 'stop; sleep 2; kill -KILL -- "-$leader" 2>/dev/null || true' EXIT

for _ in $(seq 600); do
	grep -q "^QAI ready" "$log" && break
	kill -0 "$leader" 2>/dev/null || { cat "$log"; echo "smoke: make dev exited before it was ready" >&2; exit 1; }
	sleep 0.5
done
grep -q "^QAI ready" "$log" || { cat "$log"; echo "smoke: make dev was not ready in 300 s" >&2; exit 1; }
# Read whole before grep: grep -q stops at the first match, and curl, writing on, would fail (pipefail).
page=$(curl -fsS "http://127.0.0.1:$port/") && grep -q '<div id="root">' <<<"$page" || { echo "smoke: no web client" >&2; exit 1; }
spec=$(curl -fsS "http://127.0.0.1:$port/openapi.json") && grep -q '"openapi"' <<<"$spec" || { echo "smoke: no openapi.json" >&2; exit 1; }

stop
for _ in $(seq 60); do
	kill -0 "$leader" 2>/dev/null || break
	sleep 0.5
done
if kill -0 "$leader" 2>/dev/null; then
	cat "$log"; echo "smoke: make dev did not stop within 30 s of its interrupt" >&2; exit 1
fi
# A process that has ended but waits to be reaped (state Z) is not running: a container's first
# process may never reap what it inherits.
if ps -o stat= -g "$leader" | grep -qv '^Z'; then
	ps -o pid,stat,args -g "$leader" >&2; echo "smoke: processes left running after make dev stopped" >&2; exit 1
fi
trap - EXIT
rm -rf "$data" "$log"
echo "smoke: make dev started as $(id -un), served the web client and openapi.json, and stopped cleanly"
