package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics through the real handler and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: content type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// find returns the metric of family name whose labels include want, or nil.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(fams, name, labels)
	if m == nil {
		t.Fatalf("no sample %s%v in the scrape", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, labels)
	return 0
}

type fakeStats struct {
	counts     map[string]int
	deliveries map[string]map[string]int
	err        error
}

func (f *fakeStats) Counts(context.Context) (map[string]int, error) { return f.counts, f.err }
func (f *fakeStats) DeliveryCounts(context.Context) (map[string]map[string]int, error) {
	return f.deliveries, f.err
}

func TestObservationsAppearInScrape(t *testing.T) {
	m := New()
	m.ObservePoll("prod", nil)
	m.ObservePoll("prod", nil)
	m.ObservePoll("prod", errors.New("GET /api/search/aql: 500"))
	m.ObservePoll("prod", fmt.Errorf("poll: %w", context.Canceled))
	m.ImagesDiscovered("prod", 3)
	m.ImagesDiscovered("prod", 2)
	m.ImagesDiscovered("dev", 0)
	m.ObserveAnalysis("prod", "analyzed", 2*time.Second)
	m.ObserveAnalysis("prod", "done", 40*time.Second)
	m.ObserveAnalysis("prod", "skipped", 100*time.Millisecond)
	m.ObserveAnalysis("dev", "failed", 3*time.Minute)
	m.ObserveAnalysis("dev", "bogus", time.Second)
	m.ObserveWebhook("prod", WebhookAccepted)

	fams := scrape(t, m.Handler())

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"imagewatch_polls_total", map[string]string{"integration": "prod", "result": "success"}, 2},
		{"imagewatch_polls_total", map[string]string{"integration": "prod", "result": "error"}, 1},
		{"imagewatch_polls_total", map[string]string{"integration": "prod", "result": "canceled"}, 1},
		{"imagewatch_images_discovered_total", map[string]string{"integration": "prod"}, 5},
		{"imagewatch_images_discovered_total", map[string]string{"integration": "dev"}, 0},
		{"imagewatch_analyses_total", map[string]string{"integration": "prod", "status": "analyzed"}, 2},
		{"imagewatch_analyses_total", map[string]string{"integration": "prod", "status": "skipped"}, 1},
		{"imagewatch_analyses_total", map[string]string{"integration": "dev", "status": "failed"}, 1},
		{"imagewatch_analyses_total", map[string]string{"integration": "dev", "status": "other"}, 1},
		{"imagewatch_webhooks_total", map[string]string{"integration": "prod", "result": "accepted"}, 1},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	if ts := value(t, fams, "imagewatch_last_successful_poll_timestamp_seconds", map[string]string{"integration": "prod"}); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("last successful poll timestamp %v is not recent", ts)
	}

	h := find(fams, "imagewatch_analysis_duration_seconds", map[string]string{"status": "analyzed"})
	if h == nil || h.Histogram == nil {
		t.Fatal("analysis_duration_seconds{status=analyzed} histogram missing")
	}
	if h.Histogram.GetSampleCount() != 2 || h.Histogram.GetSampleSum() != 42 {
		t.Errorf("analysed histogram count=%d sum=%v, want 2 and 42", h.Histogram.GetSampleCount(), h.Histogram.GetSampleSum())
	}
	// 2s falls in the 2.5s bucket, 40s only from the 60s bucket on.
	for _, b := range h.Histogram.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 2.5 {
			want = 1
		}
		if b.GetUpperBound() >= 60 {
			want = 2
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v count %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}

	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("runtime/process family %s missing", name)
		}
	}
	// Not wired to a store yet: absent, not a misleading zero.
	if fams["imagewatch_queue_depth"] != nil {
		t.Error("queue_depth present before WatchStore")
	}
}

func TestStoreFedGauges(t *testing.T) {
	m := New()
	stats := &fakeStats{
		counts:     map[string]int{"pending": 4, "running": 2, "done": 10, "skipped": 1, "failed": 0},
		deliveries: map[string]map[string]int{"directory:/r": {"pending": 3, "delivered": 9, "failed": 1}},
	}
	m.WatchStore(stats)
	fams := scrape(t, m.Handler())
	if got := value(t, fams, "imagewatch_queue_depth", nil); got != 4 {
		t.Errorf("queue_depth = %v, want 4", got)
	}
	if got := value(t, fams, "imagewatch_store_analyses", map[string]string{"status": "running"}); got != 2 {
		t.Errorf("store_analyses{running} = %v, want 2", got)
	}
	if got := value(t, fams, "imagewatch_store_deliveries", map[string]string{"output": "directory:/r", "status": "pending"}); got != 3 {
		t.Errorf("store_deliveries{pending} = %v, want 3", got)
	}

	// Read at scrape time: a change in the store shows on the next scrape.
	stats.counts = map[string]int{"pending": 0, "running": 0, "done": 16}
	if got := value(t, scrape(t, m.Handler()), "imagewatch_queue_depth", nil); got != 0 {
		t.Errorf("queue_depth after drain = %v, want 0", got)
	}

	// A failing store drops only its gauges; the rest of the scrape still works.
	m.ObservePoll("prod", nil)
	stats.err = errors.New("database is locked")
	fams = scrape(t, m.Handler())
	if fams["imagewatch_queue_depth"] != nil {
		t.Error("queue_depth reported although the store query failed")
	}
	if got := value(t, fams, "imagewatch_polls_total", map[string]string{"integration": "prod", "result": "success"}); got != 1 {
		t.Errorf("polls_total = %v with a failing store, want 1", got)
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(), New() // a global registry would panic on the second registration
	a.ObservePoll("prod", nil)
	if fams := scrape(t, b.Handler()); find(fams, "imagewatch_polls_total", map[string]string{"integration": "prod"}) != nil {
		t.Error("an observation on one Metrics shows in another's scrape")
	}
}

func TestForgetIntegration(t *testing.T) {
	m := New()
	m.ObservePoll("gone", nil)
	m.ObservePoll("kept", nil)
	m.ObserveAnalysis("gone", "analyzed", time.Second)
	m.ForgetIntegration("gone")
	fams := scrape(t, m.Handler())
	if find(fams, "imagewatch_polls_total", map[string]string{"integration": "gone"}) != nil ||
		find(fams, "imagewatch_analyses_total", map[string]string{"integration": "gone"}) != nil {
		t.Error("series of a forgotten integration still exported")
	}
	if find(fams, "imagewatch_polls_total", map[string]string{"integration": "kept"}) == nil {
		t.Error("ForgetIntegration removed another integration's series")
	}
}

func TestInstrumentTransportCountsRealRequests(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/manifests/missing"):
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/api/search/aql"):
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			_, _ = io.WriteString(w, "{}")
		}
	}))
	defer upstream.Close()

	m := New()
	client := &http.Client{Transport: m.InstrumentTransport("prod", upstream.Client().Transport)}
	do := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, upstream.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do(http.MethodGet, "/artifactory/api/system/version")
	do(http.MethodPost, "/artifactory/api/search/aql")
	do(http.MethodPost, "/artifactory/api/search/aql")
	do(http.MethodGet, "/artifactory/api/docker/docker-local/v2/app/tags/list")
	do(http.MethodHead, "/v2/docker-local/app/manifests/1.0")
	do(http.MethodHead, "/v2/docker-local/app/manifests/missing")
	do(http.MethodGet, "/v2/docker-local/app/blobs/sha256:"+strings.Repeat("a", 64))

	// A connection refused is counted as code "error".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	if resp, err := client.Get("http://" + deadAddr + "/artifactory/api/repositories/docker-local"); err == nil {
		resp.Body.Close()
		t.Fatal("request to a closed port succeeded")
	}

	fams := scrape(t, m.Handler())
	for _, c := range []struct {
		endpoint, code string
		want           float64
	}{
		{FamilySystem, "200", 1},
		{FamilyAQL, "429", 2},
		{FamilyDockerTags, "200", 1},
		{FamilyDockerManifest, "200", 1},
		{FamilyDockerManifest, "404", 1},
		{FamilyDockerBlob, "200", 1},
		{FamilyRepositories, "error", 1},
	} {
		labels := map[string]string{"integration": "prod", "endpoint": c.endpoint, "code": c.code}
		if got := value(t, fams, "imagewatch_artifactory_requests_total", labels); got != c.want {
			t.Errorf("artifactory_requests_total%v = %v, want %v", labels, got, c.want)
		}
	}
	var total float64
	for _, s := range fams["imagewatch_artifactory_requests_total"].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	if total != 8 {
		t.Errorf("%v requests counted, want the 8 sent", total)
	}
	d := find(fams, "imagewatch_artifactory_request_duration_seconds", map[string]string{"endpoint": FamilyAQL})
	if d == nil || d.GetHistogram().GetSampleCount() != 2 {
		t.Errorf("request duration for aql: %v, want 2 samples", d)
	}
}

func TestEndpointFamily(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0", 64)
	for path, want := range map[string]string{
		"/artifactory/api/system/ping":                                  FamilySystem,
		"/artifactory/api/system/version":                               FamilySystem,
		"/acme/api/system/version":                                      FamilySystem, // legacy SaaS context
		"/artifactory/api/repositories":                                 FamilyRepositories,
		"/artifactory/api/repositories/docker-local":                    FamilyRepositories,
		"/artifactory/api/search/aql":                                   FamilyAQL,
		"/artifactory/api/search/artifact":                              FamilyOther,
		"/artifactory/api/storage/docker-local/app/1.0/manifest.json":   FamilyStorage,
		"/artifactory/api/docker/docker-local/v2/_catalog":              FamilyDockerCatalog,
		"/artifactory/api/docker/docker-local/v2/library/app/tags/list": FamilyDockerTags,
		"/artifactory/api/docker/docker-local/v2/app/manifests/1.0":     FamilyDockerManifest,
		"/artifactory/api/docker/docker-local/v2/app/blobs/" + digest:   FamilyDockerBlob,
		"/artifactory/api/docker/docker-local/v2/token":                 FamilyDockerToken,
		"/artifactory/api/docker/docker-local/v2/":                      FamilyDockerPing,
		"/artifactory/api/docker/docker-local":                          FamilyOther,
		"/v2/":                                                          FamilyDockerPing,
		"/v2":                                                           FamilyDockerPing,
		"/v2/token":                                                     FamilyDockerToken,
		"/v2/_catalog":                                                  FamilyDockerCatalog,
		"/v2/docker-local/app/tags/list":                                FamilyDockerTags,
		"/v2/docker-local/library/ubuntu/manifests/latest":              FamilyDockerManifest,
		"/v2/docker-local/app/manifests/" + digest:                      FamilyDockerManifest,
		"/v2/docker-local/manifests/manifests/1.0":                      FamilyDockerManifest, // image named "manifests"
		"/v2/docker-local/blobs/tags/list":                              FamilyDockerTags,     // image named "blobs"
		"/v2/docker-local/app/blobs/" + digest:                          FamilyDockerBlob,
		"/v2/docker-local/app/blobs/uploads/":                           FamilyDockerBlob,
		"/v2/docker-local/app/blobs/uploads/0a1b2c":                     FamilyDockerBlob,
		"/v2/docker-local/app/referrers/" + digest:                      FamilyOther,
		"/access/api/v1/tokens":                                         FamilyOther,
		"/artifactory/docker-local/app/1.0/manifest.json":               FamilyOther, // plain download
		"/":                        FamilyOther,
		"":                         FamilyOther,
		"/artifactory/api":         FamilyOther,
		"/artifactory/api/storage": FamilyStorage,
		"/artifactory/api/docker/docker-local/v2/app/manifests": FamilyOther,
	} {
		if got := EndpointFamily(path); got != want {
			t.Errorf("EndpointFamily(%q) = %q, want %q", path, got, want)
		}
	}
}
