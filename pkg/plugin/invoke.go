package plugin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/authbus/authbus/pkg/contracts"
)

// invokeHandler decodes an invoke request, runs the typed handler and
// returns the reply value or an error.
type invokeHandler[Cfg any] func(ctx context.Context, c *Context[Cfg], raw []byte) (any, error)

// OnInvoke registers h for method, which other plugins call with
// Context.Invoke (they need the permission "plugin:invoke:<this id>"). The
// request is decoded into Req and the response encoded as JSON. An error
// reaches the caller as a *contracts.Error: return one to choose status,
// code and message; any other error becomes a 500 without its text. The
// method must be listed in the manifest's invoke list. OnInvoke panics on a
// method name that is not one subject token, a nil handler or a second
// handler for a method.
func OnInvoke[Cfg, Req, Resp any](p *Plugin[Cfg], method string, h func(ctx context.Context, c *Context[Cfg], req Req) (Resp, error)) {
	if !validName(method) {
		panic(fmt.Sprintf("plugin.OnInvoke: method %q must be one subject token", method))
	}
	if h == nil {
		panic("plugin.OnInvoke: nil handler for " + method)
	}
	p.register("invoke method "+method, func() {
		if _, dup := p.invokes[method]; dup {
			panic(fmt.Sprintf("plugin.OnInvoke: second handler for %q", method))
		}
		p.invokes[method] = func(ctx context.Context, c *Context[Cfg], raw []byte) (any, error) {
			var req Req
			if err := json.Unmarshal(raw, &req); err != nil {
				return nil, contracts.CodeBadRequest.Errorf("invoke %s: request does not decode: %v", method, err)
			}
			return h(ctx, c, req)
		}
	})
}
