package load

import "testing"

func TestParseChatFrame(t *testing.T) {
	const marker = "load ab12 "
	for _, tc := range []struct {
		frame string
		sent  int64
		seq   uint64
		ok    bool
	}{
		{`{"id":"x","seq":7,"text":"load ab12 123456","timestamp":1,"type":"newMessage","username":"u"}`, 123456, 7, true},
		{`{"type":"newMessage","text":"load ab12 99","seq":3}`, 99, 3, true},
		// Spaces after the colons: not the server's layout, decoded.
		{`{"type": "newMessage", "text": "load ab12 42", "seq": 9}`, 42, 9, true},
		{`{"id":"x","seq":7,"text":"load zz99 123456","timestamp":1,"type":"newMessage","username":"u"}`, 0, 0, false},
		{`{"seq":7,"text":"load ab12 123456","type":"userJoined"}`, 0, 0, false},
		{`{"type":"newMessage","text":"load ab12 not-a-time","seq":3}`, 0, 0, false},
		{`{"type":"init","seq":0}`, 0, 0, false},
		{`not json`, 0, 0, false},
	} {
		sent, seq, ok := parseChatFrame([]byte(tc.frame), marker)
		if sent != tc.sent || seq != tc.seq || ok != tc.ok {
			t.Errorf("%s: got %d %d %v", tc.frame, sent, seq, ok)
		}
	}
}
