package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/actorlog/actorlog/api/typescript"
	"github.com/actorlog/actorlog/api/wire"
)

// schemaCmd prints what the program's actor types say of themselves, the
// same JSON the server serves at GET /schema, without a server.
func (ap *app) schemaCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("schema", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: actorlog schema")
		fmt.Fprintln(stderr, "Prints the actor types' description (as GET /schema serves it): the JSON Schemas of their state, actions, events and broadcasts.")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	d, err := wire.Describe(ap.reg)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(b, '\n'))
	return err
}

// genCmd generates code from the actor types' description: gen ts, the
// TypeScript types of package api/typescript.
func (ap *app) genCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen ts", stderr)
	name := fs.String("name", "Schema", "name of the interface that maps actor types to their types")
	out := fs.String("o", "", "file to write (default: standard output)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: actorlog gen ts [--name Schema] [-o FILE]")
		fmt.Fprintln(stderr, "Writes the TypeScript types of the actor types for @actorlog/client's createClient<Schema>().")
		fs.PrintDefaults()
	}
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		fs.Usage()
		return flag.ErrHelp
	case len(args) == 0 || args[0] != "ts":
		fs.Usage()
		return errUsage
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	d, err := wire.Describe(ap.reg)
	if err != nil {
		return err
	}
	// The file's header names the command that writes it again.
	command := ap.prog + " gen ts"
	if *name != "Schema" {
		command += " --name " + *name
	}
	b, err := typescript.Generate(d, typescript.Options{Name: *name, Command: command})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}
