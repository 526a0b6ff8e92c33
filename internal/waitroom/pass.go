package waitroom

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Pass is what an admission pass says: the user is admitted to the event
// until Expires, by the admission numbered Admission in the event's line.
// Numbers are never reused within a room, so (EventID, Admission) names one
// admission: that is what leaving the room revokes.
type Pass struct {
	EventID   uuid.UUID
	UserID    uuid.UUID
	Admission int64
	Expires   time.Time
}

// Passes signs and verifies admission passes with HMAC-SHA256. Every
// replica both signs and verifies, so a shared secret is all it needs: an
// HMAC costs about a microsecond to check (an Ed25519 signature about fifty)
// and makes a shorter token. The key is derived from the access-token secret
// (HKDF with a label of its own), so replicas that accept each other's
// access tokens accept each other's passes, and neither key can stand in
// for the other.
type Passes struct {
	key []byte
}

// passInfo labels the derived key: change it and every pass issued with the
// old one stops verifying.
const passInfo = "evently waiting-room admission pass v1"

// passVersion is the first byte of every pass's payload.
const passVersion = 1

// passLen is the payload's length: version, event id, user id, admission
// number, expiry in Unix milliseconds.
const passLen = 1 + 16 + 16 + 8 + 8

// NewPasses derives the pass key from secret (the access-token secret).
// An empty secret gets a random key: passes then verify only in this
// process.
func NewPasses(secret []byte) *Passes {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	// hkdf.Key fails only for keys longer than 255 hashes.
	key, _ := hkdf.Key(sha256.New, secret, nil, passInfo, sha256.Size)
	return &Passes{key: key}
}

// Sign returns p as a token: base64url(payload) "." base64url(HMAC).
func (ps *Passes) Sign(p Pass) string {
	payload := make([]byte, 0, passLen)
	payload = append(payload, passVersion)
	payload = append(payload, p.EventID[:]...)
	payload = append(payload, p.UserID[:]...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(p.Admission))
	payload = binary.BigEndian.AppendUint64(payload, uint64(p.Expires.UnixMilli()))
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(ps.mac(payload))
}

// ErrBadPass means a token is not a pass this server signed: malformed,
// altered, or signed with another key.
var ErrBadPass = errors.New("not a valid admission pass")

// Verify checks the token's signature and returns what it says. It says
// nothing about the event, the user, the time or revocation: the caller
// checks those.
func (ps *Passes) Verify(token string) (Pass, error) {
	enc := base64.RawURLEncoding.Strict()
	body, sig, ok := strings.Cut(token, ".")
	if !ok || enc.DecodedLen(len(body)) != passLen || enc.DecodedLen(len(sig)) != sha256.Size {
		return Pass{}, ErrBadPass
	}
	payload, err := enc.DecodeString(body)
	if err != nil {
		return Pass{}, ErrBadPass
	}
	mac, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, ps.mac(payload)) || payload[0] != passVersion {
		return Pass{}, ErrBadPass
	}
	var p Pass
	copy(p.EventID[:], payload[1:17])
	copy(p.UserID[:], payload[17:33])
	p.Admission = int64(binary.BigEndian.Uint64(payload[33:41]))
	p.Expires = time.UnixMilli(int64(binary.BigEndian.Uint64(payload[41:49]))).UTC()
	return p, nil
}

func (ps *Passes) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, ps.key)
	h.Write(payload)
	return h.Sum(nil)
}
