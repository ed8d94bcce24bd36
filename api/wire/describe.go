package wire

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/schema"
)

// Description is what the actor types of a registry say of themselves,
// from their Go types (GET /schema, and `actorlog schema`): for each, the
// JSON Schema of its state, of each action's arguments and result, of
// each event's data and of each declared broadcast's data. Package
// actors/schema makes them and documents their rules (which fields are
// required, what `jsonschema` tags declare); an action's arguments are
// checked against the very schema given here. Each schema stands alone,
// with its own "$defs", in the JSON Schema dialect Dialect. Maps are
// sorted by name.
type Description struct {
	Dialect string                      `json:"dialect"`
	Actors  map[string]ActorDescription `json:"actors"`
}

// ActorDescription describes one actor type. An action whose arguments
// are an object with no properties takes none (actors.NoArgs). A
// broadcast's frame carries its data's fields beside "type"; data that is
// not an object goes under "data".
type ActorDescription struct {
	Doc        string                       `json:"doc,omitempty"`
	State      json.RawMessage              `json:"state"`
	Actions    map[string]ActionDescription `json:"actions"`
	Events     map[string]json.RawMessage   `json:"events"`
	Broadcasts map[string]json.RawMessage   `json:"broadcasts"`
}

// ActionDescription describes an action: the schemas of its arguments
// and of its result.
type ActionDescription struct {
	Args   json.RawMessage `json:"args"`
	Result json.RawMessage `json:"result"`
}

// Describe describes every actor type of reg. The error names the type
// that cannot be described (two types of the same name in one schema);
// the arguments' types were described when reg was made.
func Describe(reg *actors.Registry) (Description, error) {
	d := Description{Dialect: schema.Dialect, Actors: make(map[string]ActorDescription)}
	for _, typ := range reg.Types() {
		def, _ := reg.Lookup(typ)
		ad, err := describeActor(def.Signature())
		if err != nil {
			return Description{}, fmt.Errorf("wire: describing %s: %w", typ, err)
		}
		d.Actors[typ] = ad
	}
	return d, nil
}

func describeActor(sig actors.Signature) (ActorDescription, error) {
	ad := ActorDescription{
		Doc:        sig.Doc,
		Actions:    make(map[string]ActionDescription, len(sig.Actions)),
		Events:     make(map[string]json.RawMessage, len(sig.Events)),
		Broadcasts: make(map[string]json.RawMessage, len(sig.Broadcasts)),
	}
	var err error
	if ad.State, err = schema.Of(sig.State); err != nil {
		return ad, fmt.Errorf("state: %w", err)
	}
	for name, a := range sig.Actions {
		var desc ActionDescription
		if desc.Args, err = schema.Of(a.Args); err != nil {
			return ad, fmt.Errorf("action %s's arguments: %w", name, err)
		}
		if desc.Result, err = schema.Of(a.Result); err != nil {
			return ad, fmt.Errorf("action %s's result: %w", name, err)
		}
		ad.Actions[name] = desc
	}
	for _, m := range []struct {
		what string
		in   map[string]reflect.Type
		out  map[string]json.RawMessage
	}{{"event", sig.Events, ad.Events}, {"broadcast", sig.Broadcasts, ad.Broadcasts}} {
		for name, t := range m.in {
			if m.out[name], err = schema.Of(t); err != nil {
				return ad, fmt.Errorf("%s %s: %w", m.what, name, err)
			}
		}
	}
	return ad, nil
}
