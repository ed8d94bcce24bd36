package load

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if a goroutine that a run started, or a
// connection of one, outlives it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
