package ticket_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/ticket"
)

func newSigner(t *testing.T, fill byte) *ticket.Signer {
	t.Helper()
	s, err := ticket.NewSigner(bytes.Repeat([]byte{fill}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCodeVerifiesWithThePublicKeyAlone signs a payload and verifies it
// with nothing but the public key's bytes, as an offline scanner does; the
// code is compact and the same every time.
func TestCodeVerifiesWithThePublicKeyAlone(t *testing.T) {
	t.Parallel()
	s := newSigner(t, 7)
	p := ticket.Payload{EventID: uuid.New(), TicketID: uuid.New(), SeatLabel: "Stalls-C-12"}
	code, err := s.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Sign(p)
	if again != code {
		t.Errorf("Sign() is not deterministic: %q then %q", code, again)
	}
	if len(code) > 160 {
		t.Errorf("code is %d characters, want a compact one (<= 160)", len(code))
	}
	pub := append([]byte(nil), s.PublicKey()...)
	got, err := ticket.Verify(pub, code)
	if err != nil || got != p {
		t.Fatalf("Verify() = %+v, %v; want %+v", got, err, p)
	}
}

// TestVerifyRefusesForgeries: a code signed by another key, any flipped
// byte, a truncated or padded code, another version and garbage are all
// ErrInvalidCode.
func TestVerifyRefusesForgeries(t *testing.T) {
	t.Parallel()
	s, other := newSigner(t, 1), newSigner(t, 2)
	p := ticket.Payload{EventID: uuid.New(), TicketID: uuid.New(), SeatLabel: "Floor-00042"}
	code, _ := s.Sign(p)
	forged, _ := other.Sign(p)
	raw, _ := base64.RawURLEncoding.DecodeString(code)
	cases := map[string]string{
		"other key":  forged,
		"empty":      "",
		"garbage":    "not a code at all!",
		"truncated":  code[:len(code)-4],
		"extended":   code + "AAAA",
		"padded":     code + "=",
		"too long":   strings.Repeat("A", ticket.MaxCodeLen+1),
		"standard64": base64.StdEncoding.EncodeToString(raw),
	}
	for i := range raw {
		flipped := append([]byte(nil), raw...)
		flipped[i] ^= 0x01
		cases["flipped byte "+string(rune('a'+i%26))+string(rune('0'+i/26))] = base64.RawURLEncoding.EncodeToString(flipped)
	}
	for name, c := range cases {
		if c == code {
			continue // some encodings of a code are the code itself
		}
		if _, err := ticket.Verify(s.PublicKey(), c); !errors.Is(err, ticket.ErrInvalidCode) {
			t.Errorf("%s: Verify() error = %v, want ErrInvalidCode", name, err)
		}
	}
	if _, err := ticket.Verify(s.PublicKey()[:16], code); !errors.Is(err, ticket.ErrInvalidCode) {
		t.Errorf("short key: Verify() error = %v, want ErrInvalidCode", err)
	}
}

// TestSignBoundsTheLabel: the longest label signs and verifies; a longer
// one is refused rather than cut.
func TestSignBoundsTheLabel(t *testing.T) {
	t.Parallel()
	s := newSigner(t, 3)
	p := ticket.Payload{EventID: uuid.New(), TicketID: uuid.New(), SeatLabel: strings.Repeat("x", ticket.MaxLabelBytes)}
	code, err := s.Sign(p)
	if err != nil || len(code) != ticket.MaxCodeLen {
		t.Fatalf("Sign(255-byte label) = %d chars, %v; want %d", len(code), err, ticket.MaxCodeLen)
	}
	if got, err := ticket.Verify(s.PublicKey(), code); err != nil || got != p {
		t.Fatalf("Verify() = %v, %v", got, err)
	}
	p.SeatLabel += "x"
	if _, err := s.Sign(p); err == nil {
		t.Fatal("Sign(256-byte label) succeeded, want an error")
	}
	if _, err := ticket.NewSigner([]byte("short")); err == nil {
		t.Fatal("NewSigner(5 bytes) succeeded, want an error")
	}
}
