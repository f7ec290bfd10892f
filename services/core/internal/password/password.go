// Package password hashes and verifies passwords exactly like better-auth
// 1.7.25 (@better-auth/utils/password, Node build): scrypt N=16384, r=16, p=1,
// a 64-byte key, the password NFKC-normalised, the 32-character hex salt used
// as ASCII bytes (not decoded), stored as "<saltHex>:<keyHex>". A hash written
// by better-auth verifies here and the other way round.
//
// One scrypt costs ~32 MiB and tens of milliseconds of one CPU, so every hash
// and verification runs on a Hasher: a bounded pool (GOMAXPROCS slots by
// default) where a burst of sign-ins waits its turn instead of starving the
// cheap requests (get-session) of CPU.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"

	"github.com/authbus/authbus/pkg/contracts"
)

// better-auth's scrypt parameters (@better-auth/utils/password).
const (
	// ScryptN is the CPU/memory cost parameter.
	ScryptN = 16384
	// ScryptR is the block size parameter.
	ScryptR = 16
	// ScryptP is the parallelisation parameter.
	ScryptP = 1
	// KeyLen is the derived key length in bytes (128 hex characters when stored).
	KeyLen = 64
	// SaltLen is the number of random salt bytes (32 hex characters when stored).
	SaltLen = 16
)

// ErrMalformedHash reports a stored hash that is not "<salt>:<128 hex chars>".
// better-auth answers "no match" for most such strings; a caller may treat it
// the same way, but it usually means a broken or foreign row worth logging.
var ErrMalformedHash = errors.New("password: malformed stored hash")

// ErrClosed is returned by a Hasher after Close.
var ErrClosed = errors.New("password: hasher closed")

// dummyHash is verified against for unknown emails, so that signing in with
// an unknown address costs the same single scrypt as a wrong password.
const dummyHash = "00000000000000000000000000000000:" +
	"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

// Hasher runs scrypt on a bounded pool. It is safe for concurrent use.
type Hasher struct {
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewHasher returns a Hasher that runs at most workers scrypt computations at
// once; workers <= 0 means runtime.GOMAXPROCS(0). Each running computation
// holds ~32 MiB.
func NewHasher(workers int) *Hasher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Hasher{slots: make(chan struct{}, workers), done: make(chan struct{})}
}

// Workers reports how many computations may run at once.
func (h *Hasher) Workers() int { return cap(h.slots) }

// Hash returns a new "<saltHex>:<keyHex>" hash of pw in better-auth's format.
// It waits for a free slot (honouring ctx while it waits); once started, the
// computation runs to completion.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	var salt [SaltLen]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	saltHex := hex.EncodeToString(salt[:])
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key, err := derive(saltHex, pw)
	h.release()
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, 2*SaltLen+1+2*KeyLen)
	out = append(out, saltHex...)
	out = append(out, ':')
	out = hex.AppendEncode(out, key)
	return string(out), nil
}

// Verify reports whether pw matches stored (better-auth's "<salt>:<key>"
// format). The comparison is constant-time. A stored value that cannot be
// better-auth's format yields ErrMalformedHash and costs no scrypt.
func (h *Hasher) Verify(ctx context.Context, stored, pw string) (bool, error) {
	saltHex, want, err := parseStored(stored)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	key, err := derive(saltHex, pw)
	h.release()
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, want) == 1, nil
}

// VerifyDummy costs exactly what Verify costs and always fails: call it when
// the email is unknown (or has no password) so response time does not tell
// whether an account exists. It returns only queueing errors.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, err := h.Verify(ctx, dummyHash, pw)
	return err
}

// Close refuses new work, wakes every queued caller with ErrClosed and waits
// for running computations to finish. Calling it again is a no-op.
func (h *Hasher) Close() error {
	h.closeOnce.Do(func() {
		close(h.done)
		// Owning every slot means nothing is running any more.
		for range cap(h.slots) {
			h.slots <- struct{}{}
		}
	})
	return nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case <-h.done:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-h.done:
		return ErrClosed
	}
	// select picks at random when a slot frees up just as Close runs.
	select {
	case <-h.done:
		h.release()
		return ErrClosed
	default:
		return nil
	}
}

func (h *Hasher) release() { <-h.slots }

// derive is better-auth's generateKey: scrypt(NFKC(pw), ASCII(saltHex)).
func derive(saltHex, pw string) ([]byte, error) {
	key, err := scrypt.Key(normalize(pw), []byte(saltHex), ScryptN, ScryptR, ScryptP, KeyLen)
	if err != nil {
		return nil, fmt.Errorf("password: scrypt: %w", err)
	}
	return key, nil
}

// normalize returns the UTF-8 bytes of pw's NFKC form, as Node's
// scrypt(password.normalize("NFKC")) hashes them.
func normalize(pw string) []byte {
	if isASCII(pw) {
		return []byte(pw) // NFKC leaves ASCII unchanged; skip the normaliser
	}
	return norm.NFKC.Bytes([]byte(pw))
}

// parseStored splits "<salt>:<key>" like better-auth (hash.split(":"), the
// first two fields) and decodes the key.
func parseStored(stored string) (salt string, key []byte, err error) {
	salt, rest, ok := strings.Cut(stored, ":")
	keyHex, _, _ := strings.Cut(rest, ":")
	if !ok || salt == "" || keyHex == "" {
		return "", nil, fmt.Errorf("%w: want <salt>:<key>", ErrMalformedHash)
	}
	// better-auth compares lower-case hex text: anything else never matches.
	if len(keyHex) != 2*KeyLen || strings.ContainsFunc(keyHex, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	}) {
		return "", nil, fmt.Errorf("%w: key is not %d lower-case hex characters", ErrMalformedHash, 2*KeyLen)
	}
	key, err = hex.DecodeString(keyHex)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return salt, key, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// better-auth's default length limits (emailAndPassword.min/maxPasswordLength).
const (
	// DefaultMinLength is the shortest password accepted on sign-up, change and reset.
	DefaultMinLength = 8
	// DefaultMaxLength is the longest password accepted anywhere.
	DefaultMaxLength = 128
)

// Limits are the password length rules, in JavaScript string length
// (UTF-16 code units) of the raw, un-normalised password. The zero value means
// better-auth's defaults (8..128).
type Limits struct {
	// Min is the minimum length; 0 means DefaultMinLength.
	Min int
	// Max is the maximum length; 0 means DefaultMaxLength.
	Max int
}

// CheckNew applies the rules for a password being set (sign-up, change
// password's new password, reset): PASSWORD_TOO_SHORT, then PASSWORD_TOO_LONG.
func (l Limits) CheckNew(pw string) *contracts.Error {
	n := Length(pw)
	if n < l.min() {
		return contracts.CodePasswordTooShort.Err()
	}
	if n > l.max() {
		return contracts.CodePasswordTooLong.Err()
	}
	return nil
}

// CheckMax applies the rule for a password being checked (sign-in, delete
// user, verify password, change password's current password): only
// PASSWORD_TOO_LONG.
func (l Limits) CheckMax(pw string) *contracts.Error {
	if Length(pw) > l.max() {
		return contracts.CodePasswordTooLong.Err()
	}
	return nil
}

func (l Limits) min() int {
	if l.Min <= 0 {
		return DefaultMinLength
	}
	return l.Min
}

func (l Limits) max() int {
	if l.Max <= 0 {
		return DefaultMaxLength
	}
	return l.Max
}

// Length is JavaScript's String.prototype.length of s: UTF-16 code units, so a
// character outside the Basic Multilingual Plane (most emoji) counts twice.
func Length(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
