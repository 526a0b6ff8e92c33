package notify

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestHTTPSenderHidesURLSecrets: net/http quotes the whole URL in its
// errors; the sender's errors, which reach the logs and last_error, show
// it redacted.
func TestHTTPSenderHidesURLSecrets(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, u := range []string{
		"http://" + addr + "/hooks?token=s3cr3t&team=7",
		"http://user:s3cr3t@" + addr + "/hooks",
		"http://" + addr + "/hooks?api_key=s3cr3t",
	} {
		_, err := NewHTTPSender().Send(context.Background(), u, uuid.New(), []byte(`{}`), "t=1,v1=00")
		if err == nil {
			t.Fatalf("Send(%s) to a closed port succeeded", u)
		}
		if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("Send(%s) error = %q, want the URL redacted", u, err)
		}
	}
}
