// Package schema describes Go types as JSON Schema (draft 2020-12) and
// checks JSON values against those descriptions. The actors package uses
// it to describe each actor type from its Go types and to refuse an
// action's arguments that break its schema before the action runs.
//
// A schema is generated from the type, not written by hand, by
// github.com/invopop/jsonschema, with these rules:
//
//   - A struct's properties are its fields under their `json` names, in
//     declaration order; embedded structs are inlined. No other property
//     is allowed ("additionalProperties": false).
//   - A field is required unless it is a pointer or tagged omitempty or
//     omitzero; `jsonschema:"required"` makes any field required.
//   - The `jsonschema` tag declares what else a field must satisfy, and
//     describes it: `jsonschema:"minimum=1,maximum=100"`, `enum=a,enum=b`,
//     `minLength=1`, `maxLength=64`, `pattern=^[a-z]+$`,
//     `description=Unix ms` (a comma inside a value is written \,).
//   - A named struct type is described once under "$defs", by its Go
//     name without its package, and referred to with "$ref". The
//     document has no "$id" and no "$schema": it is of Dialect.
//   - 64-bit integers are "integer"; []byte is a base64 string.
//
// The JSON Schema validator is github.com/santhosh-tekuri/jsonschema: a
// Validator is compiled once and is safe for concurrent use.
package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"
)

// Dialect is the JSON Schema version of the schemas this package makes.
const Dialect = "https://json-schema.org/draft/2020-12/schema"

// Of returns the JSON Schema of the values of t, as JSON. A named struct
// type is a "$ref" to its entry in "$defs". Two types of the same name
// that t holds are an error: one description would stand for both.
func Of(t reflect.Type) (json.RawMessage, error) {
	s, err := reflectType(t)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

func reflectType(t reflect.Type) (s *jsonschema.Schema, err error) {
	if t == nil {
		return nil, fmt.Errorf("schema: no type")
	}
	var clash error
	names := make(map[string]reflect.Type)
	ref := &jsonschema.Reflector{
		Anonymous: true,
		Namer: func(t reflect.Type) string {
			n := typeName(t)
			if n == "" || t.Kind() != reflect.Struct {
				return n // not described under "$defs"
			}
			if other, ok := names[n]; ok && other != t && clash == nil {
				clash = fmt.Errorf("schema: types %v and %v are both named %s; rename one", other, t, n)
			}
			names[n] = t
			return n
		},
	}
	defer func() {
		// invopop/jsonschema panics on some types it cannot describe
		// (channels, functions): say which.
		if v := recover(); v != nil {
			s, err = nil, fmt.Errorf("schema: %v cannot be described: %v", t, v)
		}
	}()
	s = ref.ReflectFromType(t)
	if clash != nil {
		return nil, clash
	}
	s.Version = ""
	optionalPointers(s, s, t, make(map[reflect.Type]bool))
	if len(s.Definitions) == 0 {
		s.Definitions = nil
	}
	return s, nil
}

// typeName is the name of t in "$defs": its Go name without its package,
// and for an instance of a generic type, the names of its type arguments
// appended (Page[seed.Message] is PageMessage).
func typeName(t reflect.Type) string {
	n := t.Name()
	base, args, generic := strings.Cut(n, "[")
	if !generic {
		return n
	}
	var b strings.Builder
	b.WriteString(base)
	for _, a := range strings.FieldsFunc(strings.TrimSuffix(args, "]"), func(r rune) bool { return r == ',' || r == '[' || r == ']' }) {
		a = a[strings.LastIndexAny(a, "./")+1:]
		a = strings.TrimLeft(a, "*")
		if a != "" {
			b.WriteString(strings.ToUpper(a[:1]) + a[1:])
		}
	}
	return b.String()
}

// optionalPointers takes the pointer fields that are not tagged
// `jsonschema:"required"` out of the required properties of s, the schema
// of t (invopop/jsonschema requires every field without omitempty), and
// does the same in the schemas of the types t holds. root holds "$defs".
func optionalPointers(root, s *jsonschema.Schema, t reflect.Type, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil {
		return
	}
	if name, ok := strings.CutPrefix(s.Ref, "#/$defs/"); ok {
		if seen[t] {
			return
		}
		seen[t] = true
		s = root.Definitions[name]
		if s == nil {
			return
		}
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		optionalPointers(root, s.Items, t.Elem(), seen)
	case reflect.Map:
		optionalPointers(root, s.AdditionalProperties, t.Elem(), seen)
		for _, p := range s.PatternProperties {
			optionalPointers(root, p, t.Elem(), seen)
		}
	case reflect.Struct:
		if s.Properties == nil {
			return // described otherwise (time.Time: a string)
		}
		for _, f := range jsonFields(t) {
			p, ok := s.Properties.Get(f.name)
			if !ok {
				continue
			}
			if f.typ.Kind() == reflect.Pointer && !f.required {
				s.Required = slices.DeleteFunc(s.Required, func(n string) bool { return n == f.name })
			}
			optionalPointers(root, p, f.typ, seen)
		}
		if len(s.Required) == 0 {
			s.Required = nil
		}
	}
}

// field is a struct field as encoding/json sees it.
type field struct {
	name     string
	typ      reflect.Type
	required bool // tagged `jsonschema:"required"`
}

// jsonFields returns the fields of struct type t under their JSON names,
// those of embedded structs without a name inlined.
func jsonFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, field{name: name, typ: f.Type, required: slices.Contains(strings.Split(f.Tag.Get("jsonschema"), ","), "required")})
	}
	return out
}
