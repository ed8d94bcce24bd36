package actors_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/vmihailenco/msgpack/v5"
)

// orderArgs declare what the action checks: item and size are required
// (plain fields), size is one of two, count is optional (a pointer) and
// from 1 to 10, note at most 5 characters, nested.qty at least 0.
type orderArgs struct {
	Item   string  `json:"item"`
	Size   string  `json:"size" jsonschema:"enum=small,enum=large"`
	Count  *int    `json:"count" jsonschema:"minimum=1,maximum=10"`
	Note   string  `json:"note,omitempty" jsonschema:"maxLength=5"`
	Nested *nested `json:"nested"`
}

type nested struct {
	Qty int `json:"qty" jsonschema:"minimum=0"`
}

// shop is an actor whose actions count the times they run.
func shop(runs *atomic.Int64) *actors.Def[int] {
	d := actors.Define("shop", func() int { return 0 })
	actors.Action(d, "order", func(c *actors.Ctx[int], a orderArgs) (string, error) {
		runs.Add(1)
		return a.Item + "/" + a.Size, nil
	})
	actors.Action(d, "ping", func(c *actors.Ctx[int], _ actors.NoArgs) (string, error) {
		runs.Add(1)
		return "pong", nil
	})
	return d
}

// TestAction_ArgumentsChecked: arguments that break the schema of the
// action's argument type are refused before the action runs, with an
// error naming the field: an unknown field, a wrong type (null
// included) as bad_request; a missing required field, a value outside
// its enum or range as invalid_argument. The same holds for msgpack.
func TestAction_ArgumentsChecked(t *testing.T) {
	var runs atomic.Int64
	e := start(t, t.TempDir(), actors.NewRegistry(shop(&runs)), actors.Options{})
	id := mustID("shop:s")
	cases := []struct {
		action, args string
		code         actors.Code // "" for success
		msg          string
	}{
		{"order", `{"item":"tea","size":"small"}`, "", ""},
		{"order", `{"item":"tea","size":"large","count":10,"note":"hot","nested":{"qty":0}}`, "", ""},
		{"order", `{"item":"tea","size":"small","valu":5}`, actors.CodeBadRequest, `argument "valu" is not a field of order's arguments`},
		{"order", `{"item":"tea","size":"small","nested":{"qtty":1}}`, actors.CodeBadRequest, `argument "nested/qtty" is not a field of order's arguments`},
		{"order", `{"item":5,"size":"small"}`, actors.CodeBadRequest, `argument "item" must be a string, not number`},
		{"order", `{"item":"tea","size":"small","count":null}`, actors.CodeBadRequest, `argument "count" must be an integer, not null`},
		{"order", `{"size":"small"}`, actors.CodeInvalid, `argument "item" is required`},
		{"order", `{"item":"tea"}`, actors.CodeInvalid, `argument "size" is required`},
		{"order", ``, actors.CodeInvalid, `argument "item" is required`},
		{"order", `null`, actors.CodeInvalid, `argument "item" is required`},
		{"order", `{"item":"tea","size":"medium"}`, actors.CodeInvalid, `argument "size" must be one of "small", "large", not "medium"`},
		{"order", `{"item":"tea","size":"small","count":11}`, actors.CodeInvalid, `argument "count" must be at most 10, not 11`},
		{"order", `{"item":"tea","size":"small","count":0}`, actors.CodeInvalid, `argument "count" must be at least 1, not 0`},
		{"order", `{"item":"tea","size":"small","note":"boiling"}`, actors.CodeInvalid, `argument "note" must be at most 5 characters long, not 7`},
		{"order", `{"item":"tea","size":"small","nested":{"qty":-1}}`, actors.CodeInvalid, `argument "nested/qty" must be at least 0, not -1`},
		{"ping", ``, "", ""},
		{"ping", `{}`, "", ""},
		{"ping", `{"x":1}`, actors.CodeBadRequest, `argument "x" is not a field of ping's arguments (it takes none)`},
	}
	for _, c := range cases {
		before := runs.Load()
		_, err := e.rt.Call(bg, id, c.action, actors.JSONArgs([]byte(c.args)), actors.CallOptions{})
		ran := runs.Load() != before
		if c.code == "" {
			if err != nil || !ran {
				t.Errorf("%s(%s): err %v, ran %v; want it to run", c.action, c.args, err, ran)
			}
			continue
		}
		var ae *actors.Error
		if !errors.As(err, &ae) || ae.Code != c.code || ae.Message != c.msg {
			t.Errorf("%s(%s): err %v, want %s %q", c.action, c.args, err, c.code, c.msg)
		}
		if ran {
			t.Errorf("%s(%s): the action ran on arguments refused", c.action, c.args)
		}
		// The same arguments as msgpack get the same answer.
		if c.args == "" || c.args == "null" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(c.args), &v); err != nil {
			t.Fatal(err)
		}
		mp, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.rt.Call(bg, id, c.action, actors.Args{Format: actors.Msgpack, Data: mp}, actors.CallOptions{})
		if !errors.As(err, &ae) || ae.Code != c.code || ae.Message != c.msg {
			t.Errorf("%s(%s) as msgpack: err %v, want %s %q", c.action, c.args, err, c.code, c.msg)
		}
	}
}

// TestNewRegistry_RefusesArgumentsItCannotDescribe: an argument type
// without a JSON Schema (a channel) is found when the registry is made.
func TestNewRegistry_RefusesArgumentsItCannotDescribe(t *testing.T) {
	d := actors.Define("bad", func() int { return 0 })
	actors.Action(d, "send", func(c *actors.Ctx[int], a struct {
		C chan int `json:"c"`
	}) (int, error) {
		return 0, nil
	})
	defer func() {
		v := recover()
		if v == nil || !strings.Contains(fmtAny(v), "bad.send") {
			t.Fatalf("NewRegistry: panic %v, want one naming bad.send", v)
		}
	}()
	actors.NewRegistry(d)
}

func fmtAny(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	s, _ := v.(string)
	return s
}

// tickData is the data of the declared broadcast "tick".
type tickData struct {
	N int `json:"n"`
}

// TestBroadcast_Declared: a declared broadcast reaches connections, sent
// by its Broadcaster or by Ctx.Broadcast with data of its type; one of
// an undeclared name, or with data of another type, is not sent, and
// the log says why.
func TestBroadcast_Declared(t *testing.T) {
	d := actors.Define("radio", func() int { return 0 })
	tick := actors.Broadcast[tickData](d, "tick")
	actors.Action(d, "send", func(c *actors.Ctx[int], how string) (bool, error) {
		switch how {
		case "typed":
			tick.Send(c, tickData{N: 1})
		case "pointer":
			c.Broadcast("tick", &tickData{N: 2})
		case "undeclared":
			c.Broadcast("tock", tickData{N: 3})
		case "wrong type":
			c.Broadcast("tick", map[string]int{"n": 4})
		}
		return true, nil
	})
	if got := d.BroadcastData("tick"); got == nil || got.Name() != "tickData" {
		t.Fatalf("BroadcastData(tick) = %v", got)
	}
	var logs syncBuffer
	lg := slog.New(slog.NewTextHandler(&logs, nil))
	e := start(t, t.TempDir(), actors.NewRegistry(d), actors.Options{Logger: lg})
	conn, _, err := e.rt.Connect(bg, mustID("radio:r"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	for _, how := range []string{"typed", "undeclared", "wrong type", "pointer"} {
		callAny(t, e.rt, "radio:r", "send", `"`+how+`"`)
	}
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < 2 {
		select {
		case f := <-conn.Frames():
			if !strings.Contains(string(f.Data), `"type":"init"`) {
				got = append(got, string(f.Data))
			}
		case <-deadline:
			t.Fatalf("frames %v, want two ticks", got)
		}
	}
	if want := []string{`{"n":1,"type":"tick"}`, `{"n":2,"type":"tick"}`}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("frames %v, want %v", got, want)
	}
	for _, want := range []string{`name=tock`, `not declared`, `declared=actors_test.tickData`, `type=map[string]int`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger that several goroutines use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
