// Command actorlog is the actorlog server and its tools for inspecting
// actors' histories, with the seed actors (counter, chatRoom,
// serverTime), their projections and their convenience routes.
//
//	actorlog serve [flags]        run the server
//	actorlog info [--data DIR]    report what a data directory holds
//
// Run "actorlog help" for every command. A program with actors of its
// own gets the same command from package cli.
package main

import (
	"context"
	"os"

	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/cmd/cli"
	"github.com/actorlog/actorlog/projection"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args, cli.App{
		Registry:    seed.Registry(),
		Projections: []projection.Def{projection.Directory(), seed.ChatRooms()},
		Routes:      []func(*api.Routes){seed.Routes},
	}))
}
