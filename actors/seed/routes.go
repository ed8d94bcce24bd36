package seed

import (
	"github.com/actorlog/actorlog/api"
)

// Routes adds the seed backend's convenience routes to an api.Server
// (api.Options.Routes), each a thin mapping onto an action, and the list
// of chat rooms, read from the ChatRooms projection:
//
//	POST /api/counter/{key}/increment|decrement|add|reset
//	GET  /api/counter/{key}                  getCount
//	POST /api/chat/{room}/join|leave         join, leave
//	POST /api/chat/{room}/messages           sendMessage
//	GET  /api/chat/{room}/messages?limit=    getMessages
//	GET  /api/chat/{room}/participants       getParticipants
//	GET  /api/time/{key}                     serverTime's getTime
//	GET  /api/chat?limit=                    every room, newest activity first
func Routes(rs *api.Routes) {
	for _, a := range []string{"increment", "decrement", "add", "reset"} {
		rs.Action("POST", "/api/counter/:key/"+a, "counter", "key", a)
	}
	rs.Action("GET", "/api/counter/:key", "counter", "key", "getCount")
	rs.Action("POST", "/api/chat/:room/join", "chatRoom", "room", "join")
	rs.Action("POST", "/api/chat/:room/leave", "chatRoom", "room", "leave")
	rs.Action("POST", "/api/chat/:room/messages", "chatRoom", "room", "sendMessage")
	rs.Action("GET", "/api/chat/:room/messages", "chatRoom", "room", "getMessages", "limit")
	rs.Action("GET", "/api/chat/:room/participants", "chatRoom", "room", "getParticipants")
	rs.Action("GET", "/api/time/:key", "serverTime", "key", "getTime")
	rs.Handle("GET", "/api/chat", func(r *api.Request) (any, error) {
		limit, err := r.Limit()
		if err != nil {
			return nil, err
		}
		v, st, err := rs.View(RoomsName)
		if err != nil {
			return nil, err
		}
		rooms, err := ListRooms(r.Context(), v, limit)
		if err != nil {
			return nil, err
		}
		return RoomList{Position: st.Position, Rooms: rooms}, nil
	})
}

// RoomList is GET /api/chat: the rooms, and the position in the feed
// the chat rooms projection has reached.
type RoomList struct {
	Position uint64 `json:"position"`
	Rooms    []Room `json:"rooms"`
}
