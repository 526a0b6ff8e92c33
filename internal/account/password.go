package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// passwordParams are argon2id's costs. argon2id hashes the whole password
// (bcrypt would ignore everything past 72 bytes, and the contract lets a
// password be 128 characters of up to 4 bytes each).
type passwordParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen int
	keyLen  uint32
}

// defaultParams are OWASP's recommended minimum for argon2id: 19 MiB, two
// passes, one lane (about 20 ms on one core).
var defaultParams = passwordParams{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// maxMemory bounds the memory cost accepted from a stored hash.
const maxMemory = 1 << 20 // KiB (1 GiB)

var errBadHash = errors.New("malformed password hash")

// passwords hashes and verifies passwords. It runs at most one hash per
// CPU at a time: each one takes memory (19 MiB) and a core for tens of
// milliseconds, so a burst of logins queues instead of exhausting either.
type passwords struct {
	params passwordParams
	slots  chan struct{}

	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

func newPasswords(p passwordParams) *passwords {
	return &passwords{params: p, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

func (p *passwords) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *passwords) release() { <-p.slots }

// hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, unpadded standard base64.
func (p *passwords) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, p.params.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := p.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.params.time, p.params.memory, p.params.threads, p.params.keyLen)
	p.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.params.memory, p.params.time, p.params.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verify reports whether password matches the PHC string encoded, with
// the costs recorded in it.
func (p *passwords) verify(ctx context.Context, encoded, password string) (bool, error) {
	params, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	if err := p.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, params.time, params.memory, params.threads, params.keyLen)
	p.release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// burn verifies password against a hash of nothing, so that a login with
// an unknown e-mail costs what a wrong password costs.
func (p *passwords) burn(ctx context.Context, password string) error {
	p.dummyOnce.Do(func() {
		p.dummy, p.dummyErr = p.hash(context.WithoutCancel(ctx), rand.Text())
	})
	if p.dummyErr != nil {
		return p.dummyErr
	}
	_, err := p.verify(ctx, p.dummy, password)
	return err
}

func parseHash(encoded string) (passwordParams, []byte, []byte, error) {
	var params passwordParams
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return params, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return params, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &params.memory, &params.time, &params.threads); err != nil {
		return params, nil, nil, errBadHash
	}
	if params.memory == 0 || params.memory > maxMemory || params.time == 0 || params.time > 100 || params.threads == 0 {
		return params, nil, nil, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return params, nil, nil, errBadHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return params, nil, nil, errBadHash
	}
	params.keyLen = uint32(len(key))
	return params, salt, key, nil
}
