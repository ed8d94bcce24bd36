package projection

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/actorlog/actorlog/eventlog"
)

// checkpoint is where a projection stands.
type checkpoint struct {
	pos     uint64
	version uint64
	time    int64 // Unix ms of the last event processed
}

func checkpointKey(name string) []byte { return append([]byte{'c'}, name...) }

func (c checkpoint) encode() []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, c.pos)
	b = binary.AppendUvarint(b, c.version)
	b = binary.AppendUvarint(b, 0) // once an erased count; see the package doc
	return binary.AppendVarint(b, c.time)
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	if len(b) == 0 || b[0] != 1 {
		return c, errors.New("projection: unknown checkpoint format")
	}
	var erased uint64 // read and ignored
	if !decodeVarints(b[1:], []*uint64{&c.pos, &c.version, &erased}, []*int64{&c.time}) {
		return c, errors.New("projection: checkpoint does not decode")
	}
	return c, nil
}

// decodeVarints reads from b uvarints into us, then varints into is, as
// the projection package's records hold them; false if one does not
// decode.
func decodeVarints(b []byte, us []*uint64, is []*int64) bool {
	for _, p := range us {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		*p, b = v, b[n:]
	}
	for _, p := range is {
		v, n := binary.Varint(b)
		if n <= 0 {
			return false
		}
		*p, b = v, b[n:]
	}
	return true
}

// ReadCheckpoint returns where a projection stands in log, for tools
// reading a store offline: its position and version.
func ReadCheckpoint(ctx context.Context, log eventlog.Records, name string) (pos, version uint64, err error) {
	v, err := log.Get(ctx, Space, checkpointKey(name))
	if errors.Is(err, eventlog.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	ck, err := decodeCheckpoint(v)
	return ck.pos, ck.version, err
}

// Drop deletes a projection's view and checkpoint from log, for tools
// working on a stopped server's store: the next Runner rebuilds the view
// from the first event.
func Drop(ctx context.Context, log eventlog.Writer, name string) error {
	d := Def{Name: name, Handle: func(*Tx, *eventlog.Event) error { return nil }}
	if err := d.validate(); err != nil {
		return err
	}
	pre := viewPrefix(name)
	end := append([]byte(nil), pre...)
	end[len(end)-1]++
	_, err := log.Write(ctx, eventlog.Request{Ops: []eventlog.Op{
		{Space: Space, Key: pre, End: end, Delete: true},
		{Space: Space, Key: checkpointKey(name), Delete: true},
	}})
	if err != nil {
		return fmt.Errorf("projection: drop %s: %w", name, err)
	}
	return nil
}
