package bus_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

func TestSubjects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  func(prefix string) string
		bare string
	}{
		{"event", func(p string) string { return bus.EventSubject(p, contracts.EventLoginFailed) }, "auth.login.failed"},
		{"event filter", func(p string) string { return bus.EventFilter(p, "user.*") }, "user.*"},
		{"hook", func(p string) string { return bus.HookSubject(p, contracts.HookBeforeSignIn, "ratelimit") }, "hook.beforeSignIn.ratelimit"},
		{"hooks of a plugin", func(p string) string { return bus.HookSubjects(p, "audit") }, "hook.*.audit"},
		{"register", func(p string) string { return bus.RegisterSubject(p, "audit") }, "plugin.audit.register"},
		{"heartbeat", func(p string) string { return bus.HeartbeatSubject(p, "audit") }, "plugin.audit.heartbeat"},
		{"invoke", func(p string) string { return bus.InvokeSubject(p, "orgs", "members.list") }, "plugin.orgs.invoke.members.list"},
		{"plugin http", func(p string) string { return bus.PluginHTTPSubject(p, "storage") }, "plugin.storage.http"},
		{"core", func(p string) string { return bus.CoreSubject(p, "audit", "users", "get") }, "core.audit.users.get"},
		{"dead letter", func(p string) string {
			return bus.DeadLetterSubject(p, "audit", bus.EventSubject(p, contracts.EventUserCreated))
		}, "dlq.audit.user.created"},
		{"dead letters of a consumer", func(p string) string { return bus.DeadLetterSubjects(p, "audit") }, "dlq.audit.>"},
		{"registrations", bus.RegisterSubjects, "plugin.*.register"},
		{"heartbeats", bus.HeartbeatSubjects, "plugin.*.heartbeat"},
		{"control", func(p string) string { return bus.ControlSubject(p, "audit") }, "plugin.audit.control"},
		{"hook plan", bus.HooksPlanSubject, "hooks.plan"},
		{"core services", bus.CoreSubjects, "core.*.>"},
		{"gateway body", func(p string) string { return bus.GatewayBodySubject(p, "storage", "r1", "req") }, "gateway.storage.r1.req"},
		{"gateway bodies", func(p string) string { return bus.GatewaySubjects(p, "storage") }, "gateway.storage.>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.bare, tt.got(""))
			require.Equal(t, "acme."+tt.bare, tt.got("acme"))
			require.Equal(t, "acme."+tt.bare, tt.got("acme."), "a trailing dot is not doubled")
		})
	}
}

func TestEventTypeFromSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prefix  string
		subject string
		want    contracts.EventType
		ok      bool
	}{
		{"no prefix", "", "user.created", contracts.EventUserCreated, true},
		{"prefix", "acme", "acme.auth.login.failed", contracts.EventLoginFailed, true},
		{"prefix with dot", "acme.", "acme.user.created", contracts.EventUserCreated, true},
		{"other installation", "acme", "zeta.user.created", "", false},
		{"prefix only", "acme", "acme.", "", false},
		{"unknown type kept", "", "user.teleported", contracts.EventType("user.teleported"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := bus.EventTypeFromSubject(tt.prefix, tt.subject)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
	for _, spec := range contracts.Events() {
		got, ok := bus.EventTypeFromSubject("acme", bus.EventSubject("acme", spec.Type))
		require.True(t, ok, spec.Type)
		require.Equal(t, spec.Type, got, "inverse of EventSubject")
	}
}

func TestStreamSubjectsCoverCatalog(t *testing.T) {
	t.Parallel()
	subjects := bus.EventStreamSubjects("acme")
	require.Len(t, subjects, len(contracts.EventDomains()))
	for _, spec := range contracts.Events() {
		covered := false
		for _, s := range subjects {
			covered = covered || contracts.SubjectMatches(s, bus.EventSubject("acme", spec.Type))
		}
		require.True(t, covered, "%s is captured by the events stream", spec.Type)
	}
	require.Equal(t, []string{"acme.dlq.>"}, bus.DeadLetterStreamSubjects("acme"))
	require.Equal(t, "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AUTH_EVENTS.*", bus.MaxDeliveriesAdvisorySubject("AUTH_EVENTS"))
}

func TestValidateSubjectPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prefix  string
		wantErr string
	}{
		{"empty", "", ""},
		{"one token", "acme", ""},
		{"two tokens with dot", "acme.prod.", ""},
		{"wildcard", "acme.*", "wildcards"},
		{"full wildcard", ">", "wildcards"},
		{"empty token", "acme..prod", "empty token"},
		{"whitespace", "ac me", "whitespace"},
		{"reserved $", "$JS", "reserved"},
		{"reserved inbox", "_INBOX", "reserved"},
		{"only a dot", ".", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bus.ValidateSubjectPrefix(tt.prefix)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestCoreCaller(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix, subject, caller, method string
		ok                                    bool
	}{
		{"plain", "", "core.audit.users.get", "audit", "users.get", true},
		{"prefixed", "acme", "acme.core.orgs.sessions.set-field", "orgs", "sessions.set-field", true},
		{"other installation", "acme", "core.audit.users.get", "", "", false},
		{"no method", "", "core.audit", "", "", false},
		{"not core", "", "plugin.audit.register", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller, method, ok := bus.CoreCaller(tt.prefix, tt.subject)
			require.Equal(t, tt.ok, ok)
			if ok {
				require.Equal(t, tt.caller, caller)
				require.Equal(t, tt.method, method)
			}
		})
	}
}
