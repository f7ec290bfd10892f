package plugingen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/authbus/authbus/pkg/contracts"
)

// manifestSchemaURL names the manifest schema while it is compiled.
const manifestSchemaURL = "urn:authbus:plugin-manifest"

var (
	schemaPrinter  = message.NewPrinter(language.English)
	manifestSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(contracts.ManifestSchema()))
		if err != nil {
			return nil, fmt.Errorf("manifest schema: %w", err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(manifestSchemaURL, doc); err != nil {
			return nil, fmt.Errorf("manifest schema: %w", err)
		}
		s, err := c.Compile(manifestSchemaURL)
		if err != nil {
			return nil, fmt.Errorf("manifest schema: %w", err)
		}
		return s, nil
	})
)

// CheckManifest checks a plugin.json document as `authbus plugin validate`
// does: against the manifest's JSON Schema (contracts.ManifestSchema), then
// strictly parsed (contracts.ParseManifest), then with Manifest.Validate.
// It returns the manifest (zero when the document does not decode) and every
// problem, each naming its field ("hooks[0].timeout"): Validate's, then the
// schema's about fields Validate did not already explain.
func CheckManifest(doc []byte) (contracts.Manifest, []contracts.Problem) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return contracts.Manifest{}, []contracts.Problem{{Field: "manifest", Message: "is not valid JSON: " + err.Error()}}
	}
	schemaProblems, err := validateSchema(inst)
	if err != nil {
		return contracts.Manifest{}, []contracts.Problem{{Field: "manifest", Message: err.Error()}}
	}
	m, err := contracts.ParseManifest(doc)
	var dropped map[string]bool
	if err != nil {
		// The schema named what fails the strict parse (an unknown field, a
		// wrong type); check the rest of the manifest all the same.
		var ok bool
		if m, dropped, ok = lenientDecode(doc); !ok {
			if len(schemaProblems) > 0 {
				return contracts.Manifest{}, schemaProblems
			}
			return contracts.Manifest{}, []contracts.Problem{{Field: "manifest", Message: "must be a JSON object"}}
		}
		if len(schemaProblems) == 0 {
			schemaProblems = append(schemaProblems, contracts.Problem{Field: "manifest", Message: strings.TrimPrefix(err.Error(), contracts.ErrInvalidManifest.Error()+": ")})
		}
	}
	var problems []contracts.Problem
	explained := map[string]bool{}
	var me *contracts.ManifestError
	if err := m.Validate(); errors.As(err, &me) {
		for _, p := range me.Problems {
			if dropped[topField(p.Field)] {
				continue // not decoded, so Validate did not see it: the schema's problem stands
			}
			problems = append(problems, p)
			explained[p.Field] = true
		}
	}
	for _, p := range schemaProblems {
		if !explained[p.Field] {
			problems = append(problems, p)
		}
	}
	return m, dedupe(problems)
}

// lenientDecode decodes the manifest's fields one by one, ignoring unknown
// fields and leaving out those whose value does not decode; it reports
// which it left out, and false when doc is not a JSON object.
func lenientDecode(doc []byte) (contracts.Manifest, map[string]bool, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
		return contracts.Manifest{}, nil, false
	}
	dropped := map[string]bool{}
	keep := map[string]json.RawMessage{}
	for k, v := range obj {
		var probe contracts.Manifest
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		if json.Unmarshal(one, &probe) != nil {
			dropped[k] = true
			continue
		}
		keep[k] = v
	}
	var m contracts.Manifest
	b, _ := json.Marshal(keep)
	if err := json.Unmarshal(b, &m); err != nil {
		return contracts.Manifest{}, nil, false
	}
	return m, dropped, true
}

// topField is the top-level manifest field of a problem's field path.
func topField(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}

// validateSchema validates a decoded document against the manifest schema,
// one problem per failed leaf.
func validateSchema(inst any) ([]contracts.Problem, error) {
	s, err := manifestSchema()
	if err != nil {
		return nil, err
	}
	err = s.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	var out []contracts.Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		at := fieldPath(e.InstanceLocation)
		if len(e.Causes) > 0 {
			causes := e.Causes
			if alternatives(e) {
				var msg string
				if causes, msg = relevantAlternatives(e); msg != "" {
					out = append(out, contracts.Problem{Field: or(at, "manifest"), Message: msg})
					return
				}
			}
			for _, c := range causes {
				walk(c)
			}
			return
		}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				out = append(out, contracts.Problem{Field: join(at, name), Message: "is required"})
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				out = append(out, contracts.Problem{Field: join(at, name), Message: "is not a field of a plugin manifest (check its spelling)"})
			}
		default:
			out = append(out, contracts.Problem{Field: or(at, "manifest"), Message: e.ErrorKind.LocalizedString(schemaPrinter)})
		}
	}
	walk(ve)
	return out, nil
}

// alternatives reports whether e is an anyOf or oneOf that no branch matched.
func alternatives(e *jsonschema.ValidationError) bool {
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf:
		return true
	case *kind.OneOf:
		return k.Subschemas == nil
	}
	return false
}

// relevantAlternatives picks what to say about a failed anyOf/oneOf: the
// branches the value had the right type for (a duration string that is not
// a duration), or, when it had the type of none, one merged message ("got
// boolean, want string or number").
func relevantAlternatives(e *jsonschema.ValidationError) ([]*jsonschema.ValidationError, string) {
	var typed []*jsonschema.ValidationError
	var got string
	var want []string
	for _, c := range e.Causes {
		if k, ok := c.ErrorKind.(*kind.Type); ok && len(c.Causes) == 0 && slices.Equal(c.InstanceLocation, e.InstanceLocation) {
			got = k.Got
			want = append(want, k.Want...)
			continue
		}
		typed = append(typed, c)
	}
	if len(typed) > 0 {
		return typed, ""
	}
	return nil, fmt.Sprintf("got %s, want %s", got, strings.Join(want, " or "))
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// fieldPath writes a JSON pointer's tokens as "hooks[0].timeout".
func fieldPath(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

// dedupe drops repeated problems, keeping the first.
func dedupe(ps []contracts.Problem) []contracts.Problem {
	seen := map[contracts.Problem]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
