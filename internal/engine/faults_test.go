package engine

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// TestFaultyArtifactory: 30% of all responses (REST, AQL, token, manifests,
// blobs) fail with 500, 503 or 429; the backfill still ends with every image
// analysed and delivered.
func TestFaultyArtifactory(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t, artifactorytest.WithFaultSeed(7))
	from := time.Now().Add(-time.Second)
	want := []string{
		f.push("docker-local", "debian", "12", imgs.base),
		f.push("docker-local", "goapp", "1.0", imgs.goApp),
		f.push("docker-prod", "webapp", "1.0", imgs.nodeApp),
	}
	// The first fault that hits applies: 1/9 + 1/8 of the rest + 1/7 of the rest
	// is 10% each, 30% of every response after the pushes.
	f.srv.SetFault(artifactorytest.Fault{Status: http.StatusInternalServerError, Rate: 1.0 / 9})
	f.srv.SetFault(artifactorytest.Fault{Status: http.StatusServiceUnavailable, Rate: 1.0 / 8})
	f.srv.SetFault(artifactorytest.Fault{Status: http.StatusTooManyRequests, Rate: 1.0 / 7})
	f.srv.ResetRequests()

	f.run(RunOptions{BackfillFrom: from})
	total := 0
	for _, n := range f.srv.Requests() {
		total += n
	}
	hits := f.srv.FaultHits()
	t.Logf("faulty responses: %d of %d requests %v", hits, total, f.srv.Requests())
	if total == 0 || float64(hits)/float64(total) < 0.2 {
		t.Fatalf("only %d of %d responses failed: the fault injection did not bite", hits, total)
	}

	s := f.openStore()
	st := statuses(t, s)
	for _, d := range want {
		if st[d].Status != store.StatusDone {
			t.Errorf("%s: status %q after %d attempts (error %q), want done", d, st[d].Status, st[d].Attempts, st[d].Error)
		}
	}
	checkDelivered(t, s, f)
}

// TestMalformedManifestFailsOnlyThatImage: a manifest that is not valid JSON
// fails permanently with its reason, at the first attempt, and the other
// image is analysed; the run itself succeeds.
func TestMalformedManifestFailsOnlyThatImage(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	from := time.Now().Add(-time.Second)
	good := f.push("docker-local", "debian", "12", imgs.base)
	bad, err := f.srv.PushManifest(context.Background(), "docker-local", "broken", "1.0",
		"application/vnd.oci.image.manifest.v1+json", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:not-a-digest","size":2},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"md5:xyz","size":-1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f.run(RunOptions{BackfillFrom: from})

	st := statuses(t, f.openStore())
	if st[good].Status != store.StatusDone {
		t.Errorf("good image: status %q (%s), want done", st[good].Status, st[good].Error)
	}
	b := st[bad]
	if b.Status != store.StatusFailed || !strings.Contains(b.Error, "malformed") {
		t.Errorf("malformed manifest: status %q error %q, want failed naming the malformed manifest", b.Status, b.Error)
	}
	if b.Attempts != 1 {
		t.Errorf("malformed manifest attempted %d times, want 1 (permanent errors are not retried)", b.Attempts)
	}
}

// TestExpiredRegistryTokenIsRenewed: the Docker registry token expires in the
// middle of an analysis (the double's clock jumps past its TTL); the pull gets
// a 401 challenge, fetches a new token and the image is analysed.
func TestExpiredRegistryTokenIsRenewed(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	var clk clock
	f := newFixture(t, clk.option(), artifactorytest.WithDockerTokenTTL(10*time.Minute))
	from := clk.now().Add(-time.Second)
	want := []string{
		f.push("docker-local", "goapp", "1.0", imgs.goApp),
		f.push("docker-local", "webapp", "1.0", imgs.nodeApp),
	}

	var (
		jumped   sync.Once
		renewals atomic.Int32
		tokens   atomic.Int32
	)
	observe := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			hadBearer := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
			resp, err := rt.RoundTrip(r)
			if err != nil {
				return resp, err
			}
			if strings.HasSuffix(r.URL.Path, "/token") {
				tokens.Add(1)
			}
			if hadBearer && resp.StatusCode == http.StatusUnauthorized && strings.Contains(r.URL.Path, "/blobs/") {
				renewals.Add(1)
			}
			// Once the first manifest is fetched with a token, expire every token.
			if hadBearer && resp.StatusCode == http.StatusOK && strings.Contains(r.URL.Path, "/manifests/") {
				jumped.Do(func() { clk.advance(time.Hour) })
			}
			return resp, nil
		})
	}
	f.run(RunOptions{BackfillFrom: from}, WithRegistryTransport(observe))

	if renewals.Load() == 0 {
		t.Fatalf("no request was refused with an expired token (tokens fetched: %d): the test did not expire one", tokens.Load())
	}
	st := statuses(t, f.openStore())
	for _, d := range want {
		if st[d].Status != store.StatusDone {
			t.Errorf("%s: status %q (error %q), want done", d, st[d].Status, st[d].Error)
		}
		if st[d].Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1: the token must be renewed inside the pull, not by a retry", d, st[d].Attempts)
		}
	}
	t.Logf("expired-token refusals: %d, token requests: %d", renewals.Load(), tokens.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAccessTokenWithoutUsername: an integration configured with an access
// token and no username discovers (REST Bearer) and pulls (the token sent as
// the registry's Bearer token) with the same token.
func TestAccessTokenWithoutUsername(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	f.cfg.Integrations[0].Username = ""
	f.cfg.Integrations[0].Secret = f.srv.IssueToken(testUser, time.Hour)
	from := time.Now().Add(-time.Second)
	d := f.push("docker-local", "goapp", "1.0", imgs.goApp)
	f.run(RunOptions{BackfillFrom: from})
	if a := statuses(t, f.openStore())[d]; a.Status != store.StatusDone {
		t.Errorf("status %q (error %q), want done", a.Status, a.Error)
	}
}
