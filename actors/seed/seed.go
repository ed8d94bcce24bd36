// Package seed holds the three actors of the backend actorlog was made
// from: counter, chatRoom and serverTime. Each is an ordinary user of the
// actors package, in a file of its own; copy one to write a fourth and add
// it to Registry.
package seed

import "github.com/actorlog/actorlog/actors"

// Registry returns the registry of the seed actors.
func Registry() *actors.Registry {
	return actors.NewRegistry(
		Counter(),
		ChatRoom(),
		ServerTime(),
	)
}
