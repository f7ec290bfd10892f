package auth

import (
	"context"

	"github.com/authbus/authbus/pkg/contracts"
)

// Hooks calls the plugins registered at a hook point. pkg/plugin/hooks'
// Dispatcher satisfies it; NoHooks is the default.
type Hooks interface {
	// Before calls a sequential point. c is a pointer to the point's context
	// struct (contracts.SignUpContext, ...); the implementation may patch *c
	// in place (only the point's patchable fields). A non-nil error aborts the
	// flow and is returned to the client as is: it should be a *contracts.Error.
	Before(ctx context.Context, point contracts.HookPoint, c any) error
	// After calls a parallel point with a pointer to its context struct. It
	// never fails and cannot change anything.
	After(ctx context.Context, point contracts.HookPoint, c any)
}

// NoHooks is a Hooks that calls nobody.
type NoHooks struct{}

// Before continues.
func (NoHooks) Before(context.Context, contracts.HookPoint, any) error { return nil }

// After does nothing.
func (NoHooks) After(context.Context, contracts.HookPoint, any) {}

// IsNoHooks reports whether h calls nobody (nil or NoHooks), so that callers
// can skip work done only for hooks.
func IsNoHooks(h Hooks) bool {
	switch h.(type) {
	case nil, NoHooks, *NoHooks:
		return true
	}
	return false
}

// before calls a sequential point; an error that is not a *contracts.Error
// becomes INTERNAL_SERVER_ERROR (the plugin dispatcher's own failures should
// already be contracts errors).
func (s *Service) before(ctx context.Context, point contracts.HookPoint, c any) error {
	if err := s.hooks.Before(ctx, point, c); err != nil {
		ce := contracts.AsError(err)
		if ce.Code == contracts.CodeInternalServerError && err != error(ce) {
			s.log.ErrorContext(ctx, "auth: hook failed", "point", point, "err", err)
		}
		return ce
	}
	return nil
}

// after calls a parallel point; the client may already be gone, so the call
// does not inherit the request's cancellation.
func (s *Service) after(ctx context.Context, point contracts.HookPoint, c any) {
	s.hooks.After(context.WithoutCancel(ctx), point, c)
}
