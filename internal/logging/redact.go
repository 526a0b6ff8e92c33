package logging

import (
	"net/url"
	"strings"
)

// redacted replaces every secret a printed URL would show.
const redacted = "xxxxx"

// secretWords are the parts of a query parameter's name that mark its
// value as a secret (matched anywhere in the lower-cased name, so
// access_token, X-Amz-Signature, apiKey and client_secret all count).
var secretWords = []string{
	"token", "secret", "passw", "pwd", "key", "signature", "auth", "credential", "session", "jwt", "bearer",
}

// secretNames are short names that would match too much as parts.
var secretNames = []string{"sig", "pass", "pw", "code"}

// RedactURL is the one way to print a URL: the password of its userinfo
// and the value of every query parameter (and fragment parameter) whose
// name looks secret are replaced by "xxxxx"; everything else is kept as
// it was, in its order. A string that does not parse as a URL is not
// printed at all. Every log line, error and stored message that shows a
// configured URL (DATABASE_URL, REDIS_URL, EVENTLY_WEBHOOK_URL) goes
// through it.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	u.RawQuery = redactQuery(u.RawQuery)
	if strings.Contains(u.Fragment, "=") {
		u.Fragment, u.RawFragment = redactQuery(u.Fragment), ""
	}
	return u.String()
}

// redactQuery replaces the values of secret-looking parameters in a raw
// query, leaving its order and encoding alone.
func redactQuery(raw string) string {
	if raw == "" {
		return raw
	}
	pairs := strings.Split(raw, "&")
	for i, pair := range pairs {
		k, _, hasValue := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && SecretName(name) {
			pairs[i] = k + "=" + redacted
		}
	}
	return strings.Join(pairs, "&")
}

// SecretName reports whether a parameter of this name likely holds a
// secret.
func SecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, w := range secretNames {
		if n == w {
			return true
		}
	}
	return false
}
