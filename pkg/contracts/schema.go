package contracts

import (
	"bytes"
	"embed"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// jsonSchemaDialect is the JSON Schema draft every authbus schema uses.
const jsonSchemaDialect = "https://json-schema.org/draft/2020-12/schema"

//go:embed manifest.schema.json
var manifestSchema []byte

// ManifestSchema returns the JSON Schema (draft 2020-12) of plugin.json.
// It checks structure (types, required fields, enums, patterns);
// Manifest.Validate checks the rest.
func ManifestSchema() []byte { return bytes.Clone(manifestSchema) }

//go:embed schemas/events/*.json schemas/hooks/*.json
var generatedSchemas embed.FS

// EventSchema returns the JSON Schema of an event type's envelope with its
// typed data (the file schemas/events/<type>.json).
func EventSchema(t EventType) ([]byte, error) {
	if !t.Known() {
		return nil, fmt.Errorf("event schema: unknown event type %q", t)
	}
	return generatedSchemas.ReadFile("schemas/events/" + string(t) + ".json")
}

// HookContextSchema returns the JSON Schema of the context a hook point
// sends (the file schemas/hooks/<point>.json).
func HookContextSchema(p HookPoint) ([]byte, error) {
	if !p.Known() {
		return nil, fmt.Errorf("hook context schema: unknown hook point %q", p)
	}
	return generatedSchemas.ReadFile("schemas/hooks/" + string(p) + ".json")
}

// JSONSchemaOf generates a JSON Schema (draft 2020-12) of the JSON encoding
// of v's type: struct fields by their json tags, required unless tagged
// omitempty or omitzero; pointers, slices and maps nullable (Go encodes nil
// as null); time.Time as a date-time string; json.RawMessage as any value;
// named struct types under $defs. Types with their own JSON encoding are
// refused, as reflection cannot see their shape.
func JSONSchemaOf(v any) ([]byte, error) {
	s, err := generateSchema(reflect.TypeOf(v), nil)
	if err != nil {
		return nil, err
	}
	return s.marshal()
}

// schemaNode is one JSON Schema object; fields are in the order they are
// written.
type schemaNode struct {
	Schema               string        `json:"$schema,omitempty"`
	Ref                  string        `json:"$ref,omitempty"`
	Title                string        `json:"title,omitempty"`
	Description          string        `json:"description,omitempty"`
	Type                 any           `json:"type,omitempty"` // a name or a list of names
	Format               string        `json:"format,omitempty"`
	ContentEncoding      string        `json:"contentEncoding,omitempty"`
	Const                any           `json:"const,omitempty"`
	Enum                 []string      `json:"enum,omitempty"`
	MinLength            int           `json:"minLength,omitempty"`
	Minimum              *int64        `json:"minimum,omitempty"`
	Maximum              *int64        `json:"maximum,omitempty"`
	Properties           schemaProps   `json:"properties,omitempty"`
	Required             []string      `json:"required,omitempty"`
	AdditionalProperties *schemaNode   `json:"additionalProperties,omitempty"`
	Items                *schemaNode   `json:"items,omitempty"`
	AnyOf                []*schemaNode `json:"anyOf,omitempty"`
	// Mode and Patchable describe a hook point's context for code generators.
	Mode      HookMode               `json:"x-authbus-mode,omitempty"`
	Patchable []string               `json:"x-authbus-patchable,omitempty"`
	Defs      map[string]*schemaNode `json:"$defs,omitempty"`
}

// schemaProps keeps properties in struct field order.
type schemaProps []schemaProp

type schemaProp struct {
	name   string
	schema *schemaNode
}

func (ps schemaProps) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.name)
		v, err := json.Marshal(p.schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// prop returns the schema of property name, or nil.
func (s *schemaNode) prop(name string) *schemaNode {
	for _, p := range s.Properties {
		if p.name == name {
			return p.schema
		}
	}
	return nil
}

// marshal renders the schema indented, with a final newline.
func (s *schemaNode) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// describeFunc returns the documentation of a Go type (field == "") or of
// one of its struct fields.
type describeFunc func(t reflect.Type, field string) string

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	jsonMarshaler  = reflect.TypeFor[json.Marshaler]()
	textMarshaler  = reflect.TypeFor[encoding.TextMarshaler]()
	defNameUnsafe  = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// schemaGen turns Go types into schema nodes, collecting named structs in defs.
type schemaGen struct {
	root     reflect.Type
	describe describeFunc
	defs     map[string]*schemaNode
	defTypes map[string]reflect.Type
}

// generateSchema builds the schema document of t; describe, if not nil,
// supplies descriptions.
func generateSchema(t reflect.Type, describe describeFunc) (*schemaNode, error) {
	if t == nil {
		return nil, fmt.Errorf("json schema: nil has no type")
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if describe == nil {
		describe = func(reflect.Type, string) string { return "" }
	}
	g := &schemaGen{root: t, describe: describe, defs: map[string]*schemaNode{}, defTypes: map[string]reflect.Type{}}
	var s *schemaNode
	var err error
	if t.Kind() == reflect.Struct && t != timeType {
		s, err = g.object(t)
	} else {
		s, err = g.node(t)
	}
	if err != nil {
		return nil, err
	}
	s.Schema = jsonSchemaDialect
	s.Title = t.Name()
	if s.Description == "" {
		s.Description = describe(t, "")
	}
	if len(g.defs) > 0 {
		s.Defs = g.defs
	}
	return s, nil
}

// node returns the schema of a value of type t.
func (g *schemaGen) node(t reflect.Type) (*schemaNode, error) {
	switch t {
	case timeType:
		return &schemaNode{Type: "string", Format: "date-time"}, nil
	case rawMessageType:
		return &schemaNode{}, nil
	}
	if t.Kind() == reflect.Pointer {
		elem, err := g.node(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(elem), nil
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return nil, fmt.Errorf("json schema: %s has its own JSON encoding, whose shape reflection cannot see", t)
	}
	switch t.Kind() {
	case reflect.Bool:
		return &schemaNode{Type: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &schemaNode{Type: "integer"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		zero := int64(0)
		return &schemaNode{Type: "integer", Minimum: &zero}, nil
	case reflect.Float32, reflect.Float64:
		return &schemaNode{Type: "number"}, nil
	case reflect.String:
		return &schemaNode{Type: "string"}, nil
	case reflect.Interface:
		return &schemaNode{}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nullable(&schemaNode{Type: "string", ContentEncoding: "base64"}), nil
		}
		items, err := g.node(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(&schemaNode{Type: "array", Items: items}), nil
	case reflect.Array:
		items, err := g.node(t.Elem())
		if err != nil {
			return nil, err
		}
		return &schemaNode{Type: "array", Items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("json schema: map key type %s is not a string kind", t.Key())
		}
		values, err := g.node(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(&schemaNode{Type: "object", AdditionalProperties: values}), nil
	case reflect.Struct:
		return g.ref(t)
	}
	return nil, fmt.Errorf("json schema: %s values have no JSON encoding", t)
}

// nullable lets s also accept null.
func nullable(s *schemaNode) *schemaNode {
	switch typ := s.Type.(type) {
	case string:
		if s.Ref == "" && s.Const == nil && s.Enum == nil {
			s.Type = []string{typ, "null"}
			return s
		}
	case nil:
		if s.Ref == "" && s.AnyOf == nil && s.Const == nil && s.Enum == nil {
			return s // already accepts any value, null included
		}
	}
	return &schemaNode{AnyOf: []*schemaNode{s, {Type: "null"}}}
}

// ref returns a reference to a struct type's entry in $defs, creating it
// on first use. Anonymous structs are written in place.
func (g *schemaGen) ref(t reflect.Type) (*schemaNode, error) {
	if t == g.root {
		return &schemaNode{Ref: "#"}, nil
	}
	if t.Name() == "" {
		return g.object(t)
	}
	name := defNameUnsafe.ReplaceAllString(t.Name(), "_")
	if other, ok := g.defTypes[name]; ok {
		if other != t {
			return nil, fmt.Errorf("json schema: two types are named %s (%s and %s)", name, other, t)
		}
		return &schemaNode{Ref: "#/$defs/" + name}, nil
	}
	g.defTypes[name] = t
	obj, err := g.object(t)
	if err != nil {
		return nil, err
	}
	obj.Description = g.describe(t, "")
	g.defs[name] = obj
	return &schemaNode{Ref: "#/$defs/" + name}, nil
}

// object writes a struct's fields as properties named by their json tags
// ("-" skipped). Embedded structs without a json name are refused rather
// than flattened: none of ours needs encoding/json's precedence rules.
func (g *schemaGen) object(t reflect.Type) (*schemaNode, error) {
	obj := &schemaNode{Type: "object"}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				return nil, fmt.Errorf("json schema: %s embeds %s; give it a json name", t, ft)
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s, err := g.node(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		if hasOption(opts, "string") {
			switch f.Type.Kind() {
			case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
				s = &schemaNode{Type: "string"}
			}
		}
		s.Description = g.describe(t, f.Name)
		obj.Properties = append(obj.Properties, schemaProp{name, s})
		if !hasOption(opts, "omitempty") && !hasOption(opts, "omitzero") {
			obj.Required = append(obj.Required, name)
		}
	}
	return obj, nil
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
