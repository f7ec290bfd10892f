package coresvc

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// MinSecretBytes is the shortest core secret Crypto accepts.
const MinSecretBytes = 16

// cryptoVersion starts every ciphertext; a new format gets a new version.
const cryptoVersion = "v1"

// ErrCiphertext reports a ciphertext that is malformed, was made with an
// unknown key, for another plugin, or was altered.
var ErrCiphertext = errors.New("ciphertext is not valid")

// Crypto encrypts for plugins with keys derived from the core secret.
// Each plugin gets its own key (HKDF-SHA256 of the secret, info naming the
// plugin), so one plugin cannot open another's ciphertexts. Ciphertexts
// are "v1.<key id>.<base64url(nonce ‖ XChaCha20-Poly1305 sealed box)>";
// the key id names the secret, so secrets can be rotated: the first secret
// encrypts, every secret decrypts.
type Crypto struct {
	secrets []cryptoSecret
	keys    sync.Map // kid + "/" + plugin → []byte
}

type cryptoSecret struct {
	kid    string
	secret []byte
}

// NewCrypto returns a Crypto using the first secret to encrypt and all of
// them to decrypt.
func NewCrypto(secrets ...[]byte) (*Crypto, error) {
	if len(secrets) == 0 {
		return nil, errors.New("crypto: a core secret is required")
	}
	c := &Crypto{}
	for i, s := range secrets {
		if len(s) < MinSecretBytes {
			return nil, fmt.Errorf("crypto: secret %d is %d bytes; use at least %d random bytes", i, len(s), MinSecretBytes)
		}
		sum := sha256.Sum256(append([]byte("authbus/plugin-crypto/key-id\x00"), s...))
		c.secrets = append(c.secrets, cryptoSecret{kid: hex.EncodeToString(sum[:4]), secret: append([]byte(nil), s...)})
	}
	return c, nil
}

func (c *Crypto) key(s cryptoSecret, plugin string) ([]byte, error) {
	ck := s.kid + "/" + plugin
	if k, ok := c.keys.Load(ck); ok {
		return k.([]byte), nil
	}
	k, err := hkdf.Key(sha256.New, s.secret, nil, "authbus/plugin-crypto/"+cryptoVersion+"/"+plugin, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive key: %w", err)
	}
	c.keys.Store(ck, k)
	return k, nil
}

func aad(kid, plugin string) []byte { return []byte(cryptoVersion + "." + kid + "." + plugin) }

// Encrypt seals plaintext for plugin.
func (c *Crypto) Encrypt(plugin string, plaintext []byte) (string, error) {
	s := c.secrets[0]
	k, err := c.key(s, plugin)
	if err != nil {
		return "", err
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return "", fmt.Errorf("crypto: %w", err)
	}
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("crypto: nonce: %w", err)
	}
	buf = aead.Seal(buf, buf[:aead.NonceSize()], plaintext, aad(s.kid, plugin))
	return cryptoVersion + "." + s.kid + "." + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Decrypt opens a ciphertext Encrypt made for plugin.
func (c *Crypto) Decrypt(plugin, ciphertext string) ([]byte, error) {
	parts := strings.Split(ciphertext, ".")
	if len(parts) != 3 || parts[0] != cryptoVersion {
		return nil, fmt.Errorf("%w: expected %s.<key id>.<data>", ErrCiphertext, cryptoVersion)
	}
	var s *cryptoSecret
	for i := range c.secrets {
		if c.secrets[i].kid == parts[1] {
			s = &c.secrets[i]
		}
	}
	if s == nil {
		return nil, fmt.Errorf("%w: made with a key this core does not have (key id %q)", ErrCiphertext, parts[1])
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: data is not base64url", ErrCiphertext)
	}
	k, err := c.key(*s, plugin)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrCiphertext)
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad(s.kid, plugin))
	if err != nil {
		return nil, fmt.Errorf("%w: altered, or made for another plugin", ErrCiphertext)
	}
	return pt, nil
}
