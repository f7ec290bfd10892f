package registry

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

// manifest is a valid manifest of plugin id with no dependencies.
func manifest(id string) contracts.Manifest {
	return contracts.Manifest{ID: id, Name: "Plugin " + id, Version: "1.0.0", CoreVersion: "^0.1.0"}
}

// opConfig parses an operator configuration for tests.
func opConfig(t *testing.T, yml string) *operator.Config {
	t.Helper()
	c, err := operator.Parse([]byte(yml), "plugins.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	return c
}

func fields(ps []contracts.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field
	}
	return out
}

func TestAdmitRefusals(t *testing.T) {
	op := `
plugins:
  audit: {permissions: ["user:read"]}
  limits:
    permissions: ["user:read"]
    config: {max: -3}
  orgs: {permissions: ["user:read"]}
  pa: {}
  pb: {}
  pc: {}
  legacy: {}
  disabled: {enabled: false}
`
	cfg := opConfig(t, op)
	active := func(m contracts.Manifest) Peer { return Peer{Manifest: m, State: StateActive} }
	withDeps := func(id string, req []string, opt []string, conf []string) contracts.Manifest {
		m := manifest(id)
		for _, r := range req {
			m.Dependencies.Required = append(m.Dependencies.Required, contracts.DependencyRef{ID: r})
		}
		for _, r := range opt {
			m.Dependencies.Optional = append(m.Dependencies.Optional, contracts.DependencyRef{ID: r})
		}
		for _, r := range conf {
			m.Dependencies.Conflicts = append(m.Dependencies.Conflicts, contracts.DependencyRef{ID: r})
		}
		return m
	}
	tests := []struct {
		name      string
		m         func() contracts.Manifest
		peers     map[string]Peer
		core      string
		fields    []string
		contains  string
		retryable bool
	}{
		{name: "bad id", m: func() contracts.Manifest { return manifest("Bad_ID") }, fields: []string{"id", "id"}, contains: "lowercase"},
		{name: "bad version", m: func() contracts.Manifest { m := manifest("audit"); m.Version = "1.0"; return m },
			fields: []string{"version"}, contains: "semantic version"},
		{name: "config failing its schema", m: func() contracts.Manifest {
			m := manifest("limits")
			m.ConfigSchema = json.RawMessage(`{"type":"object","properties":{"max":{"type":"integer","minimum":1},"mode":{"type":"string","enum":["a","b"],"default":"c"}}}`)
			return m
		}, fields: []string{"config.max", "config.mode"}, contains: "plugins.limits.config in plugins.yaml"},
		{name: "missing required dependency", m: func() contracts.Manifest { return withDeps("pa", []string{"pb"}, nil, nil) },
			fields: []string{"dependencies.required[0]"}, contains: `"pb" is not registered`, retryable: true},
		{name: "required dependency at wrong version", m: func() contracts.Manifest {
			m := manifest("pa")
			m.Dependencies.Required = []contracts.DependencyRef{{ID: "pb", Version: "^2.0.0"}}
			return m
		}, peers: map[string]Peer{"pb": active(manifest("pb"))}, fields: []string{"dependencies.required[0]"}, contains: "outside"},
		{name: "conflict", m: func() contracts.Manifest { return withDeps("pa", nil, nil, []string{"legacy"}) },
			peers: map[string]Peer{"legacy": active(manifest("legacy"))}, fields: []string{"dependencies.conflicts[0]"}, contains: "conflicts"},
		{name: "conflict declared by the other plugin", m: func() contracts.Manifest { return manifest("pa") },
			peers: map[string]Peer{"legacy": active(withDeps("legacy", nil, nil, []string{"pa"}))}, fields: []string{"dependencies"}, contains: "declares a conflict"},
		{name: "dependency cycle", m: func() contracts.Manifest { return withDeps("pa", []string{"pb"}, nil, nil) },
			peers:  map[string]Peer{"pb": active(withDeps("pb", nil, []string{"pc"}, nil)), "pc": active(withDeps("pc", []string{"pa"}, nil, nil))},
			fields: []string{"dependencies"}, contains: "pa → pb → pc → pa"},
		{name: "core version outside range", m: func() contracts.Manifest { m := manifest("audit"); m.CoreVersion = "^2.0.0"; return m },
			fields: []string{"coreVersion"}, contains: "this core is 0.1.0"},
		{name: "permission not granted", m: func() contracts.Manifest {
			m := manifest("audit")
			m.Permissions = []contracts.Permission{"user:read", "email:send"}
			return m
		}, fields: []string{"permissions[1]"}, contains: `"email:send" is not granted by the operator; add it to plugins.audit.permissions in plugins.yaml`},
		{name: "mount not granted", m: func() contracts.Manifest {
			m := manifest("orgs")
			m.Permissions = []contracts.Permission{"user:read", "http:mount:/api/auth/organization"}
			m.Mount = "/api/auth/organization"
			return m
		}, fields: []string{"mount"}, contains: "http:mount:/api/auth/organization"},
		{name: "not enabled", m: func() contracts.Manifest { return manifest("stranger") }, fields: []string{"id"}, contains: "not enabled by the operator"},
		{name: "disabled", m: func() contracts.Manifest { return manifest("disabled") }, fields: []string{"id"}, contains: "disabled"},
		{name: "new version breaks a dependent", m: func() contracts.Manifest { m := manifest("pb"); m.Version = "2.0.0"; return m },
			peers:  map[string]Peer{"pa": active(contracts.Manifest{ID: "pa", Name: "pa", Version: "1.0.0", CoreVersion: "*", Dependencies: contracts.Dependencies{Required: []contracts.DependencyRef{{ID: "pb", Version: "^1.0.0"}}}})},
			fields: []string{"version"}, contains: `requires "pb@^1.0.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := tt.core
			if core == "" {
				core = "0.1.0"
			}
			a := Admit(tt.m(), cfg, tt.peers, core)
			require.Equal(t, tt.fields, fields(a.Problems), "%v", a.Problems)
			var all []string
			for _, p := range a.Problems {
				all = append(all, p.String())
			}
			require.Contains(t, strings.Join(all, "\n"), tt.contains)
			require.Equal(t, tt.retryable, a.Retryable)
			require.Nil(t, a.Config)
			require.Nil(t, a.Granted)
		})
	}
}

func TestAdmitEffectiveConfig(t *testing.T) {
	cfg := opConfig(t, `
plugins:
  limits:
    permissions: ["user:read", "events:subscribe:user.>"]
    config:
      max: 20
      nested: {b: 2}
`)
	m := manifest("limits")
	m.Permissions = []contracts.Permission{"user:read", "events:subscribe:user.created"}
	m.Events = []string{"user.created"}
	m.ConfigSchema = json.RawMessage(`{"type":"object","properties":{
		"max":{"type":"integer","minimum":1},
		"mode":{"type":"string","default":"strict"},
		"nested":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer","default":3}}}},
		"required":["max","mode"]}`)
	m.DefaultConfig = json.RawMessage(`{"max":10,"nested":{"a":1}}`)
	a := Admit(m, cfg, nil, "0.1.0")
	require.Empty(t, a.Problems)
	require.JSONEq(t, `{"max":20,"mode":"strict","nested":{"a":1,"b":2,"c":3}}`, string(a.Config))
	require.Equal(t, []contracts.Permission{"user:read", "events:subscribe:user.created"}, a.Granted)
}

func TestAdmitWaitsForRegisteredDependency(t *testing.T) {
	cfg := operator.Dev()
	m := manifest("pa")
	m.Dependencies.Required = []contracts.DependencyRef{{ID: "pb"}}
	m.Dependencies.Optional = []contracts.DependencyRef{{ID: "absent"}}
	a := Admit(m, cfg, map[string]Peer{"pb": {Manifest: manifest("pb"), State: StateDown}}, "0.1.0")
	require.Empty(t, a.Problems)
	require.Equal(t, []string{"pb"}, a.WaitingOn)
}
