package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeReadiness: with `listen` set, Run serves; /readyz is 503 naming the
// integration whose connection check fails (and the repository), while the
// healthy integration is not named; fixing the repository makes it ready
// without a restart; the server is gone once Run returns.
func TestServeReadiness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cfg.Listen = freeAddr(t)
	f.cfg.Integrations = append(f.cfg.Integrations, f.cfg.Integrations[0])
	f.cfg.Integrations[1].Name = "late"
	f.cfg.Integrations[1].Repositories = []string{"docker-late"}
	e := f.engine(WithPollInterval(100 * time.Millisecond))
	if e.Metrics() == nil {
		t.Fatal("listen is set but the engine records no metrics")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, RunOptions{}) }()
	base := "http://" + f.cfg.Listen

	wait := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, why := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s", what, why)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("readyz names the failing integration", func() (bool, string) {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `integration "late"`) &&
			strings.Contains(body, "docker-late") && !strings.Contains(body, `integration "test"`), fmt.Sprintf("%d %q", code, body)
	})
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready: %d %q", code, body)
	}

	// The repository appears and is readable: ready at the next poll.
	f.srv.AddRepository(artifactorytest.Repository{Key: "docker-late", Class: "local", PackageType: "docker"})
	f.srv.Grant(testUser, "docker-late")
	wait("ready once every integration passed its check", func() (bool, string) {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
	if code, body := httpGet(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, `imagewatch_artifactory_requests_total{code="200",endpoint="system",integration="late"}`) {
		t.Errorf("/metrics: %d, want the connection checks counted per integration:\n%.2000s", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Run did not return within 8s of cancellation")
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 0 {
		t.Errorf("the server still answers after Run returned (status %d)", code)
	}
}

// TestServeBusyAddress: a `listen` address in use fails Run at once, naming the key.
func TestServeBusyAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f.cfg.Listen = ln.Addr().String()
	e := f.engine()
	err = e.Run(t.Context(), RunOptions{Once: true})
	if err == nil || !strings.Contains(err.Error(), `"listen"`) || !strings.Contains(err.Error(), f.cfg.Listen) {
		t.Fatalf("Run on a busy address: %v; want an error naming listen and the address", err)
	}
}

// TestWebhookRoutesFollowReload: the webhook router is rebuilt from every
// reload of integrations_dir: a new fragment's repositories (including those
// only named by its image filters) and secret are routed, a removed one's are not.
func TestWebhookRoutesFollowReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	f.cfg.IntegrationsDir = dir
	f.cfg.Integrations[0].WebhookSecret = "main-secret"
	e := f.engine()
	if in, secret, ok := e.router.Route("docker-prod", ""); !ok || in != "test" || secret != "main-secret" {
		t.Fatalf("route docker-prod = %q, %q, %v; want the main integration and its secret", in, secret, ok)
	}
	if _, _, ok := e.router.Route("docker-dev", ""); ok {
		t.Fatal("docker-dev routed before any integration watches it")
	}
	frag := filepath.Join(dir, "dev.json")
	body := fmt.Sprintf(`{"name":"dev","base_url":%q,"username":%q,"password":%q,`+
		`"image_filters":[{"repository":"docker-dev","images":["team/**"]}],"webhook_secret":"dev-secret"}`,
		f.srv.URL(), testUser, testPassword)
	if err := os.WriteFile(frag, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	e.reloadIntegrations()
	if in, secret, ok := e.router.Route("docker-dev", ""); !ok || in != "dev" || secret != "dev-secret" {
		t.Fatalf("after adding dev.json: route docker-dev = %q, %q, %v", in, secret, ok)
	}
	// A changed secret alone is a change.
	if err := os.WriteFile(frag, []byte(strings.Replace(body, "dev-secret", "rotated", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.reloadIntegrations()
	if _, secret, _ := e.router.Route("docker-dev", ""); secret != "rotated" {
		t.Fatalf("after rotating the webhook secret: route has %q", secret)
	}
	if err := os.Remove(frag); err != nil {
		t.Fatal(err)
	}
	e.reloadIntegrations()
	if in, _, ok := e.router.Route("docker-dev", ""); ok {
		t.Fatalf("after removing dev.json: docker-dev still routed to %q", in)
	}
}
