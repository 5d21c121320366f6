#!/usr/bin/env bash
# The OS packages the local sandbox needs beyond Python and Node.js: bubblewrap, to isolate each
# sandbox, and socat, its relay to the npm registry's proxy; and those named as arguments (the tests ask for chromium, the browser they drive).
# Installed with apt-get when missing and we may (root on Debian/Ubuntu); otherwise the stack runs
# without isolation and says so at start-up.
set -euo pipefail

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
for package in "$@"; do
	command -v "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing ${missing[*]} with apt-get…"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "warning: ${missing[*]} missing; install them (for example: sudo apt-get install ${missing[*]})" >&2
fi
