package logging_test

import (
	"strings"
	"testing"

	"github.com/evently/evently/internal/logging"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"https://hooks.example/in", "https://hooks.example/in"},
		{"https://hooks.example/in?team=7&token=s3cr3t", "https://hooks.example/in?team=7&token=xxxxx"},
		{"https://hooks.example/in?Access_Token=a&api-key=b&apiKey=c&X-Amz-Signature=d&sig=e&client_secret=f&auth=g&credential=h&pwd=i&passwd=j&password=k&page=2",
			"https://hooks.example/in?Access_Token=xxxxx&api-key=xxxxx&apiKey=xxxxx&X-Amz-Signature=xxxxx&sig=xxxxx&client_secret=xxxxx&auth=xxxxx&credential=xxxxx&pwd=xxxxx&passwd=xxxxx&password=xxxxx&page=2"},
		{"https://hooks.example/in?to%6Ben=s3cr3t", "https://hooks.example/in?to%6Ben=xxxxx"},
		{"postgres://app:pg-pass@db:5432/evently?sslmode=require&password=q-pass",
			"postgres://app:xxxxx@db:5432/evently?sslmode=require&password=xxxxx"},
		{"postgres://app@db/evently", "postgres://app@db/evently"},
		{"redis://:r-pass@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"https://app.example/cb#access_token=t0k&state=1", "https://app.example/cb#access_token=xxxxx&state=1"},
		{"http://[::1:bad", "(unparseable URL)"},
	}
	for _, c := range cases {
		if got := logging.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, secret := range []string{"s3cr3t", "pg-pass", "q-pass", "r-pass", "t0k"} {
			if strings.Contains(logging.RedactURL(c.in), secret) {
				t.Errorf("RedactURL(%q) shows %q", c.in, secret)
			}
		}
	}
}
