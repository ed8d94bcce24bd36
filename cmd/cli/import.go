package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/actorlog/actorlog/archive"
	"github.com/actorlog/actorlog/eventlog"
)

// importCmd appends the streams of an export to a data directory. It
// refuses, before writing anything, input that does not read back and any
// actor that already has events there.
func (ap *app) importCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("import", stdout, stderr)
	c.fs.Lookup("data").Usage = "data directory to import into (required; created if missing); no server may be running on it"
	workers := c.fs.Int("workers", 16, "actors appended concurrently")
	pos, err := c.parse(args, 0, 1, "--data DIR [FILE | -] [--json]")
	if err != nil {
		return err
	}
	if c.server != "" {
		return c.usageErr("import writes to a data directory: --server is not supported; stop the server and use --data")
	}
	if *workers < 1 {
		return c.usageErr("--workers must be 1 or more")
	}
	if !c.isSet("data") {
		return c.usageErr("--data DIR is required: the directory to import into")
	}
	dir := c.data
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
	l, err := eventlog.Open(dir, eventlog.Options{Logger: quietLogger()})
	if err != nil {
		if errors.Is(err, eventlog.ErrLocked) {
			return fmt.Errorf("data directory %s is in use by a running server; stop it, or import into another directory", dir)
		}
		return openError(dir, err)
	}
	defer l.Close()
	p := newProgress(stderr)
	res, err := archive.Import(context.Background(), l, func() (io.ReadCloser, error) { return os.Open(name) }, archive.ImportOptions{
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
	if err := l.Close(); err != nil {
		return err
	}
	o := c.output()
	if o.json {
		return printJSON(o.w, res)
	}
	o.printf("imported %d events of %d actors into %s\n", res.Events, res.Actors, escape(dir))
	return nil
}
