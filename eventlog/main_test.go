package eventlog_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of the log (or of
// Pebble) behind, and removes the replay fixture, which is shared by every
// run of BenchmarkReplay in one test binary and so cannot live in a
// b.TempDir.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		replayFixture.close()
		os.Exit(code)
	}))
}
