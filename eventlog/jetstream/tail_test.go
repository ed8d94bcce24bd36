package jetstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/eventlog/eventlogtest"
	"github.com/actorlog/actorlog/eventlog/jetstream"
	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// TestLog_TailServerDies: the server that holds a Log's live tail (its
// consumer lives on one server) goes away. The Log, which writes nothing
// itself, still sees what another writes within seconds: its tail finds
// the consumer gone by the missed heartbeats and makes another.
func TestLog_TailServerDies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	srv := jetstreamtest.StartT(t, 3)
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	opts := jetstream.Options{URL: srv.URL(), Stream: "TAILDIES", Prefix: "taildies", Replicas: 3, Logger: quiet()}
	reader, err := jetstream.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	// The reader's tail is the stream's only consumer yet.
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var host string
	for host == "" {
		st, err := js.Stream(ctx, opts.Stream)
		if err != nil {
			t.Fatal(err)
		}
		lister := st.ListConsumers(ctx)
		for ci := range lister.Info() {
			if strings.HasPrefix(ci.Name, "actorlog_tail_") && ci.Cluster != nil {
				host = ci.Cluster.Leader
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the reader's tail consumer has no server")
		}
	}
	writer, err := jetstream.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	id := eventlog.ID{Type: "counter", Key: "k"}
	if _, err := writer.Append(ctx, id, eventlog.NoStream, eventlogtest.Ev("x", 1)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if s := srv.Server(i); s.Name() == host {
			s.Shutdown()
			s.WaitForShutdown()
			t.Logf("stopped %s, the server of the reader's tail", host)
		}
	}
	var res eventlog.AppendResult
	for {
		res, err = writer.Append(ctx, id, eventlog.ExpectSeq(1), eventlogtest.Ev("x", 2))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("append after the server stopped: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	appended := time.Now()
	for reader.Durable() < res.LastPos {
		if time.Since(appended) > 12*time.Second {
			t.Fatalf("the reader's durable position is %d 12s after the event at %d was appended", reader.Durable(), res.LastPos)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the reader saw the event %v after it was appended", time.Since(appended).Round(time.Millisecond))
}
