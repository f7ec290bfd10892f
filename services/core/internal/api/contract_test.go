package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth/authtest"
)

// TestContractErrors checks the error answers of every endpoint, as the
// contract and the real server's transcript give them: status, code and,
// where better-auth's text matters, the exact message.
func TestContractErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b authtest.Backend) {
		e := newEnv(t, b, func(c *config) { c.auth.DeleteUser, c.auth.ChangeEmail = true, true })
		alice := e.client()
		alice.signUp("alice@example.com", "password123")
		anon := e.client()
		long := strings.Repeat("a", 129)

		cases := []struct {
			name    string
			c       *client
			method  string
			path    string
			body    any
			ctype   string // for string bodies
			status  int
			code    contracts.Code // "" for message-only
			message string         // "" to skip
		}{
			// sign-up (§1.1)
			{"sign-up duplicate", anon, "POST", "/sign-up/email", map[string]any{"name": "A", "email": "ALICE@example.com", "password": "password123"},
				"", 422, contracts.CodeUserAlreadyExistsUseAnotherEmail, "User already exists. Use another email."},
			{"sign-up invalid email", anon, "POST", "/sign-up/email", map[string]any{"name": "X", "email": "not-an-email", "password": "password123"},
				"", 400, contracts.CodeValidationError, "[body.email] Invalid email address"},
			{"sign-up missing name", anon, "POST", "/sign-up/email", map[string]any{"email": "x@example.com", "password": "password123"},
				"", 400, contracts.CodeValidationError, "[body.name] Invalid input: expected string, received undefined"},
			{"sign-up empty body object", anon, "POST", "/sign-up/email", map[string]any{}, "", 400, contracts.CodeValidationError,
				"[body.name] Invalid input: expected string, received undefined; [body.email] Invalid input: expected string, received undefined; [body.password] Invalid input: expected string, received undefined"},
			{"sign-up wrong types", anon, "POST", "/sign-up/email", map[string]any{"name": 1, "email": 2, "password": 3}, "", 400, contracts.CodeValidationError,
				"[body.name] Invalid input: expected string, received number; [body.email] Invalid input: expected string, received number; [body.password] Invalid input: expected string, received number"},
			{"sign-up empty password", anon, "POST", "/sign-up/email", map[string]any{"name": "a", "email": "a@b.co", "password": ""},
				"", 400, contracts.CodeValidationError, "[body.password] Too small: expected string to have >=1 characters"},
			{"sign-up array body", anon, "POST", "/sign-up/email", []any{}, "", 400, contracts.CodeValidationError,
				"[body] Invalid input: expected object, received array; [body] Invalid input: expected record, received array"},
			{"sign-up null body", anon, "POST", "/sign-up/email", "null", "application/json", 400, contracts.CodeValidationError,
				"[body] Invalid input: expected object, received null; [body] Invalid input: expected record, received null"},
			{"sign-up password too short", anon, "POST", "/sign-up/email", map[string]any{"name": "X", "email": "x@example.com", "password": "short"},
				"", 400, contracts.CodePasswordTooShort, "Password too short"},
			{"sign-up password too long", anon, "POST", "/sign-up/email", map[string]any{"name": "X", "email": "x@example.com", "password": long},
				"", 400, contracts.CodePasswordTooLong, "Password too long"},
			{"sign-up name too long", anon, "POST", "/sign-up/email", map[string]any{"name": strings.Repeat("n", 257), "email": "x@example.com", "password": "password123"},
				"", 400, contracts.CodeValidationError, "[body.name] Too big: expected string to have <=256 characters"},
			{"sign-up rememberMe not boolean", anon, "POST", "/sign-up/email", map[string]any{"name": "X", "email": "x@example.com", "password": "password123", "rememberMe": "no"},
				"", 400, contracts.CodeValidationError, "[body.rememberMe] Invalid input: expected boolean, received string"},
			{"sign-up callbackURL not a string", anon, "POST", "/sign-up/email", map[string]any{"name": "X", "email": "x@example.com", "password": "password123", "callbackURL": 2},
				"", 400, "", "Invalid callbackURL: expected a string"},
			{"sign-up text/plain", anon, "POST", "/sign-up/email", "hello", "text/plain", 415, contracts.CodeUnsupportedMediaType,
				`Content-Type "text/plain" is not allowed. Allowed types: application/x-www-form-urlencoded, application/json`},
			{"sign-up malformed JSON", anon, "POST", "/sign-up/email", "{bad", "application/json", 400, contracts.CodeBadRequest, "Invalid JSON in request body"},
			{"sign-up trailing garbage", anon, "POST", "/sign-up/email", `{"a":1} x`, "application/json", 400, contracts.CodeBadRequest, "Invalid JSON in request body"},
			{"sign-up whitespace body", anon, "POST", "/sign-up/email", "   ", "application/json", 400, contracts.CodeBadRequest, "Invalid JSON in request body"},

			// sign-in (§1.2)
			{"sign-in wrong password", anon, "POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": "wrong-password"},
				"", 401, contracts.CodeInvalidEmailOrPassword, "Invalid email or password"},
			{"sign-in unknown user", anon, "POST", "/sign-in/email", map[string]any{"email": "nobody@example.com", "password": "password123"},
				"", 401, contracts.CodeInvalidEmailOrPassword, "Invalid email or password"},
			{"sign-in empty password", anon, "POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": ""},
				"", 401, contracts.CodeInvalidEmailOrPassword, ""},
			{"sign-in invalid email", anon, "POST", "/sign-in/email", map[string]any{"email": "bad", "password": "x"}, "", 400, contracts.CodeInvalidEmail, "Invalid email"},
			{"sign-in password too long", anon, "POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": long},
				"", 400, contracts.CodePasswordTooLong, ""},
			{"sign-in missing fields", anon, "POST", "/sign-in/email", map[string]any{}, "", 400, contracts.CodeValidationError,
				"[body.email] Invalid input: expected string, received undefined; [body.password] Invalid input: expected string, received undefined"},
			{"sign-in array", anon, "POST", "/sign-in/email", []any{1}, "", 400, contracts.CodeValidationError, "[body] Invalid input: expected object, received array"},
			{"sign-in untrusted callbackURL", anon, "POST", "/sign-in/email", map[string]any{"email": "alice@example.com", "password": "password123", "callbackURL": "https://evil.example.org/x"},
				"", 403, contracts.CodeInvalidCallbackURL, "Invalid callbackURL"},
			{"sign-in form with non-boolean rememberMe", anon, "POST", "/sign-in/email", "email=alice%40example.com&password=password123&rememberMe=false",
				"application/x-www-form-urlencoded", 400, contracts.CodeValidationError, "[body.rememberMe] Invalid input: expected boolean, received string"},

			// sessions (§1.4, §1.5)
			{"get-session POST", alice, "POST", "/get-session", map[string]any{}, "", 405, contracts.CodeMethodNotAllowedDeferSession,
				"POST method requires deferSessionRefresh to be enabled in session config"},
			{"list-sessions no auth", anon, "GET", "/list-sessions", nil, "", 401, contracts.CodeUnauthorized, "Unauthorized"},
			{"revoke-session missing token", alice, "POST", "/revoke-session", map[string]any{}, "", 400, contracts.CodeValidationError,
				"[body.token] Invalid input: expected string, received undefined"},
			{"revoke-session no body", anon, "POST", "/revoke-session", nil, "", 400, contracts.CodeValidationError, "[body] Invalid input: expected object, received undefined"},
			{"revoke-session no auth", anon, "POST", "/revoke-session", map[string]any{"token": "x"}, "", 401, contracts.CodeUnauthorized, "Unauthorized"},
			{"revoke-sessions no auth", anon, "POST", "/revoke-sessions", nil, "", 401, contracts.CodeUnauthorized, ""},
			{"revoke-other-sessions no auth", anon, "POST", "/revoke-other-sessions", map[string]any{}, "", 401, contracts.CodeUnauthorized, ""},
			{"sign-out array body", alice, "POST", "/sign-out", []any{}, "", 400, contracts.CodeValidationError, "[body] Invalid input: expected object, received array"},
			{"sign-out untrusted callbackURL", anon, "POST", "/sign-out", map[string]any{"callbackURL": "https://evil.com"}, "", 403, contracts.CodeInvalidCallbackURL, ""},
			{"sign-out text/plain", anon, "POST", "/sign-out", "x", "text/plain", 415, contracts.CodeUnsupportedMediaType,
				`Content-Type "text/plain" is not allowed. Allowed types: application/json`},
			{"sign-out form", anon, "POST", "/sign-out", "a=b", "application/x-www-form-urlencoded", 415, contracts.CodeUnsupportedMediaType, ""},

			// update-user (§1.6)
			{"update-user email", alice, "POST", "/update-user", map[string]any{"email": "x@example.com"}, "", 400, contracts.CodeEmailCanNotBeUpdated, "Email can not be updated"},
			{"update-user empty", alice, "POST", "/update-user", map[string]any{}, "", 400, "", "No fields to update"},
			{"update-user only core fields", alice, "POST", "/update-user", map[string]any{"emailVerified": true}, "", 400, "", "No fields to update"},
			{"update-user array", alice, "POST", "/update-user", []any{}, "", 400, contracts.CodeValidationError, "[body] Invalid input: expected record, received array"},
			{"update-user name not a string", alice, "POST", "/update-user", map[string]any{"name": 1}, "", 400, contracts.CodeValidationError,
				"[body.name] Invalid input: expected string, received number"},
			{"update-user unauthenticated", anon, "POST", "/update-user", map[string]any{"name": "x"}, "", 401, contracts.CodeUnauthorized, ""},

			// change-password (§1.7)
			{"change-password wrong current", alice, "POST", "/change-password", map[string]any{"currentPassword": "nope-nope-nope", "newPassword": "password456"},
				"", 400, contracts.CodeInvalidPassword, "Invalid password"},
			{"change-password short new", alice, "POST", "/change-password", map[string]any{"currentPassword": "password123", "newPassword": "short"},
				"", 400, contracts.CodePasswordTooShort, ""},
			{"change-password missing", alice, "POST", "/change-password", map[string]any{}, "", 400, contracts.CodeValidationError,
				"[body.newPassword] Invalid input: expected string, received undefined; [body.currentPassword] Invalid input: expected string, received undefined"},
			{"change-password revokeOtherSessions not boolean", alice, "POST", "/change-password",
				map[string]any{"newPassword": "a", "currentPassword": "b", "revokeOtherSessions": "x"}, "", 400, contracts.CodeValidationError,
				"[body.revokeOtherSessions] Invalid input: expected boolean, received string"},

			// change-email (§1.8)
			{"change-email invalid", alice, "POST", "/change-email", map[string]any{"newEmail": "bad"}, "", 400, contracts.CodeValidationError, "[body.newEmail] Invalid email address"},
			{"change-email same", alice, "POST", "/change-email", map[string]any{"newEmail": "ALICE@example.com"}, "", 400, "", "Email is the same"},

			// delete-user (§1.9)
			{"delete-user wrong password", alice, "POST", "/delete-user", map[string]any{"password": "nope-nope-nope"}, "", 400, contracts.CodeInvalidPassword, "Invalid password"},
			{"delete-user bad token", alice, "POST", "/delete-user", map[string]any{"token": "abc"}, "", 404, contracts.CodeInvalidToken, "Invalid token"},
			{"delete-user password not a string", alice, "POST", "/delete-user", map[string]any{"password": 1}, "", 400, contracts.CodeValidationError,
				"[body.password] Invalid input: expected string, received number"},
			{"delete-user callback without session", anon, "GET", "/delete-user/callback?token=x", nil, "", 404, "FAILED_TO_GET_USER_INFO", "Failed to get user info"},
			{"delete-user callback missing token", anon, "GET", "/delete-user/callback", nil, "", 400, contracts.CodeValidationError,
				"[query.token] Invalid input: expected string, received undefined"},

			// email verification (§1.10)
			{"send-verification-email mismatch", alice, "POST", "/send-verification-email", map[string]any{"email": "other@example.com"}, "", 400, contracts.CodeEmailMismatch, "Email mismatch"},
			{"send-verification-email invalid", anon, "POST", "/send-verification-email", map[string]any{"email": "bad"}, "", 400, contracts.CodeValidationError, "[body.email] Invalid email address"},
			{"verify-email bad token", anon, "GET", "/verify-email?token=bad", nil, "", 401, contracts.CodeInvalidToken, "Invalid token"},
			{"verify-email no token", anon, "GET", "/verify-email", nil, "", 400, contracts.CodeValidationError, "[query.token] Invalid input: expected string, received undefined"},
			{"verify-email two tokens", anon, "GET", "/verify-email?token=a&token=b", nil, "", 400, contracts.CodeValidationError, "[query.token] Invalid input: expected string, received array"},
			{"verify-email untrusted callback", anon, "GET", "/verify-email?token=x&callbackURL=https://evil.example.org/", nil, "", 403, contracts.CodeInvalidCallbackURL, ""},

			// password reset (§1.11)
			{"request-password-reset untrusted redirectTo", anon, "POST", "/request-password-reset", map[string]any{"email": "alice@example.com", "redirectTo": "https://evil.example.org/reset"},
				"", 403, contracts.CodeInvalidRedirectURL, "Invalid redirectURL"},
			{"request-password-reset redirectTo not a string", anon, "POST", "/request-password-reset", map[string]any{"email": "bad", "redirectTo": 3},
				"", 400, "", "Invalid redirectURL: expected a string"},
			{"request-password-reset missing email", anon, "POST", "/request-password-reset", map[string]any{}, "", 400, contracts.CodeValidationError,
				"[body.email] Invalid input: expected string, received undefined"},
			{"reset-password bad token", anon, "POST", "/reset-password", map[string]any{"token": "bad", "newPassword": "password000"}, "", 400, contracts.CodeInvalidToken, "Invalid token"},
			{"reset-password no token", anon, "POST", "/reset-password", map[string]any{"newPassword": "password000"}, "", 400, contracts.CodeInvalidToken, ""},
			{"reset-password types", anon, "POST", "/reset-password", map[string]any{"newPassword": 1, "token": 2}, "", 400, contracts.CodeValidationError,
				"[body.newPassword] Invalid input: expected string, received number; [body.token] Invalid input: expected string, received number"},
			{"reset-password GET without callbackURL", anon, "GET", "/reset-password/abc", nil, "", 400, contracts.CodeValidationError,
				"[query.callbackURL] Invalid input: expected string, received undefined"},

			// origin checks (§10, observed on /update-user)
			{"cookie POST without Origin", alice.noOrigin(), "POST", "/update-user", map[string]any{"name": "NoOrigin"}, "", 403, contracts.CodeMissingOrNullOrigin, "Missing or null Origin"},
			{"cookie POST with untrusted Origin", alice.withOrigin("https://evil.example.org"), "POST", "/update-user", map[string]any{"name": "EvilOrigin"},
				"", 403, contracts.CodeInvalidOrigin, "Invalid origin"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := tc.c
				if s, ok := tc.body.(string); ok {
					c = c.withHeader("Content-Type", tc.ctype)
					r := c.do(tc.method, tc.path, s)
					r.requireError(t, tc.status, tc.code, tc.message)
					return
				}
				r := c.do(tc.method, tc.path, tc.body)
				r.requireError(t, tc.status, tc.code, tc.message)
			})
		}
		// The table's requests changed nothing: alice still signs in with her password.
		r := anon.post("/sign-in/email", map[string]any{"email": "alice@example.com", "password": "password123"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	})
}

// noOrigin is a copy of c that sends no Origin header (sharing the jar).
func (c *client) noOrigin() *client { cp := *c; cp.origin = ""; return &cp }

// withOrigin is a copy of c that sends origin.
func (c *client) withOrigin(origin string) *client { cp := *c; cp.origin = origin; return &cp }

// withHeader is a copy of c that sends one more header.
func (c *client) withHeader(k, v string) *client {
	cp := *c
	cp.header = c.header.Clone()
	cp.header.Set(k, v)
	return &cp
}
