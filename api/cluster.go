package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/api/wire"
	"github.com/actorlog/actorlog/eventlog"
	"github.com/julienschmidt/httprouter"
)

// Cluster places the actors on the nodes of a cluster (api/node gives
// one over package cluster). With Options.Cluster set, RPC calls and
// state reads run on the actor's owner, a WebSocket connection is sent
// on to the owner, and GET /cluster describes the cluster.
type Cluster interface {
	Caller
	// State reads the actor's live state on its owner.
	State(ctx context.Context, id eventlog.ID) (actors.Init, error)
	// Locate returns the base URL of the node that runs the actor, ""
	// when it is this one.
	Locate(ctx context.Context, id eventlog.ID) (string, error)
	// Status describes the cluster.
	Status(ctx context.Context) (wire.Cluster, error)
}

// forwardedHeader marks a WebSocket handshake one node sent on to the
// node it took for the actor's owner: that node serves it only if it is
// the owner, so that a handshake never goes round.
const forwardedHeader = "Actorlog-Forwarded"

// proxies holds the client connections of the WebSockets this node sends
// on to their actor's owner: http.Server.Shutdown does not close
// hijacked connections, so Close does.
type proxies struct {
	mu     sync.Mutex
	conns  map[*proxiedConn]struct{}
	closed bool
}

type proxiedConn struct {
	net.Conn
	p    *proxies
	once sync.Once
}

func (c *proxiedConn) Close() error {
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
	return c.Conn.Close()
}

func (p *proxies) track(c net.Conn) net.Conn {
	pc := &proxiedConn{Conn: c, p: p}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return pc
	}
	if p.conns == nil {
		p.conns = make(map[*proxiedConn]struct{})
	}
	p.conns[pc] = struct{}{}
	return pc
}

// closeAll closes every connection sent on, and any that comes after.
func (p *proxies) closeAll() {
	p.mu.Lock()
	p.closed = true
	open := make([]*proxiedConn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// toOwner sends a WebSocket handshake on to the node that owns the
// actor, and reports whether it did (or refused the handshake, with
// refuse): false means this node is the owner and serves it. The owner
// checks the handshake again as its own (origin, host, token), so the
// client's headers go with it, Host included.
func (s *Server) toOwner(w http.ResponseWriter, r *http.Request, id eventlog.ID, refuse func(http.ResponseWriter, *http.Request, error)) bool {
	if s.opts.Cluster == nil {
		return false
	}
	ctx, cancel := s.callContext(r)
	base, err := s.opts.Cluster.Locate(ctx, id)
	cancel()
	if err != nil {
		refuse(w, r, err)
		return true
	}
	if base == "" {
		return false
	}
	if r.Header.Get(forwardedHeader) != "" {
		refuse(w, r, &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner moved as the connection was sent on; connect again"})
		return true
	}
	target, err := url.Parse(base)
	if err != nil {
		refuse(w, r, &actors.Error{Code: actors.CodeInternal, Message: "the owner's URL " + base + " does not parse", Err: err})
		return true
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(forwardedHeader, "1")
			pr.SetXForwarded()
		},
		Transport: s.ownerTransport(),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.lg.Warn("websocket not sent on to the actor's owner", "actor", id.String(), "owner", base, "err", err)
			if !errors.Is(err, context.Canceled) {
				refuse(w, r, &actors.Error{Code: actors.CodeUnavailable, Message: "the actor's owner could not be reached; connect again", Err: err})
			}
		},
	}
	rp.ServeHTTP(hijacker{ResponseWriter: w, wrap: s.proxied.track}, r)
	return true
}

// ownerTransport is the HTTP transport to other nodes: no proxy from the
// environment, bounded dials and handshakes.
func (s *Server) ownerTransport() http.RoundTripper {
	s.transportOnce.Do(func() {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		s.transport = &http.Transport{
			DialContext:           d.DialContext,
			ResponseHeaderTimeout: s.opts.CallTimeout,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
		}
	})
	return s.transport
}

// cluster serves GET /cluster.
func (s *Server) cluster(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.opts.Cluster == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server is a single node, not a node of a cluster")
		return
	}
	ctx, cancel := s.callContext(r)
	defer cancel()
	st, err := s.opts.Cluster.Status(ctx)
	if err != nil {
		s.writeErr(w, r, &actors.Error{Code: actors.CodeUnavailable, Message: "the cluster's state could not be read: " + err.Error(), Err: err})
		return
	}
	writeJSON(w, http.StatusOK, st)
}
