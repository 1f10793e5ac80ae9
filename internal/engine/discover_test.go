package engine

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// TestIdlePollCostIsConstant: a poll that finds nothing new costs the same
// requests whether the repositories hold 5 or 50 tags: one AQL query.
func TestIdlePollCostIsConstant(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	idle := func(tags int) map[string]int {
		var clk clock
		f := newFixture(t, clk.option())
		clk.set(-time.Hour) // pushed an hour ago, long before the first start
		for i := 0; i < tags; i++ {
			f.push("docker-local", fmt.Sprintf("app%d", i%3), fmt.Sprintf("1.%d", i), imgs.base)
		}
		clk.set(0)
		var engineClock clock
		e := f.engine(WithClock(engineClock.now))
		ctx := context.Background()
		e.pollAll(ctx, nil) // first start: records the cursor, reads the repository layout
		if n, err := e.store.Counts(ctx); err != nil || n[store.StatusPending] != 0 {
			t.Fatalf("first start queued %v (err %v): images pushed before the first start must not be analysed", n, err)
		}
		engineClock.advance(10 * time.Minute) // quiet for longer than the overlap window
		f.srv.ResetRequests()
		e.pollAll(ctx, nil)
		e.pollAll(ctx, nil)
		return f.srv.Requests()
	}
	five, fifty := idle(5), idle(50)
	if !reflect.DeepEqual(five, fifty) {
		t.Errorf("two idle polls cost %v with 5 tags but %v with 50", five, fifty)
	}
	if want := map[string]int{"aql": 2}; !reflect.DeepEqual(five, want) {
		t.Errorf("two idle polls cost %v, want %v (one AQL query per poll)", five, want)
	}
}

// TestIncrementalPoll: after the first start, a push is found by the next
// poll, including one stamped inside the overlap window before the cursor
// (server clock behind ours), and each is queued once however often it is
// listed again.
func TestIncrementalPoll(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	var clk clock
	f := newFixture(t, clk.option())
	clk.set(-time.Hour)
	f.push("docker-local", "old", "1.0", imgs.base) // long before the first start: ignored
	clk.set(0)
	e := f.engine()
	ctx := context.Background()
	e.pollAll(ctx, nil)

	goDigest := f.push("docker-local", "goapp", "1.0", imgs.goApp)
	e.pollAll(ctx, nil) // the cursor moves to goapp's stamp
	// A server clock 30 s behind: this push is stamped before the stored cursor,
	// but inside the overlap window.
	clk.set(-30 * time.Second)
	nodeDigest := f.push("docker-prod", "webapp", "1.0", imgs.nodeApp)
	clk.set(0)
	e.pollAll(ctx, nil)
	e.pollAll(ctx, nil) // listed again within the overlap: no duplicate
	st := statuses(t, e.store)
	if len(st) != 2 || st[goDigest].Status != store.StatusPending || st[nodeDigest].Status != store.StatusPending {
		t.Fatalf("queued %v, want exactly the two new pushes pending", st)
	}
	cur, ok, err := e.store.Cursor(ctx, "test")
	if err != nil || !ok {
		t.Fatalf("cursor: %v %v", ok, err)
	}
	if cur.Modified.Before(time.Now().Add(-20 * time.Second)) {
		t.Errorf("cursor %s did not advance to the newest push", cur.Modified)
	}
}

// TestCatalogFallback: with AQL refused (403, as for a user without AQL
// rights), discovery lists the Docker API and compares tag digests with the
// store; a tag moved to a new digest is queued, unchanged tags are not.
func TestCatalogFallback(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	f.srv.DisableAQL(http.StatusForbidden)
	f.push("docker-local", "app", "1.0", imgs.base)
	e := f.engine()
	ctx := context.Background()
	e.pollAll(ctx, nil) // baseline listing
	if st := statuses(t, e.store); len(st) != 0 {
		t.Fatalf("first start queued %v, want nothing", st)
	}
	moved := f.push("docker-local", "app", "1.0", imgs.goApp) // tag re-pushed with a new digest
	added := f.push("docker-prod", "web", "2.0", imgs.nodeApp)
	e.pollAll(ctx, nil)
	e.pollAll(ctx, nil)
	st := statuses(t, e.store)
	if len(st) != 2 || st[moved].Status != store.StatusPending || st[added].Status != store.StatusPending {
		t.Errorf("queued %v, want the moved and the added tag", st)
	}
	if f.srv.Requests()["docker.catalog"] == 0 {
		t.Error("the Docker catalog was never listed")
	}
}

// TestFiltersApply: image_filters limit what is queued.
func TestFiltersApply(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	f.cfg.Integrations[0].ImageFilters = []artifactory.ImageFilter{
		{Repository: "docker-local", Images: []string{"team/*"}, Exclude: []string{"team/tmp-*"}, Tags: `^v[0-9]`},
	}
	e := f.engine()
	ctx := context.Background()
	e.pollAll(ctx, nil)
	keep := f.push("docker-local", "team/api", "v1", imgs.base)
	f.push("docker-local", "team/api", "latest", imgs.goApp)   // tag regex
	f.push("docker-local", "team/tmp-x", "v1", imgs.nodeApp)   // excluded
	f.push("docker-local", "other", "v1", imgs.javaApp)        // not matched
	prod := f.push("docker-prod", "anything", "x", imgs.goApp) // no filter on docker-prod: everything
	e.pollAll(ctx, nil)
	st := statuses(t, e.store)
	if len(st) != 2 || st[keep].Digest == "" || st[prod].Digest == "" {
		t.Errorf("queued %v, want only team/api:v1 and docker-prod's image", st)
	}
}

// TestBackoff: capped exponential with jitter.
func TestBackoff(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 5, Base: time.Second, Max: 10 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
		for i := 0; i < 50; i++ {
			if d := p.Backoff(attempt); d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

// TestRetryAfterHonoured: a registry 429 with Retry-After holds the request
// for that long and records it for the engine's own retry.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	calls := 0
	inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		h := http.Header{}
		h.Set("Retry-After", "1")
		return &http.Response{StatusCode: http.StatusTooManyRequests, Header: h, Body: http.NoBody, Request: r}, nil
	})
	in := &integration{}
	rt := &retryAfterTransport{inner: inner, in: in, now: time.Now}
	req, _ := http.NewRequest(http.MethodGet, "http://registry.invalid/v2/", nil)
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("429 with Retry-After: 1 returned after %s, want about 1s", el)
	}
	if d := in.retryAfter(start); d < 900*time.Millisecond {
		t.Errorf("recorded retry-after %s, want about 1s", d)
	}
}

// TestIntegrationsDirReload: fragments added to, changed in or removed from
// integrations_dir are picked up at the next poll; a fragment that breaks keeps
// its previous configuration.
func TestIntegrationsDirReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	f.cfg.IntegrationsDir = dir
	fragment := func(name, repo string) string {
		return fmt.Sprintf(`{"name":%q,"base_url":%q,"username":%q,"password":%q,"repositories":[%q]}`,
			name, f.srv.URL(), testUser, testPassword, repo)
	}
	write := func(file, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := func(e *Engine) []string {
		var out []string
		for _, in := range e.activeIntegrations() {
			out = append(out, in.name+":"+strings.Join(in.cfg.Repositories, ","))
		}
		return out
	}
	write("a.json", fragment("frag-a", "docker-local"))
	e := f.engine()
	if got, want := names(e), []string{"test:docker-local,docker-prod", "frag-a:docker-local"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("at start: %v, want %v", got, want)
	}
	write("b.json", fragment("frag-b", "docker-prod"))
	write("a.json", fragment("frag-a", "docker-prod"))
	e.reloadIntegrations()
	if got, want := names(e), []string{"test:docker-local,docker-prod", "frag-a:docker-prod", "frag-b:docker-prod"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after adding b and changing a: %v, want %v", got, want)
	}
	write("b.json", `{"name":"frag-b","base_url":`) // broken: keeps its previous configuration
	e.reloadIntegrations()
	if got := names(e); len(got) != 3 {
		t.Fatalf("after breaking b: %v, want the 3 integrations kept", got)
	}
	if err := os.Remove(filepath.Join(dir, "b.json")); err != nil {
		t.Fatal(err)
	}
	e.reloadIntegrations()
	if got, want := names(e), []string{"test:docker-local,docker-prod", "frag-a:docker-prod"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after removing b: %v, want %v", got, want)
	}
}
