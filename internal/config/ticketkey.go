package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
)

// ticketKey reads the Ed25519 key that signs ticket codes: the 32-byte
// seed in base64 (standard or URL alphabet, padded or not), or a PKCS#8
// PEM private key ("-----BEGIN PRIVATE KEY-----", as `openssl genpkey
// -algorithm ed25519` writes it). Unset, a random key is generated for
// this process (generated true), as for EVENTLY_JWT_SECRET.
func (p *parser) ticketKey(name string) (seed []byte, generated bool) {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			p.fail(name, "cannot generate a random key: %v", err)
		}
		return seed, true
	}
	if strings.HasPrefix(v, "-----BEGIN") {
		block, _ := pem.Decode([]byte(v))
		if block == nil || block.Type != "PRIVATE KEY" {
			p.fail(name, "must be a base64 32-byte seed or a PKCS#8 PEM Ed25519 private key")
			return nil, false
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		ek, ok := k.(ed25519.PrivateKey)
		if err != nil || !ok {
			p.fail(name, "the PEM key must be a PKCS#8 Ed25519 private key")
			return nil, false
		}
		return ek.Seed(), false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) != ed25519.SeedSize {
				p.fail(name, "must decode to a %d-byte Ed25519 seed, got %d bytes", ed25519.SeedSize, len(b))
				return nil, false
			}
			return b, false
		}
	}
	p.fail(name, "must be a base64 32-byte seed or a PKCS#8 PEM Ed25519 private key")
	return nil, false
}
