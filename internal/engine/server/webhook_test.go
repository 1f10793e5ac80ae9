package server

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/metrics"
)

// fakeRouter routes (repository, origin) to integrations and records triggers.
type fakeRouter struct {
	mu       sync.Mutex
	routes   map[string]route // key: repo + "|" + origin ("" origin = any)
	triggers []string
}

type route struct{ integration, secret string }

func (f *fakeRouter) Route(repoKey, origin string) (string, string, bool) {
	if r, ok := f.routes[repoKey+"|"+origin]; ok {
		return r.integration, r.secret, true
	}
	r, ok := f.routes[repoKey+"|"]
	return r.integration, r.secret, ok
}

func (f *fakeRouter) Trigger(integration string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = append(f.triggers, integration)
}

func (f *fakeRouter) triggered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.triggers...)
}

const webhookSecret = "wh-secret-0123456789"

func pushEvent(t *testing.T, domain, event, repo, origin string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"domain": domain, "event_type": event, "jpd_origin": origin,
		"data": map[string]any{
			"repo_key": repo, "event_type": event, "path": "app/1.0/manifest.json", "name": "manifest.json",
			"sha256": strings.Repeat("ab", 32), "size": 1206, "image_name": "app", "tag": "1.0", "image_type": "docker",
			"platforms": []map[string]string{{"architecture": "amd64", "os": "linux"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func newWebhookServer(t *testing.T) (*Server, *fakeRouter, *metrics.Metrics, *logbuf.Buffer) {
	t.Helper()
	router := &fakeRouter{routes: map[string]route{
		"docker-local|":                       {"prod", webhookSecret},
		"docker-local|https://other.jfrog.io": {"other", "other-secret"},
		"docker-nosecret|":                    {"legacy", ""},
	}}
	m := metrics.New()
	log, buf := testLogger(t)
	return New(WithLogger(log), WithWebhooks(router), WithMetrics(m)), router, m, buf
}

func postWebhook(t *testing.T, s *Server, body []byte, auth string) (*http.Response, string) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if auth != "" {
		h.Set(EventAuthHeader, auth)
	}
	return call(t, s.Handler(), http.MethodPost, "/webhooks/artifactory", bytes.NewReader(body), h)
}

func TestWebhookVerbatimSecretTriggers(t *testing.T) {
	s, router, m, buf := newWebhookServer(t)
	resp, body := postWebhook(t, s, pushEvent(t, "docker", "pushed", "docker-local", "https://acme.jfrog.io"), webhookSecret)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"integration":"prod"`) {
		t.Fatalf("push with the secret = %d %s, want 202 naming the integration", resp.StatusCode, body)
	}
	if got := router.triggered(); len(got) != 1 || got[0] != "prod" {
		t.Fatalf("triggers = %v, want [prod]", got)
	}
	if strings.Contains(buf.String(), webhookSecret) {
		t.Fatal("the webhook secret appears in the log")
	}
	if !strings.Contains(buf.String(), "poll triggered") {
		t.Fatalf("accepted webhook not logged: %s", buf.String())
	}
	_, scraped := call(t, m.Handler(), http.MethodGet, "/", nil, nil)
	if !strings.Contains(scraped, `imagewatch_webhooks_total{integration="prod",result="accepted"} 1`) {
		t.Fatal("accepted webhook not counted in metrics")
	}
}

func TestWebhookHMACTriggers(t *testing.T) {
	s, router, _, buf := newWebhookServer(t)
	payload := pushEvent(t, "docker", "pushed", "docker-local", "")
	sig := sign(webhookSecret, payload)
	for _, auth := range []string{sig, strings.ToUpper(sig), "sha256=" + sig} {
		if resp, body := postWebhook(t, s, payload, auth); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("push signed %q = %d %s, want 202", auth[:12], resp.StatusCode, body)
		}
	}
	if got := router.triggered(); len(got) != 3 {
		t.Fatalf("triggers = %v, want 3", got)
	}
	if strings.Contains(buf.String(), sig) {
		t.Fatal("the signature header appears in the log")
	}
	// The origin picks between two integrations watching the same key.
	other := pushEvent(t, "docker", "pushed", "docker-local", "https://other.jfrog.io")
	if resp, _ := postWebhook(t, s, other, sign("other-secret", other)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push from the other origin = %d, want 202", resp.StatusCode)
	}
	if got := router.triggered(); got[len(got)-1] != "other" {
		t.Fatalf("origin routing: triggers %v, want other last", got)
	}
}

func TestWebhookWrongSecretRefused(t *testing.T) {
	s, router, m, buf := newWebhookServer(t)
	payload := pushEvent(t, "docker", "pushed", "docker-local", "")
	tampered := bytes.Replace(payload, []byte(`"tag":"1.0"`), []byte(`"tag":"6.6"`), 1)
	for _, c := range []struct {
		name, auth string
		body       []byte
	}{
		{"missing header", "", payload},
		{"wrong secret", "not-the-secret", payload},
		{"secret prefix", webhookSecret[:10], payload},
		{"HMAC with another key", sign("not-the-secret", payload), payload},
		{"HMAC of another body", sign(webhookSecret, payload), tampered},
		{"other integration's secret", "other-secret", payload},
	} {
		resp, body := postWebhook(t, s, c.body, c.auth)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d %s, want 401", c.name, resp.StatusCode, body)
		}
		if c.auth != "" && strings.Contains(body, c.auth) {
			t.Errorf("%s: response echoes the header", c.name)
		}
	}
	// An integration without a webhook secret accepts nothing.
	if resp, _ := postWebhook(t, s, pushEvent(t, "docker", "pushed", "docker-nosecret", ""), "anything"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("integration without a secret: %d, want 401", resp.StatusCode)
	}
	if got := router.triggered(); len(got) != 0 {
		t.Fatalf("refused webhooks triggered polls: %v", got)
	}
	log := buf.String()
	for _, secret := range []string{webhookSecret, "not-the-secret", sign("not-the-secret", payload)} {
		if strings.Contains(log, secret) {
			t.Fatalf("log contains a secret or header value %q", secret)
		}
	}
	if !strings.Contains(log, "authentication failed") {
		t.Fatalf("refusals not logged: %s", log)
	}
	_, scraped := call(t, m.Handler(), http.MethodGet, "/", nil, nil)
	if !strings.Contains(scraped, `imagewatch_webhooks_total{integration="prod",result="unauthorized"} 6`) {
		t.Fatalf("unauthorized webhooks not counted:\n%s", scraped)
	}
}

func TestWebhookUnknownRepository(t *testing.T) {
	s, router, _, _ := newWebhookServer(t)
	payload := pushEvent(t, "docker", "pushed", "docker-unwatched", "")
	resp, body := postWebhook(t, s, payload, webhookSecret)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "docker-unwatched") {
		t.Fatalf("unknown repository = %d %s, want 404 naming it", resp.StatusCode, body)
	}
	if len(router.triggered()) != 0 {
		t.Fatal("unknown repository triggered a poll")
	}
}

func TestWebhookIgnoresOtherEvents(t *testing.T) {
	s, router, _, buf := newWebhookServer(t)
	for _, c := range []struct{ domain, event string }{
		{"docker", "deleted"},
		{"docker", "promoted"},
		{"artifact", "deployed"},
		{"build", "uploaded"},
	} {
		payload := pushEvent(t, c.domain, c.event, "docker-local", "")
		resp, body := postWebhook(t, s, payload, sign(webhookSecret, payload))
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("%s/%s = %d %s, want 204", c.domain, c.event, resp.StatusCode, body)
		}
	}
	if got := router.triggered(); len(got) != 0 {
		t.Fatalf("ignored events triggered polls: %v", got)
	}
	if n := strings.Count(buf.String(), "webhook ignored"); n != 4 {
		t.Fatalf("%d ignore log lines, want 4:\n%s", n, buf.String())
	}
	// A non-push Docker event is still authenticated before it is acknowledged.
	payload := pushEvent(t, "docker", "deleted", "docker-local", "")
	if resp, _ := postWebhook(t, s, payload, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated delete event = %d, want 401", resp.StatusCode)
	}
}

func TestWebhookBadBodies(t *testing.T) {
	s, router, _, _ := newWebhookServer(t)
	big := pushEvent(t, "docker", "pushed", "docker-local", "")
	big = append(big[:len(big)-1], []byte(`,"padding":"`+strings.Repeat("x", MaxWebhookBody)+`"}`)...)
	if resp, _ := postWebhook(t, s, big, sign(webhookSecret, big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body = %d, want 413", resp.StatusCode)
	}
	if resp, _ := postWebhook(t, s, []byte(`{"domain":"docker",`), webhookSecret); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("truncated JSON = %d, want 400", resp.StatusCode)
	}
	noRepo := []byte(`{"domain":"docker","event_type":"pushed","data":{"image_name":"app","tag":"1"}}`)
	resp, body := postWebhook(t, s, noRepo, sign(webhookSecret, noRepo))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "data.repo_key") {
		t.Fatalf("event without repo_key = %d %s, want 400 naming data.repo_key", resp.StatusCode, body)
	}
	if len(router.triggered()) != 0 {
		t.Fatal("a bad body triggered a poll")
	}
	// Just under the limit is read in full.
	ok := pushEvent(t, "docker", "pushed", "docker-local", "")
	pad := MaxWebhookBody - len(ok) - len(`,"padding":""`)
	ok = append(ok[:len(ok)-1], []byte(`,"padding":"`+strings.Repeat("x", pad)+`"}`)...)
	if len(ok) != MaxWebhookBody {
		t.Fatalf("test body is %d bytes, want exactly %d", len(ok), MaxWebhookBody)
	}
	if resp, _ := postWebhook(t, s, ok, sign(webhookSecret, ok)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("body of exactly 1 MiB = %d, want 202", resp.StatusCode)
	}
}

func TestVerifyEventAuth(t *testing.T) {
	body := []byte(`{"domain":"docker"}`)
	for _, c := range []struct {
		header string
		ok     bool
	}{
		{"s", true},
		{" s ", true},
		{"", false},
		{"S", false},
		{sign("s", body), true},
		{"sha256=" + sign("s", body), true},
		{"SHA256=" + sign("s", body), true},
		{"sha1=" + sign("s", body), false},
		{sign("s", body)[:32], false},
		{"zz" + sign("s", body)[2:], false},
	} {
		if why := verifyEventAuth(c.header, body, "s"); (why == "") != c.ok {
			t.Errorf("verifyEventAuth(%q) refused=%q, want ok=%v", c.header, why, c.ok)
		}
	}
}
