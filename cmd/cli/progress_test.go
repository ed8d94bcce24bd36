package cli

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// cleared matches output that ends with its last line blanked: a carriage
// return, spaces over what was drawn, and a carriage return.
var cleared = regexp.MustCompile(`\r {10,}\r$`)

// TestInspect_ProgressBar draws a bar, from several goroutines as import
// does, and checks that end clears it. The bar writes to buf only under
// the progress's lock (else the race detector objects).
func TestInspect_ProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, on: true}
	var wg sync.WaitGroup
	for g := uint64(0); g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(1); i < 50; i++ {
				p.update("import: events", g*50+i, 1000)
			}
		}()
	}
	wg.Wait()
	p.end()
	out := buf.String()
	if !strings.Contains(out, "import: events") || !strings.Contains(out, "/1000)") {
		t.Errorf("no bar drawn: %q", out)
	}
	if !cleared.MatchString(out) {
		t.Errorf("the bar is not cleared at the end: %q", out)
	}
}

// TestInspect_ProgressOff: off a terminal, progress writes nothing.
func TestInspect_ProgressOff(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.update("verify: feed: position", 5, 10)
	p.end()
	if buf.Len() != 0 {
		t.Errorf("progress wrote %q to a buffer", buf.String())
	}
}
