package seed

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/actorlog/actorlog/actors"
	"github.com/actorlog/actorlog/eventlog"
)

// Limits of the chat room.
const (
	// KeptMessages is how many messages the state keeps; older ones stay
	// readable in the actor's event log.
	KeptMessages = 100
	// MaxTextLen is the longest message text, in characters.
	MaxTextLen = 2000
	// MaxUsernameLen is the longest username, in characters.
	MaxUsernameLen = 64
)

// Message is one chat message.
type Message struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Text      string `json:"text"`
	Timestamp int64  `json:"timestamp" jsonschema:"description=Unix ms."`
}

// ChatState is the state of a chat room.
type ChatState struct {
	Messages     []Message `json:"messages" jsonschema:"description=The last 100 messages."`
	Participants []string  `json:"participants"`
	// Connected are the participants who joined over a connection (a
	// WebSocket): each leaves when it closes, and so when the room
	// sleeps or the server restarts, which end every connection.
	Connected []string `json:"connected,omitempty" jsonschema:"description=The participants who joined over a socket: each leaves when it closes."`
}

// Presence is the data of userJoined and userLeft.
type Presence struct {
	Username         string `json:"username"`
	ParticipantCount int    `json:"participantCount"`
	// Connected (userJoined): the user joined over a connection, and
	// leaves when it closes; else over HTTP, and stays until they leave.
	Connected bool `json:"connected,omitempty" jsonschema:"description=userJoined: joined over a socket\\, and leaves when it closes."`
}

// UserArgs are the arguments of join and leave.
type UserArgs struct {
	Username string `json:"username"`
}

// SendArgs are the arguments of sendMessage.
type SendArgs struct {
	Username string `json:"username"`
	Text     string `json:"text"`
}

// LimitArgs are the arguments of getMessages: at most Limit messages,
// the newest; 50 if absent.
type LimitArgs struct {
	Limit *int `json:"limit" jsonschema:"minimum=1,maximum=100"` // KeptMessages
}

// SendResult is the reply of sendMessage.
type SendResult struct {
	Message Message `json:"message"`
}

// MessagesResult is the reply of getMessages.
type MessagesResult struct {
	Messages []Message `json:"messages"`
}

// ParticipantsResult is the reply of getParticipants.
type ParticipantsResult struct {
	Count        int      `json:"count"`
	Participants []string `json:"participants"`
}

// MembershipResult is the reply of join and leave.
type MembershipResult struct {
	Success          bool `json:"success"`
	ParticipantCount int  `json:"participantCount"`
}

// ChatRoom is a room of messages and participants: sendMessage, getMessages,
// join, leave and getParticipants; events newMessage, userJoined, userLeft.
// A participant who joined over a connection (a WebSocket) leaves when it
// closes, unless they also joined over plain HTTP.
func ChatRoom() *actors.Def[ChatState] {
	joined := &joins{rooms: make(map[eventlog.ID]map[*actors.Conn][]string)}
	d := actors.Define("chatRoom", func() ChatState {
		return ChatState{Messages: []Message{}, Participants: []string{}}
	})
	d.Schema = 1
	d.Doc = "Messages and participants. A participant who joined over a socket leaves when it closes (join again when a handle reconnects); one who joined over HTTP stays until they leave."
	actors.On(d, "newMessage", func(s *ChatState, m Message) {
		s.Messages = append(s.Messages, m)
		if n := len(s.Messages); n > KeptMessages {
			s.Messages = slices.Clone(s.Messages[n-KeptMessages:])
		}
	})
	actors.On(d, "userJoined", func(s *ChatState, p Presence) {
		if !slices.Contains(s.Participants, p.Username) {
			s.Participants = append(s.Participants, p.Username)
		}
		s.Connected = without(s.Connected, p.Username)
		if p.Connected {
			s.Connected = append(s.Connected, p.Username)
		}
	})
	actors.On(d, "userLeft", func(s *ChatState, p Presence) {
		s.Participants = without(s.Participants, p.Username)
		s.Connected = without(s.Connected, p.Username)
	})

	actors.Action(d, "sendMessage", func(c *actors.Ctx[ChatState], a SendArgs) (SendResult, error) {
		user, err := username(a.Username)
		if err != nil {
			return SendResult{}, err
		}
		text := strings.TrimSpace(a.Text)
		switch n := utf8.RuneCountInString(text); {
		case n == 0:
			return SendResult{}, actors.Invalid("text must not be empty")
		case n > MaxTextLen:
			return SendResult{}, actors.Invalid("text is %d characters; the limit is %d", n, MaxTextLen)
		}
		m := Message{ID: newID(), Username: user, Text: text, Timestamp: c.Now().UnixMilli()}
		if err := c.Emit("newMessage", m); err != nil {
			return SendResult{}, err
		}
		return SendResult{Message: m}, nil
	})
	actors.Action(d, "getMessages", func(c *actors.Ctx[ChatState], a LimitArgs) (MessagesResult, error) {
		limit := 50
		if a.Limit != nil {
			limit = *a.Limit
		}
		if limit < 1 || limit > KeptMessages {
			return MessagesResult{}, actors.Invalid("limit must be between 1 and %d; older messages are in the room's event history", KeptMessages)
		}
		msgs := c.State().Messages
		if len(msgs) > limit {
			msgs = msgs[len(msgs)-limit:]
		}
		return MessagesResult{Messages: msgs}, nil
	})
	actors.Action(d, "join", func(c *actors.Ctx[ChatState], a UserArgs) (MembershipResult, error) {
		user, err := username(a.Username)
		if err != nil {
			return MembershipResult{}, err
		}
		st := c.State()
		n := len(st.Participants)
		conn := c.Conn()
		if conn != nil {
			joined.add(c.ID(), conn, user)
		}
		switch {
		case !slices.Contains(st.Participants, user):
			n++
		case conn == nil && slices.Contains(st.Connected, user):
			// Joined over a connection, and now over HTTP: stays.
		default:
			return MembershipResult{Success: true, ParticipantCount: n}, nil
		}
		err = c.Emit("userJoined", Presence{Username: user, ParticipantCount: n, Connected: conn != nil})
		return MembershipResult{Success: err == nil, ParticipantCount: n}, err
	})
	actors.Action(d, "leave", func(c *actors.Ctx[ChatState], a UserArgs) (MembershipResult, error) {
		user, err := username(a.Username)
		if err != nil {
			return MembershipResult{}, err
		}
		n := len(c.State().Participants)
		if !slices.Contains(c.State().Participants, user) {
			return MembershipResult{Success: true, ParticipantCount: n}, nil
		}
		err = c.Emit("userLeft", Presence{Username: user, ParticipantCount: n - 1})
		return MembershipResult{Success: err == nil, ParticipantCount: n - 1}, err
	})
	actors.Action(d, "getParticipants", func(c *actors.Ctx[ChatState], _ actors.NoArgs) (ParticipantsResult, error) {
		p := c.State().Participants
		return ParticipantsResult{Count: len(p), Participants: p}, nil
	})

	// The users a connection joined leave with it, unless another
	// connection joined them too. A room with connections sleeps only
	// when the runtime stops, and its connections end with it: users
	// still connected in its state then (the runtime stopped before the
	// sockets, or the server crashed) leave when it wakes, before any
	// call or connection, as no connection outlives a sleep.
	d.OnDisconnect = func(c *actors.Ctx[ChatState], conn *actors.Conn) {
		leave(c, joined.drop(c.ID(), conn))
	}
	d.OnSleep = func(c *actors.Ctx[ChatState]) { joined.forget(c.ID()) }
	d.OnWake = func(c *actors.Ctx[ChatState]) { leave(c, c.State().Connected) }
	return d
}

// leave emits userLeft for the users who joined over a connection, of
// those given.
func leave(c *actors.Ctx[ChatState], users []string) {
	n := len(c.State().Participants)
	for _, u := range slices.Clone(users) {
		if !slices.Contains(c.State().Connected, u) {
			continue // left already, or joined over HTTP too
		}
		n--
		if err := c.Emit("userLeft", Presence{Username: u, ParticipantCount: n}); err != nil {
			c.Logger().Error("userLeft not emitted", "username", u, "err", err)
			return
		}
	}
}

func without(users []string, user string) []string {
	return slices.DeleteFunc(users, func(u string) bool { return u == user })
}

// joins remembers, for the rooms awake in this process, which connection
// joined which users. It is memory, not state: connections end when their
// room sleeps.
type joins struct {
	mu    sync.Mutex
	rooms map[eventlog.ID]map[*actors.Conn][]string
}

func (j *joins) add(room eventlog.ID, c *actors.Conn, user string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	conns := j.rooms[room]
	if conns == nil {
		conns = make(map[*actors.Conn][]string)
		j.rooms[room] = conns
	}
	if !slices.Contains(conns[c], user) {
		conns[c] = append(conns[c], user)
	}
}

// drop forgets c, and returns the users it joined that no other
// connection to the room joined.
func (j *joins) drop(room eventlog.ID, c *actors.Conn) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	conns := j.rooms[room]
	users := conns[c]
	delete(conns, c)
	if len(conns) == 0 {
		delete(j.rooms, room)
	}
	return slices.DeleteFunc(users, func(u string) bool {
		for _, others := range conns {
			if slices.Contains(others, u) {
				return true
			}
		}
		return false
	})
}

func (j *joins) forget(room eventlog.ID) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.rooms, room)
}

func username(u string) (string, error) {
	u = strings.TrimSpace(u)
	switch n := utf8.RuneCountInString(u); {
	case n == 0:
		return "", actors.Invalid("username must not be empty")
	case n > MaxUsernameLen:
		return "", actors.Invalid("username is %d characters; the limit is %d", n, MaxUsernameLen)
	}
	return u, nil
}

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
