package output

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

const testAPIKey = "odt_AbCdEfGh0123456789secretkey"

func dtAnswerOK(n int, w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"token":"5d9d1d3e-0000-4000-8000-000000000000"}`)
}

func TestDependencyTrackPutsOneBOMPerTag(t *testing.T) {
	rc, srv := newRecorder(t, dtAnswerOK)
	dt, err := NewDependencyTrack(srv.URL+"/", testAPIKey, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	host := "acme.jfrog.io"
	tags := append(appTags(host), appTags(host)[0]) // a duplicate is uploaded once
	cdx := cdxDoc(1)
	a := mustArtifact(t, metadataJSON(t, digestN(1), tags, nil), map[string][]byte{FormatCycloneDXJSON: cdx, FormatSPDXJSON: []byte(`{}`)})
	if err := dt.Deliver(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rc.all()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3 (one per distinct tag)", len(reqs))
	}
	var got []string
	for _, r := range reqs {
		if r.method != http.MethodPut || r.path != "/api/v1/bom" {
			t.Fatalf("request = %s %s, want PUT /api/v1/bom", r.method, r.path)
		}
		if r.header.Get("X-Api-Key") != testAPIKey || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers = %v", r.header)
		}
		if r.header.Get("Authorization") != "" {
			t.Fatal("Authorization header sent to Dependency-Track")
		}
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if len(body) != 4 || body["autoCreate"] != true {
			t.Fatalf("body = %v", body)
		}
		bom, err := base64.StdEncoding.DecodeString(body["bom"].(string))
		if err != nil || string(bom) != string(cdx) {
			t.Fatalf("bom does not decode to the CycloneDX document: %v", err)
		}
		got = append(got, body["projectName"].(string)+"@"+body["projectVersion"].(string))
	}
	sort.Strings(got)
	want := []string{
		"acme.jfrog.io/docker-local/team/app@1.0",
		"acme.jfrog.io/docker-local/team/app@latest",
		"acme.jfrog.io/docker-prod/team/app@1.0",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("projects = %v, want %v", got, want)
	}
}

func TestDependencyTrackPlatformVersionsAndAPISuffix(t *testing.T) {
	rc, srv := newRecorder(t, dtAnswerOK)
	dt, err := NewDependencyTrack(srv.URL+"/api", testAPIKey, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	tags := []TagRef{{Repository: "docker-local", Image: "app", Tag: "2.0", Reference: "127.0.0.1:8082/docker-local/app:2.0"}}
	a := mustArtifact(t, metadataJSON(t, digestN(2), tags, nil), map[string][]byte{FormatCycloneDXJSON: cdxDoc(2)})
	a.Parent = digestN(200)
	if err := dt.Deliver(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	r := rc.all()[0]
	if r.path != "/api/v1/bom" {
		t.Fatalf("path = %s", r.path)
	}
	var body BOMUpload
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.ProjectName != "127.0.0.1:8082/docker-local/app" || body.ProjectVersion != "2.0 (linux/arm64/v8)" {
		t.Fatalf("upload = %+v", body)
	}
}

func TestDependencyTrackNeedsCycloneDX(t *testing.T) {
	rc, srv := newRecorder(t, dtAnswerOK)
	dt, _ := NewDependencyTrack(srv.URL, testAPIKey, fastRetry)
	a := mustArtifact(t, metadataJSON(t, digestN(3), appTags("h"), nil), map[string][]byte{FormatSPDXJSON: []byte(`{}`)})
	err := dt.Deliver(t.Context(), a)
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), `add "cyclonedx-json" to sbom_formats`) {
		t.Fatalf("err = %v", err)
	}
	// An index or a skipped artifact has nothing to upload.
	if err := dt.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(4), appTags("h"), nil), nil)); err != nil {
		t.Fatalf("artifact without SBOMs: %v", err)
	}
	// A tag reference that does not name a registry host cannot name a project.
	bad := []TagRef{{Repository: "docker-local", Image: "app", Tag: "1", Reference: "app:1"}}
	err = dt.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(5), bad, nil), map[string][]byte{FormatCycloneDXJSON: cdxDoc(5)}))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "registry-host") {
		t.Fatalf("bad reference: %v", err)
	}
	if n := len(rc.all()); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}

func TestDependencyTrackForbiddenHintWithoutKey(t *testing.T) {
	_, srv := newRecorder(t, func(n int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "Forbidden for key "+testAPIKey)
	})
	dt, _ := NewDependencyTrack(srv.URL, testAPIKey, fastRetry)
	err := dt.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, digestN(6), appTags("h"), nil), map[string][]byte{FormatCycloneDXJSON: cdxDoc(6)}))
	if err == nil || StatusCode(err) != 403 || !strings.Contains(err.Error(), "BOM_UPLOAD") || !strings.Contains(err.Error(), "project h/docker-local/team/app") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, testAPIKey)
	if _, err := NewDependencyTrack(srv.URL, ""); err == nil || !strings.Contains(err.Error(), "api_key") {
		t.Fatalf("empty api key: %v", err)
	}
}

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	log := hclog.NewNullLogger()
	cases := []struct {
		cfg  config.Output
		name string
	}{
		{config.Output{Type: "directory", Path: dir}, "directory:" + dir},
		{config.Output{Type: "http", URL: "https://inventory.internal/v1/images", Token: testToken}, "http:https://inventory.internal/v1/images"},
		{config.Output{Type: "dependency_track", URL: "https://dtrack.internal", APIKey: testAPIKey}, "dependency_track:https://dtrack.internal"},
	}
	for _, c := range cases {
		o, err := FromConfig(c.cfg, log)
		if err != nil {
			t.Fatalf("%s: %v", c.cfg.Type, err)
		}
		if o.Name() != c.name {
			t.Errorf("%s: Name = %q, want %q", c.cfg.Type, o.Name(), c.name)
		}
	}
	if _, err := FromConfig(config.Output{Type: "s3"}, log); err == nil || !strings.Contains(err.Error(), `"s3"`) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := FromConfig(config.Output{Type: "dependency_track", URL: "https://dt"}, log); err == nil {
		t.Fatal("dependency_track without api key accepted")
	}
}
