package api

import (
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The server's guards against browsers on other sites and slow clients.
//
// A page on another site may make a visitor's browser send requests here,
// and read nothing back (CORS hides the reply) but still change state. So
// a request that changes state (any method but GET, HEAD and OPTIONS)
// from a browser — it carries an Origin header — needs an allowed origin:
// this server's own, or one of Options.AllowedOrigins; and a body of a
// type no page can send without asking first (not text/plain, nor a form
// encoding, nor untyped). A WebSocket upgrade needs an allowed origin too.
// Clients that are not browsers send no Origin and are not concerned.
//
// A page may also reach this server under its own name, by rebinding
// that name's DNS record to 127.0.0.1: its requests are then same-origin.
// So every request must name, in its Host header, a host this server
// answers to: by default only loopback names (localhost, 127.0.0.1, ::1),
// else Options.AllowedHosts.
//
// A WebSocket handshake a guard refuses is closed with a code instead of
// an HTTP error, which a browser could not read (Server.refuse).
//
// A request body must arrive within Options.ReadTimeout (the headers'
// time is bounded by the http.Server's ReadHeaderTimeout), or the request
// fails with 408 and the connection is closed.

// hostGuard refuses requests whose Host the server does not answer to.
func (s *Server) hostGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.guardRefuse(w, r, http.StatusForbidden, "forbidden", "this server does not answer to the host "+r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed applies Options.AllowedHosts to a Host header's value.
func (s *Server) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without a Host: not a browser
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if len(s.opts.AllowedHosts) == 0 {
		return loopbackName(host)
	}
	for _, h := range s.opts.AllowedHosts {
		if h == "*" || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// loopbackName reports whether host names this machine: localhost (or a
// name under .localhost, which resolves to it) or a loopback address.
func loopbackName(host string) bool {
	h := strings.ToLower(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// originGuard refuses what a browser may not ask for from another site.
func (s *Server) originGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !changesState(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if !s.sameOrAllowedOrigin(origin, r.Host) {
			s.guardRefuse(w, r, http.StatusForbidden, "forbidden", "a page from origin "+origin+" may not change anything on this server")
			return
		}
		if r.ContentLength != 0 && simpleBody(r.Header.Get("Content-Type")) {
			s.guardRefuse(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "a browser's request body must be application/json or application/msgpack")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// simpleBody reports whether a Content-Type is one a page may send to
// another site without a preflight: none, text/plain or a form encoding.
func simpleBody(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return true
	}
	switch mt {
	case "text/plain", "application/x-www-form-urlencoded", "multipart/form-data":
		return true
	}
	return false
}

// sameOrAllowedOrigin reports whether a browser's Origin is this server's
// own (its host is the request's Host) or an allowed one.
func (s *Server) sameOrAllowedOrigin(origin, host string) bool {
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, host) {
		return true
	}
	return s.originAllowed(origin)
}

// checkOrigin is the WebSocket upgrade's origin check: no Origin (not a
// browser), this server's own, or an allowed one.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || s.sameOrAllowedOrigin(origin, r.Host)
}

// bodyDeadline bounds the time a request body may take to arrive: until
// it has, the connection's read deadline is Options.ReadTimeout from the
// start of the request; once it has, the deadline is lifted, so that a
// handler that takes long (a call, a long poll) is not cut short.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody || websocket.IsWebSocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { rc.SetReadDeadline(time.Time{}) }}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts its request's read deadline once it is read to its
// end.
type deadlineBody struct {
	io.ReadCloser
	lift func()
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.lift)
	}
	return n, err
}
