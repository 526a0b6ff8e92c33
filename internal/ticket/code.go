// Package ticket is what happens after the sale: the tickets a confirmed
// booking is issued (one per seat), the signed codes a scanner reads, and
// check-in at the door.
//
// A ticket's code is its payload — the event, the ticket and the seat
// label — signed with the server's Ed25519 key, in a compact binary form
// written as unpadded base64url (about 140 characters for a short label).
// A scanner that has fetched the public key (GET
// /api/v1/events/{id}/ticket-key) verifies a code offline with Verify;
// the server verifies it the same way before it looks the ticket up.
package ticket

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// CodeVersion is the first byte of every code: the layout below.
const CodeVersion byte = 1

// The layout of a code, before base64url:
//
//	version (1 byte) | event id (16) | ticket id (16) | label length n (1) | label (n, UTF-8) | Ed25519 signature (64)
//
// The signature covers every byte before it.
const (
	headerLen = 1 + 16 + 16 + 1
	// MaxLabelBytes is the longest seat label a code carries.
	MaxLabelBytes = 255
)

// Payload is what a code says: which ticket, for which event, for which
// seat.
type Payload struct {
	EventID   uuid.UUID
	TicketID  uuid.UUID
	SeatLabel string
}

// ErrInvalidCode is returned for a code that is malformed or whose
// signature does not verify.
var ErrInvalidCode = errors.New("invalid ticket code")

// Signer signs ticket codes with one Ed25519 key.
type Signer struct {
	key ed25519.PrivateKey
	pub ed25519.PublicKey
	id  string
}

// NewSigner returns a signer for the private key derived from seed (32
// bytes).
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ticket signing key: seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	return &Signer{key: key, pub: pub, id: KeyID(pub)}, nil
}

// PublicKey is the key that verifies the signer's codes.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// KeyID names the signer's key.
func (s *Signer) KeyID() string { return s.id }

// KeyID is a short name of a public key: the first 8 bytes of its SHA-256,
// in hex, so that a scanner can tell which key it holds.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign returns the code of p. Ed25519 signatures are deterministic: the
// same payload always has the same code.
func (s *Signer) Sign(p Payload) (string, error) {
	if len(p.SeatLabel) > MaxLabelBytes {
		return "", fmt.Errorf("sign ticket %s: seat label longer than %d bytes", p.TicketID, MaxLabelBytes)
	}
	msg := make([]byte, 0, headerLen+len(p.SeatLabel)+ed25519.SignatureSize)
	msg = append(msg, CodeVersion)
	msg = append(msg, p.EventID[:]...)
	msg = append(msg, p.TicketID[:]...)
	msg = append(msg, byte(len(p.SeatLabel)))
	msg = append(msg, p.SeatLabel...)
	msg = append(msg, ed25519.Sign(s.key, msg)...)
	return base64.RawURLEncoding.EncodeToString(msg), nil
}

// MaxCodeLen bounds the length of a code (base64url of the longest
// payload).
var MaxCodeLen = base64.RawURLEncoding.EncodedLen(headerLen + MaxLabelBytes + ed25519.SignatureSize)

// Verify decodes code and checks its signature with pub alone: what an
// offline scanner does. It returns ErrInvalidCode for anything that is not
// a code signed by pub's key.
func Verify(pub ed25519.PublicKey, code string) (Payload, error) {
	if len(pub) != ed25519.PublicKeySize || len(code) > MaxCodeLen {
		return Payload{}, ErrInvalidCode
	}
	raw, err := base64.RawURLEncoding.DecodeString(code)
	if err != nil || len(raw) < headerLen+ed25519.SignatureSize || raw[0] != CodeVersion {
		return Payload{}, ErrInvalidCode
	}
	n := int(raw[headerLen-1])
	if len(raw) != headerLen+n+ed25519.SignatureSize {
		return Payload{}, ErrInvalidCode
	}
	msg, sig := raw[:headerLen+n], raw[headerLen+n:]
	if !ed25519.Verify(pub, msg, sig) {
		return Payload{}, ErrInvalidCode
	}
	var p Payload
	copy(p.EventID[:], raw[1:17])
	copy(p.TicketID[:], raw[17:33])
	p.SeatLabel = string(raw[headerLen : headerLen+n])
	return p, nil
}
