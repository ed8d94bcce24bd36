package jetstream_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Example runs the log on a JetStream server embedded in the process, as
// a single node of cluster mode does, and connects to it in-process.
func Example() {
	dir, _ := os.MkdirTemp("", "jetstream-example")
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{
		ServerName: "n1",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoSigs:     true,
		NoLog:      true,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: true, // sync_interval: always; nothing acknowledged is lost
	})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	ctx := context.Background()
	l, err := jetstream.Open(ctx, jetstream.Options{Conn: nc})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	id := eventlog.ID{Type: "counter", Key: "a key/with dots."}
	res, err := l.Append(ctx, id, eventlog.NoStream, eventlog.Event{Type: "countUpdated"}, eventlog.Event{Type: "countUpdated"})
	if err != nil {
		panic(err)
	}
	fmt.Println("appended seqs", res.First, "to", res.Last, "at positions", res.FirstPos, "to", res.LastPos)

	// A second writer that expected an empty stream loses.
	_, err = l.Append(ctx, id, eventlog.NoStream, eventlog.Event{Type: "countUpdated"})
	fmt.Println(err)

	evs, _ := eventlog.ReadStream(ctx, l, id, 1, 10)
	for _, e := range evs {
		fmt.Println(e.Actor, e.Seq, e.Type)
	}
	// Output:
	// appended seqs 1 to 2 at positions 1 to 2
	// eventlog: counter:a key/with dots.: expected no stream, head is 2
	// counter:a key/with dots. 1 countUpdated
	// counter:a key/with dots. 2 countUpdated
}
