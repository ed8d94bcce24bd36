package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/actorlog/actorlog/archive"
	"github.com/actorlog/actorlog/eventlog"
)

// importWait is how long an import into a cluster waits for JetStream to
// answer: long enough for a stream to elect a leader (4-9 s).
const importWait = 15 * time.Second

// importTarget is the store an import writes to: a data directory or a
// cluster's JetStream.
type importTarget struct {
	log   archive.Log
	name  string // what the output calls it
	close func() error
}

// importCmd appends the streams of an export to a data directory or to
// the JetStream store of a cluster. It refuses, before writing anything,
// input that does not read back and any actor that already has events
// there.
func (ap *app) importCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("import", stdout, stderr)
	c.fs.Lookup("data").Usage = "data directory to import into (this or --nats is required; created if missing); no server may be running on it"
	natsURL := c.fs.String("nats", "", "import into a cluster's JetStream store instead: the NATS servers at these `URLS` (comma-separated), as serve --cluster takes them; the stream is created as serve creates it if it does not exist yet")
	replicas := c.fs.Int("replicas", 1, "with --nats: copies JetStream keeps of the events if the import creates the stream (3 in a cluster of three); an existing stream keeps its own")
	workers := c.fs.Int("workers", 16, "actors appended concurrently")
	pos, err := c.parse(args, 0, 1, "(--data DIR | --nats URLS [--replicas N]) [FILE | -] [--json]")
	if err != nil {
		return err
	}
	toNATS := c.isSet("nats")
	switch {
	case c.server != "":
		return c.usageErr("import writes to a data directory: --server is not supported; stop the server and use --data")
	case toNATS && c.isSet("data"):
		return c.usageErr("--data and --nats are exclusive: import into a data directory or into a cluster's JetStream")
	case toNATS && strings.Trim(*natsURL, " ,") == "":
		return c.usageErr("--nats needs the URLs of the cluster's NATS servers, such as nats://127.0.0.1:4222")
	case !toNATS && c.isSet("replicas"):
		return c.usageErr("--replicas is for --nats: the copies JetStream keeps")
	case *replicas < 1:
		return c.usageErr("--replicas must be 1 or more")
	case *workers < 1:
		return c.usageErr("--workers must be 1 or more")
	case !toNATS && !c.isSet("data"):
		return c.usageErr("--data DIR or --nats URLS is required: the data directory, or the cluster, to import into")
	}
	name := "-"
	if len(pos) == 1 {
		name = pos[0]
	}
	// The input is read twice (checked, then written): spool stdin.
	if name == "-" {
		tmp, err := os.CreateTemp("", "actorlog-import-*.ndjson")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, os.Stdin)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		name = tmp.Name()
	} else if _, err := os.Stat(name); err != nil {
		return fmt.Errorf("cannot read %s: %w", name, errors.Unwrap(err))
	}
	var t *importTarget
	if toNATS {
		t, err = ap.openNATSTarget(*natsURL, *replicas)
	} else {
		t, err = openDataTarget(c.data)
	}
	if err != nil {
		return err
	}
	defer t.close()
	p := newProgress(stderr)
	res, err := archive.Import(c.ctx, t.log, func() (io.ReadCloser, error) { return os.Open(name) }, archive.ImportOptions{
		Workers:  *workers,
		Progress: func(done, total uint64) { p.update("import: events", done, total) },
	})
	p.end()
	var ee *archive.ExistsError
	var ie *archive.InputError
	switch {
	case errors.As(err, &ee):
		return fmt.Errorf("refused: %s", ee.Message())
	case errors.As(err, &ie):
		return fmt.Errorf("line %d: %s", ie.Line, ie.Reason)
	case err != nil:
		return err
	}
	if err := t.close(); err != nil {
		return err
	}
	o := c.output()
	if o.json {
		return printJSON(o.w, res)
	}
	o.printf("imported %d events of %d actors into %s\n", res.Events, res.Actors, escape(t.name))
	return nil
}

// openDataTarget opens the data directory dir, creating it if missing.
func openDataTarget(dir string) (*importTarget, error) {
	l, err := eventlog.Open(dir, eventlog.Options{Logger: quietLogger()})
	if err != nil {
		if errors.Is(err, eventlog.ErrLocked) {
			return nil, fmt.Errorf("data directory %s is in use by a running server; stop it, or import into another directory", dir)
		}
		return nil, openError(dir, err)
	}
	return &importTarget{log: l, name: dir, close: l.Close}, nil
}

// openNATSTarget connects to the NATS servers at urls and opens the
// JetStream log there as serve --cluster does (openJetStream), waiting
// up to importWait for JetStream to answer.
func (ap *app) openNATSTarget(urls string, replicas int) (*importTarget, error) {
	where := redactURLs(urls)
	nc, err := dialNATS(urls, "actorlog-import")
	if err != nil {
		return nil, fmt.Errorf("cannot reach NATS at %s: %w", where, err)
	}
	l, err := openJetStream(ap.ctx, nc, replicas, importWait, quietLogger())
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS at %s: JetStream not ready after %v (do the servers run JetStream?): %w", where, importWait, err)
	}
	var closed bool
	return &importTarget{log: l, name: where, close: func() error {
		if closed {
			return nil
		}
		closed = true
		err := l.Close()
		nc.Close()
		return err
	}}, nil
}

// redactURLs returns the comma-separated URLs without their user
// information (a user and password, or a token), for messages.
func redactURLs(urls string) string {
	var out []string
	for _, s := range strings.Split(urls, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		full := s
		if !strings.Contains(s, "://") {
			full = "nats://" + s // as the client reads it
		}
		if u, err := url.Parse(full); err != nil {
			if strings.Contains(s, "@") {
				s = "(a URL that does not parse)"
			}
		} else if u.User != nil {
			u.User = nil
			s = u.String()
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}
