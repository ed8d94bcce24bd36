package schema_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/actorlog/actorlog/actors/schema"
)

type inner struct {
	Qty int `json:"qty"`
}

type embedded struct {
	Tag string `json:"tag"`
}

type sample struct {
	embedded
	Name     string         `json:"name"`
	Opt      string         `json:"opt,omitempty"`
	Ptr      *int           `json:"ptr"`
	PtrReq   *int           `json:"ptrReq" jsonschema:"required"`
	Unit     string         `json:"unit" jsonschema:"enum=a,enum=b"`
	Limit    int            `json:"limit" jsonschema:"minimum=1,maximum=100,description=How many\\, at most."`
	Inner    inner          `json:"inner"`
	Inners   []*inner       `json:"inners,omitempty"`
	ByName   map[string]int `json:"byName,omitempty"`
	Bytes    []byte         `json:"bytes,omitempty"`
	Anything any            `json:"anything,omitempty"`
	Skipped  int            `json:"-"`
	private  int
}

type page[T any] struct {
	Items []T `json:"items"`
}

// TestOf: the rules of the package doc, one by one.
func TestOf(t *testing.T) {
	doc, err := schema.Of(reflect.TypeFor[sample]())
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Ref  string `json:"$ref"`
		Defs map[string]struct {
			Properties           map[string]json.RawMessage `json:"properties"`
			Required             []string                   `json:"required"`
			AdditionalProperties *bool                      `json:"additionalProperties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	if s.Ref != "#/$defs/sample" {
		t.Errorf("$ref %q, want #/$defs/sample", s.Ref)
	}
	def := s.Defs["sample"]
	if got, want := strings.Join(def.Required, " "), "tag name ptrReq unit limit inner"; got != want {
		t.Errorf("required: %s, want %s", got, want)
	}
	if def.AdditionalProperties == nil || *def.AdditionalProperties {
		t.Errorf("additionalProperties %v, want false", def.AdditionalProperties)
	}
	for name, want := range map[string]string{
		"tag":      `{"type":"string"}`,
		"unit":     `{"type":"string","enum":["a","b"]}`,
		"limit":    `{"type":"integer","maximum":100,"minimum":1,"description":"How many, at most."}`,
		"inner":    `{"$ref":"#/$defs/inner"}`,
		"inners":   `{"items":{"$ref":"#/$defs/inner"},"type":"array"}`,
		"byName":   `{"additionalProperties":{"type":"integer"},"type":"object"}`,
		"bytes":    `{"type":"string","contentEncoding":"base64"}`,
		"anything": `true`,
	} {
		if got := string(def.Properties[name]); got != want {
			t.Errorf("property %s: %s, want %s", name, got, want)
		}
	}
	for _, name := range []string{"Skipped", "private", "embedded"} {
		if _, ok := def.Properties[name]; ok {
			t.Errorf("property %s is described", name)
		}
	}
	if got := strings.Join(s.Defs["inner"].Required, " "); got != "qty" {
		t.Errorf("inner's required: %s, want qty", got)
	}
	if strings.Contains(string(doc), `"$schema"`) || strings.Contains(string(doc), `"$id"`) {
		t.Errorf("the document has $schema or $id: %s", doc)
	}
}

func TestOf_Names(t *testing.T) {
	doc, err := schema.Of(reflect.TypeFor[page[inner]]())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `"$ref":"#/$defs/pageInner"`) {
		t.Errorf("a generic type's name: %s, want pageInner", doc)
	}
	type inner struct { // not the package's inner
		Other bool `json:"other"`
	}
	type clash struct {
		A inner `json:"a"`
		B struct {
			C pkgInner `json:"c"`
		} `json:"b"`
	}
	if _, err := schema.Of(reflect.TypeFor[clash]()); err == nil || !strings.Contains(err.Error(), "both named inner") {
		t.Errorf("two types named inner: err %v", err)
	}
	if _, err := schema.Of(reflect.TypeFor[struct {
		C chan int `json:"c"`
	}]()); err == nil {
		t.Errorf("a channel is described")
	}
}

// pkgInner is the package's inner, under a name TestOf_Names can use
// where a local type hides it.
type pkgInner = inner

// TestValidator: a value that breaks the schema is an *Error naming the
// field, of the kind of rule it breaks.
func TestValidator(t *testing.T) {
	doc, err := schema.Of(reflect.TypeFor[sample]())
	if err != nil {
		t.Fatal(err)
	}
	v, err := schema.Compile(doc)
	if err != nil {
		t.Fatal(err)
	}
	const ok = `"tag":"t","name":"n","ptrReq":1,"unit":"a","limit":5,"inner":{"qty":1}`
	cases := []struct {
		in    string
		kind  schema.Kind // 0: valid
		field string
		msg   string
	}{
		{`{` + ok + `}`, 0, "", ""},
		{`{` + ok + `,"ptr":null}`, schema.KindType, "ptr", "must be an integer, not null"},
		{`{` + ok + `,"extra":1}`, schema.KindUnknown, "extra", "is not allowed"},
		{`{"tag":"t","ptrReq":1,"unit":"a","limit":5,"inner":{"qty":1}}`, schema.KindRequired, "name", "is required"},
		{`{` + ok + `,"inners":[{"qty":1},{}]}`, schema.KindRequired, "inners/1/qty", "is required"},
		{`{"tag":"t","name":"n","ptrReq":1,"unit":"c","limit":5,"inner":{"qty":1}}`, schema.KindConstraint, "unit", `must be one of "a", "b", not "c"`},
		{`{"tag":"t","name":"n","ptrReq":1,"unit":"a","limit":101,"inner":{"qty":1}}`, schema.KindConstraint, "limit", "must be at most 100, not 101"},
		{`{"tag":"t","name":"n","ptrReq":1,"unit":"a","limit":0.5,"inner":{"qty":1}}`, schema.KindType, "limit", "must be an integer, not number"},
		{`[]`, schema.KindType, "", "must be an object, not array"},
	}
	for _, c := range cases {
		err := v.Validate([]byte(c.in))
		if c.kind == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.in, err)
			}
			continue
		}
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != c.kind || se.Field() != c.field || se.Message != c.msg {
			t.Errorf("%s: err %#v, want kind %d, field %q: %q", c.in, err, c.kind, c.field, c.msg)
		}
	}
	if err := v.Validate([]byte(`{`)); err == nil || errors.As(err, new(*schema.Error)) {
		t.Errorf("invalid JSON: err %v, want an error that is not an *Error", err)
	}
}

func TestCompile_LoadsNothing(t *testing.T) {
	if _, err := schema.Compile(json.RawMessage(`{"$ref":"https://example.com/x.json"}`)); err == nil {
		t.Fatal("a schema referring outside compiled")
	}
}
