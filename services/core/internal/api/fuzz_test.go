package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/api"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
)

// fuzzPaths are every public endpoint (and a few near misses).
var fuzzPaths = []string{
	"/sign-up/email", "/sign-in/email", "/sign-out", "/get-session", "/list-sessions", "/revoke-session",
	"/revoke-sessions", "/revoke-other-sessions", "/update-user", "/change-password", "/change-email",
	"/delete-user", "/delete-user/callback", "/request-password-reset", "/reset-password/tok", "/reset-password",
	"/send-verification-email", "/verify-email", "/list-accounts", "/ok", "/error", "/nope", "/ok/",
}

var fuzzMethods = []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodHead, http.MethodOptions}

var fuzzContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/json; charset=utf-8", "multipart/form-data"}

// messageOnly are the contract's errors without a code.
var messageOnly = map[string]bool{
	"No fields to update":                           true,
	"Email is the same":                             true,
	"Verification email isn't enabled":              true,
	"Invalid callbackURL: expected a string":        true,
	"Invalid redirectURL: expected a string":        true,
	"Invalid errorCallbackURL: expected a string":   true,
	"Invalid newUserCallbackURL: expected a string": true,
}

// FuzzRequest drives the request decoding of every endpoint with random
// bodies, content types, query strings and headers through the real
// handler: never a panic, never a 5xx, and every 4xx with a body is a JSON
// error with a code (or one of the contract's message-only errors).
func FuzzRequest(f *testing.F) {
	st, err := sqlite.Open(context.Background(), sqlite.Memory, sqlite.Options{})
	require.NoError(f, err)
	f.Cleanup(func() { _ = st.Close() })
	require.NoError(f, st.Migrate(context.Background()))
	svc, err := auth.New(st, &authtest.FastHasher{}, auth.Options{
		BaseURL: "http://127.0.0.1:3000/api/auth", Secret: authtest.Secret, ChangeEmail: true, Logger: quiet,
		Mailer: discardMail{}, VerificationEmailMinDuration: 1,
	})
	require.NoError(f, err)
	f.Cleanup(func() { _ = svc.Close(context.Background()) })
	h, err := api.New(svc, api.Options{BaseURL: "http://127.0.0.1:3000", Secret: authtest.Secret, Logger: quiet, MaxBodyBytes: 4096})
	require.NoError(f, err)

	// A real session, so that cookie-bearing requests reach the flows.
	rec := httptest.NewRecorder()
	signUp := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:3000/api/auth/sign-up/email",
		strings.NewReader(`{"name":"F","email":"fuzz@example.com","password":"password123"}`))
	signUp.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, signUp)
	require.Equal(f, http.StatusOK, rec.Code, rec.Body.String())
	var up struct{ Token string }
	require.NoError(f, json.Unmarshal(rec.Body.Bytes(), &up))
	cookie := "better-auth.session_token=" + signer.Encode(up.Token)

	seeds := []struct {
		path, method, ctype                uint8
		body, query, cookie, origin, authz string
	}{
		{0, 0, 0, `{"name":"A","email":"a@example.com","password":"password123"}`, "", "", "", ""},
		{1, 0, 1, "email=fuzz%40example.com&password=password123&rememberMe=false", "", "", "", ""},
		{8, 0, 0, `{"name":1,"image":null,"email":""}`, "", cookie, "http://127.0.0.1:3000", ""},
		{9, 0, 0, `{"currentPassword":"password123","newPassword":"x","revokeOtherSessions":"yes"}`, "", cookie, "http://127.0.0.1:3000", ""},
		{3, 1, 3, "", "disableRefresh=false&disableCookieCache", cookie, "", ""},
		{3, 1, 3, "", "", "", "", "Bearer " + up.Token},
		{17, 1, 3, "", "token=eyJhbGciOiJIUzI1NiJ9.e30.x&callbackURL=/x", "", "", ""},
		{14, 1, 3, "", "callbackURL=%zz", "", "", ""},
		{5, 0, 0, `[1,2,3]`, "", cookie, "null", ""},
		{10, 0, 0, `{"newEmail":"new@example.com","callbackURL":{"a":1}}`, "", cookie, "http://127.0.0.1:3000", ""},
		{13, 0, 0, `{"email":"fuzz@example.com","redirectTo":["a"]}`, "", "", "", ""},
		{15, 0, 0, "{\"newPassword\":\"password123\",\"token\":\"\u0000\"}", "token=a&token=b", "", "", ""},
		{0, 0, 0, "\xef\xbb\xbf{\"a\":1e400}", "", "", "", ""},
		{2, 0, 4, "{}", "", "better-auth.session_data=eyJ; better-auth.dont_remember=true.x", "", "bearer ."},
		{18, 1, 3, "", "error=<x>&error_description=%E2%80%A8", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.path, s.method, s.ctype, []byte(s.body), s.query, s.cookie, s.origin, s.authz)
	}
	f.Fuzz(func(t *testing.T, pathSel, methodSel, ctypeSel uint8, body []byte, query, cookieHdr, origin, authz string) {
		path := "/api/auth" + fuzzPaths[int(pathSel)%len(fuzzPaths)]
		method := fuzzMethods[int(methodSel)%len(fuzzMethods)]
		target := "http://127.0.0.1:3000" + path
		if query != "" && !strings.ContainsAny(query, " #\x00\r\n\t") {
			target += "?" + query
		}
		req, err := http.NewRequestWithContext(context.Background(), method, target, bytes.NewReader(body))
		if err != nil {
			return
		}
		if ct := fuzzContentTypes[int(ctypeSel)%len(fuzzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		setIfValid := func(k, v string) {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				req.Header.Set(k, v)
			}
		}
		setIfValid("Cookie", cookieHdr)
		setIfValid("Origin", origin)
		setIfValid("Authorization", authz)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %q", method, target, rec.Code, rec.Body.String())
		}
		if rec.Code < 400 {
			return
		}
		raw := rec.Body.Bytes()
		if len(raw) == 0 {
			if rec.Code != http.StatusNotFound {
				t.Fatalf("%s %s: %d with an empty body", method, target, rec.Code)
			}
			return
		}
		var e struct {
			Message *string `json:"message"`
			Code    *string `json:"code"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Message == nil {
			t.Fatalf("%s %s: %d body is not a JSON error: %q", method, target, rec.Code, raw)
		}
		if rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s: %d content type %q", method, target, rec.Code, rec.Header().Get("Content-Type"))
		}
		if (e.Code == nil || *e.Code == "") && !messageOnly[*e.Message] {
			t.Fatalf("%s %s: %d error without a code: %q", method, target, rec.Code, raw)
		}
	})
}
