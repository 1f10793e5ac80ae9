package artifactorytest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStorageAPI(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s := NewTest(t, WithClock(clock.Now), WithTimeZone(time.FixedZone("EST", -5*3600)))
	s.AddRepository(Repository{Key: "docker-local"})
	s.AddUser(User{Name: "dev", Password: "pw"})
	ctx := context.Background()
	digest, err := s.PushImage(ctx, "docker-local", "app", "1.0", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(90 * time.Second)
	if _, err := s.PushImage(ctx, "docker-local", "app", "2.0", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	base := s.BaseURL() + "/api/storage/docker-local"

	// Folder info.
	r := call(t, "GET", base+"/app", "", admin)
	var folder struct {
		URI, Repo, Path, Created, CreatedBy string
		Children                            []struct {
			URI    string `json:"uri"`
			Folder bool   `json:"folder"`
		}
	}
	if err := json.Unmarshal([]byte(r.body), &folder); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if folder.URI != base+"/app" || folder.Path != "/app" || folder.Created != "2026-03-01T05:00:00.000-05:00" ||
		len(folder.Children) != 2 || folder.Children[0].URI != "/1.0" || !folder.Children[0].Folder {
		t.Fatalf("folder info %+v", folder)
	}
	if !strings.Contains(r.body, `"folder" : true`) {
		t.Fatal("folder must be a JSON boolean")
	}

	// File info: size is a string, checksums present.
	r = call(t, "GET", base+"/app/1.0/manifest.json", "", admin)
	var file map[string]any
	if err := json.Unmarshal([]byte(r.body), &file); err != nil {
		t.Fatal(err)
	}
	if _, isString := file["size"].(string); !isString {
		t.Fatalf("file size must be a string: %v", file["size"])
	}
	sums := file["checksums"].(map[string]any)
	if "sha256:"+sums["sha256"].(string) != digest || len(sums["sha1"].(string)) != 40 || len(sums["md5"].(string)) != 32 {
		t.Fatalf("checksums %v", sums)
	}
	if file["downloadUri"] != s.BaseURL()+"/docker-local/app/1.0/manifest.json" {
		t.Fatalf("downloadUri %v", file["downloadUri"])
	}

	// ?properties
	r = call(t, "GET", base+"/app/1.0/manifest.json?properties=docker.manifest", "", admin)
	if !strings.Contains(r.body, `"docker.manifest" : [ "1.0" ]`) || strings.Contains(r.body, "docker.repoName") {
		t.Fatalf("properties: %s", r.body)
	}
	expect(t, call(t, "GET", base+"/app?properties", "", admin), 404, envelope(404, "No properties could be found."))

	// Errors.
	expect(t, call(t, "GET", base+"/app/9.9", "", admin), 404, envelope(404, "Unable to find item"))
	expect(t, call(t, "GET", s.BaseURL()+"/api/storage/missing-repo/x", "", admin), 404, envelope(404, "Unable to find item"))
	expect(t, call(t, "GET", base+"/app/1.0", "", basic("dev", "pw")), 403,
		envelope(403, "Request for 'docker-local:app/1.0' is forbidden for user: 'dev'."))
	expect(t, call(t, "GET", base+"/app", "", nil), 401, envelope(401, "Authentication is required"))

	// ?lastModified: the latest item under the path, offset without colon, Last-Modified header.
	r = call(t, "GET", base+"/app?lastModified", "", admin)
	var lm struct{ URI, LastModified string }
	if err := json.Unmarshal([]byte(r.body), &lm); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lm.URI, base+"/app/2.0/") || lm.LastModified != "2026-03-01T05:01:30.000-0500" {
		t.Fatalf("lastModified %+v", lm)
	}
	if r.header.Get("Last-Modified") != "Sun, 01 Mar 2026 10:01:30 GMT" {
		t.Fatalf("Last-Modified header %q", r.header.Get("Last-Modified"))
	}
	expect(t, call(t, "GET", base+"/nope?lastModified", "", admin), 404, envelope(404, "Unable to find item"))
}

func TestStorageFileList(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	if _, err := s.PushImage(context.Background(), "docker-local", "team/app", "1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	base := s.BaseURL() + "/api/storage/docker-local"
	type entry struct {
		URI    string `json:"uri"`
		Size   int64  `json:"size"`
		Folder bool   `json:"folder"`
		SHA2   string `json:"sha2"`
	}
	list := func(query string) []entry {
		t.Helper()
		r := call(t, "GET", base+query, "", admin)
		var out struct {
			URI   string  `json:"uri"`
			Files []entry `json:"files"`
		}
		if r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		return out.Files
	}
	uris := func(es []entry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.URI)
		}
		return strings.Join(out, " ")
	}
	// Not deep: immediate children only, and no folders without listFolders=1.
	if got := list("/team/app/1?list"); len(got) != 4 || got[0].URI != "/manifest.json" || got[0].Size <= 0 || got[0].SHA2 == "" {
		t.Fatalf("tag folder list: %+v", got)
	}
	if got := list("?list"); len(got) != 0 {
		t.Fatalf("root without deep lists only files: %+v", got)
	}
	if got := uris(list("?list&listFolders=1")); got != "/team" {
		t.Fatalf("root with folders: %s", got)
	}
	// depth only matters with deep=1.
	if got := uris(list("?list&depth=3&listFolders=1")); got != "/team" {
		t.Fatalf("depth without deep: %s", got)
	}
	if got := uris(list("?list&deep=1&depth=2&listFolders=1")); got != "/team /team/app" {
		t.Fatalf("deep depth=2: %s", got)
	}
	deep := list("?list&deep=1&listFolders=1&includeRootPath=1")
	if deep[0].URI != "/" || !deep[0].Folder || deep[0].Size != -1 || len(deep) != 8 {
		t.Fatalf("deep with root: %+v", deep)
	}
	if got := list("?list&deep=1"); len(got) != 4 || !strings.HasPrefix(got[0].URI, "/team/app/1/") {
		t.Fatalf("deep files: %+v", got)
	}
	expect(t, call(t, "GET", base+"?list&deep=yes", "", admin), 400, envelope(400, `For input string: \"yes\"`))
	expect(t, call(t, "GET", base+"/team/app/1/manifest.json?list", "", admin), 400,
		envelope(400, "Expected a folder but found a file, at: docker-local:team/app/1/manifest.json"))
	expect(t, call(t, "GET", base+"/nope?list", "", admin), 404, envelope(404, "Unable to find item"))
	_ = http.MethodGet
}
