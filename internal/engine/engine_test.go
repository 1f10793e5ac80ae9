package engine

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/metrics"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

// TestEndToEnd drives the whole pipeline against the double with real images:
// backfill, de-duplication across repositories and tags, multi-platform
// indexes, a Helm chart, a rerun, --force, then an incremental poll that
// derives a base image from layers.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	from := time.Now().Add(-time.Second)

	baseDigest := f.push("docker-local", "debian", "12", imgs.base)
	goDigest := f.push("docker-local", "goapp", "1.0", imgs.goApp)
	nodeDigest := f.push("docker-local", "webapp", "1.0", imgs.nodeApp)
	// The same Java image under two repositories and three tags.
	javaDigest := f.push("docker-local", "ledger", "1.0", imgs.javaApp)
	f.push("docker-local", "ledger", "latest", imgs.javaApp)
	f.push("docker-prod", "ledger", "1.0", imgs.javaApp)

	arm64, err := testimages.DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	armv7, err := testimages.DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := testimages.MultiPlatform(map[string]v1.Image{"linux/arm64": arm64, "linux/arm/v7": armv7})
	if err != nil {
		t.Fatal(err)
	}
	indexDigest := f.pushIndex("docker-local", "multi", "1.0", idx)
	arm64Digest, armv7Digest := digestOf(t, arm64), digestOf(t, armv7)

	mt, manifest, blobs, err := testimages.HelmChart()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if _, err := f.srv.PushBlob(context.Background(), "docker-local", "charts/web", b, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	helmDigest, err := f.srv.PushManifest(context.Background(), "docker-local", "charts/web", "0.1.0", mt, manifest)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Backfill.
	start := time.Now()
	e := f.run(RunOptions{BackfillFrom: from})
	t.Logf("backfill of 8 tags took %s", time.Since(start).Round(time.Millisecond))
	analysed := e.Analysed()
	wantAnalysed := []string{baseDigest, goDigest, nodeDigest, javaDigest, arm64Digest, armv7Digest}
	for _, d := range wantAnalysed {
		if analysed[d] != 1 {
			t.Errorf("digest %s analysed %d times, want once", d, analysed[d])
		}
	}
	if len(analysed) != len(wantAnalysed) {
		t.Errorf("analysed %d digests, want %d: %v", len(analysed), len(wantAnalysed), analysed)
	}

	s := f.openStore()
	st := statuses(t, s)
	for _, d := range append(wantAnalysed, indexDigest) {
		if st[d].Status != store.StatusDone {
			t.Errorf("analysis of %s: status %q (error %q), want done", d, st[d].Status, st[d].Error)
		}
	}
	if a := st[helmDigest]; a.Status != store.StatusSkipped || !strings.Contains(strings.ToLower(a.Reason), "helm") {
		t.Errorf("helm chart: status %q reason %q, want skipped naming helm", a.Status, a.Reason)
	}
	for _, d := range []string{arm64Digest, armv7Digest} {
		if st[d].Parent != indexDigest {
			t.Errorf("platform manifest %s: parent %q, want the index %s", d, st[d].Parent, indexDigest)
		}
	}

	// Every ecosystem is found in the delivered SBOMs.
	f.expectPackages(baseDigest, testimages.DebianPackages)
	f.expectPackages(goDigest, testimages.GoPackages, testimages.DebianPackages)
	f.expectPackages(nodeDigest, testimages.NpmPackages)
	f.expectPackages(javaDigest, testimages.JavaPackages)
	f.expectPackages(arm64Digest, testimages.DebianPackages)

	// metadata.json lists the three tags of the Java digest.
	md := f.metadata(javaDigest)
	tags, _ := md["tags"].([]any)
	if len(tags) != 3 {
		t.Errorf("java metadata lists %d tags, want 3: %v", len(tags), md["tags"])
	}
	for _, key := range []string{"digest", "media_type", "platform", "tags", "history", "layers", "package_count", "analyzed_at"} {
		if _, ok := md[key]; !ok {
			t.Errorf("metadata.json lacks %q", key)
		}
	}
	// The index's metadata.json lists its platforms.
	imd := f.metadata(indexDigest)
	plats, _ := imd["platforms"].([]any)
	if len(plats) != 2 {
		t.Errorf("index metadata lists %d platforms, want 2: %v", len(plats), imd["platforms"])
	}
	// Platform manifests carry the index's tag.
	pmd := f.metadata(arm64Digest)
	if ptags, _ := pmd["tags"].([]any); len(ptags) != 1 || !strings.Contains(ptags[0].(map[string]any)["reference"].(string), "/docker-local/multi:1.0") {
		t.Errorf("platform metadata tags = %v, want the index tag multi:1.0", pmd["tags"])
	}
	checkDelivered(t, s, f)
	_ = s.Close()

	// 2. A backfill rerun analyses nothing.
	e = f.run(RunOptions{BackfillFrom: from})
	if n := len(e.Analysed()); n != 0 {
		t.Errorf("backfill rerun analysed %d digests, want 0: %v", n, e.Analysed())
	}

	// 3. --force analyses everything again, each digest once.
	e = f.run(RunOptions{BackfillFrom: from, Force: true})
	analysed = e.Analysed()
	for _, d := range wantAnalysed {
		if analysed[d] != 1 {
			t.Errorf("--force: digest %s analysed %d times, want once", d, analysed[d])
		}
	}
	if len(analysed) != len(wantAnalysed) {
		t.Errorf("--force analysed %d digests, want %d", len(analysed), len(wantAnalysed))
	}

	// 4. Incremental: a new image on the same base, pushed after the backfill,
	// is found by --once; its base is derived from the analysed layers.
	node2 := mustImage(t)(testimages.NodeApp(imgs.base, "webapp2"))
	node2Digest := f.push("docker-local", "webapp2", "2.0", node2)
	e = f.run(RunOptions{Once: true})
	if got := e.Analysed(); len(got) != 1 || got[node2Digest] != 1 {
		t.Errorf("--once analysed %v, want only %s", got, node2Digest)
	}
	nmd := f.metadata(node2Digest)
	bi, _ := nmd["base_image"].(map[string]any)
	if bi == nil || bi["digest"] != baseDigest || bi["derived_from"] != "layers" {
		t.Errorf("base_image = %v, want digest %s derived from layers", nmd["base_image"], baseDigest)
	}
	if bi != nil && !strings.HasSuffix(bi["name"].(string), "/docker-local/debian:12") {
		t.Errorf("base_image name = %v, want the debian:12 tag", bi["name"])
	}
}

func mustImage(t *testing.T) func(v1.Image, error) v1.Image {
	return func(img v1.Image, err error) v1.Image {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
}

// checkDelivered asserts every done analysis with a result is delivered to every output.
func checkDelivered(t *testing.T, s *store.Store, f *fixture) {
	t.Helper()
	counts, err := s.DeliveryCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for out, c := range counts {
		if c[store.DeliveryPending] != 0 || c[store.DeliveryFailed] != 0 {
			t.Errorf("output %s: deliveries %v, want all delivered", out, c)
		}
	}
	if len(counts) == 0 {
		t.Error("no delivery recorded")
	}
}

// TestWatchMode: the engine polls every poll interval, survives failing polls
// (AQL answering 500 for a while), analyses an image pushed after it started,
// and returns nil promptly once its context is cancelled.
func TestWatchMode(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	f.push("docker-local", "debian", "12", imgs.base) // before the first start: not analysed
	e := f.engine(WithPollInterval(100 * time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx, RunOptions{}) }()

	// Wait for the first poll to record the cursor, then break AQL for a few polls.
	waitFor(t, 30*time.Second, "first poll", func() bool { return f.srv.Requests()["aql"] > 0 })
	f.srv.SetFault(artifactorytest.Fault{Path: "/api/search/aql", Status: http.StatusInternalServerError, Count: 12})
	d := f.push("docker-prod", "goapp", "1.0", imgs.goApp)
	// Done in the store, not only analysed: cancelling between the two would be a checkpoint, not a result.
	waitFor(t, 90*time.Second, "the new image analysed and stored", func() bool {
		a, ok, err := e.Store().Get(ctx, d)
		return err == nil && ok && a.Status == store.StatusDone && e.Analysed()[d] == 1
	})
	if f.srv.FaultHits() < 12 {
		t.Errorf("only %d AQL failures were served: the failing polls did not happen", f.srv.FaultHits())
	}

	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancellation")
	}
	st := statuses(t, f.openStore())
	if len(st) != 1 || st[d].Status != store.StatusDone {
		t.Errorf("analyses %v, want only the image pushed after the start, done", st)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTriggerAndMetrics: Trigger (a webhook) polls at once instead of waiting
// for the next poll interval; polls, discoveries, analyses and registry
// requests are recorded in the metrics.
func TestTriggerAndMetrics(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	m := metrics.New()
	e := f.engine(WithPollInterval(time.Hour), WithMetrics(m))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx, RunOptions{}) }()
	waitFor(t, 30*time.Second, "first poll", func() bool {
		_, ok, _ := e.Store().Cursor(ctx, "test")
		return ok
	})
	d := f.push("docker-local", "goapp", "1.0", imgs.goApp)
	e.Trigger("test")
	waitFor(t, 60*time.Second, "the triggered poll to analyse the push", func() bool { return e.Analysed()[d] == 1 })
	waitFor(t, 10*time.Second, "the analysis to be recorded", func() bool { return metricSum(t, m, "imagewatch_analyses_total") >= 1 })
	// Read the metrics while the engine runs: Run closes the store the gauges read.
	for name, min := range map[string]float64{
		"imagewatch_polls_total":                2,
		"imagewatch_images_discovered_total":    1,
		"imagewatch_analyses_total":             1,
		"imagewatch_artifactory_requests_total": 3,
	} {
		if got := metricSum(t, m, name); got < min {
			t.Errorf("%s = %v, want at least %v", name, got, min)
		}
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

func metricSum(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			sum += s.GetCounter().GetValue()
		}
	}
	return sum
}
