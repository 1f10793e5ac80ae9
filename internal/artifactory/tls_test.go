package artifactory

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(versionOK))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	untrusted := newTestClient(t, srv.URL)
	_, err := untrusted.Version(context.Background())
	if !IsUnreachable(err) {
		t.Fatalf("self-signed server accepted without its CA: %v", err)
	}
	rep, err := untrusted.TestConnection(context.Background(), []string{"docker-local"})
	if err != nil || rep.AuthOK || !strings.Contains(rep.Hint, "CA file") {
		t.Errorf("TLS failure hint: %v %q", err, rep.Hint)
	}

	trusted := newTestClient(t, srv.URL, WithCAFile(ca))
	if _, err := trusted.Version(context.Background()); err != nil {
		t.Fatalf("with CA file: %v", err)
	}
	skip := newTestClient(t, srv.URL, WithInsecureSkipVerify(true))
	if _, err := skip.Version(context.Background()); err != nil {
		t.Fatalf("with skip verify: %v", err)
	}
	// The plain client for registry pulls carries the same TLS settings.
	resp, err := trusted.HTTPClient().Get(srv.URL + "/artifactory/api/system/version")
	if err != nil {
		t.Fatalf("HTTPClient without the CA: %v", err)
	}
	resp.Body.Close()

	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not a cert"), 0o600)
	if _, err := New(srv.URL, WithCAFile(bad)); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
}

// countingTransport counts the requests it passes on.
type countingTransport struct {
	next http.RoundTripper
	n    int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.next.RoundTrip(r)
}

func TestTransportWrapperKeepsTLSSettings(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(versionOK))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var counter *countingTransport
	c := newTestClient(t, srv.URL, WithCAFile(ca), WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
		counter = &countingTransport{next: rt}
		return counter
	}))
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatalf("wrapped transport lost the CA file: %v", err)
	}
	if counter == nil || counter.n != 1 {
		t.Fatalf("wrapper saw %v requests, want 1", counter)
	}
}
