package rivetkit

import (
	"encoding/base64"
	"strings"

	"github.com/actorlog/actorlog/eventlog"
)

// Actor ids and keys.
//
// A RivetKit actor is a name and a key, a list of strings; an actorlog
// actor is a type and a key, one string. The name is the type. The key's
// parts are joined with commas, which is how the client writes a key on a
// gateway URL (rvt-key=a,b): ["lobby"] is the actorlog key "lobby", and
// ["team","general"] is "team,general". So ["a,b"] and ["a","b"] are the
// same actor, as they are on RivetKit's own gateway. The empty key (the
// client's default, []) is "default", the key actorlog's own examples
// use.
//
// An actor id is the base64url encoding (no padding) of "type:key": a
// stable function of the actor, which any server reading the same data
// turns back into it, and which the client can carry in a URL path, a
// header and a WebSocket subprotocol alike.

// defaultKey is the actorlog key of the empty RivetKit key.
const defaultKey = "default"

// keyOf returns the actorlog key of a RivetKit key.
func keyOf(parts []string) string {
	if len(parts) == 0 {
		return defaultKey
	}
	return strings.Join(parts, ",")
}

// actorID returns the RivetKit actor id of an actor.
func actorID(id eventlog.ID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id.Type + ":" + id.Key))
}

// parseActorID returns the actor of a RivetKit actor id. It checks only
// the form; the runtime checks the type and key.
func parseActorID(s string) (eventlog.ID, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return eventlog.ID{}, false
	}
	typ, key, ok := strings.Cut(string(b), ":")
	if !ok || typ == "" || key == "" {
		return eventlog.ID{}, false
	}
	return eventlog.ID{Type: typ, Key: key}, true
}

// serializeKey writes a key as the management API carries it (the
// client's serializeActorKey): parts joined with "/", with "\" and "/"
// escaped by "\", an empty part written "\0", and the empty key "/".
func serializeKey(parts []string) string {
	if len(parts) == 0 {
		return "/"
	}
	esc := make([]string, len(parts))
	for i, p := range parts {
		if p == "" {
			esc[i] = `\0`
			continue
		}
		p = strings.ReplaceAll(p, `\`, `\\`)
		esc[i] = strings.ReplaceAll(p, "/", `\/`)
	}
	return strings.Join(esc, "/")
}

// deserializeKey reads a key the management API carries (the client's
// deserializeActorKey).
func deserializeKey(s string) []string {
	if s == "" || s == "/" {
		return nil
	}
	var parts []string
	var cur strings.Builder
	escaping, empty := false, false
	for _, c := range s {
		switch {
		case escaping:
			if c == '0' {
				empty = true
			} else {
				cur.WriteRune(c)
			}
			escaping = false
		case c == '\\':
			escaping = true
		case c == '/':
			if empty {
				parts = append(parts, "")
			} else {
				parts = append(parts, cur.String())
			}
			cur.Reset()
			empty = false
		default:
			cur.WriteRune(c)
		}
	}
	switch {
	case escaping: // a "\" at the end stands for itself
		parts = append(parts, cur.String()+`\`)
	case empty:
		parts = append(parts, "")
	case cur.Len() > 0 || len(parts) > 0:
		parts = append(parts, cur.String())
	}
	return parts
}
