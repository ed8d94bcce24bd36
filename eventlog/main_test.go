package eventlog_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of the log (or of
// Pebble) behind, and removes the replay fixture, which is shared by every
// run of BenchmarkReplay in one test binary and so cannot live in a
// b.TempDir.
func TestMain(m *testing.M) {
	code := m.Run()
	replayFixture.close()
	// The leak check comes once the fixtures are closed (an open one
	// holds Pebble's goroutines); goleak's own Cleanup would run after it.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
