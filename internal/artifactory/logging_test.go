package artifactory

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestLogsNeverCarrySecrets(t *testing.T) {
	var buf logbuf.Buffer
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
