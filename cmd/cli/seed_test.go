package cli

import (
	"context"
	"io"

	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/projection"
)

// run runs a command line as the actorlog command does: with the seed
// actors, their projections and routes.
func run(args []string, stdout, stderr io.Writer) int {
	return newApp(context.Background(), App{
		Registry:    seed.Registry(),
		Projections: []projection.Def{projection.Directory(), seed.ChatRooms()},
		Routes:      []func(*api.Routes){seed.Routes},
	}).run(args, stdout, stderr)
}
