// Command myapp is actorlog in a program of its own: two actor types
// defined here, run with every actorlog command (serve, log, state,
// replay, verify, load...) by cli.Main.
//
//	go run . serve --port 3001 --data ./data
//	curl -X POST localhost:3001/rpc/myActor:default/updateValue -d '{"value": 5}'
//	go run . log myActor:default --data ./data     # once the server has stopped
//	go run . gen ts -o client/schema.ts            # its actors' TypeScript types
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/cmd/cli"
)

// MyState is myActor's state.
type MyState struct {
	Value int `json:"value"`
}

// ValueArgs are updateValue's arguments, and the data of its event.
type ValueArgs struct {
	Value int `json:"value"`
}

// MyActor holds a value: updateValue sets it, and every change is
// broadcast to the actor's sockets as stateUpdated, with the new state.
func MyActor() *actors.Def[MyState] {
	d := actors.Define("myActor", func() MyState { return MyState{} })
	d.Doc = "Holds a value; every change is broadcast as stateUpdated."
	// A broadcast is declared with its data's type: it is part of what
	// the actor type describes of itself (myapp schema, myapp gen ts).
	stateUpdated := actors.Broadcast[MyState](d, "stateUpdated")
	actors.On(d, "valueUpdated", func(s *MyState, e ValueArgs) { s.Value = e.Value })
	actors.Action(d, "updateValue", func(c *actors.Ctx[MyState], a ValueArgs) (map[string]bool, error) {
		return map[string]bool{"success": true}, c.Emit("valueUpdated", a)
	})
	actors.Action(d, "getValue", func(c *actors.Ctx[MyState], _ actors.NoArgs) (MyState, error) {
		return *c.State(), nil
	})
	d.OnStateChange = func(c *actors.Ctx[MyState]) {
		stateUpdated.Send(c, *c.State())
	}
	return d
}

// Reminder is one reminder: its text, when it is due, and whether it
// went off.
type Reminder struct {
	ID    string `json:"id"`
	Text  string `json:"text"`
	Due   int64  `json:"due" jsonschema:"description=Unix ms."`
	Fired bool   `json:"fired"`
}

// ReminderState is a reminders actor's state.
type ReminderState struct {
	Reminders []Reminder `json:"reminders"`
}

// RemindArgs are remind's arguments. What the tags declare is checked
// before the action runs: a call without a text, or with a negative
// inMs, is refused with 422 invalid_argument naming the field.
type RemindArgs struct {
	Text string `json:"text" jsonschema:"minLength=1"`
	InMs int64  `json:"inMs" jsonschema:"minimum=0,description=Milliseconds from now."`
}

// FiredEvent is the data of reminderFired.
type FiredEvent struct {
	ID string `json:"id"`
}

// Reminders sets reminders that go off later, through a durable timer:
// one set before a restart goes off after it.
func Reminders() *actors.Def[ReminderState] {
	d := actors.Define("reminders", func() ReminderState { return ReminderState{Reminders: []Reminder{}} })
	d.Doc = "Reminders that go off later, on a durable timer."
	actors.On(d, "reminderSet", func(s *ReminderState, r Reminder) { s.Reminders = append(s.Reminders, r) })
	actors.On(d, "reminderFired", func(s *ReminderState, e FiredEvent) {
		for i := range s.Reminders {
			if s.Reminders[i].ID == e.ID {
				s.Reminders[i].Fired = true
			}
		}
	})
	actors.Action(d, "remind", func(c *actors.Ctx[ReminderState], a RemindArgs) (Reminder, error) {
		r := Reminder{
			ID:   fmt.Sprintf("r%d", len(c.State().Reminders)+1),
			Text: a.Text,
			Due:  c.Now().Add(time.Duration(a.InMs) * time.Millisecond).UnixMilli(),
		}
		// The timer is stored with the event, in the same append: the
		// reminder goes off even if the server restarts before it is due.
		if _, err := c.Schedule(time.Duration(a.InMs)*time.Millisecond, "fire", FiredEvent{ID: r.ID}); err != nil {
			return Reminder{}, err
		}
		return r, c.Emit("reminderSet", r)
	})
	// fire is the action the timer calls.
	actors.Action(d, "fire", func(c *actors.Ctx[ReminderState], e FiredEvent) (bool, error) {
		return true, c.Emit("reminderFired", e)
	})
	actors.Action(d, "list", func(c *actors.Ctx[ReminderState], _ actors.NoArgs) (ReminderState, error) {
		return *c.State(), nil
	})
	return d
}

func main() {
	os.Exit(cli.Main(context.Background(), os.Args, cli.App{
		Registry: actors.NewRegistry(MyActor(), Reminders()),
	}))
}
