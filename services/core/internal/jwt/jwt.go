// Package jwt signs and verifies the one kind of JWT the core issues: better-auth's
// email-verification token (contract §1.10). It is a compact HS256 JWS whose
// protected header is exactly {"alg":"HS256"} (what jose's SignJWT emits in
// better-auth 1.7.25, no "typ"), whose key is the UTF-8 bytes of the auth secret,
// and whose payload is {email, updateTo?, requestType?, userId?, iat, exp}.
//
// Tokens minted by better-auth verify here and tokens minted here verify in
// better-auth (jose's jwtVerify with algorithms ["HS256"]); see jwt_test.go for
// the vectors and how they were produced.
package jwt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxTokenBytes is the longest token Verify accepts; longer input is ErrInvalid
// before any decoding. better-auth's tokens are about 250–400 bytes.
const MaxTokenBytes = 4096

// Request types better-auth puts in Claims.RequestType for change-email tokens.
const (
	// RequestChangeEmailConfirmation is sent to the old address of a verified user.
	RequestChangeEmailConfirmation = "change-email-confirmation"
	// RequestChangeEmailVerification is sent to the new address.
	RequestChangeEmailVerification = "change-email-verification"
)

var (
	// ErrInvalid means the token is malformed, not HS256, signed with another key,
	// not yet valid or missing a required claim.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired means the token is well-formed and correctly signed but its exp
	// has passed (better-auth answers TOKEN_EXPIRED instead of INVALID_TOKEN).
	ErrExpired = errors.New("token expired")
)

// Claims is the payload of an email-verification token. Field order matches
// better-auth's, so the same claims sign to the same bytes as jose's.
type Claims struct {
	// Email is the lower-cased address the token was issued for (required).
	Email string `json:"email"`
	// UpdateTo is the lower-cased new address of a change-email token.
	UpdateTo string `json:"updateTo,omitempty"`
	// RequestType is RequestChangeEmailConfirmation or RequestChangeEmailVerification on change-email tokens.
	RequestType string `json:"requestType,omitempty"`
	// UserID is the user the token is bound to.
	UserID string `json:"userId,omitempty"`
	// IssuedAt is the "iat" claim in Unix seconds; Sign sets it.
	IssuedAt int64 `json:"iat"`
	// ExpiresAt is the "exp" claim in Unix seconds; Sign sets it to IssuedAt + ttl.
	ExpiresAt int64 `json:"exp"`
}

// header is base64url({"alg":"HS256"}), byte for byte what jose emits.
const header = "eyJhbGciOiJIUzI1NiJ9"

var b64 = base64.RawURLEncoding

// Sign mints a token for c issued now and valid for ttl (better-auth's default is
// one hour). c.IssuedAt and c.ExpiresAt are overwritten.
func Sign(secret string, c Claims, ttl time.Duration) (string, error) {
	return SignAt(secret, c, time.Now(), ttl)
}

// SignAt is Sign with an explicit issue time (tests, vectors).
func SignAt(secret string, c Claims, now time.Time, ttl time.Duration) (string, error) {
	if secret == "" {
		return "", errors.New("jwt: sign: empty secret")
	}
	if c.Email == "" {
		return "", errors.New("jwt: sign: empty email claim")
	}
	if ttl < time.Second {
		return "", fmt.Errorf("jwt: sign: ttl %s is shorter than one second", ttl)
	}
	// jose: iat = floor(now), exp = floor(now) + expiresIn.
	c.IssuedAt = now.Unix()
	c.ExpiresAt = c.IssuedAt + int64(ttl/time.Second)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// JSON.stringify does not escape <, > and &; keep the bytes identical to jose's.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	signingInput := header + "." + b64.EncodeToString(payload)
	return signingInput + "." + b64.EncodeToString(mac(secret, signingInput)), nil
}

// Verify checks token against secret at time now and returns its claims.
// Errors wrap ErrInvalid or ErrExpired (errors.Is); ErrExpired is only returned
// for a token whose signature is valid, as in jose. The claim checks follow
// jose's jwtVerify: exp <= now is expired, nbf > now is invalid, and iat, nbf and
// exp must be numbers when present. Unlike jose, exp is required.
func Verify(secret string, token string, now time.Time) (Claims, error) {
	if secret == "" {
		return Claims{}, fmt.Errorf("%w: empty secret", ErrInvalid)
	}
	if len(token) > MaxTokenBytes {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s, ".") {
		return Claims{}, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	if err := checkHeader(h); err != nil {
		return Claims{}, err
	}
	sig, err := b64.DecodeString(s)
	if err != nil || len(sig) != sha256.Size {
		return Claims{}, fmt.Errorf("%w: malformed signature", ErrInvalid)
	}
	if !hmac.Equal(sig, mac(secret, token[:len(h)+1+len(p)])) {
		return Claims{}, fmt.Errorf("%w: signature mismatch", ErrInvalid)
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not base64url", ErrInvalid)
	}
	return parseClaims(raw, now)
}

func mac(secret, signingInput string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signingInput))
	return m.Sum(nil)
}

// checkHeader accepts any protected header whose alg is HS256 (jose ignores
// "typ", "kid" and the like) but refuses "crit" and "b64": we implement no
// extension, and an unencoded payload is not a JWT.
func checkHeader(h string) error {
	raw, err := b64.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: header is not base64url", ErrInvalid)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return fmt.Errorf("%w: header is not a JSON object", ErrInvalid)
	}
	var alg string
	if err := json.Unmarshal(fields["alg"], &alg); err != nil || alg != "HS256" {
		return fmt.Errorf("%w: alg must be HS256", ErrInvalid)
	}
	for _, k := range []string{"crit", "b64"} {
		if _, ok := fields[k]; ok {
			return fmt.Errorf("%w: unsupported header parameter %q", ErrInvalid, k)
		}
	}
	return nil
}

func parseClaims(raw []byte, now time.Time) (Claims, error) {
	// A map keeps key matching exact: encoding/json would let "EMAIL" fill Email.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Claims{}, fmt.Errorf("%w: payload is not a JSON object", ErrInvalid)
	}
	var c Claims
	var err error
	if c.Email, err = stringClaim(fields, "email", true); err != nil {
		return Claims{}, err
	}
	if c.UpdateTo, err = stringClaim(fields, "updateTo", false); err != nil {
		return Claims{}, err
	}
	if c.RequestType, err = stringClaim(fields, "requestType", false); err != nil {
		return Claims{}, err
	}
	if c.UserID, err = stringClaim(fields, "userId", false); err != nil {
		return Claims{}, err
	}
	iat, _, err := dateClaim(fields, "iat")
	if err != nil {
		return Claims{}, err
	}
	nbf, hasNbf, err := dateClaim(fields, "nbf")
	if err != nil {
		return Claims{}, err
	}
	exp, hasExp, err := dateClaim(fields, "exp")
	if err != nil {
		return Claims{}, err
	}
	if !hasExp {
		return Claims{}, fmt.Errorf("%w: missing exp claim", ErrInvalid)
	}
	t := float64(now.Unix())
	if hasNbf && nbf > t {
		return Claims{}, fmt.Errorf("%w: not valid before %v", ErrInvalid, nbf)
	}
	if exp <= t {
		return Claims{}, fmt.Errorf("%w: exp %v is not after %v", ErrExpired, exp, t)
	}
	c.IssuedAt = clampInt(iat)
	c.ExpiresAt = clampInt(exp)
	return c, nil
}

func stringClaim(fields map[string]json.RawMessage, name string, required bool) (string, error) {
	v, ok := fields[name]
	if !ok {
		if required {
			return "", fmt.Errorf("%w: missing %s claim", ErrInvalid, name)
		}
		return "", nil
	}
	var s string
	if isNull(v) || json.Unmarshal(v, &s) != nil {
		return "", fmt.Errorf("%w: %s claim is not a string", ErrInvalid, name)
	}
	if required && s == "" {
		return "", fmt.Errorf("%w: empty %s claim", ErrInvalid, name)
	}
	return s, nil
}

// dateClaim reads a NumericDate: any JSON number, fractions allowed (RFC 7519 §2).
func dateClaim(fields map[string]json.RawMessage, name string) (float64, bool, error) {
	v, ok := fields[name]
	if !ok {
		return 0, false, nil
	}
	var f float64
	if isNull(v) || json.Unmarshal(v, &f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, fmt.Errorf("%w: %s claim is not a number", ErrInvalid, name)
	}
	return f, true, nil
}

// isNull reports a JSON null, which encoding/json would silently decode as a
// zero value while jose and zod reject it.
func isNull(v json.RawMessage) bool {
	return string(bytes.TrimSpace(v)) == "null"
}

func clampInt(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	default:
		return int64(math.Floor(f))
	}
}
