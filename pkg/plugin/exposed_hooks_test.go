package plugin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// TestPluginExposesHookPoints: a plugin calls other plugins at its own
// hook point (as the organizations plugin calls beforeOrgCreate) with the
// dispatcher the core uses, following the core's plan as it changes.
func TestPluginExposesHookPoints(t *testing.T) {
	core := plugintest.Start(t)

	orgs := plugin.New[struct{}](contracts.Manifest{ID: "orgs", Name: "Organizations", Version: "1.0.0", CoreVersion: "^0.1.0",
		Permissions: []contracts.Permission{"hooks:call:beforeOrgCreate"},
		Routes:      []contracts.RouteDecl{{Method: "POST", Path: "/organization/create"}}})
	orgs.Route("POST", "/organization/create", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := plugin.ContextFrom[struct{}](r.Context())
		in := contracts.OrgCreateContext{UserID: plugin.UserFrom(r.Context()).ID}
		if err := json.NewDecoder(r.Body).Decode(&in.Organization); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := c.Hooks.Before(r.Context(), contracts.HookBeforeOrgCreate, &in); err != nil {
			e := contracts.AsError(err)
			w.WriteHeader(e.Status)
			_ = json.NewEncoder(w).Encode(e)
			return
		}
		_ = json.NewEncoder(w).Encode(in.Organization)
	}))
	core.Run(t, orgs)

	billing := plugin.New[struct{}](contracts.Manifest{ID: "billing", Name: "Billing", Version: "1.0.0", CoreVersion: "^0.1.0",
		Hooks: []contracts.HookDecl{{Point: contracts.HookBeforeOrgCreate}}})
	var callers seen
	plugin.OnHook(billing, contracts.HookBeforeOrgCreate, func(ctx context.Context, _ *plugin.Context[struct{}], in contracts.OrgCreateContext) plugin.Decision {
		if strings.HasPrefix(in.Organization.Slug, "reserved-") {
			return plugin.Abort(http.StatusConflict, "SLUG_RESERVED", "That slug is reserved")
		}
		in.Organization.Metadata = json.RawMessage(`{"plan":"free"}`)
		return plugin.Patch(in)
	})
	// The billing plugin joins after orgs started: orgs follows the plan update.
	core.Run(t, billing, plugin.WithMiddleware(func(ctx context.Context, call plugin.Call, next func(context.Context) error) error {
		callers.add("%s", call.Name)
		return next(ctx)
	}))

	gw := core.Gateway("orgs")
	gw.User = &contracts.User{ID: "u1"}
	post := func(body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest("POST", "/organization/create", strings.NewReader(body)))
		return rec
	}
	waitFor(t, func() bool { return strings.Contains(post(`{"name":"Acme","slug":"acme"}`).Body.String(), "plan") })

	rec := post(`{"name":"Acme","slug":"acme"}`)
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"name":"Acme","slug":"acme","metadata":{"plan":"free"}}`, rec.Body.String())

	rec = post(`{"name":"Mine","slug":"reserved-admin"}`)
	require.Equal(t, http.StatusConflict, rec.Code)
	require.JSONEq(t, `{"status":409,"code":"SLUG_RESERVED","message":"That slug is reserved"}`, rec.Body.String())
	require.Contains(t, callers.list(), string(contracts.HookBeforeOrgCreate))

	stats := plugin.ContextFrom[struct{}](context.Background())
	require.Nil(t, stats, "no Context outside a handler")
}
