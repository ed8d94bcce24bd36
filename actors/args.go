package actors

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/actorlog/actorlog/actors/schema"
)

// argCheck checks an action's arguments against the JSON Schema of their
// Go type (package actors/schema), compiled once, by NewRegistry. A nil
// *argCheck checks nothing: Args.Decode without an action.
type argCheck struct {
	action string
	v      *schema.Validator // nil: decoding checks all there is (no fields)
	noArgs bool              // the type has no fields: the action takes none
	// noneErr is what no arguments at all get: the check of {} for a
	// struct, which names a missing required field; nil otherwise.
	noneErr *Error
}

// newArgCheck compiles the check of action's arguments, of type t.
func newArgCheck(action string, t reflect.Type) (*argCheck, error) {
	c := &argCheck{action: action}
	st := t
	for st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() == reflect.Struct && !hasJSONField(st) {
		// Strict decoding refuses any field and any other JSON type.
		c.noArgs = true
		return c, nil
	}
	doc, err := schema.Of(t)
	if err != nil {
		return nil, err
	}
	if c.v, err = schema.Compile(doc); err != nil {
		return nil, err
	}
	if st.Kind() == reflect.Struct {
		if err := c.validate([]byte("{}")); err != nil {
			c.noneErr = err.(*Error)
		}
	}
	return c, nil
}

// hasJSONField reports whether struct type t has a field that JSON
// encodes.
func hasJSONField(t reflect.Type) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("json") == "-" {
			continue
		}
		if f.IsExported() || f.Anonymous {
			return true
		}
	}
	return false
}

// none returns the error of a call without arguments.
func (c *argCheck) none() error {
	if c == nil || c.noneErr == nil {
		return nil
	}
	e := *c.noneErr // a copy for each caller
	return &e
}

// validate checks data, arguments that decoded, against the schema: a
// value of the wrong JSON type (null for a field that is not nullable)
// is CodeBadRequest, as for a value that does not decode; a required
// field missing or a declared constraint broken, CodeInvalid, as for an
// action's own refusal.
func (c *argCheck) validate(data []byte) error {
	if c == nil || c.v == nil {
		return nil
	}
	err := c.v.Validate(data)
	if err == nil {
		return nil
	}
	var se *schema.Error
	if !errors.As(err, &se) {
		return &Error{Code: CodeBadRequest, Message: "arguments are not valid JSON", Err: err}
	}
	e := &Error{Code: CodeInvalid, Err: err}
	switch se.Kind {
	case schema.KindType:
		e.Code = CodeBadRequest
	case schema.KindUnknown:
		e.Code = CodeBadRequest
		e.Message = c.unknown(se.Field())
		return e
	}
	if se.Field() == "" {
		e.Message = "arguments " + se.Message
	} else {
		e.Message = fmt.Sprintf("argument %q %s", se.Field(), se.Message)
	}
	return e
}

// unknown is the message of a field the arguments' type does not have.
func (c *argCheck) unknown(field string) string {
	switch {
	case c == nil:
		return fmt.Sprintf("argument %q is not a field of the arguments", field)
	case c.noArgs:
		return fmt.Sprintf("argument %q is not a field of %s's arguments (it takes none)", field, c.action)
	}
	return fmt.Sprintf("argument %q is not a field of %s's arguments", field, c.action)
}
