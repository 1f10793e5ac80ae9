package artifactory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// aqlRow is one stored item of fakeAQL.
type aqlRow struct {
	repo, path, name, sha256 string
	modified                 time.Time
	props                    map[string]string
	hidden                   bool // the caller may not read it: dropped after limit, like Artifactory
}

// fakeAQL evaluates the subset of AQL the client sends, with Artifactory's quirks: permission
// filtering after limit, range.total = rows in the page, text/plain body.
type fakeAQL struct {
	mu          sync.Mutex
	rows        []aqlRow
	queries     []string
	contentType []string
	propStatus  int // answer property queries with this status when set
}

var (
	findRe   = regexp.MustCompile(`^items\.find\((.*?)\)\.include\((.*?)\)(.*)$`)
	offsetRe = regexp.MustCompile(`\.offset\((\d+)\)`)
	limitRe  = regexp.MustCompile(`\.limit\((\d+)\)`)
)

func (f *fakeAQL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/artifactory/api/search/aql" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	q := string(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	f.contentType = append(f.contentType, r.Header.Get("Content-Type"))
	m := findRe.FindStringSubmatch(q)
	if m == nil {
		w.WriteHeader(400)
		fmt.Fprintf(w, "Failed to parse query: %s", q)
		return
	}
	var crit any
	if err := json.Unmarshal([]byte(m[1]), &crit); err != nil {
		w.WriteHeader(400)
		fmt.Fprintf(w, "Failed to parse query: %s, it looks like there is syntax error", q)
		return
	}
	withProps := strings.Contains(m[2], "property")
	if withProps && f.propStatus != 0 {
		w.WriteHeader(f.propStatus)
		return
	}
	var matched []aqlRow
	for _, row := range f.rows {
		if evalAQL(crit, row) {
			matched = append(matched, row)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		if !a.modified.Equal(b.modified) {
			return a.modified.Before(b.modified)
		}
		if a.repo != b.repo {
			return a.repo < b.repo
		}
		return a.path+"/"+a.name < b.path+"/"+b.name
	})
	offset, limit := 0, len(matched)
	hasLimit := false
	if om := offsetRe.FindStringSubmatch(m[3]); om != nil {
		offset, _ = strconv.Atoi(om[1])
	}
	if lm := limitRe.FindStringSubmatch(m[3]); lm != nil {
		limit, _ = strconv.Atoi(lm[1])
		hasLimit = true
	}
	if offset > len(matched) {
		offset = len(matched)
	}
	end := offset + limit
	if end > len(matched) {
		end = len(matched)
	}
	var out []string
	for _, row := range matched[offset:end] {
		if row.hidden { // permission filter after limit
			continue
		}
		item := map[string]any{"repo": row.repo, "path": row.path, "name": row.name, "type": "file",
			"created":  row.modified.Add(-time.Second).Format("2006-01-02T15:04:05.000-07:00"),
			"modified": row.modified.Format("2006-01-02T15:04:05.000-07:00"), "sha256": row.sha256, "size": 1024}
		if withProps && len(row.props) > 0 {
			var ps []map[string]string
			for k, v := range row.props {
				ps = append(ps, map[string]string{"key": k, "value": v})
			}
			item["properties"] = ps
		}
		b, _ := json.MarshalIndent(item, "", "  ")
		out = append(out, string(b))
	}
	rng := fmt.Sprintf(`{ "start_pos" : %d, "end_pos" : %d, "total" : %d`, offset, len(out), len(out))
	if hasLimit {
		rng += fmt.Sprintf(`, "limit" : %d`, limit)
	}
	rng += " }"
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "\n{\n\"results\" : [ %s ],\n\"range\" : %s\n}\n", strings.Join(out, ","), rng)
}

func evalAQL(c any, row aqlRow) bool {
	obj, ok := c.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range obj {
		switch k {
		case "$and":
			for _, sub := range v.([]any) {
				if !evalAQL(sub, row) {
					return false
				}
			}
		case "$or":
			hit := false
			for _, sub := range v.([]any) {
				if evalAQL(sub, row) {
					hit = true
				}
			}
			if !hit {
				return false
			}
		case "repo", "path", "name":
			val := map[string]string{"repo": row.repo, "path": row.path, "name": row.name}[k]
			if s, ok := v.(string); !ok || s != val {
				return false
			}
		case "modified":
			for op, bound := range v.(map[string]any) {
				t, err := time.Parse(time.RFC3339Nano, bound.(string))
				if err != nil {
					return false
				}
				if (op == "$gt" && !row.modified.After(t)) || (op == "$lt" && !row.modified.Before(t)) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

func (f *fakeAQL) reset() {
	f.mu.Lock()
	f.queries, f.contentType = nil, nil
	f.mu.Unlock()
}

func (f *fakeAQL) pagedQueries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, q := range f.queries {
		if strings.Contains(q, ".limit(") {
			out = append(out, q)
		}
	}
	return out
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func manifestRow(repo, image, tag string, i int, list bool) aqlRow {
	name, mt := ManifestFile, MediaTypeDockerManifest
	if list {
		name, mt = ListManifestFile, MediaTypeOCIIndex
	}
	sha := fmt.Sprintf("%064x", i+1)
	return aqlRow{repo: repo, path: image + "/" + tag, name: name, sha256: sha, modified: t0.Add(time.Duration(i) * time.Second),
		props: map[string]string{"docker.manifest": tag, "docker.repoName": image, "docker.manifest.digest": "sha256:" + sha, "docker.manifest.type": mt, "sha256": sha}}
}

func startFakeAQL(t *testing.T, f *fakeAQL) *Client {
	t.Helper()
	w := newWire(t, f.ServeHTTP)
	return newTestClient(t, w.URL)
}

func TestFindManifestsPagesOverAllRepositoriesInOneQuery(t *testing.T) {
	f := &fakeAQL{}
	for i := 0; i < 25; i++ {
		repo := "docker-a"
		if i%2 == 1 {
			repo = "docker-b"
		}
		f.rows = append(f.rows, manifestRow(repo, fmt.Sprintf("team/app%d", i%3), fmt.Sprintf("1.%d", i), i, i%5 == 0))
	}
	f.rows = append(f.rows, manifestRow("other", "x", "1", 99, false)) // a repository not asked for
	c := startFakeAQL(t, f)

	imgs, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a", "docker-b"}, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 25 {
		t.Fatalf("got %d images, want 25", len(imgs))
	}
	for i, img := range imgs {
		if i > 0 && img.Modified.Before(imgs[i-1].Modified) {
			t.Fatalf("not sorted by modified at %d", i)
		}
		want := manifestRow(img.Repository, img.Name, img.Tag, i, i%5 == 0)
		if img.Digest != "sha256:"+want.sha256 || img.Name != fmt.Sprintf("team/app%d", i%3) || img.Tag != fmt.Sprintf("1.%d", i) {
			t.Errorf("image %d = %+v", i, img)
		}
		if (i%5 == 0) != img.MultiPlatform() || img.MediaType == "" {
			t.Errorf("image %d media type %q", i, img.MediaType)
		}
		if img.Reference != ImageReference(c.Endpoints().RegistryHost, img.Repository, img.Name, img.Tag) {
			t.Errorf("reference %q", img.Reference)
		}
		if !img.Modified.Equal(t0.Add(time.Duration(i)*time.Second)) || img.Created.IsZero() {
			t.Errorf("times %v %v", img.Created, img.Modified)
		}
	}
	paged := f.pagedQueries()
	// 10 + 10 + 5 rows, then the empty page that ends the scan.
	if len(paged) != 4 {
		t.Errorf("paged queries = %d, want 4", len(paged))
	}
	for i, q := range paged {
		if strings.Contains(q, "property") || strings.Contains(q, "@docker") {
			t.Errorf("paged query includes properties (limit applies to joined rows): %s", q)
		}
		if !strings.Contains(q, `{"repo":"docker-a"}`) || !strings.Contains(q, `{"repo":"docker-b"}`) {
			t.Errorf("paged query should $or both repositories: %s", q)
		}
		if !strings.Contains(q, fmt.Sprintf(".offset(%d).limit(10)", i*10)) {
			t.Errorf("page %d: %s", i, q)
		}
		for _, f := range []string{`"name"`, `"repo"`, `"path"`} {
			if !strings.Contains(q[strings.Index(q, ".include("):], f) {
				t.Errorf("include lacks %s (required for non-admin users): %s", f, q)
			}
		}
	}
	for _, ct := range f.contentType {
		if ct != "text/plain" {
			t.Errorf("AQL Content-Type = %q, want text/plain", ct)
		}
	}
	if total := len(f.queries); total != 5 {
		t.Errorf("total AQL requests = %d, want 4 pages + 1 property batch", total)
	}
}

func TestFindManifestsShortPagesFromPermissionFiltering(t *testing.T) {
	f := &fakeAQL{}
	for i := 0; i < 30; i++ {
		row := manifestRow("docker-a", "app", fmt.Sprintf("t%02d", i), i, false)
		row.hidden = i >= 3 && i < 9 // the first page comes back with 4 of 10 rows
		f.rows = append(f.rows, row)
	}
	c := startFakeAQL(t, f)
	imgs, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a"}, PageSize: 10, SkipMediaTypes: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 24 {
		t.Fatalf("got %d images, want the 24 readable ones (a short page is not the end)", len(imgs))
	}
	if imgs[len(imgs)-1].Tag != "t29" {
		t.Errorf("last image %s", imgs[len(imgs)-1].Tag)
	}
	if len(f.queries) != 4 {
		t.Errorf("queries = %d, want 3 pages + the empty one", len(f.queries))
	}
}

func TestFindManifestsIdlePollIsOneRequest(t *testing.T) {
	f := &fakeAQL{}
	for i := 0; i < 500; i++ {
		f.rows = append(f.rows, manifestRow("docker-a", "app", fmt.Sprintf("t%d", i), i, false))
	}
	c := startFakeAQL(t, f)
	latest := t0.Add(499 * time.Second)
	imgs, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a", "docker-b"}, ModifiedAfter: latest})
	if err != nil || len(imgs) != 0 {
		t.Fatalf("idle poll = %v, %v", imgs, err)
	}
	if len(f.queries) != 1 {
		t.Errorf("idle poll cost %d requests, want 1 whatever the number of tags", len(f.queries))
	}
	if !strings.Contains(f.queries[0], `"modified":{"$gt":"2026-03-01T10:08:19.000Z"}`) {
		t.Errorf("cursor bound missing: %s", f.queries[0])
	}

	// New pushes after the cursor: only those come back, within the window.
	f.reset()
	imgs, err = c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a"},
		ModifiedAfter: t0.Add(495 * time.Second), ModifiedBefore: t0.Add(498 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].Tag != "t496" || imgs[1].Tag != "t497" {
		t.Errorf("window (495s, 498s) = %+v", imgs)
	}
}

func TestFindManifestsPathMapping(t *testing.T) {
	f := &fakeAQL{}
	add := func(path, name string, i int) {
		f.rows = append(f.rows, aqlRow{repo: "docker-a", path: path, name: name, sha256: fmt.Sprintf("%064x", i), modified: t0.Add(time.Duration(i) * time.Second)})
	}
	add("library/ubuntu/latest", ManifestFile, 1)                // nested image name
	add("app/1.0", ListManifestFile, 2)                          // multi-platform tag
	add("app/sha256__"+strings.Repeat("a", 64), ManifestFile, 3) // platform manifest: not a tag
	add("app/_uploads/1.0", ManifestFile, 4)                     // upload area
	add(".", ManifestFile, 5)                                    // root level
	add("lonely", ManifestFile, 6)                               // <tag>/manifest.json with no image
	add(".jfrog/repository.catalog/x", ManifestFile, 7)          // internal folder
	c := startFakeAQL(t, f)
	imgs, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a"}, SkipMediaTypes: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range imgs {
		got = append(got, i.Name+":"+i.Tag)
	}
	if strings.Join(got, " ") != "library/ubuntu:latest app:1.0" {
		t.Errorf("images = %v", got)
	}
}

func TestFindManifestsPropertiesUnavailable(t *testing.T) {
	f := &fakeAQL{propStatus: http.StatusBadRequest}
	f.rows = append(f.rows, manifestRow("docker-a", "app", "1", 1, false))
	c := startFakeAQL(t, f)
	imgs, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a"}})
	if err != nil || len(imgs) != 1 {
		t.Fatalf("%v %v", imgs, err)
	}
	if imgs[0].MediaType != "" || imgs[0].Digest == "" {
		t.Errorf("media type should stay empty, digest from sha256: %+v", imgs[0])
	}
}

func TestFindManifestsInput(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	if _, err := c.FindManifests(context.Background(), ManifestQuery{}); err == nil {
		t.Error("no repositories accepted")
	}
	if _, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"bad key"}}); err == nil || !strings.Contains(err.Error(), "bad key") {
		t.Errorf("bad key: %v", err)
	}
}

func TestPropertyBatchesStayUnderQueryLimit(t *testing.T) {
	var folders []repoPath
	for i := 0; i < 1000; i++ {
		folders = append(folders, repoPath{fmt.Sprintf("docker-%d", i%7), fmt.Sprintf("some/long/team/image-name-%d/v1.2.%d", i, i)})
	}
	batches := batchFolders(folders)
	n := 0
	for _, b := range batches {
		if q := propertyQuery(b); len(q) > maxAQLQueryLen {
			t.Fatalf("query of %d chars exceeds Artifactory's 6000 limit", len(q))
		}
		n += len(b)
	}
	if n != 1000 || len(batches) > 20 {
		t.Errorf("%d paths in %d batches", n, len(batches))
	}
}

func TestAQLResultDecoding(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(rw, "\n{\n\"results\" : [ {\n  \"repo\" : \"docker-local\",\n  \"path\" : \"myimg/1.0\",\n  \"name\" : \"manifest.json\",\n  \"type\" : \"file\",\n  \"size\" : 1024,\n  \"created\" : \"2016-12-22T04:26:29.482-05:00\",\n  \"modified\" : \"2024-03-01T10:00:00.100Z\",\n  \"properties\" : [ { \"key\" : \"docker.manifest\", \"value\" : \"1.0\" } ]\n} ],\n\"range\" : {\n  \"start_pos\" : 0,\n  \"end_pos\" : 1,\n  \"total\" : 1,\n  \"limit\" : 500,\n  \"notification\" : \"AQL query reached the search hard limit, results are trimmed.\"\n}\n}\n")
	})
	c := newTestClient(t, w.URL)
	res, err := c.AQL(context.Background(), `items.find({"repo":"docker-local"})`)
	if err != nil {
		t.Fatal(err)
	}
	it := res.Results[0]
	if it.Size != 1024 || it.Created.UTC().Format(time.RFC3339Nano) != "2016-12-22T09:26:29.482Z" || it.Path != "myimg/1.0" {
		t.Errorf("item = %+v", it)
	}
	if v, ok := it.Property("docker.manifest"); !ok || v != "1.0" {
		t.Errorf("property = %q %v", v, ok)
	}
	if res.Range.Limit != 500 || res.Range.Total != 1 || res.Range.Notification == "" {
		t.Errorf("range = %+v", res.Range)
	}
}

func TestFindManifestsStopsWhenOffsetIgnored(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(rw, `{"results":[{"repo":"docker-a","path":"app/1","name":"manifest.json","modified":"2026-03-01T10:00:00.000Z","sha256":"ab"},{"repo":"docker-a","path":"app/sha256__ab","name":"manifest.json","modified":"2026-03-01T10:00:00.000Z"}],"range":{"start_pos":0,"end_pos":2,"total":2,"limit":2}}`)
	})
	c := newTestClient(t, w.URL)
	imgs, err := c.FindManifests(context.Background(), ManifestQuery{Repositories: []string{"docker-a"}, PageSize: 2, SkipMediaTypes: true})
	if err != nil || len(imgs) != 1 {
		t.Fatalf("%v %v", imgs, err)
	}
	if w.count() != 2 {
		t.Errorf("requests = %d, want 2 (the repeated page ends paging)", w.count())
	}
}
