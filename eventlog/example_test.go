package eventlog_test

import (
	"context"
	"fmt"
	"os"

	"github.com/actorlog/actorlog/eventlog"
	"github.com/vmihailenco/msgpack/v5"
)

func Example() {
	dir, _ := os.MkdirTemp("", "eventlog-example")
	defer os.RemoveAll(dir)
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()
	id := eventlog.ID{Type: "counter", Key: "default"}

	data, _ := msgpack.Marshal(map[string]int{"count": 1})
	res, err := l.Append(ctx, id, eventlog.NoStream, eventlog.Event{Type: "countUpdated", Data: data})
	if err != nil {
		panic(err)
	}
	fmt.Println("appended seq", res.First, "at position", res.FirstPos)

	// A second writer that expected an empty stream loses.
	_, err = l.Append(ctx, id, eventlog.NoStream, eventlog.Event{Type: "countUpdated", Data: data})
	fmt.Println(err)

	evs, _ := eventlog.ReadStream(ctx, l, id, 1, 10)
	for _, e := range evs {
		var v map[string]int
		msgpack.Unmarshal(e.Data, &v)
		fmt.Println(e.Seq, e.Type, v["count"])
	}
	// Output:
	// appended seq 1 at position 1
	// eventlog: counter:default: expected no stream, head is 1
	// 1 countUpdated 1
}

func ExampleLog_SubscribeStream() {
	dir, _ := os.MkdirTemp("", "eventlog-example")
	defer os.RemoveAll(dir)
	l, _ := eventlog.Open(dir, eventlog.Options{})
	defer l.Close()
	ctx := context.Background()
	id := eventlog.ID{Type: "chatRoom", Key: "lobby"}
	l.Append(ctx, id, eventlog.Any, eventlog.Event{Type: "userJoined"})

	// Stored events first, then live ones, with no gap and no duplicate.
	sub, _ := l.SubscribeStream(ctx, id, 1)
	defer sub.Close()
	go l.Append(ctx, id, eventlog.Any, eventlog.Event{Type: "newMessage"})
	for i := 0; i < 2; i++ {
		e, _ := sub.Next(ctx)
		fmt.Println(e.Seq, e.Type)
	}
	// Output:
	// 1 userJoined
	// 2 newMessage
}
