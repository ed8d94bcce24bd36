// Package jsondiff compares two JSON documents field by field, as a
// reader of an actor's state wants to see what an event changed: each
// change names the path of the field ("messages[3].text"), its old value
// and its new one.
//
// Objects are compared key by key, in sorted key order. Arrays are aligned
// on their longest common subsequence of equal elements, so that an
// element appended, or dropped from the front of a bounded list, shows as
// one addition or removal rather than as every element changing; an
// element removed where another is added, at the same place, is compared
// field by field instead. Numbers are compared by their text, so 1 and 1.0
// differ; both sides are expected to come from the same encoder.
package jsondiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Op is the kind of a change.
type Op string

// The kinds of change.
const (
	Added   Op = "add"    // the field or element exists only in the new document
	Removed Op = "remove" // it exists only in the old document
	Changed Op = "change" // it exists in both with different values
)

// Change is one difference. Old is empty for Added, New for Removed; both are
// compact JSON.
type Change struct {
	Op   Op              `json:"op"`
	Path string          `json:"path"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}

// RootPath is the Path of a change to the whole document.
const RootPath = ""

// maxLCS bounds the product of two arrays' lengths that is aligned by
// longest common subsequence; longer arrays are compared index by index.
const maxLCS = 1 << 20

// Diff returns the changes that turn old into new, in document order.
// Equal documents give none. Either side that is not one JSON value is an
// error.
func Diff(old, new []byte) ([]Change, error) {
	a, err := decode(old)
	if err != nil {
		return nil, fmt.Errorf("jsondiff: old document: %w", err)
	}
	b, err := decode(new)
	if err != nil {
		return nil, fmt.Errorf("jsondiff: new document: %w", err)
	}
	var d differ
	d.diff(RootPath, a, b)
	return d.out, nil
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

type differ struct{ out []Change }

func (d *differ) add(op Op, path string, old, new any) {
	c := Change{Op: op, Path: path}
	if op != Added {
		c.Old = encode(old)
	}
	if op != Removed {
		c.New = encode(new)
	}
	d.out = append(d.out, c)
}

func encode(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Decoded JSON always encodes.
		panic(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func (d *differ) diff(path string, a, b any) {
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			d.object(path, x, y)
			return
		}
	case []any:
		if y, ok := b.([]any); ok {
			d.array(path, x, y)
			return
		}
	default:
		if equal(a, b) {
			return
		}
	}
	d.add(Changed, path, a, b)
}

func (d *differ) object(path string, a, b map[string]any) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := Field(path, k)
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inB:
			d.add(Removed, p, av, nil)
		case !inA:
			d.add(Added, p, nil, bv)
		default:
			d.diff(p, av, bv)
		}
	}
}

func (d *differ) array(path string, a, b []any) {
	// Trim the common ends first: most changes touch few elements.
	pre := 0
	for pre < len(a) && pre < len(b) && equal(a[pre], b[pre]) {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && equal(a[len(a)-1-suf], b[len(b)-1-suf]) {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma)*len(mb) > maxLCS {
		d.byIndex(path, pre, ma, mb)
		return
	}
	// Longest common subsequence table, from the ends.
	n, m := len(ma), len(mb)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if equal(ma[i], mb[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	// Walk it, gathering each run of removals and additions between
	// common elements; pair them up as changes.
	var dels, adds []int
	flush := func() {
		k := 0
		for ; k < len(dels) && k < len(adds); k++ {
			d.diff(Index(path, pre+adds[k]), ma[dels[k]], mb[adds[k]])
		}
		for _, i := range dels[k:] {
			d.add(Removed, Index(path, pre+i), ma[i], nil)
		}
		for _, j := range adds[k:] {
			d.add(Added, Index(path, pre+j), nil, mb[j])
		}
		dels, adds = dels[:0], adds[:0]
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && equal(ma[i], mb[j]):
			flush()
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			adds = append(adds, j)
			j++
		default:
			dels = append(dels, i)
			i++
		}
	}
	flush()
}

func (d *differ) byIndex(path string, off int, a, b []any) {
	for i := 0; i < len(a) || i < len(b); i++ {
		p := Index(path, off+i)
		switch {
		case i >= len(b):
			d.add(Removed, p, a[i], nil)
		case i >= len(a):
			d.add(Added, p, nil, b[i])
		default:
			d.diff(p, a[i], b[i])
		}
	}
}

// equal reports whether two decoded values are the same JSON.
func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// Field returns the path of key in the object at path: "a.b", or
// `a["b c"]` for a key that is not an identifier.
func Field(path, key string) string {
	if isIdent(key) {
		if path == RootPath {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// Index returns the path of element i of the array at path: "a[3]".
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 && !(s[0] >= '0' && s[0] <= '9')
}
