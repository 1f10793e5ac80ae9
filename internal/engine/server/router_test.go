package server

import (
	"net/http"
	"testing"
)

func TestRouter(t *testing.T) {
	triggered := make(chan string, 10)
	r := NewRouter(func(name string) { triggered <- name })
	r.SetRoutes([]WebhookRoute{
		{Integration: "saas", BaseURL: "https://acme.jfrog.io", Repositories: []string{"docker-local", "docker-remote"}, Secret: "a"},
		{Integration: "onprem", BaseURL: "http://artifactory.internal:8082/artifactory", Repositories: []string{"docker-local"}, Secret: "b"},
		{Integration: "dev", BaseURL: "https://dev.jfrog.io:443/", Repositories: []string{"dev-local"}, Secret: "c"},
	})
	for _, c := range []struct {
		repo, origin, want, secret string
		ok                         bool
	}{
		{"docker-local", "https://acme.jfrog.io", "saas", "a", true},
		{"docker-local", "https://ACME.jfrog.io/", "saas", "a", true},
		{"docker-local", "http://artifactory.internal:8082", "onprem", "b", true},
		{"docker-local", "", "onprem", "b", true},                     // ambiguous without origin: first by name
		{"docker-local", "https://elsewhere.io", "onprem", "b", true}, // unknown origin: same fallback
		{"docker-remote-cache", "https://acme.jfrog.io", "saas", "a", true},
		{"dev-local", "https://dev.jfrog.io", "dev", "c", true},
		{"docker-prod", "https://acme.jfrog.io", "", "", false},
		{"docker-loc", "", "", "", false},
		{"docker-local-cache", "", "onprem", "b", true},
	} {
		name, secret, ok := r.Route(c.repo, c.origin)
		if ok != c.ok || name != c.want || secret != c.secret {
			t.Errorf("Route(%q, %q) = %q, %q, %v; want %q, %q, %v", c.repo, c.origin, name, secret, ok, c.want, c.secret, c.ok)
		}
	}

	// A reload that removes an integration stops routing to it.
	r.SetRoutes([]WebhookRoute{{Integration: "dev", BaseURL: "https://dev.jfrog.io", Repositories: []string{"dev-local"}, Secret: "c"}})
	if _, _, ok := r.Route("docker-local", "https://acme.jfrog.io"); ok {
		t.Fatal("removed integration still routed")
	}

	// Through the server: an authenticated push reaches the trigger.
	s := New(WithWebhooks(r))
	payload := pushEvent(t, "docker", "pushed", "dev-local", "https://dev.jfrog.io")
	if resp, body := postWebhook(t, s, payload, sign("c", payload)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push through the router = %d %s", resp.StatusCode, body)
	}
	select {
	case got := <-triggered:
		if got != "dev" {
			t.Fatalf("triggered %q, want dev", got)
		}
	default:
		t.Fatal("the router's trigger was not called")
	}
}
