//go:build linux

package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal: what is written to tty is read from
// ptm. It skips the test where the machine has none.
func openPTY(t *testing.T) (ptm, tty *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	var unlock int32
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("no pseudo-terminal: unlock: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("no pseudo-terminal: %v", e)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptm, tty
}

// readPTY closes tty and returns all that was written to it. The
// terminal turns "\n" into "\r\n"; readPTY turns it back.
func readPTY(t *testing.T, ptm, tty *os.File) string {
	t.Helper()
	tty.Close()
	b, err := io.ReadAll(ptm)
	// Once tty is closed and its output read, Linux answers EIO.
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestInspect_IsTerminal(t *testing.T) {
	_, tty := openPTY(t)
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, c := range []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"terminal", tty, true},
		{"buffer", &bytes.Buffer{}, false},
		{"file", file, false},
		// A character device, but no terminal.
		{"/dev/null", devNull, false},
	} {
		if got := isTerminal(c.w); got != c.want {
			t.Errorf("isTerminal(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestInspect_ColorOnTerminal: with --color auto, output to a terminal is
// in colour unless NO_COLOR is set or TERM is dumb.
func TestInspect_ColorOnTerminal(t *testing.T) {
	dir := fixtureDir(t)
	for _, c := range []struct {
		name, noColor, term string
		want                bool
	}{
		{"auto", "", "xterm", true},
		{"NO_COLOR", "1", "xterm", false},
		{"dumb", "", "dumb", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", c.noColor)
			t.Setenv("TERM", c.term)
			ptm, tty := openPTY(t)
			var stderr bytes.Buffer
			if code := run([]string{"log", "counter:other", "--data", dir}, tty, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			out := readPTY(t, ptm, tty)
			if !strings.Contains(out, `{"count":2,"lastUpdated":1714564815000}`) {
				t.Fatalf("the terminal did not get the events:\n%q", out)
			}
			if got := strings.Contains(out, "\x1b["); got != c.want {
				t.Errorf("colour %v, want %v:\n%q", got, c.want, out)
			}
		})
	}
}

// TestInspect_ProgressOnTerminal: export shows a bar on stderr when it is
// a terminal, and clears it before it ends; stdout gets none of it.
func TestInspect_ProgressOnTerminal(t *testing.T) {
	dir := fixtureDir(t)
	ptm, tty := openPTY(t)
	out := filepath.Join(t.TempDir(), "all.ndjson")
	var stdout bytes.Buffer
	if code := run([]string{"export", "--all", "--data", dir, "--out", out}, &stdout, tty); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if want := "exported 20 events to " + out + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	bar := readPTY(t, ptm, tty)
	if !strings.Contains(bar, "export: position") || !strings.Contains(bar, "/20)") {
		t.Errorf("no bar on the terminal: %q", bar)
	}
	if !cleared.MatchString(bar) {
		t.Errorf("the bar is not cleared at the end: %q", bar)
	}
}
