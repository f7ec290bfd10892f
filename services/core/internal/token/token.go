// Package token makes the crypto-random identifiers and secrets better-auth
// 1.7.25 makes, with the same alphabets, lengths and rejection sampling
// (@better-auth/utils/random), and the SHA-256 digest under which authbus
// stores a session token (the token itself is never stored).
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// Alphabets, in better-auth's order (the order decides which byte maps to
// which character).
const (
	// IDAlphabet is generateId's alphabet: "a-z", "A-Z", "0-9".
	IDAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	// LowerAlphabet is generateRandomString(n, "0-9", "a-z")'s alphabet.
	LowerAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
)

// Lengths better-auth uses.
const (
	// IDLength is the length of ids and session tokens (generateId()).
	IDLength = 32
	// ResetTokenLength is the length of a password-reset token (generateId(24)).
	ResetTokenLength = 24
	// DeleteTokenLength is the length of a delete-account confirmation token.
	DeleteTokenLength = 32
)

// ID returns a new 32-character [A-Za-z0-9] id, like better-auth's generateId().
func ID() string { return generate(IDLength, IDAlphabet, rand.Reader) }

// SessionToken returns a new 32-character [A-Za-z0-9] session token.
func SessionToken() string { return generate(IDLength, IDAlphabet, rand.Reader) }

// ResetToken returns a new 24-character [A-Za-z0-9] password-reset token.
func ResetToken() string { return generate(ResetTokenLength, IDAlphabet, rand.Reader) }

// DeleteToken returns a new 32-character [0-9a-z] delete-account token.
func DeleteToken() string { return generate(DeleteTokenLength, LowerAlphabet, rand.Reader) }

// String returns n random characters of alphabet (at most 256 characters),
// uniformly distributed. It panics if n < 1 or the alphabet is empty or
// longer than 256, which are programming errors.
func String(n int, alphabet string) string { return generate(n, alphabet, rand.Reader) }

// Hash is the lower-case hex SHA-256 of a session token: the key under which
// the session store keeps a session.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// generate is better-auth's createRandomStringGenerator: draw random bytes,
// drop those at or above the largest multiple of len(alphabet) that fits in a
// byte (so every character is equally likely), map the rest with modulo.
func generate(n int, alphabet string, r io.Reader) string {
	if n < 1 || len(alphabet) == 0 || len(alphabet) > 256 {
		panic("token: bad length or alphabet")
	}
	maxValid := 256 / len(alphabet) * len(alphabet)
	var stack [64]byte
	out := stack[:0]
	if n > len(stack) {
		out = make([]byte, 0, n)
	}
	var buf [64]byte
	for len(out) < n {
		// Draw about twice what is needed, as better-auth does.
		chunk := buf[:min(len(buf), 2*(n-len(out)))]
		if _, err := io.ReadFull(r, chunk); err != nil {
			// crypto/rand.Reader does not fail (Go 1.24+); a test reader
			// running dry is a broken test.
			panic("token: random source: " + err.Error())
		}
		for _, b := range chunk {
			if int(b) < maxValid {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}
