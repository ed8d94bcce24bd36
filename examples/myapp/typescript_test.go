package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite client/schema.ts with what gen ts writes")

// TestTypeScript: client/schema.ts is what this program's `gen ts`
// writes (-update rewrites it); client/check.ts, a TypeScript client of
// its actors typed by it, compiles with tsc, and each of its
// @ts-expect-error lines (a misspelled action, an argument of the wrong
// type, ...) is an error. tsc is $TSC, else clients/js's (after npm ci
// there; clients/js/scripts/ci.sh sets $TSC, so that CI never skips it).
func TestTypeScript(t *testing.T) {
	bin := build(t)
	got, err := exec.Command(bin, "gen", "ts").Output()
	if err != nil {
		t.Fatalf("myapp gen ts: %v", err)
	}
	schema := filepath.Join("client", "schema.ts")
	if *update {
		if err := os.WriteFile(schema, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schema)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale: run go run . gen ts -o %s (or go test -run TypeScript -update)\n--- gen ts writes\n%s", schema, schema, got)
	}

	tsc := os.Getenv("TSC")
	if tsc == "" {
		tsc, _ = filepath.Abs(filepath.Join("..", "..", "clients", "js", "node_modules", ".bin", "tsc"))
		if _, err := os.Stat(tsc); err != nil {
			t.Skipf("no tsc: set TSC, or run npm ci in clients/js (%v)", err)
		}
	}
	if out, err := exec.Command(tsc, "-p", "client").CombinedOutput(); err != nil {
		t.Fatalf("tsc -p client: %v\n%s", err, out)
	}

	// The check above can fail: with every actor untyped in place of
	// schema.ts, each @ts-expect-error line compiles, which tsc reports.
	check, err := os.ReadFile(filepath.Join("client", "check.ts"))
	if err != nil {
		t.Fatal(err)
	}
	var expect []int
	for i, line := range strings.Split(string(check), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "// @ts-expect-error") {
			expect = append(expect, i+1)
		}
	}
	if len(expect) < 5 {
		t.Fatalf("client/check.ts has %d @ts-expect-error lines; want the misuses it checks", len(expect))
	}
	dir := t.TempDir()
	index, err := filepath.Abs(filepath.Join("..", "..", "clients", "js", "src", "index.ts"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		CompilerOptions map[string]any `json:"compilerOptions"`
		Files           []string       `json:"files"`
	}
	b, err := os.ReadFile(filepath.Join("client", "tsconfig.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg.CompilerOptions["paths"] = map[string][]string{"@actorlog/client": {index}}
	b, _ = json.Marshal(cfg)
	for name, data := range map[string]string{
		"tsconfig.json": string(b),
		"check.ts":      string(check),
		"schema.ts":     "import type { AnySchema } from '@actorlog/client';\nexport type Schema = AnySchema;\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(tsc, "-p", dir).CombinedOutput()
	if err == nil {
		t.Fatal("tsc compiles client/check.ts without its schema: its @ts-expect-error lines check nothing")
	}
	unused := regexp.MustCompile(`check\.ts\((\d+),\d+\): error TS2578:`)
	seen := map[string]bool{}
	for _, m := range unused.FindAllStringSubmatch(string(out), -1) {
		seen[m[1]] = true
	}
	for _, n := range expect {
		if !seen[strconv.Itoa(n)] {
			t.Errorf("client/check.ts:%d: without the schema, tsc does not report this @ts-expect-error unused: it checks something else\n%s", n, out)
		}
	}
}
