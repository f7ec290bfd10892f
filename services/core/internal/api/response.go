package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/auth"
	"github.com/authbus/authbus/services/core/internal/cookie"
	"github.com/authbus/authbus/services/core/internal/store"
)

// reply is a response being built: written at once when the route is done.
type reply struct {
	status  int
	header  http.Header
	cookies []string // Set-Cookie values, in order
	body    []byte
	ctype   string // Content-Type; "" for none
	err     *contracts.Error
}

func newReply() *reply { return &reply{status: http.StatusOK, header: http.Header{}} }

// json sets a 200 JSON body.
func (rp *reply) json(v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// JSON.stringify does not escape <, > and &.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every value written is built by this package from plain types.
		panic("api: encode response: " + err.Error())
	}
	rp.status, rp.ctype = http.StatusOK, "application/json"
	rp.body = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// fail sets an error answer: {"message","code"}, {"message"} for
// message-only errors, or an empty body when the error has neither.
func (rp *reply) fail(e *contracts.Error) {
	rp.status, rp.ctype, rp.err = e.Status, "application/json", e
	switch {
	case e.Code == "" && e.Message == "":
		rp.body = nil
	case e.Code == "":
		rp.body = appendJSONObject(nil, "message", e.Message)
	default:
		rp.body = appendJSONObject(nil, "message", e.Message, "code", string(e.Code))
	}
}

// redirect sets a 302 to location with an empty body (and better-call's
// JSON content type).
func (rp *reply) redirect(location string) {
	rp.status, rp.ctype, rp.body = http.StatusFound, "application/json", nil
	rp.header.Set("Location", location)
}

// appendJSONObject writes {"k1":"v1",...} with string values.
func appendJSONObject(b []byte, kv ...string) []byte {
	b = append(b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[i])
		b = append(b, ':')
		b = appendJSONString(b, kv[i+1])
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way JSON.stringify
// writes it: '"' and '\\' escaped, control characters as \b \f \n \r \t
// or \u00XX, everything else as is (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// jsTime is a time written like JavaScript's Date.toJSON(): UTC, milliseconds, "Z".
type jsTime time.Time

// jsTimeLayout is Date.toJSON()'s format.
const jsTimeLayout = "2006-01-02T15:04:05.000Z"

// MarshalJSON writes "2006-01-02T15:04:05.000Z".
func (t jsTime) MarshalJSON() ([]byte, error) {
	return appendJSTime(make([]byte, 0, 26), time.Time(t)), nil
}

// UnmarshalJSON reads an ISO-8601 time.
func (t *jsTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = jsTime(v.UTC())
	return nil
}

// userJSON is better-auth's User output.
// Its key order is the real server's (irrelevant to clients, handy for diffs).
type userJSON struct {
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     jsTime  `json:"createdAt"`
	UpdatedAt     jsTime  `json:"updatedAt"`
	ID            string  `json:"id"`
}

func userView(u store.User) userJSON {
	return userJSON{
		ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Image: u.Image,
		CreatedAt: jsTime(u.CreatedAt), UpdatedAt: jsTime(u.UpdatedAt),
	}
}

// userFromView turns a cached user back into a row.
func userFromView(v userJSON) store.User {
	return store.User{
		ID: v.ID, Name: v.Name, Email: v.Email, EmailVerified: v.EmailVerified, Image: v.Image,
		Role: store.RoleUser, CreatedAt: time.Time(v.CreatedAt), UpdatedAt: time.Time(v.UpdatedAt),
	}
}

// sessionJSON is better-auth's Session output (token included) with the
// per-session plugin fields.
type sessionJSON struct {
	ID                   string
	Token                string
	UserID               string
	ExpiresAt            time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time
	IPAddress            string
	UserAgent            string
	ActiveOrganizationID *string
	Data                 map[string]json.RawMessage
}

// coreSessionFields are never overridden by per-session plugin data.
var coreSessionFields = map[string]bool{
	"id": true, "token": true, "userId": true, "expiresAt": true, "createdAt": true, "updatedAt": true,
	"ipAddress": true, "userAgent": true, auth.SessionFieldActiveOrganization: true,
}

func sessionView(s store.Session, tok string) sessionJSON {
	return sessionJSON{
		ID: s.ID, Token: tok, UserID: s.UserID, ExpiresAt: s.ExpiresAt, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		IPAddress: s.IPAddress, UserAgent: s.UserAgent, ActiveOrganizationID: s.ActiveOrganizationID, Data: s.Data,
	}
}

// MarshalJSON writes the fields in the real server's order:
// expiresAt, token, createdAt, updatedAt, ipAddress, userAgent, userId, then
// activeOrganizationId when set and the plugin fields in key order, then id.
func (s sessionJSON) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 320)
	b = append(b, `{"expiresAt":`...)
	b = appendJSTime(b, s.ExpiresAt)
	b = append(b, `,"token":`...)
	b = appendJSONString(b, s.Token)
	b = append(b, `,"createdAt":`...)
	b = appendJSTime(b, s.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b = appendJSTime(b, s.UpdatedAt)
	b = append(b, `,"ipAddress":`...)
	b = appendJSONString(b, s.IPAddress)
	b = append(b, `,"userAgent":`...)
	b = appendJSONString(b, s.UserAgent)
	b = append(b, `,"userId":`...)
	b = appendJSONString(b, s.UserID)
	if s.ActiveOrganizationID != nil {
		b = append(b, `,"activeOrganizationId":`...)
		b = appendJSONString(b, *s.ActiveOrganizationID)
	}
	if len(s.Data) > 0 {
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			if !coreSessionFields[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			var buf bytes.Buffer
			if err := json.Compact(&buf, s.Data[k]); err != nil {
				return nil, fmt.Errorf("session field %q: %w", k, err)
			}
			b = append(b, ',')
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = append(b, buf.Bytes()...)
		}
	}
	b = append(b, `,"id":`...)
	b = appendJSONString(b, s.ID)
	return append(b, '}'), nil
}

// appendJSTime appends t as a quoted Date.toJSON() string.
func appendJSTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, jsTimeLayout)
	return append(b, '"')
}

// UnmarshalJSON reads a cached session.
func (s *sessionJSON) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	str := func(k string, dst *string) error {
		if v, ok := m[k]; ok {
			return json.Unmarshal(v, dst)
		}
		return nil
	}
	tm := func(k string, dst *time.Time) error {
		var t jsTime
		if err := json.Unmarshal(m[k], &t); err != nil {
			return err
		}
		*dst = time.Time(t)
		return nil
	}
	for _, step := range []error{
		str("id", &s.ID), str("token", &s.Token), str("userId", &s.UserID), str("ipAddress", &s.IPAddress), str("userAgent", &s.UserAgent),
		tm("expiresAt", &s.ExpiresAt), tm("createdAt", &s.CreatedAt), tm("updatedAt", &s.UpdatedAt),
	} {
		if step != nil {
			return step
		}
	}
	if v, ok := m[auth.SessionFieldActiveOrganization]; ok {
		if err := json.Unmarshal(v, &s.ActiveOrganizationID); err != nil {
			return err
		}
	}
	for k, v := range m {
		if !coreSessionFields[k] {
			if s.Data == nil {
				s.Data = map[string]json.RawMessage{}
			}
			s.Data[k] = v
		}
	}
	return nil
}

func sessionFromView(v sessionJSON) store.Session {
	return store.Session{
		ID: v.ID, TokenHash: store.HashToken(v.Token), UserID: v.UserID, ExpiresAt: v.ExpiresAt,
		IPAddress: v.IPAddress, UserAgent: v.UserAgent, ActiveOrganizationID: v.ActiveOrganizationID, Data: v.Data,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
}

// sessionAndUser is get-session's answer.
type sessionAndUser struct {
	Session sessionJSON `json:"session"`
	User    userJSON    `json:"user"`
}

// write sends rp: headers, cookies, the bearer plugin's set-auth-token
// when a session cookie is being set, then the body with its length.
func (h *Handler) write(w http.ResponseWriter, rp *reply) {
	hdr := w.Header()
	for k, v := range rp.header {
		hdr[k] = v
	}
	for _, c := range rp.cookies {
		hdr.Add("Set-Cookie", c)
	}
	if tok, ok := h.jar.SetAuthToken(rp.cookies); ok {
		hdr.Set("Set-Auth-Token", tok)
		hdr.Set("Access-Control-Expose-Headers", cookieExpose(hdr.Get("Access-Control-Expose-Headers")))
	}
	if rp.ctype != "" {
		hdr.Set("Content-Type", rp.ctype)
	}
	hdr.Set("Content-Length", strconv.Itoa(len(rp.body)))
	w.WriteHeader(rp.status)
	if len(rp.body) > 0 {
		_, _ = w.Write(rp.body)
	}
}

// statusJSON is {"status":true}.
var statusJSON = struct {
	Status bool `json:"status"`
}{true}

// successJSON is {"success":true,"message":...}.
type successJSON struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// statusMessageJSON is {"status":true,"message":...}.
type statusMessageJSON struct {
	Status  bool   `json:"status"`
	Message string `json:"message"`
}

// cookieExpose merges set-auth-token into Access-Control-Expose-Headers.
func cookieExpose(existing string) string { return cookie.ExposeHeaders(existing) }
