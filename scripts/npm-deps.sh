#!/usr/bin/env bash
# npm-deps.sh -- installs the npm packages of the integration tests and
# benchmarks (the event-socket clients: modesl; NATS NKeys: nkeys.js) into project-local folders,
# exactly as pinned by the committed package-lock.json (`npm ci`).
#
# Folders: tests/integration/esl (tests/integration/it_esl_modesl.sh,
# bench/bench_esl.sh) and tests/integration/nats (nkeys.js, for it_nats_auth.sh).
# Needs node >= 18 and npm (Debian nodejs + npm;
# installed with apt-get when missing and root). `npm ci` replaces
# node_modules each run (a few seconds). Never installs globally.
set -euo pipefail
cd "$(dirname "$0")/.."
DIRS=(tests/integration/esl tests/integration/nats)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		echo "npm-deps: installing nodejs and npm (Debian)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends nodejs npm
	else
		echo "npm-deps: node/npm missing (apt-get install nodejs npm)" >&2
		exit 1
	fi
fi
for d in "${DIRS[@]}"; do
	[ -f "$d/package-lock.json" ] || { echo "npm-deps: $d/package-lock.json missing" >&2; exit 1; }
	echo "npm-deps: npm ci in $d"
	(cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
done
