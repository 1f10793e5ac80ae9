package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

// engineConfig writes a main configuration with the given integrations and
// returns its path. Results go to <dir>/results, the store to <dir>/imagewatch.db.
func engineConfig(t *testing.T, dir, listen, pollInterval, apiToken string, integrations ...map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"agent_id":      "e2e",
		"artifactory":   integrations,
		"state":         filepath.Join(dir, "imagewatch.db"),
		"outputs":       []any{map[string]any{"type": "directory", "path": filepath.Join(dir, "results")}},
		"sbom_formats":  []string{"cyclonedx-json"},
		"poll_interval": pollInterval,
		"workers":       2,
		"listen":        listen,
	}
	if apiToken != "" {
		cfg["api_token_env"] = "E2E_API_TOKEN"
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	writeFile(t, path, b)
	return path
}

// pushedEvent is Artifactory's Docker "pushed" webhook body (reference §8.1).
func pushedEvent(srv *artifactorytest.Server, image, tag, digest string) []byte {
	b, _ := json.Marshal(map[string]any{
		"domain":     "docker",
		"event_type": "pushed",
		"jpd_origin": srv.URL(),
		"source":     "jfrog/admin",
		"data": map[string]any{
			"repo_key":   "docker-local",
			"event_type": "pushed",
			"path":       image + "/" + tag + "/manifest.json",
			"name":       "manifest.json",
			"sha256":     strings.TrimPrefix(digest, "sha256:"),
			"image_name": image,
			"tag":        tag,
			"image_type": "docker",
		},
	})
	return b
}

func postWebhook(t *testing.T, p *engineProcess, body []byte, secret string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.url+"/webhooks/artifactory", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-JFrog-Event-Auth", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /webhooks/artifactory: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookTriggersPoll: with an hour between polls, a push announced by a
// webhook carrying the right secret is analysed within seconds; a webhook with
// a wrong secret is refused with 401 and makes the engine do nothing.
func TestWebhookTriggersPoll(t *testing.T) {
	srv, token := newArtifactory(t)
	dir, listen := t.TempDir(), freeAddr(t)
	const secret = "hook-s3cret-e2e"
	config := engineConfig(t, dir, listen, "1h", "", map[string]any{
		"name": "hooks", "base_url": srv.URL(), "access_token": token,
		"repositories": []string{"docker-local"}, "webhook_secret": secret,
	})
	eng := startEngine(t, config, listen, nil)

	// The first poll sets the baseline: what is pushed after it is new.
	waitFirstPoll(t, eng, "hooks")
	digest := push(t, srv, "team/hook", "v1")
	event := pushedEvent(srv, "team/hook", "v1", digest)

	aqlBefore := srv.Requests()["aql"]
	if code := postWebhook(t, eng, event, "not-the-secret"); code != http.StatusUnauthorized {
		t.Fatalf("webhook with a wrong secret: status %d, want 401", code)
	}
	time.Sleep(1500 * time.Millisecond) // a triggered poll would have run by now
	if got := srv.Requests()["aql"]; got != aqlBefore {
		t.Errorf("a refused webhook made the engine query Artifactory: aql requests %d -> %d", aqlBefore, got)
	}
	if _, ok := row(eng.images("", ""), "hooks", "team/hook", "v1"); ok {
		t.Error("a refused webhook got the push discovered")
	}
	if got := eng.metric("imagewatch_webhooks_total", map[string]string{"integration": "hooks", "result": "unauthorized"}); got != 1 {
		t.Errorf("webhooks_total{result=unauthorized} = %v, want 1", got)
	}
	if strings.Contains(eng.log.String(), "not-the-secret") || strings.Contains(eng.log.String(), secret) {
		t.Error("the engine log holds a webhook secret")
	}

	start := time.Now()
	if code := postWebhook(t, eng, event, secret); code != http.StatusAccepted {
		t.Fatalf("webhook with the right secret: status %d, want 202", code)
	}
	waitAnalysed(t, eng, "", "hooks", "team/hook", "v1", digest, 60*time.Second)
	t.Logf("analysed %s after the webhook (next scheduled poll in ~1h)", time.Since(start).Round(time.Millisecond))
	if got := eng.metric("imagewatch_webhooks_total", map[string]string{"integration": "hooks", "result": "accepted"}); got != 1 {
		t.Errorf("webhooks_total{result=accepted} = %v, want 1", got)
	}
}

// TestMetricsAndInventoryEndpoints reads the running engine's real endpoints:
// /healthz, /readyz (503 naming the integration whose repository is missing),
// /metrics moving with polls, analyses and Artifactory requests (counted once
// each: they match the double's own count), and /api/v1/images with and
// without its bearer token.
func TestMetricsAndInventoryEndpoints(t *testing.T) {
	srv, token := newArtifactory(t)
	dir, listen := t.TempDir(), freeAddr(t)
	const apiToken = "inventory-token-e2e"
	config := engineConfig(t, dir, listen, "1s", apiToken,
		map[string]any{"name": "good", "base_url": srv.URL(), "access_token": token, "repositories": []string{"docker-local"}},
		map[string]any{"name": "broken", "base_url": srv.URL(), "access_token": token, "repositories": []string{"docker-missing"}},
	)
	eng := startEngine(t, config, listen, []string{"E2E_API_TOKEN=" + apiToken})

	waitFirstPoll(t, eng, "good")
	if code, body := eng.get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := eng.get("/readyz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `integration "broken"`) ||
		!strings.Contains(string(body), "docker-missing") || strings.Contains(string(body), `integration "good"`) {
		t.Errorf("/readyz with a missing repository: %d %q; want 503 naming only integration \"broken\" and docker-missing", code, body)
	}

	digest := push(t, srv, "team/metrics", "v1")
	img := waitAnalysed(t, eng, apiToken, "good", "team/metrics", "v1", digest, 60*time.Second)
	sbom := img.SBOMs["cyclonedx-json"]
	if sbom == "" {
		t.Errorf("inventory row has no cyclonedx-json SBOM location: %+v", img)
	} else if b, err := os.ReadFile(sbom); err != nil || !bytes.Contains(b, []byte(`"bomFormat"`)) {
		t.Errorf("SBOM at %s: %v (%d bytes)", sbom, err, len(b))
	}

	// Metrics moved with the work done.
	if n := eng.metric("imagewatch_analyses_total", map[string]string{"integration": "good", "status": "analyzed"}); n != 1 {
		t.Errorf("analyses_total{good,analyzed} = %v, want 1", n)
	}
	if n := eng.metric("imagewatch_images_discovered_total", map[string]string{"integration": "good"}); n != 1 {
		t.Errorf("images_discovered_total{good} = %v, want 1", n)
	}
	if n := eng.metric("imagewatch_analysis_duration_seconds_count", nil); n < 1 {
		t.Errorf("analysis_duration_seconds_count = %v, want >= 1", n)
	}
	if n := eng.metric("imagewatch_artifactory_requests_total", map[string]string{"integration": "good", "endpoint": "docker_manifest"}); n < 1 {
		t.Errorf("artifactory_requests_total{docker_manifest} = %v: registry pulls are not counted", n)
	}
	// Every AQL request the double received is counted exactly once (REST client
	// instrumented below its retries, not twice through the shared transport).
	// Polls go on meanwhile, so the scrape must fall between two reads of the double.
	before := srv.Requests()["aql"]
	counted := eng.metric("imagewatch_artifactory_requests_total", map[string]string{"endpoint": "aql"})
	after := srv.Requests()["aql"]
	if counted < 2 || counted < float64(before) || counted > float64(after) {
		t.Errorf("artifactory_requests_total{endpoint=aql} = %v; the double received %d..%d", counted, before, after)
	}
	pollsBefore := eng.metric("imagewatch_polls_total", map[string]string{"integration": "good", "result": "success"})
	waitPolls(t, eng, "good", 2, 15*time.Second)
	if n := eng.metric("imagewatch_polls_total", map[string]string{"integration": "good", "result": "success"}); n <= pollsBefore {
		t.Errorf("polls_total did not move: %v -> %v", pollsBefore, n)
	}
	if n := eng.metric("imagewatch_queue_depth", nil); n != 0 {
		t.Errorf("queue_depth = %v after the analysis, want 0", n)
	}

	// The inventory API: bearer token required.
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "nope"}} {
		if code, body := eng.get("/api/v1/images", tc.token); code != http.StatusUnauthorized {
			t.Errorf("/api/v1/images with %s: %d %s, want 401", tc.name, code, body)
		}
	}
	rows := eng.images("status=done&integration=good", apiToken)
	if len(rows) != 1 || rows[0].Digest != digest {
		t.Errorf("/api/v1/images?status=done&integration=good = %+v, want the one analysed tag", rows)
	}
	if rows := eng.images("status=failed", apiToken); len(rows) != 0 {
		t.Errorf("/api/v1/images?status=failed = %+v, want none", rows)
	}
	if code, body := eng.get("/api/v1/images?statu=done", apiToken); code != http.StatusBadRequest {
		t.Errorf("/api/v1/images with an unknown parameter: %d %s, want 400", code, body)
	}
}
