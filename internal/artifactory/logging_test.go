package artifactory

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsNeverCarrySecrets(t *testing.T) {
	var buf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})
	secret := "tok-" + strings.Repeat("s", 40)
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/version") {
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = rw.Write([]byte("upstream rejected " + secret))
			return
		}
		rw.WriteHeader(http.StatusUnauthorized)
	})
	c := newTestClient(t, w.URL, WithLogger(logger), WithCredentials(Credentials{Username: "bob", Secret: secret}))
	rep, err := c.TestConnection(context.Background(), []string{"docker-local"})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "artifactory") || !strings.Contains(out, "retrying request") {
		t.Errorf("expected retry logs from the named logger, got:\n%s", out)
	}
	for _, s := range []string{out, rep.Hint, rep.AuthError.Error(), rep.Repositories[0].Reason} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}
