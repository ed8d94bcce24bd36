package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeDiskFull runs the real server on a real filesystem that fills
// up: a small tmpfs, mounted by the test (which needs root; skipped with
// a message otherwise). While the disk is full, writes answer 503
// unavailable and reads go on; the server says so in a few lines, not a
// flood; once space is freed it writes again without a restart; every
// acknowledged write is there and verify finds nothing wrong. A server
// started on the full disk listens read-only, and writes once space is
// freed.
func TestServeDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs root to mount a small tmpfs; the errorfs tests in eventlog, actors and api cover the same paths")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	bin := serveBuild(t)
	data := filepath.Join(mnt, "data")
	filler := filepath.Join(mnt, "filler")

	p := serveStart(t, bin, data, "--cache-mib", "8")
	counts := map[string]int64{}
	for i := range 20 {
		key := fmt.Sprintf("c%d", i)
		for range 5 {
			var c serveCount
			p.call("POST", "/api/counter/"+key+"/increment", "", &c)
			counts[key] = c.Count
		}
	}

	// Fill the disk: a file takes all but a few MiB, then messages take
	// the rest, until the store refuses one.
	fill(t, filler, 3<<20)
	sent := sendUntilRefused(t, p)
	t.Logf("%d messages acknowledged on the nearly full disk", countSent(sent))

	// Degraded: writes refused with a clear answer, reads served.
	var h struct{ Status, Reason string }
	status, body, err := p.do("GET", "/healthz", "")
	if err != nil || status != http.StatusServiceUnavailable || json.Unmarshal(body, &h) != nil || h.Status != "degraded" || h.Reason != "the disk is full" {
		t.Fatalf("healthz on a full disk: %d %s (%v), want 503 degraded, the disk is full", status, body, err)
	}
	stderrBefore := strings.Count(p.stderr.String(), "\n")
	for i := range 200 {
		status, body, err := p.do("POST", fmt.Sprintf("/api/counter/c%d/increment", i%20), "")
		if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"unavailable"`) || strings.Contains(string(body), mnt) {
			t.Fatalf("write on a full disk: %d %s (%v), want 503 unavailable, no path", status, body, err)
		}
	}
	for key, want := range counts {
		var c serveCount
		p.call("GET", "/api/counter/"+key, "", &c)
		if c.Count != want {
			t.Fatalf("counter %s on a full disk reads %d, want %d", key, c.Count, want)
		}
	}
	if evs := p.history("counter", "c0"); len(evs) != 5 {
		t.Fatalf("history of c0 on a full disk: %d events, want 5", len(evs))
	}
	if n := strings.Count(p.stderr.String(), "\n") - stderrBefore; n > 5 {
		t.Errorf("200 refused writes logged %d lines, want a few at most:\n%s", n, p.stderr)
	}

	// Space comes back: the server writes again by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	p.waitHealth(http.StatusOK, time.Now().Add(45*time.Second))
	var c serveCount
	p.call("POST", "/api/counter/c0/increment", "", &c)
	if c.Count != counts["c0"]+1 {
		t.Fatalf("first increment after freeing space = %d, want %d", c.Count, counts["c0"]+1)
	}
	counts["c0"] = c.Count
	checkSent(t, p, sent)
	if st := p.stop(syscall.SIGTERM, 30*time.Second); !st.Success() {
		t.Fatalf("serve exited %v after recovering\nstderr: %s", st, p.stderr)
	}
	if out, err := exec.Command(bin, "verify", "--all", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("verify after the disk was full: %v\n%s", err, out)
	}

	// Start on a full disk: the server listens, read-only, and says so.
	fill(t, filler, 0)
	p = serveLaunch(t, bin, data, "--cache-mib", "8")
	p.waitHealth(http.StatusServiceUnavailable, time.Now().Add(15*time.Second))
	for key, want := range counts {
		var c serveCount
		p.call("GET", "/api/counter/"+key, "", &c)
		if c.Count != want {
			t.Fatalf("counter %s after a start on a full disk reads %d, want %d", key, c.Count, want)
		}
	}
	if !strings.Contains(p.stderr.String(), "read-only") {
		t.Errorf("a start on a full disk did not say it is read-only:\n%s", p.stderr)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	p.waitHealth(http.StatusOK, time.Now().Add(45*time.Second))
	p.call("POST", "/api/counter/c0/increment", "", &c)
	if c.Count != counts["c0"]+1 {
		t.Fatalf("increment after a start on a full disk = %d, want %d", c.Count, counts["c0"]+1)
	}
	checkSent(t, p, sent)
	if st := p.stop(syscall.SIGTERM, 30*time.Second); !st.Success() {
		t.Fatalf("serve exited %v\nstderr: %s", st, p.stderr)
	}
}

// fill writes a file until the filesystem has no room left, then gives
// back leave bytes.
func fill(t *testing.T, name string, leave int64) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(max(st.Size()-leave, 0)); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// sendUntilRefused sends chat messages, four at a time, until the store
// refuses one, and returns the ids of those acknowledged, by room.
func sendUntilRefused(t *testing.T, p *serveProc) map[string][]string {
	t.Helper()
	var (
		mu      sync.Mutex
		sent    = map[string][]string{}
		refused bool
		wg      sync.WaitGroup
	)
	text := strings.Repeat("x", 1990)
	deadline := time.Now().Add(60 * time.Second)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				mu.Lock()
				done := refused || len(sent["room0"])+len(sent["room1"])+len(sent["room2"])+len(sent["room3"]) > 20000
				mu.Unlock()
				if done || time.Now().After(deadline) {
					return
				}
				room := fmt.Sprintf("room%d", w)
				status, body, err := p.do("POST", "/rpc/chatRoom:"+room+"/sendMessage", fmt.Sprintf(`{"username":"u","text":"%s %d"}`, text, i))
				mu.Lock()
				switch {
				case err == nil && status == http.StatusOK:
					var r struct{ Message struct{ ID string } }
					if json.Unmarshal(body, &r) == nil {
						sent[room] = append(sent[room], r.Message.ID)
					}
				case err == nil && status == http.StatusServiceUnavailable:
					refused = true
				default:
					t.Errorf("message on a filling disk: %d %s (%v), want 200 or 503", status, body, err)
					refused = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if !refused {
		t.Fatalf("the store took every message on a full disk (%d rooms)", len(sent))
	}
	return sent
}

func countSent(sent map[string][]string) int {
	n := 0
	for _, ids := range sent {
		n += len(ids)
	}
	return n
}

// checkSent checks that every acknowledged message is in its room's
// history.
func checkSent(t *testing.T, p *serveProc, sent map[string][]string) {
	t.Helper()
	for room, ids := range sent {
		have := map[string]bool{}
		for _, e := range p.history("chatRoom", room) {
			var m struct{ ID string }
			if json.Unmarshal(e.Data, &m) == nil {
				have[m.ID] = true
			}
		}
		for _, id := range ids {
			if !have[id] {
				t.Fatalf("acknowledged message %s of %s is not in its history", id, room)
			}
		}
	}
}
