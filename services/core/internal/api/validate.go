package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/password"
)

// A small re-creation of the zod schemas better-auth validates bodies and
// queries with, producing zod 4's issue messages joined like better-call:
// "[body.email] Invalid email address; [body.password] ...".

// kind is a field's zod type.
type kind int

const (
	kString       kind = iota // z.string()
	kEmail                    // z.email()
	kBool                     // z.boolean()
	kStringOrNull             // z.string().nullable() (update-user's image)
	kCoerceBool               // z.coerce.boolean(): never fails
)

// field is one property of an object schema.
type field struct {
	name     string
	kind     kind
	optional bool
	nonEmpty bool // .nonempty() / .min(1)
	max      int  // .max(n) in UTF-16 units; 0: none
}

// schema is an object schema (z.object), optionally intersected with
// z.record (sign-up), a bare z.record (update-user), or optional as a whole.
type schema struct {
	fields []field
	// alsoRecord reports "expected record" after "expected object" (sign-up's .and(z.record(...))).
	alsoRecord bool
	// recordOnly is z.record(z.string(), z.any()): any object passes.
	recordOnly bool
	// optional accepts an absent body (z.object(...).optional()).
	optional bool
}

// issues validates v (present=false for undefined) and returns zod's issues
// with paths under where ("body" or "query").
func (sc *schema) issues(where string, v any, present bool) []string {
	if sc == nil {
		return nil
	}
	if !present && sc.optional {
		return nil
	}
	obj, isObj := v.(map[string]any)
	if !present || !isObj {
		got := typeName(v, present)
		if sc.recordOnly {
			return []string{fmt.Sprintf("[%s] Invalid input: expected record, received %s", where, got)}
		}
		out := []string{fmt.Sprintf("[%s] Invalid input: expected object, received %s", where, got)}
		if sc.alsoRecord {
			out = append(out, fmt.Sprintf("[%s] Invalid input: expected record, received %s", where, got))
		}
		return out
	}
	var out []string
	for _, f := range sc.fields {
		fv, ok := obj[f.name]
		if msg := f.check(fv, ok); msg != "" {
			out = append(out, "["+where+"."+f.name+"] "+msg)
		}
	}
	return out
}

// check returns the issue of one field's value, "" when it is valid.
func (f field) check(v any, present bool) string {
	if !present {
		if f.optional || f.kind == kCoerceBool {
			return ""
		}
		return invalidType(f.expected(), v, false)
	}
	switch f.kind {
	case kCoerceBool:
		return ""
	case kBool:
		if _, ok := v.(bool); !ok {
			return invalidType("boolean", v, true)
		}
		return ""
	case kStringOrNull:
		if v == nil {
			return ""
		}
	}
	s, ok := v.(string)
	if !ok {
		return invalidType("string", v, true)
	}
	if f.kind == kEmail && !auth.ValidEmail(s) {
		return "Invalid email address"
	}
	if f.nonEmpty && s == "" {
		return "Too small: expected string to have >=1 characters"
	}
	if f.max > 0 && password.Length(s) > f.max {
		return fmt.Sprintf("Too big: expected string to have <=%d characters", f.max)
	}
	return ""
}

func (f field) expected() string {
	if f.kind == kBool {
		return "boolean"
	}
	return "string"
}

func invalidType(expected string, v any, present bool) string {
	return "Invalid input: expected " + expected + ", received " + typeName(v, present)
}

// typeName is zod's name for the type of a decoded JSON (or query) value.
func typeName(v any, present bool) string {
	if !present {
		return "undefined"
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		f, err := x.Float64()
		switch {
		case err != nil && math.IsInf(f, 1):
			return "Infinity"
		case err != nil && math.IsInf(f, -1):
			return "-Infinity"
		}
		return "number"
	case []any, []string:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// validationError is better-call's 400 for failed validation.
func validationError(issues []string) *contracts.Error {
	return contracts.CodeValidationError.Errorf("%s", strings.Join(issues, "; "))
}

// Accessors for validated values.

// str returns m[key] as a string ("" when absent or not a string).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// strPtr returns m[key] as *string: nil when absent or null.
func strPtr(m map[string]any, key string) *string {
	s, ok := m[key].(string)
	if !ok {
		return nil
	}
	return &s
}

// jsTruthy is JavaScript truthiness of a decoded value.
func jsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || (f != 0 && !math.IsNaN(f))
	}
	return true
}

// coerceBool is z.coerce.boolean: Boolean(value).
func coerceBool(v any, present bool) bool { return present && jsTruthy(v) }
