package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: of an
// in-process server (serve's wiring in the tests' inspServer and
// startLoadServer), of the load generator, or of a command.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
