// Package actors is the actor runtime: typed actor definitions (state,
// event appliers, actions, lifecycle hooks), activation by snapshot and
// replay, one action at a time per actor, durable-before-reply, broadcast
// to subscribers, idle sleep and durable timers.
package actors
