package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// fakeInventory applies ListFilter the way the store documents it (tag fields,
// status on the analysis, then limit/offset) and records what it was asked.
type fakeInventory struct {
	mu        sync.Mutex
	items     []store.InventoryItem
	platforms map[string][]store.Analysis
	err       error
	filters   []store.ListFilter
	onCall    func()
}

func (f *fakeInventory) Inventory(_ context.Context, lf store.ListFilter) ([]store.InventoryItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, lf)
	if f.onCall != nil {
		f.onCall()
	}
	if f.err != nil {
		return nil, f.err
	}
	var out []store.InventoryItem
	for _, it := range f.items {
		if (lf.Integration != "" && it.Tag.Integration != lf.Integration) ||
			(lf.Repository != "" && it.Tag.Repository != lf.Repository) ||
			(lf.Image != "" && it.Tag.Image != lf.Image) ||
			(lf.Status != "" && (!it.Analyzed || it.Analysis.Status != lf.Status)) {
			continue
		}
		out = append(out, it)
	}
	out = out[min(lf.Offset, len(out)):]
	if lf.Limit > 0 {
		out = out[:min(lf.Limit, len(out))]
	}
	return out, nil
}

func (f *fakeInventory) lastFilter() store.ListFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.filters[len(f.filters)-1]
}

// fakePlatformInventory adds the optional PlatformLister.
type fakePlatformInventory struct{ *fakeInventory }

func (f fakePlatformInventory) Platforms(_ context.Context, index string) ([]store.Analysis, error) {
	return f.platforms[index], nil
}

func digestOf(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// inventoryOf builds n analysed tags across two repositories and two statuses.
func inventoryOf(n int) []store.InventoryItem {
	var items []store.InventoryItem
	for i := range n {
		repo := "docker-local"
		if i%2 == 1 {
			repo = "docker-prod"
		}
		st := store.StatusDone
		if i%3 == 0 {
			st = store.StatusFailed
		}
		d := digestOf(i)
		items = append(items, store.InventoryItem{
			Tag:      store.Tag{Integration: "prod", Repository: repo, Image: fmt.Sprintf("app%d", i%4), Tag: fmt.Sprintf("1.%d", i), Digest: d},
			Analysis: store.Analysis{Digest: d, Status: st, PackageCount: i},
			Analyzed: true,
		})
	}
	return items
}

func getImages(t *testing.T, s *Server, query string, header http.Header) (int, ImagesResponse, errorBody, *http.Response) {
	t.Helper()
	resp, body := call(t, s.Handler(), http.MethodGet, "/api/v1/images"+query, nil, header)
	var (
		ir ImagesResponse
		eb errorBody
	)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content type %q, want application/json (body %q)", query, ct, body)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &ir); err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
	} else if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Fatalf("decode error %q: %v", body, err)
	}
	return resp.StatusCode, ir, eb, resp
}

func TestInventoryPaging(t *testing.T) {
	inv := &fakeInventory{items: inventoryOf(250)}
	s := New(WithInventory(inv))

	// Default limit 100, asked with one extra row to detect the next page.
	code, page, _, _ := getImages(t, s, "", nil)
	if code != 200 || len(page.Images) != DefaultLimit || page.NextOffset == nil || *page.NextOffset != 100 {
		t.Fatalf("first page: %d, %d images, next %v; want 200, 100, 100", code, len(page.Images), page.NextOffset)
	}
	if f := inv.lastFilter(); f.Limit != DefaultLimit+1 || f.Offset != 0 {
		t.Fatalf("store asked for limit %d offset %d, want %d and 0", f.Limit, f.Offset, DefaultLimit+1)
	}

	// Walk every page with limit=70: every row exactly once, the last page's next is null.
	seen := map[string]bool{}
	next := 0
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		_, p, _, _ := getImages(t, s, fmt.Sprintf("?limit=70&offset=%d", next), nil)
		for _, img := range p.Images {
			if seen[img.Digest] {
				t.Fatalf("%s returned twice", img.Digest)
			}
			seen[img.Digest] = true
		}
		if p.NextOffset == nil {
			if len(p.Images) != 250-210 {
				t.Fatalf("last page has %d rows, want 40", len(p.Images))
			}
			break
		}
		next = *p.NextOffset
	}
	if len(seen) != 250 {
		t.Fatalf("paging returned %d distinct rows, want 250", len(seen))
	}

	// An exact multiple: the last full page says there is no next one.
	_, p, _, _ := getImages(t, s, "?limit=50&offset=200", nil)
	if len(p.Images) != 50 || p.NextOffset != nil {
		t.Fatalf("page 200..250: %d rows, next %v; want 50 and null", len(p.Images), p.NextOffset)
	}
	// Past the end: empty list, not null, and no next.
	code, p, _, _ = getImages(t, s, "?offset=1000", nil)
	if code != 200 || p.Images == nil || len(p.Images) != 0 || p.NextOffset != nil {
		t.Fatalf("past the end: %d %v %v", code, p.Images, p.NextOffset)
	}
	// The maximum limit is accepted.
	if code, p, _, _ := getImages(t, s, "?limit=1000", nil); code != 200 || len(p.Images) != 250 {
		t.Fatalf("limit=1000: %d, %d rows", code, len(p.Images))
	}
}

func TestInventoryFilters(t *testing.T) {
	inv := &fakeInventory{items: inventoryOf(24)}
	s := New(WithInventory(inv))

	_, p, _, _ := getImages(t, s, "?repository=docker-prod&status=failed&integration=prod", nil)
	// status is the row's (combined over an index's platforms): filtered here
	// over the unpaged rows, not by the store on the analysis's own status.
	f := inv.lastFilter()
	if f.Repository != "docker-prod" || f.Status != "" || f.Integration != "prod" || f.Limit != 0 || f.Offset != 0 {
		t.Fatalf("filter passed to the store: %+v", f)
	}
	if len(p.Images) == 0 {
		t.Fatal("no rows for docker-prod/failed")
	}
	for _, img := range p.Images {
		if img.Repository != "docker-prod" || img.Status != store.StatusFailed {
			t.Fatalf("row %+v does not match repository=docker-prod status=failed", img)
		}
	}

	_, p, _, _ = getImages(t, s, "?image=app2", nil)
	if inv.lastFilter().Image != "app2" || len(p.Images) != 6 {
		t.Fatalf("image=app2: filter %+v, %d rows; want 6", inv.lastFilter(), len(p.Images))
	}

	// tag is filtered by the server (the store has no tag filter), paging included.
	_, p, _, _ = getImages(t, s, "?tag=1.7", nil)
	if len(p.Images) != 1 || p.Images[0].Tag != "1.7" || p.NextOffset != nil {
		t.Fatalf("tag=1.7: %+v", p)
	}
	if f := inv.lastFilter(); f.Limit != 0 || f.Offset != 0 {
		t.Fatalf("tag filter must read the unpaged result, store got limit %d offset %d", f.Limit, f.Offset)
	}
	dup := &fakeInventory{items: append(inventoryOf(3), inventoryOf(3)...)} // same tag names in two "integrations"
	for i := 3; i < 6; i++ {
		dup.items[i].Tag.Integration = "dev"
	}
	s2 := New(WithInventory(dup))
	_, p, _, _ = getImages(t, s2, "?tag=1.1&limit=1", nil)
	if len(p.Images) != 1 || p.NextOffset == nil || *p.NextOffset != 1 {
		t.Fatalf("tag filter page 1: %+v", p)
	}
	_, p, _, _ = getImages(t, s2, "?tag=1.1&limit=1&offset=1", nil)
	if len(p.Images) != 1 || p.Images[0].Integration != "dev" || p.NextOffset != nil {
		t.Fatalf("tag filter page 2: %+v", p)
	}
}

func TestInventoryRejectsBadParameters(t *testing.T) {
	inv := &fakeInventory{items: inventoryOf(3)}
	s := New(WithInventory(inv))
	for _, c := range []struct{ query, param string }{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?limit=-5", "limit"},
		{"?offset=-1", "offset"},
		{"?offset=1.5", "offset"},
		{"?status=analysed", "status"},
		{"?repository=" + url.QueryEscape("docker-local/app"), "repository"},
		{"?repository=" + url.QueryEscape("docker local"), "repository"},
		{"?statu=failed", "statu"},
		{"?status=done&status=failed", "status"},
	} {
		code, _, eb, _ := getImages(t, s, c.query, nil)
		if code != http.StatusBadRequest || eb.Parameter != c.param || !strings.Contains(eb.Error, c.param) {
			t.Errorf("GET %s = %d %+v; want 400 naming %q", c.query, code, eb, c.param)
		}
	}
	if n := len(inv.filters); n != 0 {
		t.Fatalf("the store was queried %d times for invalid requests", n)
	}
}

func TestInventoryToken(t *testing.T) {
	inv := &fakeInventory{items: inventoryOf(2)}
	s := New(WithInventory(inv), WithInventoryToken("s3cr3t-token"))
	for _, c := range []struct {
		name, auth string
		want       int
		invalid    bool
	}{
		{"no header", "", http.StatusUnauthorized, false},
		{"wrong token", "Bearer nope", http.StatusUnauthorized, true},
		{"token prefix", "Bearer s3cr3t", http.StatusUnauthorized, true},
		{"token plus suffix", "Bearer s3cr3t-token2", http.StatusUnauthorized, true},
		{"basic scheme", "Basic czNjcjN0LXRva2Vu", http.StatusUnauthorized, false},
		{"empty bearer", "Bearer ", http.StatusUnauthorized, false},
		{"right token", "Bearer s3cr3t-token", http.StatusOK, false},
		{"scheme is case-insensitive", "bearer s3cr3t-token", http.StatusOK, false},
	} {
		h := http.Header{}
		if c.auth != "" {
			h.Set("Authorization", c.auth)
		}
		code, _, eb, resp := getImages(t, s, "", h)
		if code != c.want {
			t.Errorf("%s: status %d, want %d", c.name, code, c.want)
			continue
		}
		if code == http.StatusUnauthorized {
			wa := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, "Bearer ") || strings.Contains(wa, "invalid_token") != c.invalid {
				t.Errorf("%s: WWW-Authenticate %q", c.name, wa)
			}
			if eb.Error == "" || strings.Contains(eb.Error, "s3cr3t") {
				t.Errorf("%s: error body %+v", c.name, eb)
			}
		}
	}
	if n := len(inv.filters); n != 2 {
		t.Fatalf("store queried %d times, want only for the 2 authorised requests", n)
	}
	// The token protects the inventory only.
	if resp, _ := call(t, s.Handler(), http.MethodGet, "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with a token set = %d", resp.StatusCode)
	}
}

func TestInventoryStoreError(t *testing.T) {
	log, buf := testLogger(t)
	s := New(WithLogger(log), WithInventory(&fakeInventory{err: errors.New("store: inventory: database disk image is malformed")}))
	code, _, eb, _ := getImages(t, s, "", nil)
	if code != http.StatusInternalServerError || eb.Error == "" || strings.Contains(eb.Error, "malformed") {
		t.Fatalf("store failure: %d %+v; want 500 with a generic message", code, eb)
	}
	if !strings.Contains(buf.String(), "malformed") {
		t.Fatal("store failure not logged")
	}
}

func TestInventoryMapping(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	idx, amd, arm, single, fresh, failed := digestOf(1), digestOf(2), digestOf(3), digestOf(4), digestOf(5), digestOf(6)
	inv := &fakeInventory{
		items: []store.InventoryItem{
			{
				Tag:      store.Tag{Integration: "prod", Repository: "docker-local", Image: "app", Tag: "1.0", Digest: idx, MediaType: artifactory.MediaTypeOCIIndex, Reference: "h/docker-local/app:1.0", Modified: at},
				Analysis: store.Analysis{Digest: idx, MediaType: artifactory.MediaTypeOCIIndex, Status: store.StatusDone, AnalyzedAt: at},
				Analyzed: true,
			},
			{
				Tag:      store.Tag{Integration: "prod", Repository: "docker-local", Image: "tool", Tag: "2", Digest: single},
				Analysis: store.Analysis{Digest: single, Status: store.StatusDone, PackageCount: 42, AnalyzedAt: at},
				Analyzed: true,
			},
			{
				Tag: store.Tag{Integration: "prod", Repository: "docker-local", Image: "new", Tag: "x", Digest: fresh},
			},
			{
				Tag:      store.Tag{Integration: "prod", Repository: "docker-local", Image: "broken", Tag: "1", Digest: failed},
				Analysis: store.Analysis{Digest: failed, Status: store.StatusFailed, Error: "malformed manifest: unexpected end of JSON input", Attempts: 5},
				Analyzed: true,
			},
		},
		platforms: map[string][]store.Analysis{idx: {
			{Digest: amd, Parent: idx, Platform: "linux/amd64", Status: store.StatusDone, PackageCount: 10, AnalyzedAt: at},
			{Digest: arm, Parent: idx, Platform: "linux/arm64", Status: store.StatusPending, Error: "GET blob: 503", Attempts: 1},
		}},
	}
	locate := func(d string) map[string]string {
		hex := strings.TrimPrefix(d, "sha256:")
		return map[string]string{"cyclonedx-json": "/r/sha256/" + hex + "/sbom.cdx.json"}
	}
	s := New(WithInventory(fakePlatformInventory{inv}), WithSBOMLocator(locate))
	_, p, _, _ := getImages(t, s, "", nil)
	if len(p.Images) != 4 {
		t.Fatalf("%d rows, want 4", len(p.Images))
	}
	byImage := map[string]Image{}
	for _, img := range p.Images {
		byImage[img.Image] = img
	}

	app := byImage["app"]
	// The index is resolved (done) but arm64 waits for a retry: the image is pending, and says why.
	if app.Status != store.StatusPending || app.FailureReason != "linux/arm64: GET blob: 503" || len(app.Platforms) != 2 ||
		app.PackageCount != 10 || len(app.SBOMs) != 0 {
		t.Fatalf("index row: %+v", app)
	}
	if app.Modified == nil || !app.Modified.Equal(at) || app.Reference != "h/docker-local/app:1.0" {
		t.Fatalf("index row times/reference: %+v", app)
	}
	amdRow, armRow := app.Platforms[0], app.Platforms[1]
	if amdRow.Platform != "linux/amd64" || amdRow.Digest != amd || amdRow.Status != store.StatusDone ||
		amdRow.SBOMs["cyclonedx-json"] != "/r/sha256/"+strings.TrimPrefix(amd, "sha256:")+"/sbom.cdx.json" {
		t.Fatalf("amd64 platform: %+v", amdRow)
	}
	if armRow.Status != store.StatusPending || armRow.FailureReason != "GET blob: 503" || len(armRow.SBOMs) != 0 {
		t.Fatalf("arm64 platform (pending retry has no SBOM): %+v", armRow)
	}

	tool := byImage["tool"]
	if tool.PackageCount != 42 || tool.AnalyzedAt == nil || !tool.AnalyzedAt.Equal(at) ||
		tool.SBOMs["cyclonedx-json"] != "/r/sha256/"+strings.TrimPrefix(single, "sha256:")+"/sbom.cdx.json" {
		t.Fatalf("single-platform row: %+v", tool)
	}
	if n := byImage["new"]; n.Status != StatusDiscovered || n.AnalyzedAt != nil || len(n.SBOMs) != 0 {
		t.Fatalf("not-yet-analysed row: %+v", n)
	}
	if b := byImage["broken"]; b.Status != store.StatusFailed || b.FailureReason != "malformed manifest: unexpected end of JSON input" ||
		b.Attempts != 5 || len(b.SBOMs) != 0 {
		t.Fatalf("failed row: %+v", b)
	}

	// JSON shape the data source reads: nulls and empty collections, not missing keys.
	_, raw := call(t, s.Handler(), http.MethodGet, "/api/v1/images?image=new", nil, nil)
	for _, want := range []string{`"analyzed_at":null`, `"platforms":[]`, `"sboms":{}`, `"next_offset":null`, `"status":"discovered"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}
}

// TestInventoryFromRealStore serves a real SQLite store: the contract with
// store.Inventory and store.Platforms, not just the fake's reading of it.
func TestInventoryFromRealStore(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "imagewatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	idx, amd, arm, single, fresh := digestOf(10), digestOf(11), digestOf(12), digestOf(20), digestOf(30)
	for _, tg := range []store.Tag{
		{Integration: "prod", Repository: "docker-local", Image: "app", Tag: "1.0", Digest: idx, MediaType: artifactory.MediaTypeOCIIndex},
		{Integration: "prod", Repository: "docker-prod", Image: "app", Tag: "1.0", Digest: idx, MediaType: artifactory.MediaTypeOCIIndex},
		{Integration: "prod", Repository: "docker-local", Image: "tool", Tag: "latest", Digest: single},
		{Integration: "prod", Repository: "docker-local", Image: "new", Tag: "x", Digest: fresh},
	} {
		if _, err := st.UpsertTag(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []store.Analysis{
		{Digest: idx, MediaType: artifactory.MediaTypeOCIIndex, Status: store.StatusDone},
		{Digest: amd, Parent: idx, Platform: "linux/amd64"},
		{Digest: arm, Parent: idx, Platform: "linux/arm64"},
		{Digest: single},
	} {
		if _, err := st.EnsureAnalysis(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Complete(ctx, amd, store.StatusDone, 17, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.Fail(ctx, arm, "pull: 500 Internal Server Error", time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, single, store.StatusSkipped, 0, "helm chart (application/vnd.cncf.helm.config.v1+json)"); err != nil {
		t.Fatal(err)
	}

	s := New(WithInventory(st), WithSBOMLocator(func(d string) map[string]string {
		return map[string]string{"spdx-json": "file:///r/" + d}
	}))
	_, p, _, _ := getImages(t, s, "?repository=docker-local", nil)
	if len(p.Images) != 3 {
		t.Fatalf("docker-local: %d rows, want 3: %+v", len(p.Images), p.Images)
	}
	byImage := map[string]Image{}
	for _, img := range p.Images {
		byImage[img.Image] = img
	}
	app := byImage["app"]
	if len(app.Platforms) != 2 || app.PackageCount != 17 {
		t.Fatalf("index from the store: %+v", app)
	}
	if a := app.Platforms[0]; a.Platform != "linux/amd64" || a.Status != store.StatusDone || a.PackageCount != 17 || a.SBOMs["spdx-json"] != "file:///r/"+amd {
		t.Fatalf("amd64 from the store: %+v", a)
	}
	if a := app.Platforms[1]; a.Platform != "linux/arm64" || a.Status != store.StatusFailed || a.FailureReason != "pull: 500 Internal Server Error" {
		t.Fatalf("arm64 from the store: %+v", a)
	}
	if tool := byImage["tool"]; tool.Status != store.StatusSkipped || !strings.HasPrefix(tool.SkipReason, "helm chart") || len(tool.SBOMs) != 0 {
		t.Fatalf("skipped from the store: %+v", tool)
	}
	if n := byImage["new"]; n.Status != StatusDiscovered {
		t.Fatalf("unanalysed tag from the store: %+v", n)
	}

	_, p, _, _ = getImages(t, s, "?status=skipped", nil)
	if len(p.Images) != 1 || p.Images[0].Image != "tool" {
		t.Fatalf("status=skipped from the store: %+v", p.Images)
	}
	_, p, _, _ = getImages(t, s, "?limit=2", nil)
	if len(p.Images) != 2 || p.NextOffset == nil || *p.NextOffset != 2 {
		t.Fatalf("limit=2 from the store: %d rows, next %v", len(p.Images), p.NextOffset)
	}
	_, p, _, _ = getImages(t, s, "?limit=2&offset=2", nil)
	if len(p.Images) != 2 || p.NextOffset != nil {
		t.Fatalf("second page from the store: %d rows, next %v", len(p.Images), p.NextOffset)
	}
}

// The status filter and paging work on the image's combined status, and a
// platform manifest that is also tagged on its own is listed by its index.
func TestInventoryCombinedStatusFromRealStore(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "imagewatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base, multi, arm, fresh := digestOf(1), digestOf(2), digestOf(3), digestOf(4)
	tg := func(image, tag, d, mt string) store.Tag {
		return store.Tag{Integration: "prod", Repository: "docker-local", Image: image, Tag: tag, Digest: d, MediaType: mt}
	}
	if _, err := st.UpsertTags(ctx, []store.Tag{
		tg("base", "12", base, artifactory.MediaTypeOCIManifest),
		tg("multi", "1", multi, artifactory.MediaTypeOCIIndex),
		tg("multi", "2", multi, artifactory.MediaTypeOCIIndex),
		tg("new", "x", fresh, artifactory.MediaTypeOCIManifest),
	}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.Analysis{
		{Digest: base},
		{Digest: multi, MediaType: artifactory.MediaTypeOCIIndex},
		{Digest: base, Parent: multi, Platform: "linux/amd64"}, // already known: only the membership is new
		{Digest: arm, Parent: multi, Platform: "linux/arm64"},
	} {
		if _, err := st.EnsureAnalysis(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for d, n := range map[string]int{base: 5, multi: 0} {
		if err := st.Complete(ctx, d, store.StatusDone, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	s := New(WithInventory(st))
	tags := func(query string) ([]string, *int) {
		t.Helper()
		code, p, eb, _ := getImages(t, s, query, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %+v", query, code, eb)
		}
		var out []string
		for _, img := range p.Images {
			out = append(out, img.Image+":"+img.Tag+"="+img.Status)
		}
		return out, p.NextOffset
	}
	if got, _ := tags("?status=pending"); fmt.Sprint(got) != "[multi:1=pending multi:2=pending]" {
		t.Errorf("status=pending: %v (the index itself is done, arm64 is pending)", got)
	}
	if got, next := tags("?status=pending&limit=1"); fmt.Sprint(got) != "[multi:1=pending]" || next == nil || *next != 1 {
		t.Errorf("status=pending page 1: %v next %v", got, next)
	}
	if got, next := tags("?status=pending&limit=1&offset=1"); fmt.Sprint(got) != "[multi:2=pending]" || next != nil {
		t.Errorf("status=pending page 2: %v next %v", got, next)
	}
	if got, _ := tags("?status=done"); fmt.Sprint(got) != "[base:12=done]" {
		t.Errorf("status=done: %v", got)
	}
	if got, _ := tags("?status=discovered"); fmt.Sprint(got) != "[new:x=discovered]" {
		t.Errorf("status=discovered: %v", got)
	}
	_, p, _, _ := getImages(t, s, "?image=multi&tag=1", nil)
	if len(p.Images) != 1 || len(p.Images[0].Platforms) != 2 || p.Images[0].Platforms[0].Digest != base || p.Images[0].PackageCount != 5 {
		t.Fatalf("multi:1 does not list the manifest tagged base:12 as its amd64 platform: %+v", p.Images)
	}

	// Once arm64 is done, the image is.
	if _, err := st.ClaimDue(ctx, time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, arm, store.StatusDone, 2, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := tags("?status=done"); fmt.Sprint(got) != "[base:12=done multi:1=done multi:2=done]" {
		t.Errorf("status=done after arm64: %v", got)
	}
}

func TestInventoryLocator(t *testing.T) {
	d := digestOf(1)
	inv := &fakeInventory{items: []store.InventoryItem{{
		Tag:      store.Tag{Integration: "prod", Repository: "docker-local", Image: "app", Tag: "1", Digest: d},
		Analysis: store.Analysis{Digest: d, Status: store.StatusDone, Platform: "linux/amd64"},
		Analyzed: true,
	}}}
	var gotCtx context.Context
	s := New(WithInventory(inv), WithSBOMLocator(func(string) map[string]string { return map[string]string{"x": "overridden"} }),
		WithLocator(func(ctx context.Context, digest string) (map[string]string, error) {
			gotCtx = ctx
			return map[string]string{"spdx-json": "/r/" + digest}, nil
		}))
	_, p, _, _ := getImages(t, s, "", nil)
	if len(p.Images) != 1 || p.Images[0].SBOMs["spdx-json"] != "/r/"+d || len(p.Images[0].SBOMs) != 1 ||
		p.Images[0].Platforms[0].SBOMs["spdx-json"] != "/r/"+d || gotCtx == nil {
		t.Fatalf("located row: %+v", p.Images)
	}

	log, buf := testLogger(t)
	s = New(WithLogger(log), WithInventory(inv), WithLocator(func(context.Context, string) (map[string]string, error) {
		return nil, errors.New("store: delivery: database disk image is malformed")
	}))
	code, _, eb, _ := getImages(t, s, "", nil)
	if code != http.StatusInternalServerError || strings.Contains(eb.Error, "malformed") || !strings.Contains(buf.String(), "malformed") {
		t.Fatalf("locator failure: %d %+v; want 500, logged, with a generic message", code, eb)
	}
}
