#!/usr/bin/env bash
# The test command of README.md: vet, every package's tests with the race
# detector (the runtime's, snapshots' and projections' again on the
# in-memory store and on the JetStream log), the
# example programs' tests,
# then a short run of each fuzz
# target (FUZZTIME, default 20000x executions each; FUZZTIME=0 skips them). The budget is a count, not a
# duration: with go1.26 a duration budget can end in a spurious "context
# deadline exceeded" on a loaded machine (a race in the fuzz coordinator,
# fixed in go1.27). For a long fuzzing session run one target by hand, e.g.:
#   go test ./eventlog -run '^$' -fuzz FuzzDecodeEnvelope -fuzztime 2000000x
set -euo pipefail
cd "$(dirname "$0")/.."

go vet ./...
go test -race -count=1 -timeout 20m ./...
# The packages built on the log, again on the in-memory model of the
# storage contract (eventlogtest.Memory): the same tests over a second
# implementation of it. Tests that inject faults into Pebble stay on it.
ACTORLOG_TEST_STORE=memory go test -race -count=1 -timeout 10m ./actors/... ./snapshots ./projection ./inspect
# And on the JetStream log (eventlog/jetstream) on an embedded server,
# where records take feed positions too (the contract lets positions skip).
ACTORLOG_TEST_STORE=jetstream go test -race -count=1 -timeout 10m ./actors/... ./snapshots ./projection ./inspect
# The example programs are modules of their own, built on this one (a
# replace of it): each builds, serves and inspects its own actors.
for ex in examples/*/; do
	echo "== example $ex"
	(cd "$ex" && go vet ./... && go test -count=1 -timeout 10m ./...)
done

fuzztime="${FUZZTIME:-20000x}"
if [ "$fuzztime" != "0" ]; then
	# package:target, one per line; every Fuzz function in the tree is listed
	# here (the check below fails if one is missing).
	targets=(
		./eventlog:FuzzDecodeEnvelope
		./eventlog:FuzzValidValue
		./eventlog:FuzzParseID
		./eventlog/jetstream:FuzzSubjects
		./api:FuzzDecodeFrame
		./api:FuzzRPC
		./api:FuzzRPCMsgpack
		./api:FuzzQuery
		./api:FuzzCallHeaders
		./api:FuzzPacedConn_Scan
		./api/rivetkit:FuzzDecode
		./jsondiff:FuzzDiff
		./cmd/cli:FuzzEscape
	)
	found=$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/^func //' | sort)
	listed=$(printf '%s\n' "${targets[@]}" | sed 's/.*://' | sort)
	if [ "$found" != "$listed" ]; then
		echo "scripts/test.sh: the fuzz target list is out of date"
		diff <(echo "$listed") <(echo "$found") || true
		exit 1
	fi
	for t in "${targets[@]}"; do
		pkg="${t%%:*}" name="${t##*:}"
		echo "== fuzz $name ($pkg, $fuzztime)"
		go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -timeout 10m
	done
fi
