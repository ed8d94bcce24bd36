package rivetkit

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/actorlog/actorlog/actors"
)

// rkError is an error as the client reads it — RivetKit's
// {group, code, message} — with its HTTP status.
type rkError struct {
	status               int
	group, code, message string
}

func (e *rkError) Error() string { return "rivetkit: " + e.group + "." + e.code + ": " + e.message }

func invalid(format string, a ...any) error {
	return &rkError{status: http.StatusBadRequest, group: "request", code: "invalid", message: fmt.Sprintf(format, a...)}
}

func notImplemented(msg string) error {
	return &rkError{status: http.StatusNotImplemented, group: "feature", code: "not_implemented", message: msg}
}

// The errors of actorlog's runtime, as the client sees them. The status
// stays actorlog's; the group and code are RivetKit's where it has one
// (the client acts on some: actor.not_found makes a get retry for a
// while, auth.forbidden does not), and actorlog's code under "actor" or
// "user" otherwise:
//
//	actorlog code          status  RivetKit group.code
//	bad_request            400     request.invalid
//	invalid                422     user.invalid          (an action refused its arguments)
//	not_found              404     user.not_found        (unknown actions and actors are
//	                                                      actor.action_not_found and
//	                                                      actor.not_found / actor.not_registered)
//	conflict               409     user.conflict
//	idempotency_mismatch   422     user.idempotency_mismatch
//	forbidden              403     auth.forbidden        (OnBeforeConnect refused)
//	too_large              413     message.incoming_too_long
//	unavailable            503     actor.unavailable
//	internal               500     actor.internal_error  (the message says no more)
var groupOf = map[string][2]string{
	string(actors.CodeBadRequest):          {"request", "invalid"},
	string(actors.CodeInvalid):             {"user", "invalid"},
	string(actors.CodeNotFound):            {"user", "not_found"},
	string(actors.CodeConflict):            {"user", "conflict"},
	string(actors.CodeIdempotencyMismatch): {"user", "idempotency_mismatch"},
	string(actors.CodeForbidden):           {"auth", "forbidden"},
	string(actors.CodeTooLarge):            {"message", "incoming_too_long"},
	string(actors.CodeUnavailable):         {"actor", "unavailable"},
	"internal":                             {"actor", "internal_error"},
	"timeout":                              {"request", "timeout"},
}

// asRivet maps any error of the handlers onto the client's form.
func (s *server) asRivet(err error) *rkError {
	var re *rkError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, errMalformed) {
		return &rkError{status: http.StatusBadRequest, group: "request", code: "invalid", message: err.Error()}
	}
	if errors.Is(err, errBadValue) {
		return &rkError{status: http.StatusBadRequest, group: "request", code: "invalid", message: strings.TrimPrefix(err.Error(), "rivetkit: ")}
	}
	status, code, msg := s.rs.Status(err)
	g, ok := groupOf[code]
	if !ok {
		g = [2]string{"actor", code}
	}
	if status == http.StatusInternalServerError {
		msg = "internal error"
	}
	return &rkError{status: status, group: g[0], code: g[1], message: msg}
}

// fail answers an HTTP request with the error, always as JSON: the
// client reads an error body by its Content-Type, whatever the encoding
// it asked for.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	re := s.asRivet(err)
	if re.status == http.StatusInternalServerError {
		s.lg.Error("rivetkit request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if websocket := r.Header.Get("Upgrade"); strings.EqualFold(websocket, "websocket") && r.Method == http.MethodGet {
		s.refuseSocket(w, r, re, "")
		return
	}
	writeError(w, re)
}

// refused answers a refusal of the server's guards (api.Routes.Refuse)
// in the client's form: a missing or wrong token is auth.unauthorized, a
// Host or origin not allowed auth.forbidden, each with actorlog's status.
func (s *server) refused(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	group := "auth"
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		group = "request"
	}
	s.fail(w, r, &rkError{status: status, group: group, code: code, message: msg})
}

func writeError(w http.ResponseWriter, e *rkError) {
	writeJSON(w, e.status, map[string]any{"group": e.group, "code": e.code, "message": e.message, "metadata": nil})
}
