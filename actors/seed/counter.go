package seed

import (
	"math"

	"github.com/actorlog/actorlog/actors"
)

// CounterState is the state of a counter.
type CounterState struct {
	Count       int64 `json:"count"`
	LastUpdated int64 `json:"lastUpdated" jsonschema:"description=Unix ms."`
}

// CountUpdated is the counter's only event: the new count.
type CountUpdated struct {
	Count       int64 `json:"count"`
	LastUpdated int64 `json:"lastUpdated" jsonschema:"description=Unix ms."`
}

// CountResult is the reply of the counter's writing actions.
type CountResult struct {
	Count int64 `json:"count"`
}

// AddArgs are the arguments of add. Value is a pointer so that add of 0
// differs from add without a value, which is refused.
type AddArgs struct {
	Value *int64 `json:"value" jsonschema:"required"`
}

// Counter is a shared count: getCount, increment, decrement, add {value}
// and reset; every change is a countUpdated event.
func Counter() *actors.Def[CounterState] {
	d := actors.Define("counter", func() CounterState { return CounterState{} })
	d.Schema = 1
	d.Doc = "A shared count. Counts are 64-bit integers; JavaScript numbers are exact up to 2^53."
	actors.On(d, "countUpdated", func(s *CounterState, e CountUpdated) {
		s.Count, s.LastUpdated = e.Count, e.LastUpdated
	})
	set := func(c *actors.Ctx[CounterState], count int64) (CountResult, error) {
		err := c.Emit("countUpdated", CountUpdated{Count: count, LastUpdated: c.Now().UnixMilli()})
		return CountResult{Count: count}, err
	}
	actors.Action(d, "getCount", func(c *actors.Ctx[CounterState], _ actors.NoArgs) (CounterState, error) {
		return *c.State(), nil
	})
	actors.Action(d, "increment", func(c *actors.Ctx[CounterState], _ actors.NoArgs) (CountResult, error) {
		if c.State().Count == math.MaxInt64 {
			return CountResult{}, actors.Invalid("the count is at its limit")
		}
		return set(c, c.State().Count+1)
	})
	actors.Action(d, "decrement", func(c *actors.Ctx[CounterState], _ actors.NoArgs) (CountResult, error) {
		if c.State().Count == math.MinInt64 {
			return CountResult{}, actors.Invalid("the count is at its limit")
		}
		return set(c, c.State().Count-1)
	})
	actors.Action(d, "add", func(c *actors.Ctx[CounterState], a AddArgs) (CountResult, error) {
		if a.Value == nil { // refused before, as the schema requires it
			return CountResult{}, actors.Invalid("value is required: {\"value\": 5}")
		}
		sum := c.State().Count + *a.Value
		if (*a.Value > 0 && sum < c.State().Count) || (*a.Value < 0 && sum > c.State().Count) {
			return CountResult{}, actors.Invalid("adding %d to %d overflows a 64-bit count", *a.Value, c.State().Count)
		}
		return set(c, sum)
	})
	actors.Action(d, "reset", func(c *actors.Ctx[CounterState], _ actors.NoArgs) (CountResult, error) {
		return set(c, 0)
	})
	return d
}
