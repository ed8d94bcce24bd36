package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actorlog/actorlog/load"
)

const loadUsage = `usage: actorlog load [flags]

Generates load against a running actorlog server and reports requests,
errors by status, requests/s and latency percentiles. It stops by itself
after --duration or --requests (whichever comes first) or on Ctrl-C, and
only connects to loopback addresses unless --allow-remote is given.
Distinct and hot take several servers, the nodes of a cluster
(--server URL1 --server URL2, or --server URL1,URL2): connection i sends
to the (i mod n)-th, and the servers' figures (CPU, memory, appends) are
their sums.

Scenarios:
  distinct  each connection increments its own counter:
            POST /rpc/counter:<prefix>-<i>/increment
  hot       every connection increments counter:<prefix>-hot
  chat      --subscribers WebSockets on chatRoom:<prefix>-room while the
            connections POST sendMessage; reports the delivery latency from
            send to receipt at each subscriber and frames received vs
            expected (messages sent x subscribers)
  mixed     a soak: increments and reads on --counters counters, of which
            half are called in turns of --idle-phase so that the other half
            idles long enough to sleep (server --idle-timeout, default 30s)
            and is woken in the next turn; plus --subscribers WebSockets
            that connect to counters, hold for about --ws-hold and
            reconnect elsewhere
  abuse     a steady client (--conns connections, each incrementing its own
            counter, paced together at --rate, default 200/s) through a
            baseline phase, then one phase per attack of --attacks, each
            for an equal share of --duration:
              slow-bodies  --slow-conns connections send a request's
                           headers with a Content-Length, then one byte of
                           the body every --trickle-every
              idle-conns   --idle-conns keep-alive connections make one
                           request each and are left idle
              big-frames   --frame-sockets WebSockets send --frame-bytes
                           frames (padded pings) as fast as they are read
              many-keys    --key-conns connections call counters of ever
                           new keys as fast as they are answered
            A connection the server closes is replaced. Phase by phase, the
            report gives the steady client's latency (from each request's
            due time) and errors, a new connection's first request (one
            every 250ms), the server's peak memory, goroutines and awake
            actors (from /metrics, every 500ms), and what the attack met:
            connections cut off (by which reply, after how long), how fast
            the frames were read, how many new keys got through

Besides the client's figures, the report gives the server's memory and
goroutines at the start, during the run (every --sample-every) and at the
end, from its /metrics, and, when the server runs projections, each one's
lag behind the log while the load ran (from GET /projections every 50ms)
and how soon after the load it reached the head.

Flags:
`

// loadCmd is actorlog load: it parses the flags into a load.Config, runs
// the load until it is done or interrupted (Ctrl-C or SIGTERM; a second
// one ends the process at once) and prints the report.
func (ap *app) loadCmd(args []string, stdout, stderr io.Writer) error {
	cfg, jsonOut, err := loadFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	context.AfterFunc(ctx, stop)

	rep, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.Print(stdout)
	}
	if rep.Requests > 0 && rep.OK == 0 {
		return fmt.Errorf("no request succeeded (%s)", rep.FirstError())
	}
	return nil
}

// loadFlags parses the command line of actorlog load into a load.Config,
// and reports whether --json was given.
func loadFlags(args []string, stderr io.Writer) (cfg load.Config, jsonOut bool, err error) {
	fs := newFlags("load", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), loadUsage)
		fs.PrintDefaults()
	}
	cfg.Server = "http://127.0.0.1:3001"
	fs.Var(&serverList{s: &cfg.Server}, "server", "`URL` of the server; several (the nodes of a cluster) for distinct and hot, repeated or comma-separated: connection i sends to the (i mod n)-th")
	fs.StringVar(&cfg.Token, "token", os.Getenv("ACTORLOG_TOKEN"), "bearer token of the server (env ACTORLOG_TOKEN)")
	fs.StringVar(&cfg.Scenario, "scenario", load.Distinct, "distinct, hot, chat, mixed or abuse")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send (0: until --requests); the default applies only without --requests")
	fs.Int64Var(&cfg.Requests, "requests", 0, "how many requests to send in all (chat: messages); 0 for no bound")
	fs.IntVar(&cfg.Conns, "conns", 16, "concurrent HTTP clients, each with its own keep-alive connection (chat: writers; abuse: the steady client's)")
	fs.IntVar(&cfg.Subscribers, "subscribers", -1, "WebSocket subscribers (chat: default 100; mixed: default 10)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "requests per second over all connections, evenly paced; 0 for as fast as possible (abuse: 0 is 200, its steady client is always paced)")
	fs.StringVar(&cfg.Prefix, "prefix", "load", "prefix of the actor keys used")
	fs.IntVar(&cfg.Counters, "counters", 1000, "mixed: number of counters called")
	fs.DurationVar(&cfg.IdlePhase, "idle-phase", 40*time.Second, "mixed: how long each half of the counters is called, then left idle; make it longer than the server's --idle-timeout")
	fs.DurationVar(&cfg.WSHold, "ws-hold", 2*time.Second, "mixed: how long a WebSocket subscriber stays connected, on average")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "bound on one request or WebSocket connect")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "chat: how long to wait, after the last message, for the subscribers to receive it")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a --server that is not a loopback address")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	fs.DurationVar(&cfg.SampleEvery, "sample-every", 10*time.Second, "how often to read the server's memory and goroutines from /metrics during the run (0: only at the start and end)")
	fs.StringVar(&cfg.Attacks, "attacks", "slow-bodies,idle-conns,big-frames,many-keys", "abuse: the attacks, comma-separated, in the order they run")
	fs.IntVar(&cfg.SlowConns, "slow-conns", 500, "abuse: connections slow-bodies keeps open")
	fs.DurationVar(&cfg.TrickleEvery, "trickle-every", 2*time.Second, "abuse: how often a connection of slow-bodies sends one more byte")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 1000, "abuse: idle connections idle-conns keeps open")
	fs.IntVar(&cfg.FrameSockets, "frame-sockets", 20, "abuse: WebSockets of big-frames")
	fs.IntVar(&cfg.FrameBytes, "frame-bytes", 1000000, "abuse: size of big-frames' frames, in bytes (the server's default --max-frame is 1048576)")
	fs.IntVar(&cfg.KeyConns, "key-conns", 16, "abuse: connections of many-keys")
	if err := parse(fs, args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "actorlog load: unexpected argument %q\n", fs.Arg(0))
		return cfg, false, errUsage
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			durationSet = true
		}
	})
	return cfg, jsonOut, fromFlags(&cfg, durationSet)
}

// serverList is --server: one URL, or several, given repeated or
// comma-separated, kept in *s comma-separated. The first one given
// replaces the default.
type serverList struct {
	s   *string
	set bool
}

func (l *serverList) String() string {
	if l.s == nil {
		return ""
	}
	return *l.s
}

func (l *serverList) Set(v string) error {
	if l.set {
		v = *l.s + "," + v
	}
	*l.s, l.set = v, true
	return nil
}

// fromFlags turns the flags' values, parsed into cfg, into what they
// mean in load.Config, which reads a zero as the default and a negative
// Subscribers, Drain or SampleEvery as none. On the command line a
// negative --subscribers is the default, a zero --drain or --sample-every
// is none, --requests without --duration is the only bound, and the
// other zeros are refused here, as they always were; the checks of the
// other values are load.Run's.
func fromFlags(cfg *load.Config, durationSet bool) error {
	switch {
	case cfg.Scenario == "":
		return fmt.Errorf("--scenario %q: want distinct, hot, chat, mixed or abuse", cfg.Scenario)
	case durationSet && cfg.Duration == 0 && cfg.Requests == 0:
		return errors.New("give --duration or --requests: the load must be bounded")
	case cfg.Conns == 0:
		return fmt.Errorf("--conns %d: want 1 to 10000", cfg.Conns)
	case cfg.SampleEvery < 0:
		return fmt.Errorf("--sample-every %v: want a positive duration, or 0 for no samples during the run", cfg.SampleEvery)
	case cfg.Scenario == load.Mixed && cfg.Counters == 0:
		return fmt.Errorf("--counters %d: mixed needs at least 2", cfg.Counters)
	case cfg.IdlePhase <= 0 || cfg.WSHold <= 0 || cfg.Timeout <= 0 || cfg.Drain < 0:
		return errors.New("--idle-phase, --ws-hold and --timeout must be positive, --drain not negative")
	case cfg.Prefix == "":
		return fmt.Errorf("--prefix %q: want a non-empty key without ':', '/', '?', '#', '%%' or spaces", cfg.Prefix)
	case cfg.Server == "":
		return fmt.Errorf("--server %q: want an http:// or https:// URL with a host", cfg.Server)
	case cfg.Attacks == "":
		return fmt.Errorf("--attacks %q: want some of slow-bodies, idle-conns, big-frames, many-keys, comma-separated, each once", cfg.Attacks)
	case cfg.TrickleEvery <= 0:
		return fmt.Errorf("--trickle-every %v: want a positive duration", cfg.TrickleEvery)
	}
	for _, f := range []struct {
		flag string
		v    int
	}{{"slow-conns", cfg.SlowConns}, {"idle-conns", cfg.IdleConns}, {"frame-sockets", cfg.FrameSockets}, {"frame-bytes", cfg.FrameBytes}, {"key-conns", cfg.KeyConns}} {
		if f.v == 0 {
			return fmt.Errorf("--%s 0: want a positive number", f.flag)
		}
	}
	if !durationSet && cfg.Requests > 0 {
		cfg.Duration = 0
	}
	switch {
	case cfg.Subscribers < 0:
		cfg.Subscribers = 0
	case cfg.Subscribers == 0:
		cfg.Subscribers = -1
	}
	if cfg.Drain == 0 {
		cfg.Drain = -1
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = -1
	}
	return nil
}
