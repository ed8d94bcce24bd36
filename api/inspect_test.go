package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/snapshots"
	"github.com/actorlog/actorlog/verify"
)

// inspServer serves a Server over a new store, for its inspection routes.
func inspServer(t *testing.T) (*httptest.Server, *eventlog.Log) {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := eventlog.Open(t.TempDir(), eventlog.Options{NoSync: true, Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{Logger: lg})
	s, err := api.New(rt, l, snaps, api.Options{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		s.Close(context.Background())
		rt.Close(context.Background())
		l.Close()
	})
	return hs, l
}

func inspGet(t *testing.T, url string, v any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
	return res.StatusCode
}

func TestInspect_Routes(t *testing.T) {
	hs, l := inspServer(t)
	ctx := context.Background()
	a := eventlog.ID{Type: "blob", Key: "a"}
	b := eventlog.ID{Type: "blob", Key: "b"}
	for i := 0; i < 3; i++ {
		for k, id := range []eventlog.ID{a, b} {
			// Data, one msgpack string per event, tells the events apart.
			data := []byte{0xa5, 'd', 'a', 't', 'a', byte('0' + 2*i + k)}
			if _, err := l.Append(ctx, id, eventlog.Any, eventlog.Event{Type: "countUpdated", Data: data, Time: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}

	var actorsPage struct {
		Actors []wire.ActorInfo `json:"actors"`
	}
	if code := inspGet(t, hs.URL+"/inspect/actors?type=blob", &actorsPage); code != 200 || len(actorsPage.Actors) != 2 || actorsPage.Actors[1].LastPos != 6 || actorsPage.Actors[0].Snapshot != nil {
		t.Errorf("/inspect/actors: %d %+v", code, actorsPage)
	}

	var page struct {
		Events []wire.Record `json:"events"`
		Next   uint64        `json:"next"`
		Head   uint64        `json:"head"`
	}
	if code := inspGet(t, hs.URL+"/inspect/events?actor=blob:b&from=2", &page); code != 200 || len(page.Events) != 2 || page.Events[0].Seq != 2 || page.Events[0].Pos != 4 || page.Next != 4 || page.Head != 3 || string(page.Events[0].Msgpack) != "\xa5data3" || string(page.Events[1].Msgpack) != "\xa5data5" {
		t.Errorf("/inspect/events stream: %d %+v", code, page)
	}
	if code := inspGet(t, hs.URL+"/inspect/events?from=5&limit=1", &page); code != 200 || len(page.Events) != 1 || page.Events[0].Actor != "blob:a" || page.Next != 6 || string(page.Events[0].Data) != `"data4"` {
		t.Errorf("/inspect/events feed: %d %+v", code, page)
	}

	// A long poll returns as soon as an event arrives.
	go func() {
		time.Sleep(100 * time.Millisecond)
		l.Append(ctx, b, eventlog.Any, eventlog.Event{Type: "countUpdated", Data: []byte{0x80}})
	}()
	start := time.Now()
	if code := inspGet(t, hs.URL+"/inspect/events?from=7&wait=10", &page); code != 200 || len(page.Events) != 1 || page.Events[0].Pos != 7 || page.Events[0].Actor != "blob:b" {
		t.Errorf("/inspect/events wait: %d %+v", code, page)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("long poll took %v", d)
	}
	// With nothing coming, it returns empty at the end of the wait.
	if code := inspGet(t, hs.URL+"/inspect/events?actor=blob:a&from=4&wait=1", &page); code != 200 || len(page.Events) != 0 || page.Next != 4 {
		t.Errorf("/inspect/events empty wait: %d %+v", code, page)
	}

	var rep verify.Report
	if code := inspGet(t, hs.URL+"/inspect/verify", &rep); code != 200 || !rep.OK() || rep.Actors != 2 || rep.Events != 7 || len(rep.Notes) != 1 {
		t.Errorf("/inspect/verify: %d %+v", code, rep)
	}
	var e wire.Error
	if code := inspGet(t, hs.URL+"/inspect/verify?actor=counter:zzz", &e); code != 404 || !strings.Contains(e.Error.Message, "no events") {
		t.Errorf("/inspect/verify unknown: %d %+v", code, e)
	}
	if code := inspGet(t, hs.URL+"/inspect/events?actor=nocolon", &e); code != 400 {
		t.Errorf("/inspect/events bad actor: %d %+v", code, e)
	}
	if code := inspGet(t, hs.URL+"/inspect/events?limit=10001", &e); code != 400 {
		t.Errorf("/inspect/events big limit: %d %+v", code, e)
	}
}
