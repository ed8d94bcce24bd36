package projection

import (
	"context"
	"errors"

	"github.com/actorlog/actorlog/eventlog"
)

// View reads a projection's view.
type View struct {
	log    eventlog.Records
	prefix []byte
}

// OpenView returns read access to a projection's view in log without a
// running Runner (for tools reading a store offline).
func OpenView(log eventlog.Records, name string) *View {
	return &View{log: log, prefix: viewPrefix(name)}
}

// Get returns the record at key.
func (v *View) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	b, err := v.log.Get(ctx, Space, append(append([]byte(nil), v.prefix...), key...))
	if errors.Is(err, eventlog.ErrNotFound) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// Scan calls fn for the records with keys in [lo, hi) (hi nil: to the end)
// in key order, or reverse order; fn's error stops it and is returned.
// key and value are valid only during the call.
func (v *View) Scan(ctx context.Context, lo, hi []byte, reverse bool, fn func(key, value []byte) error) error {
	start := append(append([]byte(nil), v.prefix...), lo...)
	var end []byte
	if hi != nil {
		end = append(append([]byte(nil), v.prefix...), hi...)
	} else {
		end = append([]byte(nil), v.prefix...)
		end[len(end)-1]++ // past the 0x00 that ends the name
	}
	n := len(v.prefix)
	return v.log.Scan(ctx, Space, start, end, reverse, func(k, val []byte) error { return fn(k[n:], val) })
}

func viewPrefix(name string) []byte { return append(append([]byte{'v'}, name...), 0) }
