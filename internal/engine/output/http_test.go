package output

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "s3cr3t-inventory-token-0123456789"

type recorded struct {
	header http.Header
	body   []byte
	at     time.Time
	method string
	path   string
}

// recorder is an httptest handler that records requests and answers from a script.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	answer   func(n int, w http.ResponseWriter) // n = 0-based request number
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.requests)
	rc.requests = append(rc.requests, recorded{header: r.Header.Clone(), body: body, at: time.Now(), method: r.Method, path: r.URL.Path})
	rc.mu.Unlock()
	if rc.answer != nil {
		rc.answer(n, w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *recorder) all() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.requests...)
}

func newRecorder(t *testing.T, answer func(n int, w http.ResponseWriter)) (*recorder, *httptest.Server) {
	rc := &recorder{answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

var fastRetry = WithRetry(3, time.Millisecond, 20*time.Millisecond)

func TestHTTPPostsEnvelopeWithIdempotencyKeyAndAuth(t *testing.T) {
	rc, srv := newRecorder(t, nil)
	h, err := NewHTTP(srv.URL+"/v1/images?team=platform", testToken, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name() != "http:"+srv.URL+"/v1/images" {
		t.Fatalf("Name = %q (must not carry the query)", h.Name())
	}
	dg := digestN(1)
	meta := metadataJSON(t, dg, appTags("h"), nil)
	sboms := sbomsN(1)
	a := mustArtifact(t, meta, sboms)
	a.Parent = digestN(100)
	if err := h.Deliver(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rc.all()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/v1/images" {
		t.Fatalf("request = %s %s", r.method, r.path)
	}
	for k, want := range map[string]string{
		"Idempotency-Key": dg,
		"Authorization":   "Bearer " + testToken,
		"Content-Type":    "application/json",
		"User-Agent":      "imagewatch-engine",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatal(err)
	}
	if len(env) != 4 {
		t.Errorf("envelope keys = %v, want schema, parent, metadata, sboms", keysRaw(env))
	}
	if string(env["schema"]) != `"imagewatch.v1"` || string(env["parent"]) != `"`+digestN(100)+`"` {
		t.Errorf("schema/parent = %s/%s", env["schema"], env["parent"])
	}
	if !jsonEqual(t, env["metadata"], meta) {
		t.Errorf("metadata = %s", env["metadata"])
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(env["sboms"], &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("sboms = %v", keysRaw(got))
	}
	for f, doc := range sboms {
		// Embedded as JSON, not as a base64 or quoted string.
		if !strings.HasPrefix(string(got[f]), "{") || !jsonEqual(t, got[f], doc) {
			t.Errorf("sboms[%s] = %.80s", f, got[f])
		}
	}
}

func keysRaw(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHTTPWithoutTokenSendsNoAuthorization(t *testing.T) {
	rc, srv := newRecorder(t, nil)
	h, err := NewHTTP(srv.URL, "", fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil)); err != nil {
		t.Fatal(err)
	}
	r := rc.all()[0]
	if v, ok := r.header["Authorization"]; ok {
		t.Fatalf("Authorization sent without a token: %v", v)
	}
	var env Envelope
	if err := json.Unmarshal(r.body, &env); err != nil || env.SBOMs == nil || len(env.SBOMs) != 0 || env.Parent != "" {
		t.Fatalf("envelope of an artifact without SBOMs = %s (%v)", r.body, err)
	}
}

func TestHTTPRetriesServiceUnavailableThenSucceeds(t *testing.T) {
	rc, srv := newRecorder(t, func(n int, w http.ResponseWriter) {
		if n < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	h, _ := NewHTTP(srv.URL, testToken, fastRetry)
	if err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), sbomsN(1))); err != nil {
		t.Fatal(err)
	}
	reqs := rc.all()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3", len(reqs))
	}
	// Every attempt carries the same body and idempotency key.
	for _, r := range reqs[1:] {
		if string(r.body) != string(reqs[0].body) || r.header.Get("Idempotency-Key") != digestN(1) {
			t.Fatal("retried request differs from the first")
		}
	}
}

func TestHTTPHonoursRetryAfter(t *testing.T) {
	rc, srv := newRecorder(t, func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// Backoff alone would wait at most 5ms: only Retry-After explains a 1s gap.
	h, _ := NewHTTP(srv.URL, "", WithRetry(2, time.Millisecond, 5*time.Second))
	if err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil)); err != nil {
		t.Fatal(err)
	}
	reqs := rc.all()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 950*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("gap between attempts = %v, want about 1s", gap)
	}
}

func TestHTTPPermanentRejectionFailsAtOnceWithoutSecret(t *testing.T) {
	rc, srv := newRecorder(t, func(n int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadRequest)
		// A server that echoes the request's auth header in its error body.
		_, _ = io.WriteString(w, "{\"error\": \"schema mismatch\",\n \"auth\": \"Bearer "+testToken+"\"}")
	})
	h, _ := NewHTTP(srv.URL, testToken, fastRetry)
	err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil))
	if err == nil {
		t.Fatal("delivered")
	}
	if n := len(rc.all()); n != 1 {
		t.Fatalf("requests = %d, want 1 (no retry of a 400)", n)
	}
	if !IsPermanent(err) || StatusCode(err) != 400 {
		t.Fatalf("err = %v, permanent=%v status=%d", err, IsPermanent(err), StatusCode(err))
	}
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "schema mismatch") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error lacks status or excerpt, or spans lines: %q", err)
	}
	assertNoSecret(t, err, testToken)
}

func TestHTTPServerErrorsAreRetriedBoundedly(t *testing.T) {
	rc, srv := newRecorder(t, func(n int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, strings.Repeat("x", 5000))
	})
	h, _ := NewHTTP(srv.URL, testToken, fastRetry)
	err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil))
	if err == nil {
		t.Fatal("delivered")
	}
	if n := len(rc.all()); n != 4 {
		t.Fatalf("requests = %d, want 4 (1 + 3 retries)", n)
	}
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 500 || e.Attempts != 4 || IsPermanent(err) {
		t.Fatalf("err = %#v", err)
	}
	if len(e.Message) > 210*3 || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("error message not bounded or lacks attempts: %d bytes: %.120s", len(e.Message), err)
	}
}

func TestHTTPUnauthorizedGetsHintAndIsNotPermanent(t *testing.T) {
	_, srv := newRecorder(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) })
	h, _ := NewHTTP(srv.URL, testToken, fastRetry)
	err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "token") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, testToken)
}

func TestHTTPTransportErrorAndCancellation(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	h, _ := NewHTTP(url, testToken, WithRetry(1, time.Millisecond, time.Millisecond))
	err := h.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil))
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 0 || IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, testToken)

	// A hanging server: the delivery returns when the context ends.
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); hang.Close() })
	h, _ = NewHTTP(hang.URL, testToken)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = h.Deliver(ctx, mustArtifact(t, metadataJSON(t, digestN(1), nil, nil), nil))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestNewHTTPRejectsBadURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"":                              "url is empty",
		"ftp://inventory/v1":            "http or https",
		"https://user:pw@inventory/v1":  "must not contain credentials",
		"https:///v1":                   "no host",
		"https://inventory/v1\x7f%zz??": "not a URL",
	} {
		_, err := NewHTTP(raw, testToken)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewHTTP(%q) = %v, want %q", raw, err, want)
			continue
		}
		assertNoSecret(t, err, "pw", testToken)
	}
}
