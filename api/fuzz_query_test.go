package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// queryHandler is rpcHandler with counter:q at seq 3.
func queryHandler(f *testing.F) http.Handler {
	h := rpcHandler(f)
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, fuzzRequest(http.MethodPost, "/rpc/counter:q/increment", nil))
		if rec.Code != http.StatusOK {
			f.Fatalf("increment: %d %s", rec.Code, rec.Body)
		}
	}
	return h
}

// FuzzQuery sends arbitrary values of the query parameters that the
// server parses: from and limit of the history, at of the state (escaped,
// and raw as a client may write them), and since of a WebSocket, whose
// handshake must be accepted or refused with a client error. Every reply
// must be a success or a JSON error of a client-error class, never a 500
// or a panic.
func FuzzQuery(f *testing.F) {
	for _, c := range [][3]string{
		{"1", "100", "0"}, {"", "", ""}, {"2", "1", "3"}, {"18446744073709551615", "1000", "18446744073709551615"},
		{"18446744073709551616", "1001", "4"}, {"-1", "0", "-1"}, {"0x10", "1e3", "+1"}, {" 1", "1 ", "1&at=2"},
		{"%zz", "\xff", "\x00"}, {"1&from=2", "1;limit=2", "1#x"},
	} {
		f.Add(c[0], c[1], c[2])
	}
	h := queryHandler(f)
	ts := httptest.NewServer(h)
	f.Cleanup(ts.Close)
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	wsBase := "ws" + strings.TrimPrefix(ts.URL, "http")
	f.Fuzz(func(t *testing.T, from, limit, seq string) {
		esc := url.QueryEscape
		for _, q := range []struct{ path, raw string }{
			{"/actors/counter/q/events", "from=" + esc(from) + "&limit=" + esc(limit)},
			{"/actors/counter/q/events", "from=" + from + "&limit=" + limit},
			{"/actors/counter/q/state", "at=" + esc(seq)},
			{"/actors/counter/q/state", "at=" + seq},
		} {
			req := fuzzRequest(http.MethodGet, q.path, nil)
			req.URL.RawQuery = q.raw
			serveChecked(t, h, req)
		}
		// The handshake, over a real connection (an upgrade hijacks it).
		u := wsBase + "/ws/counter/q?since=" + esc(seq)
		ws, resp, err := dialer.Dial(u, nil)
		if err == nil {
			ws.Close()
			return
		}
		if resp == nil {
			t.Fatalf("GET %s: no reply: %v", u, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: status %d, want 101, 400 or 404", u, resp.StatusCode)
		}
	})
}

// FuzzCallHeaders calls an action with Idempotency-Key and
// X-Correlation-Id values of any bytes and lengths: up to 255 bytes each
// the call succeeds, and the same call again with the same key replays
// the first reply; past that it is a JSON client error. Never a 500 or a
// panic.
func FuzzCallHeaders(f *testing.F) {
	for _, c := range [][2]string{
		{"order-42", "req-1"}, {"", ""}, {"k", ""}, {"", "c"}, {strings.Repeat("k", 255), strings.Repeat("c", 255)},
		{strings.Repeat("k", 256), ""}, {"", strings.Repeat("c", 256)}, {"\xff\xfe", "\x00\r\n"}, {"\u202e\x1b[2J", "é"},
	} {
		f.Add(c[0], c[1])
	}
	h := rpcHandler(f)
	f.Fuzz(func(t *testing.T, key, corr string) {
		call := func() *httptest.ResponseRecorder {
			req := fuzzRequest(http.MethodPost, "/rpc/counter:h/add", strings.NewReader(`{"value":1}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			req.Header.Set("X-Correlation-Id", corr)
			return serveChecked(t, h, req)
		}
		first := call()
		if len(key) > 255 || len(corr) > 255 {
			if first.Code != http.StatusBadRequest {
				t.Fatalf("Idempotency-Key of %d bytes, X-Correlation-Id of %d: status %d, want 400", len(key), len(corr), first.Code)
			}
			return
		}
		if first.Code != http.StatusOK {
			t.Fatalf("Idempotency-Key %q, X-Correlation-Id %q: status %d: %s", key, corr, first.Code, first.Body)
		}
		if key == "" {
			return
		}
		again := call()
		if again.Code != http.StatusOK || again.Header().Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
			t.Fatalf("Idempotency-Key %q again: status %d, replayed %q, body %s; want the first reply %s",
				key, again.Code, again.Header().Get("Idempotent-Replayed"), again.Body, first.Body)
		}
	})
}
