package contracts

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

func compiledManifestSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	return compileSchema(t, "manifest.schema.json", ManifestSchema())
}

// fullManifest sets every field, validly.
func fullManifest() Manifest {
	return Manifest{
		ID:          "ratelimit",
		Name:        "Rate limiter",
		Version:     "1.2.3",
		Description: "Limits sign-in rates.",
		Author:      "authbus",
		License:     "Apache-2.0",
		Tags:        []string{"security"},
		CoreVersion: "^0.1.0",
		Dependencies: Dependencies{
			Required:  []DependencyRef{{ID: "audit", Version: "^0.1.0"}},
			Optional:  []DependencyRef{{ID: "orgs"}},
			Conflicts: []DependencyRef{{ID: "legacy-ratelimit"}},
		},
		Permissions: []Permission{
			"user:read", "events:subscribe:auth.login.failed", "events:subscribe:user.>",
			"http:mount:/api/limits", "plugin:invoke:audit", "hooks:call:beforeSignIn",
		},
		ConfigSchema:  json.RawMessage(`{"type":"object","properties":{"max":{"type":"integer"}}}`),
		DefaultConfig: json.RawMessage(`{"max":10}`),
		Hooks: []HookDecl{
			{Point: HookBeforeSignIn, Order: -10, Timeout: Duration(250 * time.Millisecond), FailurePolicy: FailOpen},
			{Point: HookAfterSignIn, Order: MaxHookOrder, Timeout: Duration(MaxHookTimeout), FailurePolicy: FailClosed},
		},
		Events: []string{"auth.login.failed", "user.created", "user.*"},
		Routes: []RouteDecl{
			{Method: "GET", Path: "/status", Auth: AuthNone},
			{Method: "POST", Path: "/status", Auth: AuthAdmin, MaxBodyBytes: 1024},
			{Method: "GET", Path: "/files/*", Auth: AuthSession},
			{Method: "DELETE", Path: "/"},
		},
		Mount:      "/api/limits",
		Invoke:     []string{"check", "reset_counter"},
		Migrations: &Migrations{Schema: "ratelimit"},
	}
}

// schemaVerdict says whether manifest.schema.json also catches a rule.
type schemaVerdict int

const (
	schemaRejects schemaVerdict = iota // structural: the schema agrees with Validate
	schemaAccepts                      // semantic: only Validate can tell
	schemaNA                           // the manifest cannot be written as JSON
)

// TestManifestValidateRules has one case per rule of Manifest.Validate; each
// breaks one rule of a valid manifest and expects exactly that problem.
func TestManifestValidateRules(t *testing.T) {
	schema := compiledManifestSchema(t)
	tests := []struct {
		name   string
		edit   func(m *Manifest)
		field  string
		msg    string
		schema schemaVerdict
	}{
		{name: "id malformed", edit: func(m *Manifest) { m.ID = "Rate_Limit" }, field: "id", msg: `plugin id "Rate_Limit" must start with a lowercase letter`},
		{name: "id missing", edit: func(m *Manifest) { m.ID = "" }, field: "id", msg: "plugin id is empty"},
		{name: "id reserved", edit: func(m *Manifest) { m.ID = "core" }, field: "id", msg: `plugin id "core" is reserved`},
		{name: "name required", edit: func(m *Manifest) { m.Name = " " }, field: "name", msg: "is required"},
		{name: "version required", edit: func(m *Manifest) { m.Version = "" }, field: "version", msg: "is required"},
		{name: "version not semver", edit: func(m *Manifest) { m.Version = "1.2" }, field: "version", msg: `"1.2" is not a semantic version`},
		{name: "coreVersion required", edit: func(m *Manifest) { m.CoreVersion = "" }, field: "coreVersion", msg: "is required"},
		{name: "coreVersion not a range", edit: func(m *Manifest) { m.CoreVersion = "^0.x.1" }, field: "coreVersion", msg: `"^0.x.1" is not a version range`, schema: schemaAccepts},
		{name: "dependency id invalid", edit: func(m *Manifest) { m.Dependencies.Optional[0].ID = "Orgs" }, field: "dependencies.optional[0]", msg: `plugin id "Orgs" must start with a lowercase letter`},
		{name: "dependency on itself", edit: func(m *Manifest) { m.Dependencies.Required[0].ID = "ratelimit" }, field: "dependencies.required[0]", msg: "cannot depend on or conflict with itself", schema: schemaAccepts},
		{name: "dependency listed twice", edit: func(m *Manifest) { m.Dependencies.Optional[0].ID = "audit" }, field: "dependencies.optional[0]", msg: `"audit" is already listed at dependencies.required[0]`, schema: schemaAccepts},
		{name: "dependency and conflict", edit: func(m *Manifest) { m.Dependencies.Conflicts[0].ID = "orgs" }, field: "dependencies.conflicts[0]", msg: `"orgs" is also a dependency (dependencies.optional[0])`, schema: schemaAccepts},
		{name: "dependency range invalid", edit: func(m *Manifest) { m.Dependencies.Required[0].Version = ">=banana" }, field: "dependencies.required[0].version", msg: `">=banana" is not a version range`, schema: schemaAccepts},
		{name: "permission unknown", edit: func(m *Manifest) { m.Permissions[0] = "user:delete" }, field: "permissions[0]", msg: `unknown permission "user:delete"`},
		{name: "permission scoped argument invalid", edit: func(m *Manifest) { m.Permissions[4] = "plugin:invoke:Audit" }, field: "permissions[4]", msg: `plugin id "Audit"`},
		{name: "permission matching no event", edit: func(m *Manifest) { m.Permissions = append(m.Permissions, "events:subscribe:user.exploded") }, field: "permissions[6]", msg: "matches no event of the catalog", schema: schemaAccepts},
		{name: "permission listed twice", edit: func(m *Manifest) { m.Permissions = append(m.Permissions, "user:read") }, field: "permissions[6]", msg: `"user:read" is listed twice (also permissions[0])`},
		{name: "configSchema not for an object", edit: func(m *Manifest) { m.ConfigSchema = json.RawMessage(`{"type":"string"}`) }, field: "configSchema", msg: `must describe an object ("type": "object")`},
		{name: "configSchema not an object", edit: func(m *Manifest) { m.ConfigSchema = json.RawMessage(`true`) }, field: "configSchema", msg: "must be a JSON Schema object"},
		{name: "configSchema not JSON", edit: func(m *Manifest) { m.ConfigSchema = json.RawMessage(`{"type":`) }, field: "configSchema", msg: "is not valid JSON", schema: schemaNA},
		{name: "defaultConfig not an object", edit: func(m *Manifest) { m.DefaultConfig = json.RawMessage(`[1]`) }, field: "defaultConfig", msg: "must be a JSON object"},
		{name: "defaultConfig not JSON", edit: func(m *Manifest) { m.DefaultConfig = json.RawMessage(`{`) }, field: "defaultConfig", msg: "is not valid JSON", schema: schemaNA},
		{name: "hook point unknown", edit: func(m *Manifest) { m.Hooks[0].Point = "beforeSignin" }, field: "hooks[0].point", msg: `unknown hook point "beforeSignin" (did you mean "beforeSignIn"?)`},
		{name: "hook point missing", edit: func(m *Manifest) { m.Hooks[0].Point = "" }, field: "hooks[0].point", msg: "is required"},
		{name: "hook point declared twice", edit: func(m *Manifest) { m.Hooks[1].Point = HookBeforeSignIn }, field: "hooks[1].point", msg: "beforeSignIn is declared twice (also hooks[0])", schema: schemaAccepts},
		{name: "hook order out of range", edit: func(m *Manifest) { m.Hooks[0].Order = MinHookOrder - 1 }, field: "hooks[0].order", msg: "-1001 is outside the allowed range -1000..1000"},
		{name: "hook timeout negative", edit: func(m *Manifest) { m.Hooks[0].Timeout = Duration(-time.Second) }, field: "hooks[0].timeout", msg: "-1s is negative"},
		{name: "hook timeout too long", edit: func(m *Manifest) { m.Hooks[1].Timeout = Duration(45 * time.Second) }, field: "hooks[1].timeout", msg: "45s is longer than the 30s maximum", schema: schemaAccepts},
		{name: "hook failure policy unknown", edit: func(m *Manifest) { m.Hooks[0].FailurePolicy = "retry" }, field: "hooks[0].failurePolicy", msg: `"retry" is not "open" or "closed"`},
		{name: "event pattern malformed", edit: func(m *Manifest) { m.Events[1] = "user..created" }, field: "events[1]", msg: `subject pattern "user..created" has an empty token`},
		{name: "event pattern matching nothing", edit: func(m *Manifest) { m.Events[1] = "user.exploded" }, field: "events[1]", msg: `"user.exploded" matches no event of the catalog`, schema: schemaAccepts},
		{name: "event not covered by a permission", edit: func(m *Manifest) { m.Events[1] = "auth.*" }, field: "events[1]", msg: `"auth.*" is not covered by an "events:subscribe:" permission; add "events:subscribe:auth.*" to permissions`, schema: schemaAccepts},
		{name: "route method unknown", edit: func(m *Manifest) { m.Routes[0].Method = "get" }, field: "routes[0].method", msg: `"get" is not one of GET, POST, PUT, PATCH, DELETE`},
		{name: "route path without leading slash", edit: func(m *Manifest) { m.Routes[0].Path = "status" }, field: "routes[0].path", msg: `"status" must start with "/"`},
		{name: "route path with dot-dot", edit: func(m *Manifest) { m.Routes[0].Path = "/a/../status" }, field: "routes[0].path", msg: `must not contain ".."`},
		{name: "route path with double slash", edit: func(m *Manifest) { m.Routes[0].Path = "/a//status" }, field: "routes[0].path", msg: `must not contain "//"`},
		{name: "route path with query", edit: func(m *Manifest) { m.Routes[0].Path = "/status?full=1" }, field: "routes[0].path", msg: "must not contain a query or fragment"},
		{name: "route path with fragment", edit: func(m *Manifest) { m.Routes[0].Path = "/status#top" }, field: "routes[0].path", msg: "must not contain a query or fragment"},
		{name: "route path with space", edit: func(m *Manifest) { m.Routes[0].Path = "/my status" }, field: "routes[0].path", msg: "must not contain spaces or control characters"},
		{name: "route path with inner wildcard", edit: func(m *Manifest) { m.Routes[2].Path = "/files/*/meta" }, field: "routes[2].path", msg: `may use "*" only as a final "/*"`},
		{name: "route path with partial wildcard", edit: func(m *Manifest) { m.Routes[2].Path = "/files*" }, field: "routes[2].path", msg: `may use "*" only as a final "/*"`},
		{name: "route declared twice", edit: func(m *Manifest) { m.Routes[1].Method = "GET" }, field: "routes[1]", msg: "GET /status is declared twice (also routes[0])", schema: schemaAccepts},
		{name: "route auth unknown", edit: func(m *Manifest) { m.Routes[0].Auth = "public" }, field: "routes[0].auth", msg: `"public" is not "none", "session" or "admin"`},
		{name: "route body limit negative", edit: func(m *Manifest) { m.Routes[1].MaxBodyBytes = -1 }, field: "routes[1].maxBodyBytes", msg: "-1 is negative"},
		{name: "mount malformed", edit: func(m *Manifest) { m.Mount = "/limits/" }, field: "mount", msg: `"/limits/" must start with "/api/"`},
		{name: "mount reserved", edit: func(m *Manifest) { m.Mount = "/api/admin/limits"; m.Permissions[3] = "http:mount:/api/limits" }, field: "mount", msg: "is inside /api/admin, which the core serves"},
		{name: "mount not covered by a permission", edit: func(m *Manifest) { m.Mount = "/api/quota" }, field: "mount", msg: `"/api/quota" needs the permission "http:mount:/api/quota"`, schema: schemaAccepts},
		{name: "invoke method malformed", edit: func(m *Manifest) { m.Invoke[0] = "Check" }, field: "invoke[0]", msg: `"Check" must be 1 to 63 characters`},
		{name: "invoke method too long", edit: func(m *Manifest) { m.Invoke[0] = strings.Repeat("a", 64) }, field: "invoke[0]", msg: "must be 1 to 63 characters"},
		{name: "invoke method listed twice", edit: func(m *Manifest) { m.Invoke[1] = "check" }, field: "invoke[1]", msg: `"check" is listed twice (also invoke[0])`},
		{name: "migrations schema missing", edit: func(m *Manifest) { m.Migrations.Schema = "" }, field: "migrations.schema", msg: `is required: the Postgres schema the plugin owns, such as "ratelimit"`},
		{name: "migrations schema malformed", edit: func(m *Manifest) { m.Migrations.Schema = "Rate-Limit" }, field: "migrations.schema", msg: `"Rate-Limit" must be a lowercase identifier`},
		{name: "migrations schema core", edit: func(m *Manifest) { m.Migrations.Schema = "core" }, field: "migrations.schema", msg: `"core" is reserved`},
		{name: "migrations schema public", edit: func(m *Manifest) { m.Migrations.Schema = "public" }, field: "migrations.schema", msg: `"public" is reserved`},
		{name: "migrations schema pg_", edit: func(m *Manifest) { m.Migrations.Schema = "pg_limits" }, field: "migrations.schema", msg: `"pg_limits" is reserved`},
		{name: "migrations schema information_schema", edit: func(m *Manifest) { m.Migrations.Schema = "information_schema" }, field: "migrations.schema", msg: `"information_schema" is reserved`},
	}

	t.Run("valid", func(t *testing.T) {
		m := fullManifest()
		require.NoError(t, m.Validate())
		require.NoError(t, schemaErr(t, schema, indentJSON(t, m)))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fullManifest()
			tt.edit(&m)
			err := m.Validate()
			require.ErrorIs(t, err, ErrInvalidManifest)
			var merr *ManifestError
			require.True(t, errors.As(err, &merr))
			require.Len(t, merr.Problems, 1, "exactly one problem: %v", err)
			require.Equal(t, tt.field, merr.Problems[0].Field)
			require.Contains(t, merr.Problems[0].Message, tt.msg)

			if tt.schema == schemaNA {
				_, err := json.Marshal(m)
				require.Error(t, err, "this manifest cannot be written as JSON")
				return
			}
			schemaResult := schemaErr(t, schema, indentJSON(t, m))
			if tt.schema == schemaRejects {
				require.Error(t, schemaResult, "manifest.schema.json should reject this too")
			} else {
				require.NoError(t, schemaResult, "only Validate can tell; if the schema now catches it, mark the case schemaRejects")
			}
		})
	}
}

func TestManifestErrorReportsEveryProblem(t *testing.T) {
	err := Manifest{ID: "X", Hooks: []HookDecl{{Point: "nope", Timeout: Duration(time.Minute)}}}.Validate()
	var merr *ManifestError
	require.True(t, errors.As(err, &merr))
	require.Equal(t, []Problem{
		{Field: "id", Message: `plugin id "X" must be 2 to 63 characters long`},
		{Field: "name", Message: `is required: a human-readable name such as "Rate limiter"`},
		{Field: "version", Message: `is required: the plugin's semantic version such as "1.0.0"`},
		{Field: "coreVersion", Message: `is required: the core versions the plugin works with, such as "^0.1.0"`},
		{Field: "hooks[0].point", Message: `unknown hook point "nope"`},
		{Field: "hooks[0].timeout", Message: "1m0s is longer than the 30s maximum"},
	}, merr.Problems)
	require.Equal(t, `invalid plugin manifest: id: plugin id "X" must be 2 to 63 characters long; `+
		`name: is required: a human-readable name such as "Rate limiter"; `+
		`version: is required: the plugin's semantic version such as "1.0.0"; `+
		`coreVersion: is required: the core versions the plugin works with, such as "^0.1.0"; `+
		`hooks[0].point: unknown hook point "nope"; hooks[0].timeout: 1m0s is longer than the 30s maximum`, err.Error())
}

// TestManifestFiles checks testdata/manifests: every valid file passes the
// schema and Validate and re-encodes to itself; every invalid file fails
// Validate with the problems listed in its .problems golden file.
func TestManifestFiles(t *testing.T) {
	schema := compiledManifestSchema(t)
	valid, err := filepath.Glob(filepath.Join("testdata", "manifests", "valid", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, valid)
	for _, path := range valid {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, schemaErr(t, schema, b))
			m, err := ParseManifest(b)
			require.NoError(t, err)
			require.NoError(t, m.Validate())
			golden(t, path, indentJSON(t, m))
		})
	}

	invalid, err := filepath.Glob(filepath.Join("testdata", "manifests", "invalid", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, invalid)
	for _, path := range invalid {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			m, err := ParseManifest(b)
			require.NoError(t, err)
			err = m.Validate()
			var merr *ManifestError
			require.True(t, errors.As(err, &merr), "%s must fail Validate", path)
			var lines strings.Builder
			for _, p := range merr.Problems {
				lines.WriteString(p.String() + "\n")
			}
			golden(t, strings.TrimSuffix(path, ".json")+".problems", []byte(lines.String()))
		})
	}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string
	}{
		{name: "unknown field", in: `{"id":"abc","hoks":[]}`, err: `unknown field "hoks"`},
		{name: "wrong type", in: `{"id":5}`, err: "cannot unmarshal number into Go struct field Manifest.id of type string"},
		{name: "trailing data", in: `{"id":"abc"} {}`, err: "trailing data after the manifest object"},
		{name: "not JSON", in: `id: abc`, err: "invalid character"},
		{name: "bad duration", in: `{"hooks":[{"point":"beforeSignIn","timeout":"soon"}]}`, err: `duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.in))
			require.ErrorIs(t, err, ErrInvalidManifest)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		err  string
	}{
		{name: "string", in: `"250ms"`, want: 250 * time.Millisecond},
		{name: "compound string", in: `"1m30s"`, want: 90 * time.Second},
		{name: "milliseconds", in: `1500`, want: 1500 * time.Millisecond},
		{name: "fractional milliseconds", in: `0.5`, want: 500 * time.Microsecond},
		{name: "zero", in: `0`, want: 0},
		{name: "null keeps the value", in: `null`, want: 7 * time.Second},
		{name: "bad string", in: `"soon"`, err: `duration "soon"`},
		{name: "unitless string", in: `"500"`, err: `missing unit in duration "500"`},
		{name: "too many milliseconds", in: `1e300`, err: "duration of 1e300 milliseconds is out of range"},
		{name: "bool", in: `true`, err: "duration must be a string like \"500ms\" or a number of milliseconds, got true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Duration(7 * time.Second)
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, time.Duration(d))
		})
	}
	b, err := json.Marshal(Duration(1500 * time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, `"1.5s"`, string(b))
	require.Equal(t, DefaultHookTimeout, HookDecl{}.EffectiveTimeout())
	require.Equal(t, time.Second, HookDecl{Timeout: Duration(time.Second)}.EffectiveTimeout())
	require.Equal(t, FailClosed, HookDecl{}.EffectivePolicy())
	require.Equal(t, FailOpen, HookDecl{FailurePolicy: FailOpen}.EffectivePolicy())
	require.Equal(t, AuthSession, RouteDecl{}.EffectiveAuth())
	require.Equal(t, AuthNone, RouteDecl{Auth: AuthNone}.EffectiveAuth())
}

func TestDependencyRefJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want DependencyRef
		out  string
		err  string
	}{
		{name: "id", in: `"orgs"`, want: DependencyRef{ID: "orgs"}, out: `"orgs"`},
		{name: "id and range", in: `"orgs@^0.1.0 || ^0.2.0"`, want: DependencyRef{ID: "orgs", Version: "^0.1.0 || ^0.2.0"}, out: `"orgs@^0.1.0 || ^0.2.0"`},
		{name: "object", in: `{"id":"orgs","version":"~1.2"}`, want: DependencyRef{ID: "orgs", Version: "~1.2"}, out: `"orgs@~1.2"`},
		{name: "object without version", in: `{"id":"orgs"}`, want: DependencyRef{ID: "orgs"}, out: `"orgs"`},
		{name: "object with a misspelt field", in: `{"id":"orgs","verison":"^1"}`, err: `unknown field "verison"`},
		{name: "number", in: `5`, err: `dependency must be "id", "id@range" or {"id","version"}`},
		{name: "object with a number id", in: `{"id":5}`, err: "dependency must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DependencyRef
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, d)
			out, err := json.Marshal(d)
			require.NoError(t, err)
			require.Equal(t, tt.out, string(out))
		})
	}
}

// TestManifestSchemaMatchesCatalog checks the enums and bounds written in
// manifest.schema.json against the Go definitions they copy.
func TestManifestSchemaMatchesCatalog(t *testing.T) {
	var doc struct {
		Defs struct {
			PluginID struct {
				Not struct{ Enum []string }
			} `json:"pluginId"`
			Permission struct {
				AnyOf []struct{ Enum []string }
			}
			Hook struct {
				Properties struct {
					Point         struct{ Enum []string }
					Order         struct{ Minimum, Maximum int }
					Timeout       struct{ AnyOf []struct{ Maximum float64 } }
					FailurePolicy struct{ Enum []string }
				}
			}
			Route struct {
				Properties struct {
					Method struct{ Enum []string }
					Auth   struct{ Enum []string }
				}
			}
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(ManifestSchema(), &doc))

	var points []string
	for _, h := range Hooks() {
		points = append(points, string(h.Point))
	}
	require.ElementsMatch(t, points, doc.Defs.Hook.Properties.Point.Enum)
	var fixed []string
	for p := range fixedPermissions {
		fixed = append(fixed, string(p))
	}
	require.ElementsMatch(t, fixed, doc.Defs.Permission.AnyOf[0].Enum)
	for _, id := range doc.Defs.PluginID.Not.Enum {
		require.ErrorContains(t, ValidatePluginID(id), "is reserved")
	}
	require.Equal(t, MinHookOrder, doc.Defs.Hook.Properties.Order.Minimum)
	require.Equal(t, MaxHookOrder, doc.Defs.Hook.Properties.Order.Maximum)
	require.Equal(t, float64(MaxHookTimeout/time.Millisecond), doc.Defs.Hook.Properties.Timeout.AnyOf[1].Maximum)
	require.Equal(t, []string{"", string(FailOpen), string(FailClosed)}, doc.Defs.Hook.Properties.FailurePolicy.Enum)
	require.Equal(t, routeMethods, doc.Defs.Route.Properties.Method.Enum)
	require.Equal(t, []string{"", string(AuthNone), string(AuthSession), string(AuthAdmin)}, doc.Defs.Route.Properties.Auth.Enum)

	// Scoped permissions: the schema and Validate agree on every hook point
	// and on a few malformed arguments.
	schema := compiledManifestSchema(t)
	withPermission := func(p Permission) Manifest {
		m := fullManifest()
		m.Permissions = append(m.Permissions, p)
		return m
	}
	for _, p := range points {
		perm := Permission(PermHooksCall + p)
		if slices.Contains(fullManifest().Permissions, perm) {
			continue
		}
		m := withPermission(perm)
		require.NoError(t, m.Validate())
		require.NoError(t, schemaErr(t, schema, indentJSON(t, m)), perm)
	}
	bad := []Permission{"hooks:call:beforeLunch", "events:subscribe:", "events:publish:user.>.x", "plugin:invoke:-x", "http:mount:/api/plugins/x", "http:mount:/api/x/", "email:receive"}
	sort.Slice(bad, func(i, j int) bool { return bad[i] < bad[j] })
	for _, p := range bad {
		m := withPermission(p)
		require.Error(t, m.Validate(), p)
		require.Error(t, schemaErr(t, schema, indentJSON(t, m)), p)
	}

	b := ManifestSchema()
	b[0] = 'x'
	require.Equal(t, byte('{'), ManifestSchema()[0], "ManifestSchema returns a copy")
}
