package projection

import (
	"errors"

	"github.com/actorlog/actorlog/eventlog"
)

// Tx is a batch of view writes in progress. Reads see the batch's own
// writes. It is used by one handler at a time.
type Tx struct {
	log    Log
	prefix []byte
	writes map[string]*[]byte // nil value: deleted
	// prev holds the writes of the batch being committed, which the store
	// may not show yet.
	prev map[string]*[]byte
	// scratch is a buffer handlers may reuse for keys (Put copies).
	scratch []byte
	// undo logs, for the event being handled, each key's entry in writes
	// before the handler wrote it, so that a failing handler's writes can
	// be taken back (in reverse order).
	undo []undoEntry
}

type undoEntry struct {
	key string
	had bool
	v   *[]byte
}

func (tx *Tx) begin() { tx.undo = tx.undo[:0] }

func (tx *Tx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		if u.had {
			tx.writes[u.key] = u.v
		} else {
			delete(tx.writes, u.key)
		}
	}
	tx.undo = tx.undo[:0]
}

func (tx *Tx) set(key []byte, v *[]byte) {
	k := string(key)
	prev, had := tx.writes[k]
	tx.undo = append(tx.undo, undoEntry{key: k, had: had, v: prev})
	tx.writes[k] = v
}

func (tx *Tx) key(k []byte) []byte { return append(append([]byte(nil), tx.prefix...), k...) }

// Get returns the view's record at key.
func (tx *Tx) Get(key []byte) ([]byte, bool, error) {
	for _, w := range [...]map[string]*[]byte{tx.writes, tx.prev} {
		if v, ok := w[string(key)]; ok {
			if v == nil {
				return nil, false, nil
			}
			return *v, true, nil
		}
	}
	// The view is written only by this projection, and each batch is
	// durable before the next begins: no need to wait for other writes.
	v, err := tx.log.Peek(Space, tx.key(key))
	if errors.Is(err, eventlog.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Put sets the view's record at key. It copies key and value.
func (tx *Tx) Put(key, value []byte) {
	v := append([]byte(nil), value...)
	tx.set(key, &v)
}

// Delete removes the view's record at key.
func (tx *Tx) Delete(key []byte) { tx.set(key, nil) }

func (tx *Tx) ops() []eventlog.Op {
	// One atomic write: the order of its ops does not matter.
	ops := make([]eventlog.Op, 0, len(tx.writes)+1)
	for k, v := range tx.writes {
		if v == nil {
			ops = append(ops, eventlog.Op{Space: Space, Key: tx.key([]byte(k)), Delete: true})
		} else {
			ops = append(ops, eventlog.Op{Space: Space, Key: tx.key([]byte(k)), Value: *v})
		}
	}
	return ops
}
