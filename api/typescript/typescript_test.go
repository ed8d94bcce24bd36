package typescript_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/typescript"
	"github.com/actorlog/actorlog/api/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type inner struct {
	Qty int `json:"qty"`
}

type pair[T any] struct {
	First  T `json:"first"`
	Second T `json:"second"`
}

// wide has a field of each kind the generator writes.
type wide struct {
	Name   string           `json:"name" jsonschema:"description=Who it is for: a name\\, not an id."`
	Unit   string           `json:"unit" jsonschema:"enum=kg,enum=lb"`
	Count  *int             `json:"count" jsonschema:"minimum=1,maximum=10"`
	Note   string           `json:"note,omitempty" jsonschema:"maxLength=20,pattern=^[a-z ]*$"`
	Code   string           `json:"code" jsonschema:"minLength=1,maxLength=8"`
	Tags   []string         `json:"tags,omitempty"`
	ByName map[string]inner `json:"byName"`
	ByID   map[int]string   `json:"byId"`
	Any    any              `json:"any"`
	Raw    json.RawMessage  `json:"raw"`
	Nested struct {
		A int `json:"a"`
	} `json:"nested"`
	Matrix [][]float64  `json:"matrix"`
	Odd    bool         `json:"odd-name"`
	Pair   *pair[inner] `json:"pair"`
	When   time.Time    `json:"when"`
}

// registry has an actor type of each shape the client's ActorSchema
// has: arguments required, optional, of no object, none; events and
// broadcasts of object and other data.
func registry() *actors.Registry {
	d := actors.Define("wide-thing", func() wide { return wide{} })
	d.Doc = "An actor type for the test: its doc comment is long enough to be written on several lines, wrapped."
	actors.On(d, "moved", func(*wide, int) {})
	actors.On(d, "renamed", func(*wide, inner) {})
	actors.Broadcast[struct{}](d, "ping")
	actors.Broadcast[[]string](d, "names")
	actors.Action(d, "put", func(*actors.Ctx[wide], wide) (bool, error) { return true, nil })
	actors.Action(d, "name", func(*actors.Ctx[wide], string) (*inner, error) { return nil, nil })
	actors.Action(d, "none", func(*actors.Ctx[wide], actors.NoArgs) (map[string]int, error) { return nil, nil })
	actors.Action(d, "maybe", func(*actors.Ctx[wide], struct {
		N *int `json:"n"`
	}) (any, error) {
		return nil, nil
	})
	other := actors.Define("b", func() int { return 0 })
	actors.Action(other, "get", func(*actors.Ctx[int], actors.NoArgs) (inner, error) { return inner{}, nil })
	return actors.NewRegistry(d, other)
}

// TestGenerate: the TypeScript of the test registry is
// testdata/wide.ts (go test ./api/typescript -update rewrites it;
// clients/js/scripts/ci.sh compiles it with tsc).
func TestGenerate(t *testing.T) {
	d, err := wire.Describe(registry())
	if err != nil {
		t.Fatal(err)
	}
	got, err := typescript.Generate(d, typescript.Options{Name: "TestSchema", Command: "go test ./api/typescript -update"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "wide.ts")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("the TypeScript differs from %s (run with -update to rewrite it):\n--- got\n%s--- want\n%s", path, got, want)
	}
	// The same description gives the same bytes.
	again, err := typescript.Generate(d, typescript.Options{Name: "TestSchema", Command: "go test ./api/typescript -update"})
	if err != nil || string(again) != string(got) {
		t.Errorf("a second run differs (%v)", err)
	}
}

// TestGenerate_Refuses: a description that would give two types one
// name is refused, naming them.
func TestGenerate_Refuses(t *testing.T) {
	type Dup struct {
		A int `json:"a"`
	}
	one := actors.Define("one", func() Dup { return Dup{} })
	two := actors.Define("two", func() inner { return inner{} })
	actors.Action(two, "get", func(*actors.Ctx[inner], actors.NoArgs) (otherDup, error) { return otherDup{}, nil })
	d, err := wire.Describe(actors.NewRegistry(one, two))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := typescript.Generate(d, typescript.Options{}); err == nil || !strings.Contains(err.Error(), "two different types are named Dup") {
		t.Errorf("two types named Dup: err %v", err)
	}

	clash := actors.Define("counter", func() CounterActor { return CounterActor{} })
	d, err = wire.Describe(actors.NewRegistry(clash))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := typescript.Generate(d, typescript.Options{}); err == nil || !strings.Contains(err.Error(), "CounterActor") {
		t.Errorf("a type named like an actor's interface: err %v", err)
	}

	for _, name := range []string{"My Schema", "1st", "a-b"} {
		if _, err := typescript.Generate(d, typescript.Options{Name: name}); err == nil || !strings.Contains(err.Error(), "not a TypeScript name") {
			t.Errorf("Name %q: err %v", name, err)
		}
	}
}

// otherDup is the package's Dup, where a local Dup hides it.
type otherDup = Dup

type Dup struct {
	B string `json:"b"`
}

// CounterActor is a state type named like the interface of the actor
// type counter.
type CounterActor struct {
	N int `json:"n"`
}
