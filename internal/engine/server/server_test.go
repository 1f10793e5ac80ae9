package server

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/metrics"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

func testLogger(t *testing.T) (hclog.Logger, *logbuf.Buffer) {
	t.Helper()
	buf := &logbuf.Buffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: buf}), buf
}

// call sends a request to h through a real HTTP server.
func call(t *testing.T, h http.Handler, method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	var (
		mu     sync.Mutex
		ready  bool
		reason = "store not open"
	)
	s := New(WithReadiness(func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return ready, reason
	}))
	h := s.Handler()
	set := func(ok bool, why string) {
		mu.Lock()
		ready, reason = ok, why
		mu.Unlock()
	}

	resp, body := call(t, h, http.MethodGet, "/healthz", nil, nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	resp, body = call(t, h, http.MethodGet, "/readyz", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "store not open") {
		t.Fatalf("/readyz before ready = %d %q, want 503 naming the reason", resp.StatusCode, body)
	}

	set(false, `integration "prod": connection check has not passed yet`)
	_, body = call(t, h, http.MethodGet, "/readyz", nil, nil)
	if !strings.Contains(body, `integration "prod"`) {
		t.Fatalf("/readyz reason not updated: %q", body)
	}
	// Health does not depend on readiness.
	if resp, _ := call(t, h, http.MethodGet, "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz while not ready = %d, want 200", resp.StatusCode)
	}

	set(true, "")
	resp, body = call(t, h, http.MethodGet, "/readyz", nil, nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "ready" {
		t.Fatalf("/readyz when ready = %d %q, want 200 ready", resp.StatusCode, body)
	}

	set(false, "")
	if resp, body := call(t, h, http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusServiceUnavailable || body == "" {
		t.Fatalf("/readyz after losing readiness = %d %q, want 503 with a reason", resp.StatusCode, body)
	}

	// No readiness function: ready while serving.
	if resp, _ := call(t, New().Handler(), http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz without a readiness check = %d, want 200", resp.StatusCode)
	}
}

func TestRoutesAndMethods(t *testing.T) {
	withAll := New(WithMetrics(metrics.New()), WithWebhooks(&fakeRouter{}), WithInventory(&fakeInventory{})).Handler()
	bare := New().Handler()
	for _, c := range []struct {
		name         string
		h            http.Handler
		method, path string
		want         int
	}{
		{"unknown path", withAll, http.MethodGet, "/nope", http.StatusNotFound},
		{"POST healthz", withAll, http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{"HEAD healthz", withAll, http.MethodHead, "/healthz", http.StatusOK},
		{"GET webhook", withAll, http.MethodGet, "/webhooks/artifactory", http.StatusMethodNotAllowed},
		{"DELETE images", withAll, http.MethodDelete, "/api/v1/images", http.StatusMethodNotAllowed},
		{"metrics not configured", bare, http.MethodGet, "/metrics", http.StatusNotFound},
		{"webhooks not configured", bare, http.MethodPost, "/webhooks/artifactory", http.StatusNotFound},
		{"inventory not available", bare, http.MethodGet, "/api/v1/images", http.StatusServiceUnavailable},
	} {
		if resp, _ := call(t, c.h, c.method, c.path, nil, nil); resp.StatusCode != c.want {
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, resp.StatusCode, c.want)
		}
	}
}

func TestMetricsEndpointServesRegistry(t *testing.T) {
	m := metrics.New()
	m.ObservePoll("prod", nil)
	m.ImagesDiscovered("prod", 7)
	h := New(WithMetrics(m)).Handler()
	resp, body := call(t, h, http.MethodGet, "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{
		`imagewatch_polls_total{integration="prod",result="success"} 1`,
		`imagewatch_images_discovered_total{integration="prod"} 7`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// blockingInventory holds a request in flight until released.
type blockingInventory struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingInventory) Inventory(ctx context.Context, _ store.ListFilter) ([]store.InventoryItem, error) {
	close(b.entered)
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	inv := &blockingInventory{entered: make(chan struct{}), release: make(chan struct{})}
	s := New(WithInventory(inv))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz on the live server: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A request in flight when the context is cancelled completes.
	type result struct {
		status int
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/api/v1/images")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		resp.Body.Close()
		inflight <- result{status: resp.StatusCode}
	}()
	<-inv.entered
	cancel()

	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request still in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(inv.release)
	if r := <-inflight; r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight request during shutdown: status %d, err %v; want 200", r.status, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after a clean shutdown = %v, want nil", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve on a closed listener fails at once
	err = New().Serve(t.Context(), ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve on a closed listener = %v, want an error", err)
	}
}

func TestListenAndServeNamesTheAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = New().ListenAndServe(t.Context(), ln.Addr().String()) // already in use
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("ListenAndServe on a busy port = %v, want an error naming the address and the listen key", err)
	}
}

func TestRequestLogOmitsQueryAndHeaders(t *testing.T) {
	log, buf := testLogger(t)
	var calls atomic.Int32
	h := New(WithLogger(log), WithInventoryToken("tok-123456"), WithInventory(&fakeInventory{onCall: func() { calls.Add(1) }})).Handler()
	call(t, h, http.MethodGet, "/api/v1/images?repository=secret-repo", nil, http.Header{"Authorization": {"Bearer tok-123456"}})
	if calls.Load() != 1 {
		t.Fatal("inventory not queried")
	}
	out := buf.String()
	if !strings.Contains(out, "/api/v1/images") {
		t.Fatalf("request not logged at debug: %q", out)
	}
	if strings.Contains(out, "tok-123456") || strings.Contains(out, "secret-repo") {
		t.Fatalf("request log leaks the token or the query: %q", out)
	}
}
