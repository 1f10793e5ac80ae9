package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

func TestIndexStatus(t *testing.T) {
	ps := func(statuses ...string) []store.Analysis {
		var out []store.Analysis
		for _, s := range statuses {
			out = append(out, store.Analysis{Status: s})
		}
		return out
	}
	for _, tc := range []struct {
		own       string
		platforms []store.Analysis
		want      string
	}{
		{"pending", nil, "pending"},
		{"running", nil, "running"},
		{"failed", nil, "failed"},
		{"skipped", nil, "skipped"},
		{"done", nil, "done"}, // an index that lists nothing to analyse
		{"done", ps("done", "done"), "done"},
		{"done", ps("done", "skipped"), "done"},
		{"done", ps("skipped", "skipped"), "skipped"},
		{"done", ps("done", "pending"), "pending"},
		{"done", ps("done", "pending", "running"), "running"},
		{"done", ps("pending", "failed", "running"), "failed"},
		{"pending", ps("done", "done"), "pending"}, // re-analysis (--force) of the index under way
		{"pending", ps("failed"), "failed"},
		{"running", ps("done"), "running"},
	} {
		if got := IndexStatus(tc.own, tc.platforms); got != tc.want {
			t.Errorf("IndexStatus(%s, %v) = %s, want %s", tc.own, tc.platforms, got, tc.want)
		}
	}
}

func dgst(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// countingSource counts Platforms calls.
type countingSource struct {
	Source
	calls map[string]int
}

func (c *countingSource) Platforms(ctx context.Context, index string) ([]store.Analysis, error) {
	c.calls[index]++
	return c.Source.Platforms(ctx, index)
}

// The rows of a real store filled the way the engine fills it, including a
// manifest that is tagged on its own (base:12) and is the amd64 member of an
// index (multi:1 and multi:latest).
func TestRowsFromStore(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "imagewatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	results, err := output.NewDirectory(filepath.Join(dir, "results"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const manifest, index = artifactory.MediaTypeOCIManifest, artifactory.MediaTypeOCIIndex
	base, multi, arm, broken, fresh, chart := dgst(1), dgst(2), dgst(3), dgst(4), dgst(5), dgst(6)
	tag := func(image, tg, d, mt string) store.Tag {
		return store.Tag{Integration: "prod", Repository: "docker-local", Image: image, Tag: tg, Digest: d, MediaType: mt}
	}
	_, err = st.UpsertTags(ctx, []store.Tag{
		tag("base", "12", base, manifest), tag("multi", "1", multi, index), tag("multi", "latest", multi, index),
		tag("broken", "1", broken, manifest), tag("new", "x", fresh, manifest), tag("chart", "0.1", chart, manifest),
	})
	must(err)
	for _, d := range []string{base, multi, broken, chart} {
		_, err := st.EnsureAnalysis(ctx, store.Analysis{Digest: d})
		must(err)
	}
	_, err = st.ClaimDue(ctx, time.Now(), 10)
	must(err)
	outs := []string{results.Name()}
	md := func(d, platform string) []byte {
		m := map[string]any{"digest": d}
		if o, a, ok := strings.Cut(platform, "/"); ok {
			m["platform"] = map[string]string{"os": o, "architecture": a}
		}
		b, err := json.Marshal(m)
		must(err)
		return b
	}
	must(st.Finish(ctx, base, store.Completion{Status: store.StatusDone, PackageCount: 40, Outputs: outs,
		Result: &store.Result{Metadata: md(base, "linux/amd64"), SBOMs: map[string][]byte{"cyclonedx-json": []byte(`{}`)}}}))
	for _, a := range []store.Analysis{
		{Digest: base, Parent: multi, Platform: "linux/amd64"},
		{Digest: arm, Parent: multi, Platform: "linux/arm64/v8"},
	} {
		_, err := st.EnsureAnalysis(ctx, a)
		must(err)
	}
	must(st.Finish(ctx, multi, store.Completion{Status: store.StatusDone, Outputs: outs, Result: &store.Result{Metadata: md(multi, "")}}))
	must(st.Fail(ctx, broken, "manifest unknown", time.Time{}, true))
	must(st.Complete(ctx, chart, store.StatusSkipped, 0, "helm chart"))
	must(st.MarkDelivered(ctx, results.Name(), base))
	must(st.MarkDelivered(ctx, results.Name(), multi))

	items, err := st.Inventory(ctx, store.ListFilter{})
	must(err)
	src := &countingSource{Source: st, calls: map[string]int{}}
	loc := NewDirectory(results, []string{output.FormatCycloneDXJSON, output.FormatSPDXJSON}, st)
	rows, err := Rows(ctx, src, items, WithSBOMLocator(loc.SBOMs))
	must(err)

	type view struct {
		tag, status string
		packages    int
		platforms   string
		sboms       int
	}
	var got []view
	for _, r := range rows {
		var ps []string
		for _, p := range r.Platforms {
			ps = append(ps, p.Analysis.Platform+"="+p.Analysis.Status)
		}
		got = append(got, view{r.Tag.Image + ":" + r.Tag.Tag, r.Status, r.PackageCount, strings.Join(ps, ","), len(r.SBOMs)})
	}
	want := []view{
		{"base:12", "done", 40, "linux/amd64=done", 2}, // platform from its metadata.json, SBOMs delivered
		{"broken:1", "failed", 0, "", 0},
		{"chart:0.1", "skipped", 0, "", 0},
		// The shared manifest is listed; arm64 is not analysed yet, so the image is pending.
		{"multi:1", "pending", 40, "linux/amd64=done,linux/arm64/v8=pending", 0},
		{"multi:latest", "pending", 40, "linux/amd64=done,linux/arm64/v8=pending", 0},
		{"new:x", StatusDiscovered, 0, "", 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows =\n%+v\nwant\n%+v", got, want)
	}
	if src.calls[multi] != 1 || len(src.calls) != 1 {
		t.Errorf("Platforms calls = %v: want one for the index, shared by its tags", src.calls)
	}
	if rows[1].FailureReason != "manifest unknown" || rows[3].FailureReason != "" {
		t.Errorf("failure reasons: %q, %q", rows[1].FailureReason, rows[3].FailureReason)
	}
	amd := rows[3].Platforms[0]
	if amd.Analysis.Digest != base || amd.SBOMs[output.FormatCycloneDXJSON] != filepath.Join(results.Dir(), "sha256", strings.TrimPrefix(base, "sha256:"), "sbom.cdx.json") {
		t.Errorf("shared amd64 platform = %+v", amd)
	}
	if f, err := loc.Folder(ctx, multi); err != nil || f != results.PathFor(multi)+string(os.PathSeparator) {
		t.Errorf("Folder(multi) = %q %v", f, err)
	}
	if f, err := loc.Folder(ctx, broken); err != nil || f != "" {
		t.Errorf("Folder of an undelivered digest = %q %v", f, err)
	}

	// Filter selects items by the same combined status, locating nothing.
	pending, err := Filter(ctx, st, items, store.StatusPending)
	must(err)
	if len(pending) != 2 || pending[0].Tag.Tag != "1" || pending[1].Tag.Tag != "latest" || pending[0].Analysis.Status != store.StatusDone {
		t.Errorf("Filter(pending) = %+v; want both multi tags (the index itself is done)", pending)
	}

	// The last platform finishes: the image is done, summed over both platforms.
	_, err = st.ClaimDue(ctx, time.Now(), 10)
	must(err)
	must(st.Complete(ctx, arm, store.StatusDone, 2, ""))
	items, err = st.Inventory(ctx, store.ListFilter{Image: "multi"})
	must(err)
	rows, err = Rows(ctx, st, items, WithStatus(store.StatusDone))
	must(err)
	if len(rows) != 2 || rows[0].Status != store.StatusDone || rows[0].PackageCount != 42 || len(rows[0].Platforms[1].SBOMs) != 0 {
		t.Fatalf("done multi rows = %+v", rows)
	}
	// Filtering is on the combined status, not the index's own.
	for status, n := range map[string]int{store.StatusPending: 0, store.StatusDone: 2, StatusDiscovered: 0} {
		rows, err := Rows(ctx, st, items, WithStatus(status))
		must(err)
		if len(rows) != n {
			t.Errorf("WithStatus(%s): %d rows, want %d", status, len(rows), n)
		}
	}
	// Without a source, an index has no platforms (and its own status).
	rows, err = Rows(ctx, nil, items)
	must(err)
	if len(rows[0].Platforms) != 0 || rows[0].Status != store.StatusDone || rows[0].SBOMs == nil {
		t.Errorf("row without a source = %+v", rows[0])
	}
}

func TestRowsLocatorError(t *testing.T) {
	items := []store.InventoryItem{{
		Tag:      store.Tag{Image: "app", Tag: "1", Digest: dgst(1)},
		Analysis: store.Analysis{Digest: dgst(1), Status: store.StatusDone},
		Analyzed: true,
	}}
	_, err := Rows(t.Context(), nil, items, WithSBOMLocator(func(context.Context, string) (map[string]string, error) {
		return nil, fmt.Errorf("database is locked")
	}))
	if err == nil || !strings.Contains(err.Error(), dgst(1)) || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("locator failure: %v", err)
	}
}

type staticSource map[string][]store.Analysis

func (s staticSource) Platforms(_ context.Context, index string) ([]store.Analysis, error) {
	return s[index], nil
}

// A multi-platform image failed by one platform says which and why.
func TestRowsFailureReasonOfAPlatform(t *testing.T) {
	idx := dgst(1)
	items := []store.InventoryItem{{
		Tag:      store.Tag{Image: "app", Tag: "1", Digest: idx, MediaType: artifactory.MediaTypeDockerManifestList},
		Analysis: store.Analysis{Digest: idx, Status: store.StatusDone},
		Analyzed: true,
	}}
	src := staticSource{idx: {
		{Digest: dgst(2), Platform: "linux/amd64", Status: store.StatusPending, Error: "GET blob: 503"},
		{Digest: dgst(3), Platform: "linux/arm64", Status: store.StatusFailed, Error: "layer too large"},
	}}
	rows, err := Rows(t.Context(), src, items)
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[0]; r.Status != store.StatusFailed || r.FailureReason != "linux/arm64: layer too large" || !r.Index {
		t.Fatalf("row = %+v", r)
	}
}
