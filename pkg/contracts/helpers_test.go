package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ and schemas/")

// golden compares got with the file at path, or writes it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run `go test ./pkg/contracts -update` to create it")
	require.Equal(t, string(want), string(got), "%s differs; run `go test ./pkg/contracts -update` if the change is intended", path)
}

// compileSchema compiles a JSON Schema document; compiling also checks it
// against the draft 2020-12 metaschema. Formats (date-time) are asserted.
func compileSchema(t *testing.T, name string, doc []byte) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	require.NoError(t, err, "%s is not JSON", name)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "file:///" + filepath.ToSlash(name)
	require.NoError(t, c.AddResource(url, v))
	s, err := c.Compile(url)
	require.NoError(t, err, "%s is not a valid JSON Schema", name)
	return s
}

// schemaErr validates a JSON document against a compiled schema.
func schemaErr(t *testing.T, s *jsonschema.Schema, doc []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	require.NoError(t, err)
	return s.Validate(v)
}

// indentJSON renders v the way the golden files are written: indented, and
// without escaping <, > and & so manifests stay readable. (Data already
// encoded by json.Marshal inside a json.RawMessage keeps its escapes.)
func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return b.Bytes()
}

// decodeStrict unmarshals b into v refusing unknown fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
