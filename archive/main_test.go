package archive_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of an import's workers behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
