package plugin_test

import (
	"testing"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

func TestFixtureConformance(t *testing.T) {
	plugintest.Conformance(t, func() plugintest.Runnable { return newFixture("fixture", fixture{}) },
		plugintest.WithHookContext(contracts.HookBeforeSignUp, contracts.SignUpContext{Email: "ada@example.com", Name: "Ada"}),
		plugintest.WithEventData(contracts.EventUserCreated, userCreated("u1")))
}
