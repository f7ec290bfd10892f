package contracts

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parsePackage parses the package's non-test Go files with comments.
func parsePackage(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files)
	return fset, files
}

// typeDocs maps "Type" and "Type.Field" to their doc comments, each joined
// into one line.
func typeDocs(t *testing.T) map[string]string {
	_, files := parsePackage(t)
	oneLine := func(g *ast.CommentGroup) string { return strings.Join(strings.Fields(g.Text()), " ") }
	docs := map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.TYPE {
				continue
			}
			for _, spec := range gen.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gen.Specs) == 1 {
					doc = gen.Doc
				}
				docs[ts.Name.Name] = oneLine(doc)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, field := range st.Fields.List {
					for _, name := range field.Names {
						docs[ts.Name.Name+"."+name.Name] = oneLine(field.Doc)
					}
				}
			}
		}
	}
	return docs
}

// schemaFiles generates every schema under schemas/, keyed by path.
func schemaFiles(t *testing.T) map[string][]byte {
	docs := typeDocs(t)
	pkgPath := reflect.TypeFor[Envelope]().PkgPath()
	var missing []string
	describe := func(typ reflect.Type, field string) string {
		if typ.PkgPath() != pkgPath {
			return ""
		}
		key := typ.Name()
		if field != "" {
			key += "." + field
		}
		if docs[key] == "" {
			missing = append(missing, key)
		}
		return docs[key]
	}
	gen := func(v any) *schemaNode {
		s, err := generateSchema(reflect.TypeOf(v), describe)
		require.NoError(t, err)
		// Errors are only ever served with a 4xx or 5xx status.
		errNode := s.Defs["Error"]
		if s.Title == "Error" {
			errNode = s
		}
		if errNode != nil {
			lo, hi := int64(400), int64(599)
			errNode.prop("status").Minimum, errNode.prop("status").Maximum = &lo, &hi
		}
		return s
	}
	envelope := func() *schemaNode {
		s := gen(Envelope{})
		s.prop("specversion").Const = SpecVersion
		s.prop("datacontenttype").Const = ContentTypeJSON
		for _, p := range []string{"id", "source", "type"} {
			s.prop(p).MinLength = 1
		}
		return s
	}

	files := map[string]*schemaNode{}
	files["envelope.json"] = envelope()
	files["error.json"] = gen(Error{})

	req := gen(HookRequest{})
	for _, h := range Hooks() {
		req.prop("hook").Enum = append(req.prop("hook").Enum, string(h.Point))
	}
	req.prop("id").MinLength = 1
	req.prop("context").Type = "object"
	files["hook-request.json"] = req

	reply := gen(HookReply{})
	reply.prop("action").Enum = []string{string(ActionContinue), string(ActionAbort)}
	reply.prop("patch").Type = []string{"object", "null"}
	files["hook-reply.json"] = reply

	for _, e := range Events() {
		s := envelope()
		s.Title, s.Description = string(e.Type), e.Description
		s.prop("type").Const = string(e.Type)
		s.prop("dataschema").Const = DataSchemaFor(e.Type)
		s.Required = append(s.Required, "data")
		data := gen(e.Data)
		s.Defs, data.Defs, data.Schema = data.Defs, nil, ""
		for i := range s.Properties {
			if s.Properties[i].name == "data" {
				s.Properties[i].schema = data
			}
		}
		files["events/"+string(e.Type)+".json"] = s
	}
	for _, h := range Hooks() {
		s := gen(h.Context)
		s.Title, s.Description = string(h.Point), h.Description
		s.Mode, s.Patchable = h.Mode, h.Patchable
		files["hooks/"+string(h.Point)+".json"] = s
	}

	require.Empty(t, missing, "add doc comments: schema descriptions come from them")
	out := map[string][]byte{}
	for name, s := range files {
		b, err := s.marshal()
		require.NoError(t, err)
		out[filepath.Join("schemas", filepath.FromSlash(name))] = b
	}
	return out
}

// TestSchemas regenerates schemas/ and compares it with the committed files
// (`go test ./pkg/contracts -run Schema -update` rewrites them).
func TestSchemas(t *testing.T) {
	files := schemaFiles(t)
	var existing []string
	require.NoError(t, filepath.WalkDir("schemas", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			existing = append(existing, path)
		}
		return err
	}))
	for _, path := range existing {
		if _, ok := files[path]; !ok {
			if *update {
				require.NoError(t, os.Remove(path))
				continue
			}
			t.Errorf("%s is not generated any more; run `go test ./pkg/contracts -run Schema -update`", path)
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			compileSchema(t, path, files[path])
			golden(t, path, files[path])
		})
	}
}

func TestEmbeddedSchemas(t *testing.T) {
	for _, e := range Events() {
		got, err := EventSchema(e.Type)
		require.NoError(t, err, "run `go test ./pkg/contracts -run Schema -update`, then the tests again (schemas/ is embedded at build time)")
		want, err := os.ReadFile(filepath.Join("schemas", "events", string(e.Type)+".json"))
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, h := range Hooks() {
		got, err := HookContextSchema(h.Point)
		require.NoError(t, err, "run `go test ./pkg/contracts -run Schema -update`, then the tests again (schemas/ is embedded at build time)")
		want, err := os.ReadFile(filepath.Join("schemas", "hooks", string(h.Point)+".json"))
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := EventSchema("user.exploded")
	require.ErrorContains(t, err, `unknown event type "user.exploded"`)
	_, err = HookContextSchema("beforeLunch")
	require.ErrorContains(t, err, `unknown hook point "beforeLunch"`)
}

// TestSchemaPatchablePathsExist checks that every patchable path of a hook
// point names a property of its context schema.
func TestSchemaPatchablePathsExist(t *testing.T) {
	for _, h := range Hooks() {
		s, err := generateSchema(reflect.TypeOf(h.Context), nil)
		require.NoError(t, err)
		for _, path := range h.Patchable {
			node := s
			for name := range strings.SplitSeq(path, ".") {
				if node.Ref != "" {
					node = s.Defs[strings.TrimPrefix(node.Ref, "#/$defs/")]
				}
				require.NotNil(t, node, "%s: %s", h.Point, path)
				node = node.prop(name)
				require.NotNil(t, node, "%s: patchable path %q is not in %T", h.Point, path, h.Context)
			}
		}
	}
}

type schemaSample struct {
	Name     string            `json:"name"`
	Nick     *string           `json:"nick,omitempty"`
	Tags     []string          `json:"tags"`
	Labels   map[string]int    `json:"labels,omitempty"`
	At       time.Time         `json:"at"`
	Until    *time.Time        `json:"until,omitempty"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Count    uint16            `json:"count,omitzero"`
	Ratio    float64           `json:"ratio"`
	Quoted   int64             `json:"quoted,string"`
	Blob     []byte            `json:"blob"`
	Point    HookPoint         `json:"point"`
	Inner    schemaSampleInner `json:"inner"`
	Optional *schemaSampleInner
	Self     *schemaSample `json:"self,omitempty"`
	Skipped  string        `json:"-"`
	hidden   string
}

type schemaSampleInner struct {
	OK bool `json:"ok"`
}

func TestJSONSchemaOf(t *testing.T) {
	b, err := JSONSchemaOf(schemaSample{hidden: "unused"})
	require.NoError(t, err)
	require.JSONEq(t, `{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"title": "schemaSample",
		"type": "object",
		"properties": {
			"name": {"type": "string"},
			"nick": {"type": ["string", "null"]},
			"tags": {"type": ["array", "null"], "items": {"type": "string"}},
			"labels": {"type": ["object", "null"], "additionalProperties": {"type": "integer"}},
			"at": {"type": "string", "format": "date-time"},
			"until": {"type": ["string", "null"], "format": "date-time"},
			"raw": {},
			"count": {"type": "integer", "minimum": 0},
			"ratio": {"type": "number"},
			"quoted": {"type": "string"},
			"blob": {"type": ["string", "null"], "contentEncoding": "base64"},
			"point": {"type": "string"},
			"inner": {"$ref": "#/$defs/schemaSampleInner"},
			"Optional": {"anyOf": [{"$ref": "#/$defs/schemaSampleInner"}, {"type": "null"}]},
			"self": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}
		},
		"required": ["name", "tags", "at", "ratio", "quoted", "blob", "point", "inner", "Optional"],
		"$defs": {
			"schemaSampleInner": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
		}
	}`, string(b))
	s := compileSchema(t, "sample.json", b)

	now := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	nick := "ada"
	good := schemaSample{Name: "Ada", Nick: &nick, At: now, Until: &now, Raw: json.RawMessage(`[1]`), Self: &schemaSample{At: now}}
	require.NoError(t, schemaErr(t, s, indentJSON(t, good)), "what Go encodes passes")
	require.NoError(t, schemaErr(t, s, indentJSON(t, schemaSample{})), "nil slices, pointers and maps encode as null")
	require.Error(t, schemaErr(t, s, []byte(`{"name": 1}`)))
}

func TestJSONSchemaOfRefuses(t *testing.T) {
	type embedded struct{ schemaSampleInner }
	type intKeys struct {
		M map[int]string `json:"m"`
	}
	type withChan struct {
		C chan int `json:"c"`
	}
	type withDuration struct {
		D Duration `json:"d"`
	}
	tests := []struct {
		name string
		v    any
		err  string
	}{
		{name: "nil", v: nil, err: "nil has no type"},
		{name: "embedded struct", v: embedded{}, err: "embeds contracts.schemaSampleInner; give it a json name"},
		{name: "map with int keys", v: intKeys{}, err: "map key type int is not a string kind"},
		{name: "channel", v: withChan{}, err: "chan int values have no JSON encoding"},
		{name: "custom JSON encoding", v: withDuration{}, err: "contracts.Duration has its own JSON encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := JSONSchemaOf(tt.v)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// TestEventSchemasRejectWrongData checks the per-event schemas are specific:
// another event's type or data does not pass.
func TestEventSchemasRejectWrongData(t *testing.T) {
	b, err := EventSchema(EventUserCreated)
	require.NoError(t, err)
	s := compileSchema(t, "user.created.json", b)
	sample, err := os.ReadFile(filepath.Join("testdata", "events", "user.created.json"))
	require.NoError(t, err)
	require.NoError(t, schemaErr(t, s, sample))

	mutate := func(f func(map[string]any)) []byte {
		var c map[string]any
		require.NoError(t, json.Unmarshal(sample, &c))
		f(c)
		return indentJSON(t, c)
	}
	for name, doc := range map[string][]byte{
		"other type":            mutate(func(m map[string]any) { m["type"] = "user.deleted" }),
		"missing data":          mutate(func(m map[string]any) { delete(m, "data") }),
		"missing id":            mutate(func(m map[string]any) { delete(m, "id") }),
		"data without user":     mutate(func(m map[string]any) { delete(m["data"].(map[string]any), "user") }),
		"bad time":              mutate(func(m map[string]any) { m["time"] = "yesterday" }),
		"wrong specversion":     mutate(func(m map[string]any) { m["specversion"] = "0.3" }),
		"email verified as 1":   mutate(func(m map[string]any) { m["data"].(map[string]any)["user"].(map[string]any)["emailVerified"] = 1 }),
		"other dataschema":      mutate(func(m map[string]any) { m["dataschema"] = "authbus:user.created/v9" }),
		"empty source":          mutate(func(m map[string]any) { m["source"] = "" }),
		"non-JSON content type": mutate(func(m map[string]any) { m["datacontenttype"] = "text/plain" }),
	} {
		require.Error(t, schemaErr(t, s, doc), name)
	}
}
