package seed_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDescribe: what each seed actor says of itself (its JSON Schemas,
// from its Go types) is testdata/<type>.schema.json. After changing a
// type on purpose, rewrite them with
//
//	go test ./actors/seed -run Describe -update
//
// and read the diff: it is what clients see change (GET /schema, and the
// TypeScript types generated from it).
func TestDescribe(t *testing.T) {
	d, err := wire.Describe(seed.Registry())
	if err != nil {
		t.Fatal(err)
	}
	var described []string
	for typ, ad := range d.Actors {
		described = append(described, typ+".schema.json")
		got, err := json.MarshalIndent(ad, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, typ+".schema.json", append(got, '\n'))
	}
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.schema.json"))
	for i, g := range golden {
		golden[i] = filepath.Base(g)
	}
	slices.Sort(described)
	if !*update && !slices.Equal(golden, described) {
		t.Errorf("golden files %v, for the actors %v", golden, described)
	}
}

// checkGolden compares got with testdata/name, or rewrites it with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("the description differs from %s (run with -update to rewrite it, and read the diff):\n--- got\n%s--- want\n%s", path, got, strings.TrimSpace(string(want)))
	}
}
