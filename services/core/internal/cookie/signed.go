package cookie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strings"
	"sync"
)

// sigLen is the length of a signature: base64 (standard alphabet, padded) of
// a 32-byte HMAC-SHA256, always 43 characters and one '='.
const sigLen = 44

// Signer makes and checks better-call's signed cookie values:
// value + "." + base64std(HMAC-SHA256(secret, value)). It is safe for
// concurrent use and does not allocate when verifying.
type Signer struct {
	pool sync.Pool
}

// macState is a pooled HMAC with scratch space, so hashing needs no allocation.
type macState struct {
	mac hash.Hash
	in  []byte
	sum []byte
	sig [sha256.Size + 2]byte
}

// NewSigner returns a Signer keyed with the UTF-8 bytes of the secret.
func NewSigner(secret []byte) *Signer {
	key := append([]byte(nil), secret...)
	s := &Signer{}
	s.pool.New = func() any {
		return &macState{mac: hmac.New(sha256.New, key), in: make([]byte, 0, 64), sum: make([]byte, 0, sha256.Size)}
	}
	return s
}

// mac computes HMAC-SHA256(secret, value) into st.sum.
func (st *macState) compute(value string) []byte {
	st.mac.Reset()
	st.in = append(st.in[:0], value...)
	st.mac.Write(st.in)
	st.sum = st.mac.Sum(st.sum[:0])
	return st.sum
}

// Sign returns value + "." + signature: the decoded signed form, which is what
// better-auth's bearer plugin sends in set-auth-token.
func (s *Signer) Sign(value string) string {
	st := s.pool.Get().(*macState)
	sum := st.compute(value)
	var b strings.Builder
	b.Grow(len(value) + 1 + sigLen)
	b.WriteString(value)
	b.WriteByte('.')
	var enc [sigLen]byte
	base64.StdEncoding.Encode(enc[:], sum)
	b.Write(enc[:])
	s.pool.Put(st)
	return b.String()
}

// Encode returns encodeURIComponent(Sign(value)): a signed cookie's value as
// it appears in Set-Cookie (better-call's signCookieValue).
func (s *Signer) Encode(value string) string {
	return EncodeURIComponent(s.Sign(value))
}

// Verify checks a decoded signed value (as Get returns it) with better-call's
// getSignedCookie rules and returns the value before the signature:
// the signature starts after the last '.', which must not be the first
// character; it must be 44 characters ending with '='; it must be the
// base64 (standard alphabet) HMAC of the value, compared in constant time.
// Like atob, the unused low bits of the last base64 character are ignored.
func (s *Signer) Verify(signed string) (string, bool) {
	i := strings.LastIndexByte(signed, '.')
	if i < 1 {
		return "", false
	}
	value, sig := signed[:i], signed[i+1:]
	if len(sig) != sigLen || sig[sigLen-1] != '=' {
		return "", false
	}
	st := s.pool.Get().(*macState)
	defer s.pool.Put(st)
	if !decodeStdSig(st.sig[:], sig) {
		return "", false
	}
	sum := st.compute(value)
	if !hmac.Equal(sum, st.sig[:sha256.Size]) {
		return "", false
	}
	return value, true
}

// verifyLoose is the bearer plugin's own check:
// HMAC(secret, part0) == base64-decode(part1) where part0/part1 are the first
// two '.'-separated fields and the decoder is @better-auth/utils' base64
// (URL alphabet if the text has '-' or '_', else standard; stops at '=';
// any other character fails).
func (s *Signer) verifyLoose(signed string) bool {
	part0, rest, ok := strings.Cut(signed, ".")
	if !ok {
		return false
	}
	part1, _, _ := strings.Cut(rest, ".")
	st := s.pool.Get().(*macState)
	defer s.pool.Put(st)
	n, ok := decodeLoose(st.sig[:], part1)
	if !ok || n != sha256.Size {
		return false
	}
	return hmac.Equal(st.compute(part0), st.sig[:sha256.Size])
}

var (
	stdDecode = decodeTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	urlDecode = decodeTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
)

func decodeTable(alphabet string) (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}

// decodeStdSig decodes a 44-character signature whose first 43 characters
// are in the standard alphabet into dst (at least 32 bytes).
func decodeStdSig(dst []byte, sig string) bool {
	n, ok := decodeBits(dst, sig[:sigLen-1], &stdDecode)
	return ok && n == sha256.Size
}

// decodeLoose is @better-auth/utils base64.decode, writing at most len(dst)
// bytes; it reports the decoded length (which may exceed len(dst)) and
// whether every character was valid.
func decodeLoose(dst []byte, s string) (int, bool) {
	table := &stdDecode
	if strings.ContainsAny(s, "-_") {
		table = &urlDecode
	}
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	return decodeBits(dst, s, table)
}

// decodeBits accumulates 6 bits per character and emits every full byte;
// left-over bits are dropped (as atob and @better-auth/utils do).
func decodeBits(dst []byte, s string, table *[256]byte) (int, bool) {
	var buf uint32
	bits, n := 0, 0
	for i := 0; i < len(s); i++ {
		v := table[s[i]]
		if v == 0xFF {
			return n, false
		}
		buf = buf<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			if n < len(dst) {
				dst[n] = byte(buf >> bits)
			}
			n++
		}
	}
	return n, true
}
