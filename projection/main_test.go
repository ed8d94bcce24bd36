package projection_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine of a Runner behind, and
// removes the catch-up fixtures, which are shared by every run of the
// benchmarks in one test binary and so cannot live in a b.TempDir.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		for _, f := range catchUpFixtures {
			f.remove()
		}
		os.Exit(code)
	}))
}
