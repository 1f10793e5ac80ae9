package output

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func digestN(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// metadataJSON builds a metadata.json document with the keys DESIGN.md lists.
func metadataJSON(t testing.TB, digest string, tags []TagRef, extra map[string]any) json.RawMessage {
	t.Helper()
	m := map[string]any{
		"digest":     digest,
		"media_type": "application/vnd.oci.image.manifest.v1+json",
		"platform":   map[string]string{"os": "linux", "architecture": "arm64", "variant": "v8"},
		"tags":       tags,
		"created":    "2026-01-02T03:04:05Z",
		"source":     map[string]string{"url": "https://github.com/acme/app", "revision": "0123456789abcdef"},
		"history":    []map[string]any{{"created_by": "COPY app /app"}},
		"layers": []map[string]any{{"digest": digestN(900), "size": 1234,
			"media_type": "application/vnd.oci.image.layer.v1.tar+gzip"}},
		"base_image":    map[string]string{"name": "debian:12", "digest": digestN(901)},
		"package_count": 2,
		"analyzed_at":   "2026-03-01T12:00:00Z",
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appTags(host string) []TagRef {
	return []TagRef{
		{Repository: "docker-local", Image: "team/app", Tag: "1.0", Reference: host + "/docker-local/team/app:1.0"},
		{Repository: "docker-local", Image: "team/app", Tag: "latest", Reference: host + "/docker-local/team/app:latest"},
		{Repository: "docker-prod", Image: "team/app", Tag: "1.0", Reference: host + "/docker-prod/team/app:1.0"},
	}
}

func cdxDoc(n int) []byte {
	return []byte(fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:%08d-0000-0000-0000-000000000000","components":[{"type":"library","name":"zlib","version":"1.3"}]}`, n))
}

func sbomsN(n int) map[string][]byte {
	return map[string][]byte{
		FormatCycloneDXJSON: cdxDoc(n),
		FormatSPDXJSON:      []byte(fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","name":"app-%d","packages":[]}`, n)),
		FormatSyftJSON:      []byte(fmt.Sprintf(`{"artifacts":[],"source":{"id":"%d"}}`, n)),
	}
}

func mustArtifact(t testing.TB, meta json.RawMessage, sboms map[string][]byte) Artifact {
	t.Helper()
	a, err := NewArtifact(meta, sboms)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func assertNoSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}
