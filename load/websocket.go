package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// dialWS opens a WebSocket on path and reads its init frame.
func (r *runner) dialWS(path string) (*websocket.Conn, error) {
	return r.dialWSOn(r.ctx, r.ws, path)
}

// dialWSOn is dialWS with dialer d, under ctx.
func (r *runner) dialWSOn(ctx context.Context, d *websocket.Dialer, path string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	h := http.Header{}
	r.authorize(h)
	c, resp, err := d.DialContext(ctx, r.wsBase+path, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if errors.Is(err, syscall.EMFILE) {
			return nil, fmt.Errorf("%w (raise the open-files limit: ulimit -n)", err)
		}
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(r.cfg.Timeout))
	_, init, err := c.ReadMessage()
	if err != nil {
		c.Close()
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code >= 4000 {
			// A refused connection is closed at once with 4000+status.
			return nil, fmt.Errorf("%s: refused (%d): %s", path, ce.Code, ce.Text)
		}
		return nil, fmt.Errorf("%s: no init frame: %w", path, err)
	}
	if !bytes.Contains(init, []byte(`"type":"init"`)) {
		c.Close()
		return nil, fmt.Errorf("%s: the first frame is not init: %.100s", path, init)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// closeWS closes c with a normal closure.
func closeWS(c *websocket.Conn) {
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.Close()
}
