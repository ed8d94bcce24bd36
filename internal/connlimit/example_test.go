package connlimit_test

import (
	"net"
	"net/http"
	"time"

	"github.com/actorlog/actorlog/internal/connlimit"
)

// An http.Server behind a Listener: at most 1,024 connections, and a
// newcomer closes the one idle the longest rather than wait behind it.
// The server's ConnState tells the Listener which connections are idle.
func Example() {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ln := connlimit.New(tcp, 1024, connlimit.Options{})
	srv := &http.Server{
		Handler:           http.NotFoundHandler(),
		ConnState:         ln.ConnState,
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go srv.Serve(ln)
	srv.Close()
}
