package api

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// clientFrame is a client's text frame of n payload bytes, with masked
// set as a client must, in the shortest length encoding; the payload is
// zeroes (the mask is not applied: pacedConn reads no payload).
func clientFrame(n int, masked bool) []byte {
	var f []byte
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch {
	case n <= 125:
		f = []byte{0x81, mask | byte(n)}
	case n <= 0xffff:
		f = binary.BigEndian.AppendUint16([]byte{0x81, mask | 126}, uint16(n))
	default:
		f = binary.BigEndian.AppendUint64([]byte{0x81, mask | 127}, uint64(n))
	}
	if masked {
		f = append(f, 1, 2, 3, 4)
	}
	return append(f, make([]byte, n)...)
}

// TestPacedConn_Scan: however the client's bytes are split into reads,
// each frame costs its payload length, at least minFrameCost and at most
// the largest frame, once its header is whole.
func TestPacedConn_Scan(t *testing.T) {
	const maxCost = 70000
	var stream []byte
	var want int64
	for _, n := range []int{0, 1, 125, 126, 300, 65535, 65536, 100000} {
		for _, masked := range []bool{true, false} {
			stream = append(stream, clientFrame(n, masked)...)
			want += min(max(int64(n), minFrameCost), maxCost)
		}
	}
	for _, size := range []int{1, 2, 3, 7, 14, 4096, len(stream)} {
		c := &pacedConn{maxCost: maxCost}
		var got int64
		for b := stream; len(b) > 0; {
			k := min(size, len(b))
			got += c.scan(b[:k])
			b = b[k:]
		}
		if got != want || c.hn != 0 || c.body != 0 {
			t.Errorf("reads of %d bytes: cost %d, want %d; left in a header %d bytes, in a payload %d", size, got, want, c.hn, c.body)
		}
	}
	// A header alone costs its whole frame, before its payload comes.
	c := &pacedConn{maxCost: maxCost}
	if got := c.scan(clientFrame(5000, true)[:8]); got != 5000 || c.body != 5000 {
		t.Errorf("a header of 5000 bytes: cost %d, payload to come %d", got, c.body)
	}
	// A declared length past any bound costs the largest frame.
	c = &pacedConn{maxCost: maxCost}
	h := []byte{0x81, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}
	if got := c.scan(h); got != maxCost || c.body <= 0 {
		t.Errorf("a header of 2^64-1 bytes: cost %d, payload to come %d", got, c.body)
	}
}

// FuzzPacedConn_Scan: any bytes, split anywhere into reads, cost what
// they cost in one read, and leave the same frame to finish.
func FuzzPacedConn_Scan(f *testing.F) {
	f.Add(append(clientFrame(10, true), clientFrame(300, true)...), []byte{1, 5, 9})
	f.Add(clientFrame(70000, true)[:20], []byte{3})
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, []byte{2, 2})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		whole := &pacedConn{maxCost: 1 << 20}
		want := whole.scan(stream)
		split := &pacedConn{maxCost: 1 << 20}
		var got int64
		b := stream
		for _, k := range cuts {
			k := min(int(k), len(b))
			got += split.scan(b[:k])
			b = b[k:]
		}
		got += split.scan(b)
		if got != want || split.hn != whole.hn || split.body != whole.body || !bytes.Equal(split.hdr[:split.hn], whole.hdr[:whole.hn]) {
			t.Fatalf("split at %v: cost %d, state %d/%d; in one read: cost %d, state %d/%d", cuts, got, split.hn, split.body, want, whole.hn, whole.body)
		}
		if want < 0 {
			t.Fatalf("cost %d", want)
		}
	})
}
