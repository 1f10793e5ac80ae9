package artifactory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// registryPager serves names with the registry's n/last paging; withLink adds the Link header.
func registryPager(t *testing.T, names []string, withLink bool, list func(page []string) string) *wire {
	return newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept"); got != "application/json" {
			t.Errorf("Accept = %q, want application/json", got)
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n <= 0 {
			n = len(names)
		}
		start := 0
		if last := r.URL.Query().Get("last"); last != "" {
			for i, s := range names {
				if s == last {
					start = i + 1
				}
			}
		}
		end := start + n
		if end > len(names) {
			end = len(names)
		}
		page := names[start:end]
		if withLink && end < len(names) {
			rw.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?last=%s&n=%d>; rel="next"`, page[len(page)-1], n))
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(list(page)))
	})
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

func TestCatalogPaging(t *testing.T) {
	var names []string
	for i := 0; i < 1234; i++ {
		names = append(names, fmt.Sprintf("team/img%04d", i))
	}
	for _, withLink := range []bool{true, false} {
		t.Run(fmt.Sprintf("link=%v", withLink), func(t *testing.T) {
			w := registryPager(t, names, withLink, func(p []string) string { return `{"repositories":` + quoted(p) + `}` })
			c := newTestClient(t, w.URL)
			got, err := c.Catalog(context.Background(), "docker-local")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(names) || got[0] != names[0] || got[len(got)-1] != names[len(names)-1] {
				t.Fatalf("got %d names", len(got))
			}
			// 500 + 500 + 234: the short last page ends paging with or without a Link header.
			want := 3
			if w.count() != want {
				t.Errorf("requests = %d, want %d", w.count(), want)
			}
			if p := w.last().URL.Path; p != "/artifactory/api/docker/docker-local/v2/_catalog" {
				t.Errorf("path = %s", p)
			}
			if w.last().URL.Query().Get("last") != names[999] {
				t.Errorf("last = %q", w.last().URL.Query().Get("last"))
			}
		})
	}
}

func TestCatalogExactMultipleOfPageSize(t *testing.T) {
	var names []string
	for i := 0; i < 2*DefaultDockerPageSize; i++ {
		names = append(names, fmt.Sprintf("img%04d", i))
	}
	w := registryPager(t, names, false, func(p []string) string { return `{"repositories":` + quoted(p) + `}` })
	c := newTestClient(t, w.URL)
	got, err := c.Catalog(context.Background(), "docker-local")
	if err != nil || len(got) != len(names) {
		t.Fatalf("%d %v", len(got), err)
	}
	if w.count() != 3 { // two full pages, then an empty one ends it
		t.Errorf("requests = %d", w.count())
	}
}

func TestTagsPagingAndEscaping(t *testing.T) {
	var tags []string
	for i := 0; i < 700; i++ {
		tags = append(tags, fmt.Sprintf("v%d", i))
	}
	w := registryPager(t, tags, true, func(p []string) string { return `{"name":"team/app","tags":` + quoted(p) + `}` })
	c := newTestClient(t, w.URL)
	got, err := c.Tags(context.Background(), "docker-local", "team/app")
	if err != nil || len(got) != 700 {
		t.Fatalf("%d %v", len(got), err)
	}
	if p := w.last().URL.Path; p != "/artifactory/api/docker/docker-local/v2/team/app/tags/list" {
		t.Errorf("path = %s", p)
	}
	if _, err := c.Tags(context.Background(), "docker-local", "../etc"); err == nil {
		t.Error("path traversal in image name accepted")
	}
}

func TestTagsNullList(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte(`{"name":"app","tags":null}`)) })
	c := newTestClient(t, w.URL)
	got, err := c.Tags(context.Background(), "docker-local", "app")
	if err != nil || len(got) != 0 || w.count() != 1 {
		t.Fatalf("%v %v %d", got, err, w.count())
	}
}

func TestManifestDigest(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			t.Errorf("method %s, want HEAD", r.Method)
		}
		for _, mt := range []string{MediaTypeDockerManifest, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeOCIIndex} {
			if !strings.Contains(r.Header.Get("Accept"), mt) {
				t.Errorf("Accept lacks %s", mt)
			}
		}
		if r.URL.Path != "/artifactory/api/docker/docker-local/v2/team/app/manifests/1.0" {
			t.Errorf("path %s", r.URL.Path)
		}
		rw.Header().Set("Docker-Content-Digest", digest)
		rw.Header().Set("Content-Type", MediaTypeOCIIndex)
	})
	c := newTestClient(t, w.URL)
	d, mt, err := c.ManifestDigest(context.Background(), "docker-local", "team/app", "1.0")
	if err != nil || d != digest || mt != MediaTypeOCIIndex {
		t.Fatalf("%s %s %v", d, mt, err)
	}
}

func TestManifestDigestWithoutHeaderHashesBody(t *testing.T) {
	body := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}`
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", MediaTypeDockerManifest)
		if r.Method == http.MethodGet {
			_, _ = rw.Write([]byte(body))
		}
	})
	c := newTestClient(t, w.URL)
	d, mt, err := c.ManifestDigest(context.Background(), "docker-local", "app", "1.0")
	// sha256 of body, computed independently
	want := "sha256:" + sha256Hex(body)
	if err != nil || d != want || mt != MediaTypeDockerManifest {
		t.Fatalf("%s %s %v (want %s)", d, mt, err, want)
	}
}

func TestManifestDigestUnknownTag(t *testing.T) {
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusNotFound) })
	c := newTestClient(t, w.URL)
	_, _, err := c.ManifestDigest(context.Background(), "docker-local", "app", "nope")
	if !IsNotFound(err) || !strings.Contains(err.Error(), "HEAD /api/docker/docker-local/v2/app/manifests/nope") {
		t.Fatalf("%v", err)
	}
}

func TestNextLinkQuery(t *testing.T) {
	q := nextLinkQuery([]string{`</v2/docker-local/app/tags/list?last=v9&n=10>; rel="next"`})
	if q.Get("last") != "v9" || q.Get("n") != "10" {
		t.Errorf("%v", q)
	}
	if nextLinkQuery([]string{`</v2/_catalog?last=x&n=1>; rel="prev"`}) != nil {
		t.Error("prev link taken as next")
	}
	if nextLinkQuery(nil) != nil {
		t.Error("no header")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
