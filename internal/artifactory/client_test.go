package artifactory

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fastRetry keeps retry tests quick.
var fastRetry = WithRetry(3, 10*time.Millisecond, 50*time.Millisecond)

func newTestClient(t *testing.T, rawURL string, opts ...Option) *Client {
	t.Helper()
	c, err := New(rawURL, append([]Option{fastRetry}, opts...)...)
	if err != nil {
		t.Fatalf("New(%q): %v", rawURL, err)
	}
	return c
}

// wire serves handler under /artifactory and records every request.
type wire struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newWire(t *testing.T, handler http.HandlerFunc) *wire {
	w := &wire{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.reqs = append(w.reqs, r.Clone(context.Background()))
		w.mu.Unlock()
		handler(rw, r)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *wire) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.reqs)
}

func (w *wire) last() *http.Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reqs[len(w.reqs)-1]
}

func versionOK(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write([]byte(`{"version":"7.77.5","revision":"77700900","addons":["docker"],"license":"Enterprise+"}`))
}

func TestAuthHeadersPerMode(t *testing.T) {
	jwt := "eyJ2ZXIiOiIyIn0.eyJzdWIiOiJ4In0.c2ln"
	tests := []struct {
		name  string
		creds Credentials
		check func(r *http.Request) string
	}{
		{"bearer", Credentials{Secret: jwt}, func(r *http.Request) string {
			if r.Header.Get("Authorization") != "Bearer "+jwt || r.Header.Get(HeaderAPIKey) != "" {
				return "want Authorization: Bearer <token> only"
			}
			return ""
		}},
		{"basic", Credentials{Username: "bob", Secret: "pw"}, func(r *http.Request) string {
			u, p, ok := r.BasicAuth()
			if !ok || u != "bob" || p != "pw" {
				return "want Basic bob:pw"
			}
			return ""
		}},
		{"basic with api key", Credentials{Username: "bob", Secret: legacyKey}, func(r *http.Request) string {
			u, p, ok := r.BasicAuth()
			if !ok || u != "bob" || p != legacyKey || r.Header.Get(HeaderAPIKey) != "" {
				return "want Basic bob:<key>"
			}
			return ""
		}},
		{"api key header", Credentials{Secret: legacyKey}, func(r *http.Request) string {
			if r.Header.Get(HeaderAPIKey) != legacyKey || r.Header.Get("Authorization") != "" {
				return "want X-JFrog-Art-Api only"
			}
			return ""
		}},
		{"anonymous", Credentials{}, func(r *http.Request) string {
			if r.Header.Get("Authorization") != "" || r.Header.Get(HeaderAPIKey) != "" {
				return "want no credentials"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t, versionOK)
			c := newTestClient(t, w.URL, WithCredentials(tt.creds), WithUserAgent("imagewatch-test/1"))
			if _, err := c.Version(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := w.last()
			if r.URL.Path != "/artifactory/api/system/version" {
				t.Errorf("path = %s", r.URL.Path)
			}
			if r.Header.Get("User-Agent") != "imagewatch-test/1" {
				t.Errorf("User-Agent = %q", r.Header.Get("User-Agent"))
			}
			if msg := tt.check(r); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestErrorClasses(t *testing.T) {
	secret := "sup3r-s3cret-token"
	tests := []struct {
		name        string
		status      int
		ctype, body string
		wantMsg     string
		wantCode    string
		is          func(error) bool
	}{
		{"401 envelope", 401, "application/json;charset=ISO-8859-1", "{\n  \"errors\" : [ {\n    \"status\" : 401,\n    \"message\" : \"Bad credentials\"\n  } ]\n}", "Bad credentials", "", IsUnauthorized},
		{"403 envelope", 403, "application/json", `{"errors":[{"status":403,"message":"Forbidden"}]}`, "Forbidden", "", IsForbidden},
		{"404 envelope", 404, "application/json", `{"errors":[{"status":404,"message":"The repository x was not found"}]}`, "The repository x was not found", "", IsNotFound},
		{"400 legacy missing repo", 400, "application/json", `{"errors":[{"status":400,"message":"The repository x was not found"}]}`, "was not found", "", IsNotFound},
		{"docker format", 404, "application/json", `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"The named manifest is not known to the registry.","detail":{"manifest":"app"}}]}`, "MANIFEST_UNKNOWN: The named manifest is not known to the registry.", "MANIFEST_UNKNOWN", IsNotFound},
		{"plain text", 400, "text/plain", "Failed to parse query: items.find(, it looks like there is syntax error", "Failed to parse query", "", func(err error) bool { return StatusCode(err) == 400 && !IsNotFound(err) }},
		{"html proxy page", 502, "text/html", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "HTML page: 502 Bad Gateway", "", func(err error) bool { return StatusCode(err) == 502 }},
		{"empty body", 405, "", "", "Method Not Allowed", "", func(err error) bool { return StatusCode(err) == 405 }},
		{"echoed secret", 401, "text/plain", "token " + secret + " is invalid", "token [REDACTED] is invalid", "", IsUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
				if tt.ctype != "" {
					rw.Header().Set("Content-Type", tt.ctype)
				}
				rw.WriteHeader(tt.status)
				_, _ = rw.Write([]byte(tt.body))
			})
			c := newTestClient(t, w.URL, WithCredentials(Credentials{Secret: secret}))
			_, err := c.Repository(context.Background(), "docker-local")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %T %v", err, err)
			}
			if e.StatusCode != tt.status || e.Method != "GET" || e.Endpoint != "/api/repositories/docker-local" {
				t.Errorf("got %+v", e)
			}
			if !strings.Contains(e.Message, tt.wantMsg) && !(tt.wantMsg == "Method Not Allowed" && strings.Contains(e.Error(), tt.wantMsg)) {
				t.Errorf("Message = %q, want %q", e.Message, tt.wantMsg)
			}
			if e.Code != tt.wantCode {
				t.Errorf("Code = %q, want %q", e.Code, tt.wantCode)
			}
			if !tt.is(err) {
				t.Errorf("classifier false for %v", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("secret leaked: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "GET /api/repositories/docker-local: ") {
				t.Errorf("Error() = %q", err.Error())
			}
			want := 1 // 4xx is final
			if tt.status >= 500 {
				want = 4 // 1 + 3 retries
			}
			if w.count() != want {
				t.Errorf("requests = %d, want %d", w.count(), want)
			}
		})
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	var n atomic.Int32
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		versionOK(rw, r)
	})
	c := newTestClient(t, w.URL)
	v, err := c.Version(context.Background())
	if err != nil || v.Version != "7.77.5" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	if w.count() != 3 {
		t.Errorf("requests = %d, want 3", w.count())
	}
}

func TestRetriesAreBounded(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write([]byte(`{"errors":[{"status":500,"message":"Storage is down"}]}`))
	})
	c := newTestClient(t, w.URL)
	_, err := c.Version(context.Background())
	if StatusCode(err) != 500 || !strings.Contains(err.Error(), "Storage is down") {
		t.Fatalf("want the final 500 as *Error, got %v", err)
	}
	if w.count() != 4 {
		t.Errorf("requests = %d, want 1 + 3 retries", w.count())
	}
}

func TestNoRetryOn501(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusNotImplemented) })
	c := newTestClient(t, w.URL)
	if _, err := c.Version(context.Background()); StatusCode(err) != 501 {
		t.Fatalf("err = %v", err)
	}
	if w.count() != 1 {
		t.Errorf("501 retried: %d requests", w.count())
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		versionOK(rw, r)
	})
	// maxWait above the server's 1s so it is honoured, not capped; minWait tiny so any wait >= 1s comes from the header.
	c, err := New(w.URL, WithRetry(2, time.Millisecond, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gap := times[1].Sub(times[0]); gap < 950*time.Millisecond {
		t.Errorf("waited %v between attempts, want >= Retry-After 1s", gap)
	}
}

func TestRetryAfterCappedAtMaxWait(t *testing.T) {
	start := time.Now()
	w := newWire(t, func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Retry-After", "30")
		rw.WriteHeader(http.StatusTooManyRequests)
		_, _ = rw.Write([]byte(`{"errors":[{"status":429,"message":"Too Many Requests"}]}`))
	})
	c := newTestClient(t, w.URL)
	_, err := c.Version(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 429 || e.RetryAfter != 30*time.Second {
		t.Fatalf("want 429 with RetryAfter 30s, got %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v; Retry-After must be capped at maxWait (50ms)", el)
	}
	if w.count() != 4 {
		t.Errorf("requests = %d, want 4", w.count())
	}
}

func TestRetryAfterBeyondDeadlineReturns429(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Retry-After", "5")
		rw.WriteHeader(http.StatusTooManyRequests)
	})
	c, _ := New(w.URL, WithRetry(3, time.Millisecond, time.Minute), WithTimeout(500*time.Millisecond))
	start := time.Now()
	_, err := c.Version(context.Background())
	if StatusCode(err) != 429 {
		t.Fatalf("want the 429 back at once, got %v", err)
	}
	if time.Since(start) > 300*time.Millisecond || w.count() != 1 {
		t.Errorf("waited %v / %d requests for a Retry-After beyond the call's deadline", time.Since(start), w.count())
	}
}

func TestHangingServerReturnsWithinTimeout(t *testing.T) {
	release := make(chan struct{})
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newTestClient(t, w.URL, WithTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := c.Version(context.Background())
	el := time.Since(start)
	if err == nil {
		t.Fatal("want an error from a hanging server")
	}
	if el > time.Second {
		t.Errorf("returned after %v, want about the 300ms timeout", el)
	}
	if !IsUnreachable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want an unreachable/deadline error, got %T %v", err, err)
	}
	if !strings.Contains(err.Error(), "no response within 300ms") || !strings.Contains(err.Error(), w.URL) {
		t.Errorf("error should name the URL and the timeout: %v", err)
	}
}

func TestCallerContextRespected(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newTestClient(t, w.URL, WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Version(ctx)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("caller deadline ignored: %v after %v", err, time.Since(start))
	}
	if strings.Contains(err.Error(), "no response within 1m") {
		t.Errorf("caller's deadline reported as the client timeout: %v", err)
	}
}

func TestConnectionRefusedIsRetriedAndUnreachable(t *testing.T) {
	w := newWire(t, versionOK)
	u := w.URL
	w.Close()
	c := newTestClient(t, u)
	_, err := c.Version(context.Background())
	if !IsUnreachable(err) || StatusCode(err) != 0 {
		t.Fatalf("want unreachable, got %v", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error should say what happened: %v", err)
	}
}

func TestRedirectToOtherHostDropsCredentials(t *testing.T) {
	other := newWire(t, versionOK)
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, other.URL+r.URL.Path, http.StatusFound)
	})
	c := newTestClient(t, w.URL, WithCredentials(Credentials{Secret: legacyKey}))
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := other.last().Header.Get(HeaderAPIKey); got != "" {
		t.Errorf("API key forwarded to another host")
	}
	if w.last().Header.Get(HeaderAPIKey) != legacyKey {
		t.Errorf("API key not sent to the configured host")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	if _, err := New("https://acme.jfrog.io", WithCAFile("/nonexistent/ca.pem")); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := New("https://acme.jfrog.io", WithCredentials(Credentials{Secret: "tok\nen"})); err == nil || strings.Contains(err.Error(), "tok") {
		t.Errorf("line break in secret: %v", err)
	}
	c, err := New("https://acme.jfrog.io", WithInsecureSkipVerify(true))
	if err != nil || !c.TLSConfig().InsecureSkipVerify || c.HTTPClient() == nil {
		t.Errorf("TLS skip not applied: %v", err)
	}
	if c.Endpoints().REST.String() != "https://acme.jfrog.io/artifactory" {
		t.Errorf("Endpoints = %v", c.Endpoints().REST)
	}
}

func TestPingAndVersion(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/artifactory/api/system/ping":
			_, _ = rw.Write([]byte("OK"))
		case "/artifactory/api/system/version":
			versionOK(rw, r)
		default:
			_, _ = rw.Write([]byte("<html>login</html>"))
		}
	})
	c := newTestClient(t, w.URL)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(context.Background())
	if err != nil || v.Version != "7.77.5" || v.License != "Enterprise+" || len(v.Addons) != 1 {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	wrong := newTestClient(t, w.URL+"/somewhere")
	if err := wrong.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "Artifactory") {
		t.Errorf("non-Artifactory answer not reported: %v", err)
	}
}

func TestRefusedUntilDeadlineKeepsTheCause(t *testing.T) {
	w := newWire(t, versionOK)
	u := w.URL
	w.Close()
	// Waits between retries outlast the timeout: the deadline, not the retry budget, ends the call.
	c, err := New(u, WithTimeout(300*time.Millisecond), WithRetry(10, 200*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Version(context.Background())
	if !IsUnreachable(err) {
		t.Fatalf("want unreachable, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "no response within 300ms") || !strings.Contains(msg, "refused") {
		t.Errorf("error should name the timeout and the last cause: %v", err)
	}
}
