package projection_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of a Runner behind, and
// removes the catch-up fixtures, which are shared by every run of the
// benchmarks in one test binary and so cannot live in a b.TempDir.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range catchUpFixtures {
		f.remove()
	}
	// The leak check comes once the fixtures are closed (an open one
	// holds Pebble's goroutines); goleak's own Cleanup would run after it.
	eventlogtest.StopServers()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
