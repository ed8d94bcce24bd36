package schema_test

import (
	"errors"
	"fmt"
	"log"
	"reflect"

	"github.com/actorlog/actorlog/actors/schema"
)

// The schema of a Go type, and a check of values against it that names
// the field at fault.
func Example() {
	type Args struct {
		Limit *int   `json:"limit" jsonschema:"minimum=1,maximum=100"`
		Sound string `json:"sound" jsonschema:"enum=bell,enum=buzz"`
	}
	doc, err := schema.Of(reflect.TypeFor[Args]())
	if err != nil {
		log.Fatal(err)
	}
	v, err := schema.Compile(doc)
	if err != nil {
		log.Fatal(err)
	}
	for _, args := range []string{
		`{"sound": "bell"}`,
		`{"sound": "bell", "limit": 500}`,
		`{"limit": 5}`,
		`{"sound": "gong"}`,
		`{"sound": "bell", "lmit": 5}`,
	} {
		err := v.Validate([]byte(args))
		var se *schema.Error
		if errors.As(err, &se) {
			fmt.Printf("%s: %q %s\n", args, se.Field(), se.Message)
			continue
		}
		fmt.Printf("%s: %v\n", args, err)
	}
	// Output:
	// {"sound": "bell"}: <nil>
	// {"sound": "bell", "limit": 500}: "limit" must be at most 100, not 500
	// {"limit": 5}: "sound" is required
	// {"sound": "gong"}: "sound" must be one of "bell", "buzz", not "gong"
	// {"sound": "bell", "lmit": 5}: "lmit" is not allowed
}
