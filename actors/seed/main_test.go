package seed_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind, once the
// JetStream server of ACTORLOG_TEST_STORE=jetstream, if any, is stopped.
func TestMain(m *testing.M) {
	code := m.Run()
	eventlogtest.StopServers()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
