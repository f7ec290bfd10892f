package plugingen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

const validManifest = `{
  "id": "acme", "name": "Acme", "version": "1.0.0", "coreVersion": "^0.1.0",
  "permissions": ["events:subscribe:user.created"],
  "events": ["user.created"],
  "hooks": [{"point": "beforeSignIn", "timeout": "200ms"}]
}`

func TestCheckManifest(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []contracts.Problem // each Field exactly, each Message as a substring
	}{
		{name: "valid", doc: validManifest},
		{name: "not JSON", doc: `{"id": `, want: []contracts.Problem{{Field: "manifest", Message: "is not valid JSON"}}},
		{name: "not an object", doc: `[1, 2]`, want: []contracts.Problem{{Field: "manifest", Message: "got array, want object"}}},
		{name: "missing fields", doc: `{"id": "acme"}`, want: []contracts.Problem{
			{Field: "name", Message: "is required"}, {Field: "version", Message: "is required"}, {Field: "coreVersion", Message: "is required"}}},
		{name: "unknown field", doc: strings.Replace(validManifest, `"name"`, `"nmae": "x", "name"`, 1),
			want: []contracts.Problem{{Field: "nmae", Message: "is not a field of a plugin manifest"}}},
		{name: "wrong type deep inside", doc: strings.Replace(validManifest, `"200ms"`, `true`, 1),
			want: []contracts.Problem{{Field: "hooks[0].timeout", Message: ""}}},
		{name: "rules beyond the schema", doc: strings.Replace(validManifest, `"permissions": ["events:subscribe:user.created"],`, ``, 1),
			want: []contracts.Problem{{Field: "events[0]", Message: `add "events:subscribe:user.created" to permissions`}}},
		{name: "every problem at once, explained once", doc: `{"id": "Acme!", "name": "Acme", "version": "one", "coreVersion": "^0.1.0",
			"hooks": [{"point": "beforeSignin"}]}`, want: []contracts.Problem{
			{Field: "id", Message: ""}, {Field: "version", Message: ""}, {Field: "hooks[0].point", Message: `did you mean "beforeSignIn"?`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, problems := CheckManifest([]byte(tt.doc))
			fields := make([]string, len(problems))
			for i, p := range problems {
				fields[i] = p.Field
			}
			wantFields := make([]string, len(tt.want))
			for i, w := range tt.want {
				wantFields[i] = w.Field
			}
			require.ElementsMatch(t, wantFields, fields, "%v", problems)
			for _, w := range tt.want {
				for _, p := range problems {
					if p.Field == w.Field {
						require.Contains(t, p.Message, w.Message)
					}
				}
			}
			if len(tt.want) == 0 {
				require.Equal(t, "acme", m.ID)
			}
		})
	}
}

func TestCheckManifestAcceptsTheExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "signup-allowlist", "plugin.json"))
	require.NoError(t, err)
	m, problems := CheckManifest(doc)
	require.Empty(t, problems)
	require.Equal(t, "signup-allowlist", m.ID)
}

func TestFieldPath(t *testing.T) {
	require.Equal(t, "", fieldPath(nil))
	require.Equal(t, "hooks[0].timeout", fieldPath([]string{"hooks", "0", "timeout"}))
	require.Equal(t, "dependencies.required[2]", fieldPath([]string{"dependencies", "required", "2"}))
}
