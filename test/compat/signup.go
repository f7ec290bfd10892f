package compat

import (
	"encoding/json"
	"strings"
	"testing"
)

// SignUpResult is what the better-auth client's signUp.email returned
// (signup.mjs): Data on success, Error on failure.
type SignUpResult struct {
	// Data is the response body on success: the user (and the token when
	// the server signed the user in).
	Data *struct {
		Token *string `json:"token"`
		User  struct {
			ID            string `json:"id"`
			Email         string `json:"email"`
			Name          string `json:"name"`
			EmailVerified bool   `json:"emailVerified"`
		} `json:"user"`
	} `json:"data"`
	// Error is the client's error object on failure.
	Error *ClientError `json:"error"`
}

// ClientError is a better-auth client error: the HTTP status and the
// server's code and message.
type ClientError struct {
	// Status is the HTTP status.
	Status int `json:"status"`
	// StatusText is the HTTP reason phrase.
	StatusText string `json:"statusText"`
	// Code is the server's stable error code, e.g. "USER_ALREADY_EXISTS".
	Code string `json:"code"`
	// Message is the server's message for a person.
	Message string `json:"message"`
}

// SignUp signs a user up at baseURL (e.g. "http://127.0.0.1:8080/api/auth")
// with the real better-auth client (signup.mjs) and returns what the client
// returned. It fails the test when the script does not produce a result.
func SignUp(t testing.TB, baseURL, email, password, name string) SignUpResult {
	t.Helper()
	out, code := run(t, "signup.mjs", []string{baseURL, email, password, name}, nil)
	if code != 0 {
		t.Fatalf("compat: signup.mjs exited %d:\n%s", code, out)
	}
	var r SignUpResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("compat: signup.mjs printed no result (%v):\n%s", err, out)
	}
	if (r.Data == nil) == (r.Error == nil) {
		t.Fatalf("compat: signup.mjs returned neither or both of data and error:\n%s", out)
	}
	t.Logf("compat: better-auth signUp.email(%s) → %s", email, strings.TrimSpace(out))
	return r
}
