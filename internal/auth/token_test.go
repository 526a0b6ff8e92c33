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
