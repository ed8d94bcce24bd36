package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// demoFiles is the demo page: plain HTML, CSS and JavaScript modules, with
// actorlog.js the compiled @actorlog/client (clients/js; `npm run build`
// there copies it here).
//
//go:embed demo
var demoFiles embed.FS

// demoCSP keeps the page to its own files, and its sockets and calls to
// this server.
const demoCSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// demoRoutes serves the demo page, a counter and a chat room driven by the
// JavaScript client, at GET /demo/, and redirects GET / and GET /demo to
// it.
func (s *Server) demoRoutes(r *httprouter.Router) {
	sub, err := fs.Sub(demoFiles, "demo")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(sub)
	toDemo := func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		target := "/demo/"
		if req.URL.RawQuery != "" {
			target += "?" + req.URL.RawQuery
		}
		http.Redirect(w, req, target, http.StatusFound)
	}
	r.GET("/", toDemo)
	r.GET("/demo", toDemo)
	r.GET("/demo/*file", func(w http.ResponseWriter, req *http.Request, p httprouter.Params) {
		name := p.ByName("file") // "/", "/demo.js", ...
		if strings.HasSuffix(name, "/index.html") {
			// FileServer would redirect to the directory; serve it as "/".
			name = strings.TrimSuffix(name, "index.html")
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", demoCSP)
		h.Set("Referrer-Policy", "no-referrer")
		r2 := req.Clone(req.Context())
		r2.URL.Path = name
		r2.URL.RawPath = ""
		rec := &notFoundJSON{ResponseWriter: w}
		files.ServeHTTP(rec, r2)
	})
}

// notFoundJSON turns http.FileServer's plain-text 404 into the API's JSON
// error, so that every error of the server has one shape.
type notFoundJSON struct {
	http.ResponseWriter
	suppress bool
}

func (n *notFoundJSON) WriteHeader(code int) {
	if code == http.StatusNotFound {
		n.suppress = true
		n.ResponseWriter.Header().Del("Content-Length")
		writeError(n.ResponseWriter, http.StatusNotFound, "not_found", "no such file in the demo")
		return
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *notFoundJSON) Write(b []byte) (int, error) {
	if n.suppress {
		return len(b), nil
	}
	return n.ResponseWriter.Write(b)
}
