package actors

import "maps"

// Events is a set of event and broadcast names: those a connection
// receives (Conn.SetEvents, ConnectOptions.Events). It is immutable —
// With and Without return new sets — so that the actor reads a
// connection's set while the connection's owner replaces it, without a
// lock. The nil *Events is every name, the default.
type Events struct {
	all   bool                // every name but those in names; else only those
	names map[string]struct{} // never modified once the set is made
}

// AllEvents returns the set of every name (nil).
func AllEvents() *Events { return nil }

// OnlyEvents returns the set of the names given; with none, the empty set.
func OnlyEvents(names ...string) *Events {
	return (&Events{}).edit(names, true)
}

// Has reports whether name is in the set.
func (e *Events) Has(name string) bool {
	if e == nil {
		return true
	}
	_, listed := e.names[name]
	return listed != e.all
}

// With returns the set with names added.
func (e *Events) With(names ...string) *Events {
	if e == nil {
		return nil
	}
	return e.edit(names, !e.all)
}

// Without returns the set with names removed.
func (e *Events) Without(names ...string) *Events {
	if e == nil {
		e = &Events{all: true}
	}
	return e.edit(names, e.all)
}

// Listed returns the number of names the set lists: those it holds, or,
// for a set of every name but some, those it leaves out.
func (e *Events) Listed() int {
	if e == nil {
		return 0
	}
	return len(e.names)
}

// edit returns a copy of e with names listed (list) or not.
func (e *Events) edit(names []string, list bool) *Events {
	n := &Events{all: e.all, names: maps.Clone(e.names)}
	if n.names == nil {
		n.names = make(map[string]struct{}, len(names))
	}
	for _, name := range names {
		if list {
			n.names[name] = struct{}{}
		} else {
			delete(n.names, name)
		}
	}
	if n.all && len(n.names) == 0 {
		return nil
	}
	return n
}
