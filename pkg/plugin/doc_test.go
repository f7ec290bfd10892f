package plugin_test

import (
	"testing"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/pkg/plugin/plugintest"
)

// TestDocumentationExample runs the package documentation's plugin through Conformance.
func TestDocumentationExample(t *testing.T) {
	plugintest.Conformance(t, func() plugintest.Runnable { return newNoSpam() },
		plugintest.WithHookContext(contracts.HookBeforeSignUp, contracts.SignUpContext{Email: "ada@example.com"}))
}
