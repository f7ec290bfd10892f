package coresvc

import (
	"github.com/authbus/authbus/pkg/contracts"
)

// Allowed reports whether a plugin holding granted may call s. Every method
// needs the permission contracts names for it; hooks.plan needs a
// hooks:call:<point> permission (only a plugin that calls hooks has a use
// for the plan, and the broker then lets it subscribe to hooks.plan too).
func Allowed(s contracts.CoreService, granted []contracts.Permission) bool {
	if !s.Known() {
		return false
	}
	if s == contracts.CoreHooksPlan {
		for _, g := range granted {
			if prefix, _, ok := g.Scope(); ok && prefix == contracts.PermHooksCall {
				return true
			}
		}
		return false
	}
	want := s.Permission()
	for _, g := range granted {
		if g.Covers(want) {
			return true
		}
	}
	return false
}

// AllowedMethods lists the methods a plugin holding granted may call, in
// contracts.CoreServices order.
func AllowedMethods(granted []contracts.Permission) []contracts.CoreService {
	var out []contracts.CoreService
	for _, s := range contracts.CoreServices() {
		if Allowed(s, granted) {
			out = append(out, s)
		}
	}
	return out
}

// Requirement describes what calling s needs, for error messages.
func Requirement(s contracts.CoreService) string {
	switch {
	case !s.Known():
		return "nothing: it does not exist"
	case s == contracts.CoreHooksPlan:
		return "a hooks:call:<point> permission"
	}
	return "the permission " + string(s.Permission())
}
