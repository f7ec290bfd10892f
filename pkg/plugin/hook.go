package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/authbus/authbus/pkg/contracts"
)

// Decision is a hook handler's answer: Continue, Patch, Abort or Fail.
// The zero Decision continues.
type Decision struct {
	action contracts.HookAction
	patch  any
	err    *contracts.Error
	fail   error
}

// Continue lets the flow go on unchanged.
func Continue() Decision { return Decision{action: contracts.ActionContinue} }

// Patch lets the flow go on with changed context fields. v is either the
// handler's input with some fields changed (same type as the handler's
// context; the SDK computes the merge patch), or a patch document — a map
// or struct holding only the fields to change, nested as in the context,
// with nil (JSON null) clearing a field. The hook point's allowlist
// (contracts.HookSpec.Patchable) says which fields may change: a patch
// touching others is a bad decision (see OnHook).
func Patch(v any) Decision { return Decision{action: contracts.ActionContinue, patch: v} }

// Abort stops the flow; the client receives status, code and message as
// is. status must be 4xx or 5xx, and only sequential (before*) points may abort.
func Abort(status int, code contracts.Code, message string) Decision {
	return Decision{action: contracts.ActionAbort, err: &contracts.Error{Status: status, Code: code, Message: message}}
}

// Fail reports that the handler could not decide (its database is down,
// say). The caller then applies the hook's failure policy: closed aborts
// the flow with 503 PLUGIN_UNAVAILABLE, open skips this plugin.
func Fail(err error) Decision {
	if err == nil {
		err = errors.New("hook handler failed")
	}
	return Decision{fail: err}
}

// hookHandler decodes a hook context, runs the typed handler and returns
// the validated reply; an error means "answer with an error reply".
type hookHandler[Cfg any] func(ctx context.Context, c *Context[Cfg], raw json.RawMessage) (contracts.HookReply, error)

// errBadDecision wraps a decision that is not valid for its hook point.
var errBadDecision = errors.New("bad hook decision")

// OnHook registers h for a hook point. The SDK decodes the point's context
// into C (the point's context type, e.g. contracts.SignUpContext for
// beforeSignUp, or any struct holding the fields h reads), calls h within
// the caller's deadline, and answers with h's decision after checking it
// against the point (contracts.HookReply.Validate). A decision that is not
// valid — a patch of a field the point does not allow, an abort on a
// parallel point — is logged and answered as an error, so the caller's
// failure policy applies; plugintest.Core.CallHook returns it, so a test
// shows it. The point must be declared in the manifest's hooks. OnHook
// panics on an unknown point, a nil handler or a second handler for a point.
func OnHook[Cfg, C any](p *Plugin[Cfg], point contracts.HookPoint, h func(ctx context.Context, c *Context[Cfg], in C) Decision) {
	if !point.Known() {
		panic(fmt.Sprintf("plugin.OnHook: unknown hook point %q", point))
	}
	if h == nil {
		panic("plugin.OnHook: nil handler for " + string(point))
	}
	typ := reflect.TypeFor[C]()
	p.register("hook "+string(point), func() {
		if _, dup := p.hooks[point]; dup {
			panic(fmt.Sprintf("plugin.OnHook: second handler for %s", point))
		}
		p.hooks[point] = func(ctx context.Context, c *Context[Cfg], raw json.RawMessage) (contracts.HookReply, error) {
			var in C
			if err := json.Unmarshal(raw, &in); err != nil {
				return contracts.HookReply{}, contracts.CodeBadRequest.Errorf("%s context does not decode into %s: %v", point, typ, err)
			}
			return h(ctx, c, in).reply(point, raw, typ)
		}
	})
}

// reply turns d into a hook reply valid for point. raw is the context the
// handler received, of type typ.
func (d Decision) reply(point contracts.HookPoint, raw json.RawMessage, typ reflect.Type) (contracts.HookReply, error) {
	if d.fail != nil {
		return contracts.HookReply{}, d.fail
	}
	r := contracts.HookReply{Action: contracts.ActionContinue}
	switch {
	case d.action == contracts.ActionAbort:
		r.Action, r.Error = contracts.ActionAbort, d.err
	case d.patch != nil:
		p, err := patchOf(d.patch, raw, typ)
		if err != nil {
			return contracts.HookReply{}, fmt.Errorf("%w: %s: %w", errBadDecision, point, err)
		}
		r.Patch = p
	}
	if err := r.Validate(point); err != nil {
		return contracts.HookReply{}, fmt.Errorf("%w: %w", errBadDecision, err)
	}
	return r, nil
}

// patchOf is the merge patch a Patch decision stands for, or nil when it
// changes nothing.
func patchOf(v any, raw json.RawMessage, typ reflect.Type) (json.RawMessage, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Type().Elem() == typ {
		rv = rv.Elem()
	}
	if rv.Type() == typ {
		// A changed copy of the input: diff it against the input as the handler saw it.
		orig := reflect.New(typ)
		if err := json.Unmarshal(raw, orig.Interface()); err != nil {
			return nil, err
		}
		before, err := json.Marshal(orig.Interface())
		if err != nil {
			return nil, err
		}
		after, err := json.Marshal(rv.Interface())
		if err != nil {
			return nil, fmt.Errorf("encode patched context: %w", err)
		}
		return mergePatchDiff(before, after)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("patch must be a JSON object (a map or struct), got %s", b)
	}
	if string(bytes.TrimSpace(b)) == "{}" {
		return nil, nil
	}
	return b, nil
}

// mergePatchDiff returns the JSON merge patch (RFC 7396) turning before
// into after, or nil when they are equal.
func mergePatchDiff(before, after []byte) (json.RawMessage, error) {
	a, err := decodeNumbers(before)
	if err != nil {
		return nil, err
	}
	b, err := decodeNumbers(after)
	if err != nil {
		return nil, err
	}
	p, changed := diffValues(a, b)
	if !changed {
		return nil, nil
	}
	return json.Marshal(p)
}

// diffValues returns the patch turning a into b and whether there is one.
// Objects are diffed key by key; anything else is replaced whole.
func diffValues(a, b any) (any, bool) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if reflect.DeepEqual(a, b) {
			return nil, false
		}
		return b, true
	}
	out := map[string]any{}
	for k, bv := range bm {
		av, ok := am[k]
		if !ok {
			if bv != nil {
				out[k] = bv
			}
			continue
		}
		if p, changed := diffValues(av, bv); changed {
			out[k] = p
		}
	}
	for k := range am {
		if _, ok := bm[k]; !ok {
			out[k] = nil
		}
	}
	return out, len(out) > 0
}

// decodeNumbers decodes JSON keeping numbers exact.
func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
