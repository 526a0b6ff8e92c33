package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/logging"
)

// HTTPSender posts webhooks to their endpoints' URLs.
type HTTPSender struct {
	client *http.Client
}

// NewHTTPSender returns a sender with a 10 s timeout per attempt.
// Redirects are not followed: a receiver answers where it was configured.
func NewHTTPSender() *HTTPSender {
	return &HTTPSender{client: &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Send posts body with its signature to url and returns the status code.
func (s *HTTPSender) Send(ctx context.Context, url string, id uuid.UUID, body []byte, signature string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, hideURL(err, url)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Evently-Webhooks/1")
	req.Header.Set(SignatureHeader, signature)
	req.Header.Set("Evently-Webhook-Id", id.String())
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, hideURL(err, url)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// hideURL replaces the URL that net/http errors quote (the whole URL,
// query included) with its redacted form (logging.RedactURL): a
// receiver's URL often carries a token, and errors reach the logs and the
// operators' list of deliveries.
func hideURL(err error, raw string) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		ue.URL = logging.RedactURL(raw)
	}
	return err
}
