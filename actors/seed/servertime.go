package seed

import (
	"strings"
	"time"
	_ "time/tzdata" // IANA zones on machines without them

	"github.com/actorlog/actorlog/actors"
)

// TimeState is the state of a server clock.
type TimeState struct {
	CurrentTime int64  `json:"currentTime" jsonschema:"description=Unix ms of the last change."`
	Timezone    string `json:"timezone"`
}

// TimezoneChanged is the clock's event.
type TimezoneChanged struct {
	Timezone    string `json:"timezone"`
	CurrentTime int64  `json:"currentTime"`
}

// TimeResult is the reply of getTime.
type TimeResult struct {
	CurrentTime int64  `json:"currentTime"`
	Timezone    string `json:"timezone"`
	Formatted   string `json:"formatted"`
}

// TimezoneArgs are the arguments of setTimezone.
type TimezoneArgs struct {
	Timezone string `json:"timezone" jsonschema:"description=An IANA zone name\\, such as Europe/Paris."`
}

// TimezoneResult is the reply of setTimezone.
type TimezoneResult struct {
	Timezone string `json:"timezone"`
}

// TimeUpdate is the data of the timeUpdated broadcast.
type TimeUpdate struct {
	CurrentTime int64  `json:"currentTime" jsonschema:"description=Unix ms."`
	Timezone    string `json:"timezone"`
}

// TickInterval is how often a clock with connections broadcasts the time.
const TickInterval = time.Second

// ServerTime is a clock in a time zone: getTime and setTimezone
// {timezone}. While it has connections it broadcasts timeUpdated every
// second; the ticks are ephemeral, not events.
func ServerTime() *actors.Def[TimeState] {
	d := actors.Define("serverTime", func() TimeState { return TimeState{Timezone: "UTC"} })
	d.Schema = 1
	d.Doc = "A clock in a time zone; broadcasts timeUpdated every second while connected."
	actors.On(d, "timezoneChanged", func(s *TimeState, e TimezoneChanged) {
		s.Timezone, s.CurrentTime = e.Timezone, e.CurrentTime
	})
	timeUpdated := actors.Broadcast[TimeUpdate](d, "timeUpdated")
	tick := func(c *actors.Ctx[TimeState]) {
		timeUpdated.Send(c, TimeUpdate{CurrentTime: c.Now().UnixMilli(), Timezone: c.State().Timezone})
	}
	start := func(c *actors.Ctx[TimeState]) {
		if c.Conns() > 0 {
			c.Every("tick", TickInterval, tick)
		}
	}
	d.OnWake = start
	d.OnConnect = func(c *actors.Ctx[TimeState], _ *actors.Conn) { start(c) }
	d.OnDisconnect = func(c *actors.Ctx[TimeState], _ *actors.Conn) {
		if c.Conns() == 0 {
			c.StopEvery("tick")
		}
	}
	d.OnSleep = func(c *actors.Ctx[TimeState]) { c.StopEvery("tick") }

	actors.Action(d, "getTime", func(c *actors.Ctx[TimeState], _ actors.NoArgs) (TimeResult, error) {
		now := c.Now()
		loc, err := time.LoadLocation(c.State().Timezone)
		if err != nil {
			loc = time.UTC
		}
		return TimeResult{CurrentTime: now.UnixMilli(), Timezone: c.State().Timezone, Formatted: now.In(loc).Format(time.RFC3339)}, nil
	})
	actors.Action(d, "setTimezone", func(c *actors.Ctx[TimeState], a TimezoneArgs) (TimezoneResult, error) {
		tz := strings.TrimSpace(a.Timezone)
		if tz == "" {
			return TimezoneResult{}, actors.Invalid("timezone is required, as an IANA name such as \"America/New_York\"")
		}
		if tz == "Local" {
			return TimezoneResult{}, actors.Invalid("timezone %q is not an IANA zone name", tz)
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return TimezoneResult{}, actors.Invalid("unknown timezone %q; use an IANA name such as \"Europe/Paris\"", tz)
		}
		err := c.Emit("timezoneChanged", TimezoneChanged{Timezone: tz, CurrentTime: c.Now().UnixMilli()})
		return TimezoneResult{Timezone: tz}, err
	})
	return d
}
