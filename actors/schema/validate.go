package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// A Validator checks JSON values against one schema. It is safe for
// concurrent use.
type Validator struct {
	s *jsonschema.Schema
}

// Compile compiles a schema, as Reflect returns it. Nothing is loaded
// from outside: a "$ref" must point inside the document.
func Compile(doc json.RawMessage) (*Validator, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	const url = "mem:///schema.json"
	if err := c.AddResource(url, v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &Validator{s: s}, nil
}

// noLoader refuses to load a schema from anywhere.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema: %s is not loaded: a schema refers only to itself", url)
}

// Validate checks data, one JSON value. A value that breaks the schema is
// an *Error, which names the first rule broken (in the order of the
// values' paths); data that is not JSON is another error.
func (v *Validator) Validate(data []byte) error {
	val, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	err = v.s.Validate(val)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var leaves []*Error
	collect(ve, &leaves)
	if len(leaves) == 0 {
		return &Error{Kind: KindConstraint, Message: "does not match its schema"}
	}
	slices.SortStableFunc(leaves, func(a, b *Error) int {
		return strings.Compare(a.Field(), b.Field())
	})
	return leaves[0]
}

// Kind is the kind of rule a value breaks.
type Kind uint8

// The kinds of Error.
const (
	// KindType: the value is not of its JSON type (null included).
	KindType Kind = iota + 1
	// KindUnknown: an object has a property its schema does not allow.
	KindUnknown
	// KindRequired: an object lacks a required property.
	KindRequired
	// KindConstraint: a declared constraint (enum, const, a range, a
	// length, a pattern, a count of items) is broken.
	KindConstraint
)

// Error is a value that breaks its schema.
type Error struct {
	// Path is where the value is, as the tokens of its JSON Pointer
	// (["items", "0", "name"]); empty for the whole value. For
	// KindRequired and KindUnknown it ends with the property's name.
	Path []string
	Kind Kind
	// Message says what the value must be, as the end of a sentence whose
	// subject is the value: "is required", "must be at most 100, not 101".
	Message string
}

// Field returns Path joined with "/": a JSON Pointer without its leading
// slash ("" for the whole value).
func (e *Error) Field() string { return strings.Join(e.Path, "/") }

func (e *Error) Error() string {
	if len(e.Path) == 0 {
		return "schema: the value " + e.Message
	}
	return fmt.Sprintf("schema: %q %s", e.Field(), e.Message)
}

// collect appends the errors of ve's leaves: the rules broken, not the
// groups of rules they belong to.
func collect(ve *jsonschema.ValidationError, out *[]*Error) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, out)
		}
		return
	}
	*out = append(*out, leaf(ve))
}

var english = message.NewPrinter(language.English)

// leaf converts the error of one broken rule.
func leaf(ve *jsonschema.ValidationError) *Error {
	path := ve.InstanceLocation
	e := &Error{Path: path, Kind: KindConstraint}
	switch k := ve.ErrorKind.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = typeWord(w)
		}
		e.Kind, e.Message = KindType, fmt.Sprintf("must be %s, not %s", strings.Join(want, " or "), k.Got)
	case *kind.Required:
		// The first missing in the schema's order, which is the fields'.
		e.Path = append(slices.Clip(path), k.Missing[0])
		e.Kind, e.Message = KindRequired, "is required"
	case *kind.AdditionalProperties:
		props := slices.Sorted(slices.Values(k.Properties))
		e.Path = append(slices.Clip(path), props[0])
		e.Kind, e.Message = KindUnknown, "is not allowed"
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		if len(want) == 1 {
			e.Message = fmt.Sprintf("must be %s, not %s", want[0], display(k.Got))
		} else {
			e.Message = fmt.Sprintf("must be one of %s, not %s", strings.Join(want, ", "), display(k.Got))
		}
	case *kind.Const:
		e.Message = fmt.Sprintf("must be %s, not %s", display(k.Want), display(k.Got))
	case *kind.Minimum:
		e.Message = fmt.Sprintf("must be at least %s, not %s", number(k.Want), number(k.Got))
	case *kind.Maximum:
		e.Message = fmt.Sprintf("must be at most %s, not %s", number(k.Want), number(k.Got))
	case *kind.ExclusiveMinimum:
		e.Message = fmt.Sprintf("must be more than %s, not %s", number(k.Want), number(k.Got))
	case *kind.ExclusiveMaximum:
		e.Message = fmt.Sprintf("must be less than %s, not %s", number(k.Want), number(k.Got))
	case *kind.MultipleOf:
		e.Message = fmt.Sprintf("must be a multiple of %s, not %s", number(k.Want), number(k.Got))
	case *kind.MinLength:
		e.Message = fmt.Sprintf("must be at least %d characters long, not %d", k.Want, k.Got)
	case *kind.MaxLength:
		e.Message = fmt.Sprintf("must be at most %d characters long, not %d", k.Want, k.Got)
	case *kind.Pattern:
		e.Message = fmt.Sprintf("must match the pattern %s", k.Want)
	case *kind.MinItems:
		e.Message = fmt.Sprintf("must hold at least %d items, not %d", k.Want, k.Got)
	case *kind.MaxItems:
		e.Message = fmt.Sprintf("must hold at most %d items, not %d", k.Want, k.Got)
	case *kind.MinProperties:
		e.Message = fmt.Sprintf("must hold at least %d fields, not %d", k.Want, k.Got)
	case *kind.MaxProperties:
		e.Message = fmt.Sprintf("must hold at most %d fields, not %d", k.Want, k.Got)
	case *kind.UniqueItems:
		e.Message = "must not hold an item twice"
	default:
		e.Message = "is not valid: " + ve.ErrorKind.LocalizedString(english)
	}
	return e
}

// typeWord names a JSON type as a sentence says it.
func typeWord(t string) string {
	switch t {
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "string":
		return "a string"
	case "boolean":
		return "true or false"
	case "array":
		return "an array"
	case "object":
		return "an object"
	}
	return t
}

// display writes a JSON value as JSON.
func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// number writes a number of the validator as JSON would.
func number(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}
