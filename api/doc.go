// Package api is the HTTP and WebSocket surface of actorlog: REST RPC,
// event streaming with resume, history and state at a sequence, the seed's
// convenience routes, and errors as JSON.
package api
