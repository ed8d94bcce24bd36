package api_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of the server (sockets, calls, the runtime and projections it serves) behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
