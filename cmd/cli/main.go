// Package cli is the actorlog command as a library: a Go program that
// defines its own actors gets the whole product with them — the server,
// every inspection command, the load generator — from one call.
//
// The smallest program is the actors, a registry, and Main:
//
//	package main
//
//	import (
//		"context"
//		"os"
//
//		"github.com/actorlog/actorlog/actors"
//		"github.com/actorlog/actorlog/cmd/cli"
//	)
//
//	type State struct {
//		Value int `json:"value"`
//	}
//
//	func main() {
//		d := actors.Define("myActor", func() State { return State{} })
//		actors.On(d, "valueUpdated", func(s *State, e State) { s.Value = e.Value })
//		actors.Action(d, "updateValue", func(c *actors.Ctx[State], a State) (map[string]bool, error) {
//			return map[string]bool{"success": true}, c.Emit("valueUpdated", a)
//		})
//		os.Exit(cli.Main(context.Background(), os.Args, cli.App{Registry: actors.NewRegistry(d)}))
//	}
//
// Built, it is an actorlog binary with myActor in it:
//
//	myapp serve --port 3001                     # the server, every flag of actorlog serve
//	myapp log myActor:default                   # its history, decoded with the program's types
//	myapp state myActor:default --at 3          # time travel
//	myapp verify --all
//	myapp schema                                # its actors' JSON Schema, as GET /schema serves it
//	myapp gen ts -o schema.ts                   # their TypeScript types, for createClient<Schema>()
//
// Main handles SIGINT and SIGTERM while it serves, as the actorlog
// command does; cancelling ctx stops the server too. App may also carry
// projections (read models the server keeps up to date) and routes of
// the program's own (a REST face for its actions). actorlog's own command,
// cmd/actorlog, is this package called with the seed actors. A program
// that has an HTTP server of its own runs the server part inside it with
// package api/node, which serve runs too.
package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/rivetkit"
	"github.com/actorlog/actorlog/projection"
)

// App is what a program brings to actorlog.
type App struct {
	// Registry holds the program's actor types. Required.
	Registry *actors.Registry
	// Projections are the read models the server runs (and the
	// projections command reports and resets), if any.
	Projections []projection.Def
	// Routes add routes of the program's own to the server's API, as
	// the seed's convenience routes do (see api.Routes). Every server also
	// speaks RivetKit's client protocol (package api/rivetkit).
	Routes []func(*api.Routes)
}

// Main runs the command line args (os.Args: the program's name first)
// and returns the exit status, for os.Exit. Output goes to os.Stdout and
// os.Stderr; errors are one line on stderr.
func Main(ctx context.Context, args []string, app App) int {
	a := newApp(ctx, app)
	if len(args) > 0 {
		if name := strings.TrimSuffix(filepath.Base(args[0]), ".exe"); name != "." && name != string(filepath.Separator) {
			a.prog = name
		}
		args = args[1:]
	}
	return a.run(args, os.Stdout, os.Stderr)
}

// app is an App at work: a command line's context, and the App's
// definitions.
type app struct {
	// prog is the program's name (actorlog unless Main was told another),
	// which the files it generates name as the command that wrote them.
	prog  string
	ctx   context.Context
	reg   *actors.Registry
	projs []projection.Def
	// projNames are the names of projs, in order.
	projNames []string
	routes    []func(*api.Routes)
}

func newApp(ctx context.Context, a App) *app {
	if a.Registry == nil {
		a.Registry = actors.NewRegistry()
	}
	routes := append(slices.Clip(a.Routes), rivetkit.Mount)
	x := &app{prog: "actorlog", ctx: ctx, reg: a.Registry, projs: a.Projections, routes: routes}
	for _, p := range a.Projections {
		x.projNames = append(x.projNames, p.Name)
	}
	return x
}
