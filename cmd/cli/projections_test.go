package cli

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/actors/seed"
	"github.com/actorlog/actorlog/api"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/actorlog/actorlog/projection"
	"github.com/actorlog/actorlog/snapshots"
)

func TestProjections_Offline(t *testing.T) {
	dir := fixtureDir(t)
	checkGolden(t, "projections_offline", runInsp([]string{"projections", "--data", dir}, dir, ""))
	checkGolden(t, "projections_offline_json", runInsp([]string{"projections", "status", "--json", "--data", dir}, dir, ""))
	checkGolden(t, "projections_reset_offline", runInsp([]string{"projections", "reset", "chatRooms", "--data", dir}, dir, ""))
	checkGolden(t, "err_projections_unknown", runInsp([]string{"projections", "reset", "nope", "--data", dir}, dir, ""))
	checkGolden(t, "usage_projections", runInsp([]string{"projections", "rebuild", "--data", dir}, dir, ""))
}

func TestProjections_Online(t *testing.T) {
	dir := fixtureDir(t)
	l, err := eventlog.Open(dir, eventlog.Options{Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshots.New(l, snapshots.Options{})
	rt := actors.New(l, snaps, seed.Registry(), actors.Options{Logger: inspQuiet()})
	proj, err := projection.Start(l, projection.Options{Logger: inspQuiet()}, projection.Directory(), seed.ChatRooms())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(rt, l, snaps, api.Options{Projections: proj, Routes: []func(*api.Routes){seed.Routes}, Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer func() {
		hs.Close()
		srv.Close(context.Background())
		rt.Close(context.Background())
		proj.Close(context.Background())
		l.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range proj.Names() {
		if err := proj.WaitFor(ctx, n, l.Durable()); err != nil {
			t.Fatal(err)
		}
	}
	out := runInsp([]string{"projections", "--server", hs.URL}, "", hs.URL)
	for _, want := range []string{"PROJECTION", "actors", "chatRooms", "running", "[exit 0]"} {
		if !strings.Contains(out, want) {
			t.Fatalf("online status lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, " "+strconv.FormatUint(l.Durable(), 10)+" ") {
		t.Fatalf("online status does not show position %d:\n%s", l.Durable(), out)
	}
	out = runInsp([]string{"projections", "reset", "chatRooms", "--server", hs.URL}, "", hs.URL)
	if !strings.Contains(out, "reset chatRooms") || !strings.Contains(out, "[exit 0]") {
		t.Fatalf("online reset:\n%s", out)
	}
	out = runInsp([]string{"projections", "reset", "nope", "--server", hs.URL}, "", hs.URL)
	if !strings.Contains(out, "no projection named nope") || !strings.Contains(out, "[exit 1]") {
		t.Fatalf("online reset of an unknown projection:\n%s", out)
	}
}

// TestActors_FromDirectory lists the actors of a store whose actor
// directory is current: the answer comes from the directory and must be
// the one the stream records give.
func TestActors_FromDirectory(t *testing.T) {
	dir := fixtureDir(t)
	l, err := eventlog.Open(dir, eventlog.Options{Logger: inspQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := projection.Start(l, projection.Options{Logger: inspQuiet()}, projection.Directory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, projection.DirectoryName, l.Durable()); err != nil {
		t.Fatal(err)
	}
	r.Close(context.Background())
	l.Close()
	checkGolden(t, "actors", runInsp([]string{"actors", "--data", dir}, dir, ""))
	checkGolden(t, "actors_type", runInsp([]string{"actors", "--type", "counter", "--data", dir}, dir, ""))
}
