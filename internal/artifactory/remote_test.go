package artifactory

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// A remote repository's images live in "<key>-cache"; ListImages searches there and reports
// them under the configured key with a pullable reference through that key.
func TestListImagesRemoteSearchesCache(t *testing.T) {
	f := &fakeAQL{}
	f.rows = append(f.rows, manifestRow("hub-remote-cache", "library/alpine", "3.20", 1, true))
	w := newWire(t, func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/artifactory/api/repositories/hub-remote":
			_, _ = rw.Write([]byte(`{"key":"hub-remote","rclass":"remote","packageType":"docker","url":"https://registry-1.docker.io/"}`))
		default:
			f.ServeHTTP(rw, r)
		}
	})
	c := newTestClient(t, w.URL)
	imgs, err := c.ListImages(context.Background(), []string{"hub-remote"}, ListImagesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		t.Fatalf("%+v", imgs)
	}
	img := imgs[0]
	host := strings.TrimPrefix(w.URL, "http://")
	if img.Repository != "hub-remote" || img.Reference != host+"/hub-remote/library/alpine:3.20" || !img.MultiPlatform() {
		t.Errorf("%+v", img)
	}
	if !strings.Contains(f.queries[0], `{"repo":"hub-remote-cache"}`) {
		t.Errorf("query %s", f.queries[0])
	}
}
