package actors_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of the runtime behind,
// and removes the scale fixtures, which are shared by every run of the
// benchmarks in one test binary and so cannot live in a b.TempDir.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		for _, f := range scaleFixtures {
			f.remove()
		}
		os.Exit(code)
	}))
}
