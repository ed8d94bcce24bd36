#!/usr/bin/env bash
# Installs, builds and tests the JavaScript client (clients/js): npm ci,
# the check that src/seed.ts is what `actorlog gen ts` writes, tsc, the
# type checks, node's tests against a real `actorlog serve`, and the demo
# page in headless Chromium (/usr/bin/chromium, or $CHROMIUM_PATH).
# Every step is bounded in time; servers run on 127.0.0.1 with free ports
# and temporary data directories, and are stopped by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=$PWD
repo=$(cd ../.. && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bounded() { timeout --kill-after=15 "$@"; }
step() { echo "== js: $*"; }

step "node $(node --version), npm $(npm --version)"
step "npm ci"
bounded 600 npm ci --no-audit --no-fund

step "actorlog binary"
(cd "$repo" && bounded 600 go build -o "$tmp/actorlog" ./cmd/actorlog)
export ACTORLOG_BIN="$tmp/actorlog"

step "generated seed types (src/seed.ts)"
# The seed actors' types are generated from their Go types: they must be
# current.
bounded 60 "$ACTORLOG_BIN" gen ts --name SeedSchema -o "$tmp/seed.ts"
if ! diff -u src/seed.ts "$tmp/seed.ts"; then
	echo "src/seed.ts is stale: run npm run gen in clients/js and commit it"
	exit 1
fi

step "build (tsc, then the demo's copy of the client)"
bounded 300 npm run build
# The demo page embeds a copy of the compiled client: it must be current.
if git -C "$repo" ls-files --error-unmatch api/demo/actorlog.js >/dev/null 2>&1; then
	if ! git -C "$repo" diff --quiet -- api/demo/actorlog.js; then
		git -C "$repo" --no-pager diff --stat -- api/demo/actorlog.js
		echo "api/demo/actorlog.js is stale: run npm run build in clients/js and commit it"
		exit 1
	fi
fi

step "type checks"
bounded 300 npm run typecheck
# What gen ts writes for shapes the seed lacks compiles too.
bounded 300 npx tsc --noEmit --strict --noUncheckedIndexedAccess "$repo/api/typescript/testdata/wide.ts"

step "node tests (client and React hook against actorlog serve)"
start=$(date +%s)
bounded 900 npm test
echo "node tests took $(( $(date +%s) - start )) s"

step "browser test (demo page, two tabs, headless Chromium)"
start=$(date +%s)
bounded 600 npm run test:browser
echo "browser test took $(( $(date +%s) - start )) s; screenshots in $pkg/test-artifacts/"
