package contracts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHookReplyValidate(t *testing.T) {
	abortErr := &Error{Status: 429, Code: CodeRateLimited, Message: "slow down"}
	tests := []struct {
		name       string
		point      HookPoint
		reply      HookReply
		err        string // empty: valid
		notAllowed bool   // the error also wraps ErrPatchNotAllowed
	}{
		{name: "continue", point: HookBeforeSignIn, reply: HookReply{Action: ActionContinue}},
		{name: "continue on a parallel point", point: HookAfterSignIn, reply: HookReply{Action: ActionContinue}},
		{name: "abort with an error", point: HookBeforeSignIn, reply: HookReply{Action: ActionAbort, Error: abortErr}},
		{name: "abort without an error", point: HookBeforeSignIn, reply: HookReply{Action: ActionAbort}, err: "abort without an error"},
		{name: "abort with a 2xx status", point: HookBeforeSignIn, reply: HookReply{Action: ActionAbort, Error: &Error{Status: 200, Message: "ok"}}, err: "abort status 200 is not 4xx or 5xx"},
		{name: "abort on a parallel point", point: HookAfterSignUp, reply: HookReply{Action: ActionAbort, Error: abortErr}, err: "afterSignUp runs in parallel and cannot abort"},
		{name: "unknown action", point: HookBeforeSignIn, reply: HookReply{Action: "retry"}, err: `unknown action "retry"`},
		{name: "missing action", point: HookBeforeSignIn, reply: HookReply{}, err: `unknown action ""`},
		{name: "unknown point", point: "beforeLunch", reply: HookReply{Action: ActionContinue}, err: `unknown hook point "beforeLunch"`},
		{name: "patch within the allowlist", point: HookBeforeSignUp, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"name":"Ada","image":null}`)}},
		{name: "nested patch within the allowlist", point: HookBeforeUserCreate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"user":{"name":"Ada"}}`)}},
		{name: "patch outside the allowlist", point: HookBeforeSignUp, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"name":"Ada","email":"x@example.com"}`)}, err: "beforeSignUp may not patch email", notAllowed: true},
		{name: "nested patch outside the allowlist", point: HookBeforeUserCreate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"user":{"name":"Ada","role":"admin","email":"x@example.com"}}`)}, err: "beforeUserCreate may not patch user.email, user.role", notAllowed: true},
		{name: "replacing a whole object", point: HookBeforeUserCreate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"user":null}`)}, err: "may not patch user", notAllowed: true},
		{name: "nested metadata patch", point: HookBeforeOrgCreate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"organization":{"metadata":{"plan":{"tier":"team"}}}}`)}},
		{name: "metadata patch on update", point: HookBeforeOrgUpdate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"changes":{"metadata":{"plan":null}}}`)}},
		{name: "metadata sibling outside the allowlist", point: HookBeforeOrgCreate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"organization":{"metadata":{"a":1}},"userId":"u2"}`)}, err: "may not patch userId", notAllowed: true},
		{name: "patch on a parallel point", point: HookAfterSignUp, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"user":{"name":"Ada"}}`)}, err: "afterSignUp runs in parallel and cannot patch"},
		{name: "patch on a point without patchable fields", point: HookBeforeSignIn, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"email":"x@example.com"}`)}, err: "beforeSignIn may not patch email", notAllowed: true},
		{name: "null patch is no patch", point: HookAfterSignIn, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`null`)}},
		{name: "empty patch object", point: HookBeforeSignIn, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{}`)}},
		{name: "dotted key", point: HookBeforeUserCreate, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`{"user.name":"Ada"}`)}, err: `patch keys may not contain "."; nest objects instead: ["user.name"]`},
		{name: "patch not an object", point: HookBeforeSignUp, reply: HookReply{Action: ActionContinue, Patch: json.RawMessage(`["name"]`)}, err: "patch is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.reply.Validate(tt.point)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidHookReply)
			require.ErrorContains(t, err, tt.err)
			if tt.notAllowed {
				require.ErrorIs(t, err, ErrPatchNotAllowed)
			} else {
				require.NotErrorIs(t, err, ErrPatchNotAllowed)
			}
		})
	}
}

func TestApplyPatch(t *testing.T) {
	// RFC 7396 appendix A, plus authbus's reading of a null patch.
	tests := []struct {
		name, doc, patch, want string
	}{
		{name: "replace member", doc: `{"a":"b"}`, patch: `{"a":"c"}`, want: `{"a":"c"}`},
		{name: "add member", doc: `{"a":"b"}`, patch: `{"b":"c"}`, want: `{"a":"b","b":"c"}`},
		{name: "null deletes", doc: `{"a":"b"}`, patch: `{"a":null}`, want: `{}`},
		{name: "null deletes one of two", doc: `{"a":"b","b":"c"}`, patch: `{"a":null}`, want: `{"b":"c"}`},
		{name: "array replaced by string", doc: `{"a":["b"]}`, patch: `{"a":"c"}`, want: `{"a":"c"}`},
		{name: "string replaced by array", doc: `{"a":"c"}`, patch: `{"a":["b"]}`, want: `{"a":["b"]}`},
		{name: "nested merge and delete", doc: `{"a":{"b":"c"}}`, patch: `{"a":{"b":"d","c":null}}`, want: `{"a":{"b":"d"}}`},
		{name: "arrays are replaced, not merged", doc: `{"a":[{"b":"c"}]}`, patch: `{"a":[1]}`, want: `{"a":[1]}`},
		{name: "array document", doc: `["a","b"]`, patch: `["c","d"]`, want: `["c","d"]`},
		{name: "array patch replaces object", doc: `{"a":"b"}`, patch: `["c"]`, want: `["c"]`},
		{name: "string patch replaces object", doc: `{"a":"foo"}`, patch: `"bar"`, want: `"bar"`},
		{name: "null in the document is kept", doc: `{"e":null}`, patch: `{"a":1}`, want: `{"e":null,"a":1}`},
		{name: "object patch replaces array", doc: `[1,2]`, patch: `{"a":"b","c":null}`, want: `{"a":"b"}`},
		{name: "nulls inside a new object are dropped", doc: `{}`, patch: `{"a":{"bb":{"ccc":null}}}`, want: `{"a":{"bb":{}}}`},
		{name: "null patch leaves the document (a hook reply's null patch is no patch)", doc: `{"a":"foo"}`, patch: `null`, want: `{"a":"foo"}`},
		{name: "empty patch leaves the document", doc: `{"a":"foo"}`, patch: ``, want: `{"a":"foo"}`},
		{name: "large numbers keep their digits", doc: `{"n":9007199254740993,"f":1.10}`, patch: `{"m":12345678901234567890}`, want: `{"f":1.10,"m":12345678901234567890,"n":9007199254740993}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApplyPatch(json.RawMessage(tt.doc), json.RawMessage(tt.patch))
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
			if tt.name == "large numbers keep their digits" {
				require.Equal(t, `{"f":1.10,"m":12345678901234567890,"n":9007199254740993}`, string(got))
			}
		})
	}
	t.Run("invalid document", func(t *testing.T) {
		_, err := ApplyPatch(json.RawMessage(`{`), json.RawMessage(`{}`))
		require.ErrorContains(t, err, "apply patch: document")
	})
	t.Run("invalid patch", func(t *testing.T) {
		_, err := ApplyPatch(json.RawMessage(`{}`), json.RawMessage(`{} {}`))
		require.ErrorContains(t, err, "apply patch: patch: trailing data")
	})
}

// TestGoldenHookRequests decodes one sample request per hook point, decodes
// its context into the point's context type, re-encodes and compares; each
// context also passes its point's schema.
func TestGoldenHookRequests(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join("testdata", "hooks", "*.json"))
	require.NoError(t, err)
	require.Len(t, samples, len(Hooks()), "one sample per hook point, no more")
	reqSchema, err := os.ReadFile(filepath.Join("schemas", "hook-request.json"))
	require.NoError(t, err)
	requests := compileSchema(t, "hook-request.json", reqSchema)

	for _, spec := range Hooks() {
		t.Run(string(spec.Point), func(t *testing.T) {
			path := filepath.Join("testdata", "hooks", string(spec.Point)+".json")
			in, err := os.ReadFile(path)
			require.NoError(t, err, "every hook point needs a sample")
			var req HookRequest
			require.NoError(t, decodeStrict(in, &req))
			require.Equal(t, spec.Point, req.Hook)
			ctx := reflect.New(reflect.TypeOf(spec.Context)).Interface()
			require.NoError(t, decodeStrict(req.Context, ctx), "the sample's context holds only fields of %T", spec.Context)
			req.Context, err = json.Marshal(ctx)
			require.NoError(t, err)
			golden(t, path, indentJSON(t, req))

			schema, err := HookContextSchema(spec.Point)
			require.NoError(t, err)
			var raw struct{ Context json.RawMessage }
			require.NoError(t, json.Unmarshal(in, &raw))
			require.NoError(t, schemaErr(t, compileSchema(t, path, schema), raw.Context))
			require.NoError(t, schemaErr(t, requests, in))
		})
	}
}

func TestGoldenHookReplies(t *testing.T) {
	replySchema, err := os.ReadFile(filepath.Join("schemas", "hook-reply.json"))
	require.NoError(t, err)
	replies := compileSchema(t, "hook-reply.json", replySchema)
	samples, err := filepath.Glob(filepath.Join("testdata", "hooks", "replies", "*.json"))
	require.NoError(t, err)
	tests := []struct {
		file  string
		point HookPoint
	}{
		{file: "continue.json", point: HookAfterSignIn},
		{file: "patch.json", point: HookBeforeSignUp},
		{file: "abort.json", point: HookBeforeSignIn},
	}
	require.Len(t, samples, len(tests))
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "hooks", "replies", tt.file)
			in, err := os.ReadFile(path)
			require.NoError(t, err)
			var reply HookReply
			require.NoError(t, decodeStrict(in, &reply))
			require.NoError(t, reply.Validate(tt.point))
			golden(t, path, indentJSON(t, reply))
			require.NoError(t, schemaErr(t, replies, in))
		})
	}
	require.Error(t, schemaErr(t, replies, []byte(`{"action":"retry"}`)))
	require.Error(t, schemaErr(t, replies, []byte(`{"action":"abort","error":{"status":200,"message":"ok"}}`)))

	t.Run("patch applies to the sample context", func(t *testing.T) {
		in, err := os.ReadFile(filepath.Join("testdata", "hooks", "replies", "patch.json"))
		require.NoError(t, err)
		var reply HookReply
		require.NoError(t, json.Unmarshal(in, &reply))
		in, err = os.ReadFile(filepath.Join("testdata", "hooks", "beforeSignUp.json"))
		require.NoError(t, err)
		var req HookRequest
		require.NoError(t, json.Unmarshal(in, &req))
		patched, err := ApplyPatch(req.Context, reply.Patch)
		require.NoError(t, err)
		var ctx SignUpContext
		require.NoError(t, json.Unmarshal(patched, &ctx))
		require.Equal(t, "Ada L.", ctx.Name)
		require.Nil(t, ctx.Image)
		require.Equal(t, "ada@example.com", ctx.Email)
	})
}

func TestHookCatalog(t *testing.T) {
	require.Len(t, Hooks(), 26)
	for _, h := range Hooks() {
		got, ok := LookupHook(h.Point)
		require.True(t, ok)
		require.Equal(t, h.Point, got.Point)
		require.True(t, h.Point.Known())
		require.NotEmpty(t, h.Description)
		require.Contains(t, []string{"core", "orgs"}, h.Caller)
		require.Equal(t, "hook."+string(h.Point)+".rate-limit", h.Point.Subject("rate-limit"))
		if h.Mode == Parallel {
			require.Empty(t, h.Patchable, "%s runs in parallel and cannot patch", h.Point)
		} else {
			require.Equal(t, Sequential, h.Mode)
		}
	}
	require.False(t, HookPoint("beforeLunch").Known())
}

func TestDeadlineHeader(t *testing.T) {
	d := time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CET", 3600))
	s := FormatDeadline(d)
	require.Equal(t, "2025-03-14T08:26:53.589793238Z", s)
	got, ok := ParseDeadline(s)
	require.True(t, ok)
	require.True(t, got.Equal(d))
	_, ok = ParseDeadline("")
	require.False(t, ok)
	_, ok = ParseDeadline("tomorrow")
	require.False(t, ok)
}
