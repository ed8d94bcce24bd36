package load

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The scenarios of a run: Config.Scenario.
const (
	// Distinct: each connection increments its own counter,
	// counter:<Prefix>-<i>.
	Distinct = "distinct"
	// Hot: every connection increments one counter, counter:<Prefix>-hot.
	Hot = "hot"
	// Chat: Subscribers WebSockets on chatRoom:<Prefix>-room while the
	// connections send messages to it; the report gives the delivery
	// latency and the frames received against those expected.
	Chat = "chat"
	// Mixed, the soak: increments and reads on Counters counters, half
	// of them called in turns of IdlePhase so that the other half idles
	// long enough to sleep, plus Subscribers WebSockets on counters that
	// come and go.
	Mixed = "mixed"
	// Abuse: a steady client of Conns connections, each incrementing
	// its own counter, paced together at Rate, through a baseline phase
	// and one phase per attack of Attacks, each an equal share of
	// Duration. The report gives, phase by phase, the steady client's
	// latency and errors, the server's peak memory, and what the attack
	// did. See AbuseReport.
	Abuse = "abuse"
)

// The attacks of Abuse: Config.Attacks.
const (
	// SlowBodies: SlowConns connections each send a request's headers
	// and a Content-Length, then one byte of the body every TrickleEvery;
	// one the server closes is replaced.
	SlowBodies = "slow-bodies"
	// IdleConns: IdleConns keep-alive connections each make one request
	// and are left idle; one the server closes is replaced.
	IdleConns = "idle-conns"
	// BigFrames: FrameSockets WebSockets each send frames of FrameBytes
	// (pings, padded) as fast as the server reads them.
	BigFrames = "big-frames"
	// ManyKeys: KeyConns connections call counters of ever new keys, as
	// fast as they are answered.
	ManyKeys = "many-keys"
)

// attacks are the attacks of Abuse, in their default order.
var attacks = []string{SlowBodies, IdleConns, BigFrames, ManyKeys}

// Config describes one run. Its zero value is a run of the default
// scenario against the default server; each field's default is given
// with it. Run checks the config; its errors name each field by its flag
// of actorlog load (Conns by --conns).
type Config struct {
	// Server is the URL of the server. Default: http://127.0.0.1:3001.
	// It must be a loopback address unless AllowRemote is set. Distinct
	// and Hot take several, comma-separated (the nodes of a cluster):
	// connection i sends to the (i mod n)-th; the server's figures are
	// then summed over them, and the first serves the rest of the run
	// (/projections).
	Server string
	// Token is the server's bearer token, sent with every request.
	// Default: none.
	Token string
	// Scenario is one of Distinct, Hot, Chat, Mixed and Abuse. Default:
	// Distinct.
	Scenario string
	// Duration bounds how long the load is sent. Default: 10s if
	// Requests is zero, else no time bound. It must not be negative.
	// Abuse divides it into its phases, and needs it.
	Duration time.Duration
	// Requests bounds the requests sent in all (Chat: the messages).
	// Default: no bound. The run ends at the first of Duration and
	// Requests. Abuse runs for Duration, and refuses it.
	Requests int64
	// Conns is the number of concurrent HTTP clients, each with its own
	// keep-alive connection (Chat: the writers; Abuse: the steady
	// client's). Default: 16; at most 10000.
	Conns int
	// Subscribers is the number of WebSocket subscribers of Chat and
	// Mixed. Default: 100 for Chat, 10 for Mixed, none for the others.
	// Negative: none. At most 100000.
	Subscribers int
	// Rate paces the requests evenly at this many per second over all
	// connections. Default: no pacing, as fast as possible; in Abuse,
	// whose steady client is always paced, 200.
	Rate float64
	// Prefix starts the key of every actor the run calls. Default: "load".
	// It must not hold ':', '/', '?', '#', '%' or spaces.
	Prefix string
	// Counters is the number of counters Mixed calls. Default: 1000; at
	// least 2.
	Counters int
	// IdlePhase is, in Mixed, how long each half of the counters is
	// called before it is left idle for as long; make it longer than the
	// server's idle timeout so that the idle half sleeps. Default: 40s.
	IdlePhase time.Duration
	// WSHold is, in Mixed, how long a WebSocket subscriber stays
	// connected before it reconnects elsewhere, on average. Default: 2s.
	WSHold time.Duration
	// Timeout bounds one request or WebSocket connect. Default: 30s.
	Timeout time.Duration
	// Drain is, in Chat, how long to wait after the last message for the
	// subscribers to receive it. Default: 10s. Negative: no wait.
	Drain time.Duration
	// SampleEvery is how often the server's /metrics is read during the
	// run, for Report.ServerSamples. Default: 10s. Negative: never; the
	// server's figures are then only read at the start and the end.
	SampleEvery time.Duration
	// AllowRemote lets Server be an address that is not loopback.
	// Default: false, a run only connects to loopback addresses.
	AllowRemote bool

	// Attacks are Abuse's attacks, comma-separated, in the order they
	// run: any of slow-bodies, idle-conns, big-frames and many-keys, each
	// at most once. Default: all four, in that order.
	Attacks string
	// SlowConns is the number of connections SlowBodies keeps open.
	// Default: 500; at most 50000.
	SlowConns int
	// TrickleEvery is how often a connection of SlowBodies sends one
	// more byte of its body. Default: 2s.
	TrickleEvery time.Duration
	// IdleConns is the number of idle connections IdleConns keeps
	// open. Default: 1000; at most 50000.
	IdleConns int
	// FrameSockets is the number of WebSockets of BigFrames. Default: 20;
	// at most 10000.
	FrameSockets int
	// FrameBytes is the size of BigFrames' frames. Default: 1000000, just
	// under the server's default --max-frame (1 MiB); at most 64 MiB.
	FrameBytes int
	// KeyConns is the number of connections of ManyKeys. Default: 16; at
	// most 10000.
	KeyConns int
}

// Defaults of Config's fields.
const (
	defaultServer      = "http://127.0.0.1:3001"
	defaultDuration    = 10 * time.Second
	defaultConns       = 16
	defaultPrefix      = "load"
	defaultCounters    = 1000
	defaultIdlePhase   = 40 * time.Second
	defaultWSHold      = 2 * time.Second
	defaultTimeout     = 30 * time.Second
	defaultDrain       = 10 * time.Second
	defaultSampleEvery = 10 * time.Second

	defaultAbuseRate    = 200
	defaultSlowConns    = 500
	defaultTrickleEvery = 2 * time.Second
	defaultIdleConns    = 1000
	defaultFrameSockets = 20
	defaultFrameBytes   = 1000000
	defaultKeyConns     = 16
)

// withDefaults returns c with the defaults in place of its zero fields,
// and none (zero) in place of negative Subscribers, Drain and
// SampleEvery.
func (c Config) withDefaults() Config {
	defaultOrNone := func(v *time.Duration, def time.Duration) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	if c.Server == "" {
		c.Server = defaultServer
	}
	if c.Scenario == "" {
		c.Scenario = Distinct
	}
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = defaultDuration
	}
	if c.Conns == 0 {
		c.Conns = defaultConns
	}
	switch {
	case c.Subscribers < 0:
		c.Subscribers = 0
	case c.Subscribers == 0 && c.Scenario == Chat:
		c.Subscribers = 100
	case c.Subscribers == 0 && c.Scenario == Mixed:
		c.Subscribers = 10
	}
	if c.Prefix == "" {
		c.Prefix = defaultPrefix
	}
	if c.Counters == 0 {
		c.Counters = defaultCounters
	}
	if c.IdlePhase == 0 {
		c.IdlePhase = defaultIdlePhase
	}
	if c.WSHold == 0 {
		c.WSHold = defaultWSHold
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	defaultOrNone(&c.Drain, defaultDrain)
	defaultOrNone(&c.SampleEvery, defaultSampleEvery)
	if c.Scenario == Abuse && c.Rate == 0 {
		c.Rate = defaultAbuseRate
	}
	setDefault := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Attacks == "" {
		c.Attacks = strings.Join(attacks, ",")
	}
	setDefault(&c.SlowConns, defaultSlowConns)
	if c.TrickleEvery == 0 {
		c.TrickleEvery = defaultTrickleEvery
	}
	setDefault(&c.IdleConns, defaultIdleConns)
	setDefault(&c.FrameSockets, defaultFrameSockets)
	setDefault(&c.FrameBytes, defaultFrameBytes)
	setDefault(&c.KeyConns, defaultKeyConns)
	return c
}

// resolve returns c with its defaults, checked, and its server's URL.
func (c Config) resolve() (Config, *url.URL, error) {
	c = c.withDefaults()
	switch c.Scenario {
	case Distinct, Hot, Chat, Mixed, Abuse:
	default:
		return c, nil, fmt.Errorf("--scenario %q: want distinct, hot, chat, mixed or abuse", c.Scenario)
	}
	if c.Duration < 0 || c.Requests < 0 {
		return c, nil, errors.New("--duration and --requests must not be negative")
	}
	if c.Conns < 1 || c.Conns > 10000 {
		return c, nil, fmt.Errorf("--conns %d: want 1 to 10000", c.Conns)
	}
	if c.Subscribers > 100000 {
		return c, nil, fmt.Errorf("--subscribers %d: at most 100000", c.Subscribers)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return c, nil, fmt.Errorf("--rate %v: want a positive number, or 0 for no pacing", c.Rate)
	}
	if c.Scenario == Mixed && c.Counters < 2 {
		return c, nil, fmt.Errorf("--counters %d: mixed needs at least 2", c.Counters)
	}
	if c.IdlePhase < 0 || c.WSHold < 0 || c.Timeout < 0 {
		return c, nil, errors.New("--idle-phase, --ws-hold and --timeout must not be negative")
	}
	if strings.ContainsAny(c.Prefix, ":/?#% ") {
		return c, nil, fmt.Errorf("--prefix %q: want a non-empty key without ':', '/', '?', '#', '%%' or spaces", c.Prefix)
	}
	if err := c.checkAbuse(); err != nil {
		return c, nil, err
	}
	us, err := c.serverURLs()
	if err != nil {
		return c, nil, err
	}
	if len(us) > 1 && c.Scenario != Distinct && c.Scenario != Hot {
		return c, nil, fmt.Errorf("--server %q: several servers only for distinct and hot", c.Server)
	}
	u := us[0]
	if c.Scenario == Abuse && u.Scheme != "http" {
		err = fmt.Errorf("--server %q: abuse speaks plain HTTP; want an http:// URL", c.Server)
	}
	return c, u, err
}

// checkAbuse checks the fields of Abuse, with their defaults; those of
// its attacks whatever the scenario, as they always hold a default.
func (c Config) checkAbuse() error {
	if _, err := c.attackList(); err != nil {
		return err
	}
	for _, f := range []struct {
		flag  string
		v, hi int
	}{
		{"slow-conns", c.SlowConns, 50000},
		{"idle-conns", c.IdleConns, 50000},
		{"frame-sockets", c.FrameSockets, 10000},
		{"frame-bytes", c.FrameBytes, 64 << 20},
		{"key-conns", c.KeyConns, 10000},
	} {
		if f.v < 1 || f.v > f.hi {
			return fmt.Errorf("--%s %d: want 1 to %d", f.flag, f.v, f.hi)
		}
	}
	if c.TrickleEvery < 0 {
		return fmt.Errorf("--trickle-every %v: want a positive duration", c.TrickleEvery)
	}
	if c.Scenario != Abuse {
		return nil
	}
	if c.Requests > 0 || c.Duration == 0 {
		return errors.New("abuse runs for --duration, divided into its phases; --requests does not apply")
	}
	return nil
}

// attackList is Attacks as a list, checked.
func (c Config) attackList() ([]string, error) {
	var list []string
	for _, a := range strings.Split(c.Attacks, ",") {
		a = strings.TrimSpace(a)
		if !slices.Contains(attacks, a) || slices.Contains(list, a) {
			return nil, fmt.Errorf("--attacks %q: want some of %s, comma-separated, each once", c.Attacks, strings.Join(attacks, ", "))
		}
		list = append(list, a)
	}
	return list, nil
}

// serverURLs parses and checks c.Server, one URL or several,
// comma-separated.
func (c Config) serverURLs() ([]*url.URL, error) {
	var us []*url.URL
	for _, s := range strings.Split(c.Server, ",") {
		u, err := serverURL(strings.TrimSpace(s), c.AllowRemote)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, nil
}

// serverURL parses and checks one URL of Config.Server.
func serverURL(s string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL with a host", s)
	}
	if !allowRemote && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("--server %q is not a loopback address; load only targets loopback unless --allow-remote is given", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
