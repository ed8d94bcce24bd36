package jsondiff

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     []string // "op path old new"
	}{
		{"equal", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, nil},
		{"scalar", `{"count":1}`, `{"count":2}`, []string{"change count 1 2"}},
		{"number text", `1`, `1.0`, []string{"change  1 1.0"}},
		{"add remove", `{"a":1}`, `{"b":2}`, []string{"remove a 1 -", "add b - 2"}},
		{"nested", `{"a":{"b":{"c":true}}}`, `{"a":{"b":{"c":false}}}`, []string{"change a.b.c true false"}},
		{"odd key", `{"a b":1}`, `{"a b":2}`, []string{`change ["a b"] 1 2`}},
		{"type change", `{"a":[1]}`, `{"a":{"0":1}}`, []string{`change a [1] {"0":1}`}},
		{"null to object", `null`, `{"a":1}`, []string{`change  null {"a":1}`}},
		{"append", `{"m":["x","y"]}`, `{"m":["x","y","z"]}`, []string{`add m[2] - "z"`}},
		{"drop front, append", `["a","b","c"]`, `["b","c","d"]`, []string{`remove [0] "a" -`, `add [2] - "d"`}},
		{"replace in place", `["a","b","c"]`, `["a","x","c"]`, []string{`change [1] "b" "x"`}},
		{"element field", `[{"id":1,"t":"a"},{"id":2,"t":"b"}]`, `[{"id":1,"t":"a"},{"id":2,"t":"c"}]`, []string{`change [1].t "b" "c"`}},
		{"remove middle", `[1,2,3,4]`, `[1,2,4]`, []string{`remove [2] 3 -`}},
		{"empty to full", `[]`, `[1,2]`, []string{`add [0] - 1`, `add [1] - 2`}},
		{"html not escaped", `{"t":"<a>"}`, `{"t":"&"}`, []string{`change t "<a>" "&"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Diff([]byte(tt.old), []byte(tt.new))
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, c := range got {
				o, n := string(c.Old), string(c.New)
				if o == "" {
					o = "-"
				}
				if n == "" {
					n = "-"
				}
				lines = append(lines, strings.Join([]string{string(c.Op), c.Path, o, n}, " "))
			}
			if strings.Join(lines, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Diff(%s, %s):\ngot  %q\nwant %q", tt.old, tt.new, lines, tt.want)
			}
		})
	}
}

func TestDiff_Invalid(t *testing.T) {
	for _, tt := range [][2]string{{`{`, `{}`}, {`{}`, `1 2`}, {``, `1`}} {
		if _, err := Diff([]byte(tt[0]), []byte(tt[1])); err == nil {
			t.Errorf("Diff(%q, %q): no error", tt[0], tt[1])
		}
	}
}

func TestDiff_LongArraysByIndex(t *testing.T) {
	// Past maxLCS the arrays are compared index by index.
	n := 1100
	var a, b strings.Builder
	a.WriteString("[")
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			a.WriteString(",")
			b.WriteString(",")
		}
		a.WriteString("1")
		if i == 0 || i == n-1 {
			b.WriteString("2")
		} else {
			b.WriteString("1")
		}
	}
	a.WriteString("]")
	b.WriteString("]")
	got, err := Diff([]byte(a.String()), []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "[0]" || got[1].Path != "[1099]" {
		t.Errorf("got %+v, want changes at [0] and [1099]", got)
	}
}

func FuzzDiff(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":null}]}`), []byte(`{"a":[2,{"b":"x"}],"c":1}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ch, err := Diff(a, b)
		if err != nil {
			return
		}
		self, _ := Diff(a, a)
		if len(self) != 0 {
			t.Fatalf("Diff(a, a) = %v", self)
		}
		_ = ch
	})
}
