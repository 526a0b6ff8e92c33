package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestTokenCarriesVersion(t *testing.T) {
	t.Parallel()
	tokens := NewTokens([]byte(strings.Repeat("k", 32)), time.Minute, nil)
	for _, want := range []Principal{
		{UserID: uuid.New(), Role: RoleAdmin, Version: 3},
		{UserID: uuid.New(), Role: RoleUser}, // version 0: tokens issued before versions existed
	} {
		tok, err := tokens.Issue(want)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tokens.Verify(tok); err != nil || got != want {
			t.Errorf("Verify(Issue(%+v)) = %+v, %v", want, got, err)
		}
	}
}

// TestVerifiedTokensExpire: a token verified once is answered from memory
// until it expires, then refused; a token that fails verification is never
// remembered, and a tampered copy of a good one is refused.
func TestVerifiedTokensExpire(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens := NewTokens([]byte(strings.Repeat("k", 32)), time.Minute, clock)
	p := Principal{UserID: uuid.New(), Role: RoleUser}
	tok, err := tokens.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, err := tokens.Verify(tok); err != nil || got != p {
			t.Fatalf("Verify = %+v, %v", got, err)
		}
	}
	other := NewTokens([]byte(strings.Repeat("x", 32)), time.Minute, clock)
	if _, err := other.Verify(tok); err == nil {
		t.Error("a token signed with another key was accepted")
	}
	tampered := tok[:len(tok)-2] + "xx"
	for range 2 {
		if _, err := tokens.Verify(tampered); err == nil {
			t.Error("a tampered token was accepted")
		}
	}
	now = now.Add(time.Minute)
	if _, err := tokens.Verify(tok); err == nil {
		t.Error("an expired token was accepted from memory")
	}
}
