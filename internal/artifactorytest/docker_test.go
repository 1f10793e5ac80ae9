package artifactorytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pullAll(t *testing.T, ref name.Reference, opts ...remote.Option) (v1.Image, error) {
	t.Helper()
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

func TestPushImageThenPullThroughRepositoryPath(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	s.AddUser(User{Name: "reader", Password: "pw"})
	s.Grant("reader", "docker-local")
	ctx := context.Background()
	img := randomImage(t)
	digest, err := s.PushImage(ctx, "docker-local", "team/app", "1.0", img)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if digest != want.String() {
		t.Fatalf("digest = %s, want %s", digest, want)
	}
	ref, err := name.ParseReference(s.RegistryHost() + "/docker-local/team/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	s.ResetRequests()
	got, err := pullAll(t, ref, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: "reader", Password: "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd.String() != digest {
		t.Fatalf("pulled digest %s, want %s", gd, digest)
	}
	reqs := s.Requests()
	if reqs["docker.token"] != 1 || reqs["docker.manifest"] == 0 || reqs["docker.blob"] < 2 {
		t.Fatalf("pull did not go through the token flow: %v", reqs)
	}

	// Someone without permission is denied; bad credentials fail at the token endpoint.
	s.AddUser(User{Name: "stranger", Password: "pw"})
	_, err = remote.Image(ref, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: "stranger", Password: "pw"}))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden {
		t.Fatalf("stranger pull error = %v, want 403", err)
	}
	_, err = remote.Image(ref, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: "reader", Password: "bad"}))
	if err == nil || !strings.Contains(err.Error(), "Bad Credentials") {
		t.Fatalf("bad password pull error = %v", err)
	}
	// Anonymous pull with anonymous access disabled is unauthorized.
	_, err = remote.Image(ref, remote.WithContext(ctx))
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous pull error = %v", err)
	}
}

func TestPullWithAccessTokenAsRegistryToken(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	s.Grant("robot", "docker-local")
	digest, err := s.PushImage(context.Background(), "docker-local", "app", "1", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.IssueToken("robot", time.Hour)
	ref, _ := name.ParseReference(s.RegistryHost() + "/docker-local/app:1")
	img, err := pullAll(t, ref, remote.WithAuth(authn.FromConfig(authn.AuthConfig{RegistryToken: tok})))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != digest {
		t.Fatal("digest mismatch")
	}
	// Through the REST API path with Basic credentials directly, and with an API key header.
	s.AddUser(User{Name: "ci", Password: "pw", APIKey: "AKCp8key"})
	s.Grant("ci", "docker-local")
	r := call(t, "HEAD", s.BaseURL()+"/api/docker/docker-local/v2/app/manifests/1", "", basic("ci", "pw"))
	if r.status != 200 || r.header.Get("Docker-Content-Digest") != digest {
		t.Fatalf("HEAD manifest with Basic: %d %v", r.status, r.header)
	}
	r = call(t, "GET", s.BaseURL()+"/api/docker/docker-local/v2/app/tags/list", "", header("X-JFrog-Art-Api", "AKCp8key"))
	if r.status != 200 || !strings.Contains(r.body, `"1"`) {
		t.Fatalf("tags with API key: %d %s", r.status, r.body)
	}
}

func TestDockerChallengesAndTokenEndpoint(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	host := s.RegistryHost()

	r := call(t, "GET", s.URL()+"/v2/", "", nil)
	if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="`+s.URL()+`/v2/token",service="`+host+`"` {
		t.Fatalf("bare ping: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r.body != `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}` {
		t.Fatalf("bare ping body %q", r.body)
	}
	r = call(t, "GET", s.URL()+"/v2/docker-local/team/app/manifests/1.0", "", nil)
	want := `Bearer realm="` + s.URL() + `/artifactory/api/docker/docker-local/v2/token",service="` + host + `",scope="repository:docker-local/team/app:pull"`
	if r.status != 401 || r.header.Get("WWW-Authenticate") != want {
		t.Fatalf("resource challenge: %d %q\nwant %q", r.status, r.header.Get("WWW-Authenticate"), want)
	}
	r = call(t, "PUT", s.URL()+"/v2/docker-local/team/app/manifests/1.0", "{}", nil)
	if !strings.HasSuffix(r.header.Get("WWW-Authenticate"), `scope="repository:docker-local/team/app:pull,push"`) {
		t.Fatalf("push challenge %q", r.header.Get("WWW-Authenticate"))
	}
	r = call(t, "GET", s.BaseURL()+"/api/docker/docker-local/v2/app/tags/list", "", nil)
	if !strings.HasSuffix(r.header.Get("WWW-Authenticate"), `scope="repository:app:pull"`) {
		t.Fatalf("api path challenge %q", r.header.Get("WWW-Authenticate"))
	}
	for _, resp := range []response{r, call(t, "GET", s.URL()+"/v2/", "", nil)} {
		if resp.header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
			t.Fatal("missing Docker-Distribution-Api-Version")
		}
	}

	for _, tokenURL := range []string{s.URL() + "/v2/token", s.BaseURL() + "/api/docker/docker-local/v2/token"} {
		r = call(t, "GET", tokenURL+"?service="+host+"&scope=repository:docker-local/app:pull", "", admin)
		var tok map[string]any
		if r.status != 200 || json.Unmarshal([]byte(r.body), &tok) != nil {
			t.Fatalf("token: %d %s", r.status, r.body)
		}
		if len(tok) != 2 || tok["expires_in"] != float64(3600) || !strings.HasPrefix(tok["token"].(string), "eyJ2ZXIiOiIy") {
			t.Fatalf("token body %v", tok)
		}
		// The token works as Bearer on V2 requests but not on the REST API.
		if r := call(t, "GET", s.URL()+"/v2/", "", bearer(tok["token"].(string))); r.status != 200 {
			t.Fatalf("bearer ping: %d", r.status)
		}
		expect(t, call(t, "GET", tokenURL, "", basic("admin", "bad")), 401, envelope(401, "Bad Credentials"))
		expect(t, call(t, "GET", tokenURL, "", nil), 401, envelope(401, "Authentication is required"))
		expect(t, call(t, "POST", tokenURL, "", admin), 405, envelope(405, "Method Not Allowed"))
	}
}

func TestDockerTokenExpiryForcesRenewal(t *testing.T) {
	clock := newFakeClock(time.Now())
	s := NewTest(t, WithClock(clock.Now), WithDockerTokenTTL(30*time.Second))
	s.AddRepository(Repository{Key: "docker-local"})
	if _, err := s.PushImage(context.Background(), "docker-local", "app", "1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	r := call(t, "GET", s.URL()+"/v2/token", "", admin)
	var tok struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || tok.ExpiresIn != 30 {
		t.Fatalf("token: %s", r.body)
	}
	url := s.URL() + "/v2/docker-local/app/tags/list"
	if r := call(t, "GET", url, "", bearer(tok.Token)); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	clock.Add(31 * time.Second)
	r = call(t, "GET", url, "", bearer(tok.Token))
	if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer realm=") {
		t.Fatalf("expired token should get the challenge: %d %v", r.status, r.header)
	}
}

func TestCatalogAndTagsPaging(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	s.AddUser(User{Name: "dev", Password: "pw"})
	s.Grant("dev", "docker-local")
	ctx := context.Background()
	img := randomImage(t)
	for _, ref := range []string{"b/app:1", "a:1", "c:1", "a:10", "a:2", "a:latest"} {
		image, tag, _ := strings.Cut(ref, ":")
		if _, err := s.PushImage(ctx, "docker-local", image, tag, img); err != nil {
			t.Fatal(err)
		}
	}
	api := s.BaseURL() + "/api/docker/docker-local/v2"
	r := call(t, "GET", api+"/_catalog", "", basic("dev", "pw"))
	expect(t, r, 200, "{\n  \"repositories\" : [ \"a\", \"b/app\", \"c\" ]\n}")
	r = call(t, "GET", api+"/_catalog?n=2", "", basic("dev", "pw"))
	if !strings.Contains(r.body, `[ "a", "b/app" ]`) || r.header.Get("Link") != `</v2/docker-local/_catalog?last=b%2Fapp&n=2>; rel="next"` {
		t.Fatalf("catalog page 1: %s %q", r.body, r.header.Get("Link"))
	}
	// The Link is followable at the platform root (repository-path method).
	r = call(t, "GET", s.URL()+"/v2/docker-local/_catalog?last=b%2Fapp&n=2", "", basic("dev", "pw"))
	if !strings.Contains(r.body, `[ "c" ]`) || r.header.Get("Link") != "" {
		t.Fatalf("catalog page 2: %s %q", r.body, r.header.Get("Link"))
	}
	r = call(t, "GET", api+"/a/tags/list?n=2", "", basic("dev", "pw"))
	expect(t, r, 200, "{\n  \"name\" : \"a\",\n  \"tags\" : [ \"1\", \"10\" ]\n}")
	if r.header.Get("Link") != `</v2/docker-local/a/tags/list?last=10&n=2>; rel="next"` {
		t.Fatalf("tags Link %q", r.header.Get("Link"))
	}
	r = call(t, "GET", api+"/a/tags/list?n=2&last=10", "", basic("dev", "pw"))
	if !strings.Contains(r.body, `[ "2", "latest" ]`) || r.header.Get("Link") != "" {
		t.Fatalf("tags page 2: %s %q", r.body, r.header.Get("Link"))
	}
	// ggcr's lister follows the pages.
	repo, _ := name.NewRepository(s.RegistryHost() + "/docker-local/a")
	tags, err := remote.List(repo, remote.WithAuth(&authn.Basic{Username: "dev", Password: "pw"}), remote.WithPageSize(1))
	if err != nil || fmt.Sprint(tags) != "[1 10 2 latest]" {
		t.Fatalf("remote.List = %v, %v", tags, err)
	}
	r = call(t, "GET", api+"/nope/tags/list", "", basic("dev", "pw"))
	if r.status != 404 || !strings.Contains(r.body, `"NAME_UNKNOWN"`) {
		t.Fatalf("unknown image tags: %d %s", r.status, r.body)
	}
	// A deleted tag disappears from tags and storage.
	s.DeleteTag("docker-local", "a", "latest")
	r = call(t, "GET", api+"/a/tags/list", "", basic("dev", "pw"))
	if strings.Contains(r.body, "latest") {
		t.Fatalf("deleted tag listed: %s", r.body)
	}
	r = call(t, "GET", api+"/a/manifests/latest", "", basic("dev", "pw"))
	if r.status != 404 {
		t.Fatalf("deleted tag manifest: %d", r.status)
	}
}

func TestDockerErrorFormats(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	s.AddRepository(Repository{Key: "generic-local", PackageType: "generic"})
	if _, err := s.PushImage(context.Background(), "docker-local", "app", "1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	api := s.BaseURL() + "/api/docker/docker-local/v2"
	expect(t, call(t, "GET", api+"/app/manifests/2", "", admin), 404,
		`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"The named manifest is not known to the registry.","detail":{"manifest":"app"}}]}`)
	missing := "sha256:" + strings.Repeat("0", 64)
	expect(t, call(t, "GET", api+"/app/blobs/"+missing, "", admin), 404,
		`{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":{"blobSum":"`+missing+`"}}]}`)
	expect(t, call(t, "GET", s.BaseURL()+"/api/docker/v2/docker-local/app/tags/list", "", admin), 400,
		envelope(400, "Unsupported docker repository request for 'v2'"))
	r := call(t, "GET", s.BaseURL()+"/api/docker/generic-local/v2/app/tags/list", "", admin)
	if r.status != 404 || !strings.Contains(r.body, "Unsupported docker v2 repository request for 'generic-local'") {
		t.Fatalf("non-docker repo: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", api+"/app/sha256__x/manifests/1", "", admin); r.status != 400 || !strings.Contains(r.body, "NAME_INVALID") {
		t.Fatalf("storage-internal image name: %d %s", r.status, r.body)
	}
	// Blobs of one repository are not readable through another.
	s.AddRepository(Repository{Key: "docker-other"})
	img, _ := remote.Image(mustRef(t, s.RegistryHost()+"/docker-local/app:1"), remote.WithAuth(&authn.Basic{Username: AdminName, Password: AdminPassword}))
	cfg, _ := img.ConfigName()
	if r := call(t, "GET", s.BaseURL()+"/api/docker/docker-other/v2/app/blobs/"+cfg.String(), "", admin); r.status != 404 {
		t.Fatalf("cross-repository blob: %d", r.status)
	}
	if r := call(t, "GET", api+"/app/blobs/"+cfg.String(), "", admin); r.status != 200 {
		t.Fatalf("config blob: %d", r.status)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestPushIndexStorageLayout(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := s.PushIndex(context.Background(), "docker-local", "multi", "v1", idx)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	res := aql(t, s, admin, `items.find({"repo":"docker-local","$or":[{"name":"manifest.json"},{"name":"list.manifest.json"}]}).include("repo","path","name","property.*").sort({"$asc":["path"]})`)
	var got []string
	for _, r := range res.Results {
		got = append(got, fmt.Sprintf("%s/%s", r["path"], r["name"]))
	}
	var want []string
	for _, m := range im.Manifests {
		want = append(want, "multi/"+strings.Replace(m.Digest.String(), ":", "__", 1)+"/manifest.json")
	}
	want = append(want, "multi/v1/list.manifest.json")
	sortStrings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("layout\n got %v\nwant %v", got, want)
	}
	for _, r := range res.Results {
		if r["name"] != "list.manifest.json" {
			continue
		}
		props := map[string]string{}
		for _, p := range r["properties"].([]any) {
			m := p.(map[string]any)
			props[m["key"].(string)] = m["value"].(string)
		}
		if props["docker.manifest.digest"] != digest || props["docker.manifest.type"] != string(types.OCIImageIndex) || props["docker.manifest"] != "v1" {
			t.Fatalf("list.manifest.json properties %v", props)
		}
	}
	// Platform layers are stored beside their manifests.
	layers := aql(t, s, admin, `items.find({"repo":"docker-local","name":{"$match":"sha256__*"}}).include("repo","path","name")`)
	if len(layers.Results) != 4 { // 2 platforms x (1 layer + config)
		t.Fatalf("platform blobs: %v", paths(layers))
	}
	ref := mustRef(t, s.RegistryHost()+"/docker-local/multi:v1")
	pulled, err := remote.Index(ref, remote.WithAuth(&authn.Basic{Username: AdminName, Password: AdminPassword}))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d.String() != digest {
		t.Fatal("index digest mismatch")
	}
	r := call(t, "GET", s.BaseURL()+"/api/docker/docker-local/v2/multi/tags/list", "", admin)
	if !strings.Contains(r.body, `"tags" : [ "v1" ]`) {
		t.Fatalf("platform folders must not be tags: %s", r.body)
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestPushManifestArtifactAndMalformed(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	ctx := context.Background()
	cfgBytes := []byte(`{"name":"demo","version":"1.0.0"}`)
	cfgDigest, err := s.PushBlob(ctx, "docker-local", "charts/demo", cfgBytes, "application/vnd.cncf.helm.config.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":%q,"size":%d},"layers":[]}`, cfgDigest, len(cfgBytes))
	digest, err := s.PushManifest(ctx, "docker-local", "charts/demo", "1.0.0", string(types.OCIManifestSchema1), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, "GET", s.BaseURL()+"/api/storage/docker-local/charts/demo/1.0.0/"+strings.Replace(cfgDigest, ":", "__", 1), "", admin)
	if r.status != 200 || !strings.Contains(r.body, fmt.Sprintf(`"size" : "%d"`, len(cfgBytes))) {
		t.Fatalf("config blob item: %d %s", r.status, r.body)
	}
	r = call(t, "GET", s.BaseURL()+"/api/docker/docker-local/v2/charts/demo/manifests/1.0.0", "", admin)
	if r.body != raw || r.header.Get("Docker-Content-Digest") != digest {
		t.Fatalf("artifact manifest round trip: %q", r.body)
	}

	garbage := []byte("this is not json")
	if _, err := s.PushManifest(ctx, "docker-local", "broken", "1", string(types.DockerManifestSchema2), garbage); err != nil {
		t.Fatal(err)
	}
	r = call(t, "GET", s.BaseURL()+"/api/docker/docker-local/v2/broken/manifests/1", "", admin)
	if r.status != 200 || r.body != string(garbage) {
		t.Fatalf("malformed manifest: %d %q", r.status, r.body)
	}
}

func TestPushToRemoteRefusedAndCacheReadable(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-remote", Class: "remote"})
	img := randomImage(t)
	_, err := s.PushImage(context.Background(), "docker-remote", "app", "1", img)
	if err == nil || !strings.Contains(err.Error(), "Unable to upload") {
		t.Fatalf("push to remote: %v", err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	r := call(t, "PUT", s.BaseURL()+"/api/docker/docker-remote/v2/app/manifests/1", string(raw), func(r *http.Request) {
		admin(r)
		r.Header.Set("Content-Type", string(mt))
	})
	expect(t, r, 400, envelope(400, "Unable to upload a manifest to a remote repository."))

	if _, err := s.CacheImage(context.Background(), "docker-remote", "library/alpine", "3", img); err != nil {
		t.Fatal(err)
	}
	// Storage: the remote key is 404, its cache holds the items.
	expect(t, call(t, "GET", s.BaseURL()+"/api/storage/docker-remote", "", admin), 404, envelope(404, "Unable to find item"))
	r = call(t, "GET", s.BaseURL()+"/api/storage/docker-remote-cache/library/alpine/3/manifest.json", "", admin)
	if r.status != 200 || !strings.Contains(r.body, `"remoteUrl" : "https://registry-1.docker.io/library/alpine/3/manifest.json"`) {
		t.Fatalf("cache item: %d %s", r.status, r.body)
	}
	// Docker reads through the remote key resolve to the cache.
	r = call(t, "GET", s.BaseURL()+"/api/docker/docker-remote/v2/library/alpine/tags/list", "", admin)
	if r.status != 200 || !strings.Contains(r.body, `"3"`) {
		t.Fatalf("tags through remote: %d %s", r.status, r.body)
	}
	// A remote's catalog is empty (as against docker.io); its cache's is not.
	expect(t, call(t, "GET", s.BaseURL()+"/api/docker/docker-remote/v2/_catalog", "", admin), 200, "{\n  \"repositories\" : [ ]\n}")
	expect(t, call(t, "GET", s.BaseURL()+"/api/docker/docker-remote-cache/v2/_catalog", "", admin), 200, "{\n  \"repositories\" : [ \"library/alpine\" ]\n}")
	res := aql(t, s, admin, `items.find({"repo":"docker-remote-cache","name":"manifest.json"}).include("repo","path","name")`)
	if len(res.Results) != 1 {
		t.Fatalf("aql on cache: %v", paths(res))
	}
}

func TestVirtualRepositoryReads(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "dev-local"})
	s.AddRepository(Repository{Key: "prod-local"})
	s.AddRepository(Repository{Key: "docker", Class: "virtual", Members: []string{"prod-local", "dev-local"}, DefaultDeploymentRepo: "dev-local"})
	ctx := context.Background()
	prod, err := s.PushImage(ctx, "prod-local", "app", "1", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushImage(ctx, "dev-local", "app", "1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	// Pushing through the virtual lands in its default deployment repository.
	if _, err := s.PushImage(ctx, "docker", "tool", "2", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	res := aql(t, s, admin, `items.find({"repo":"dev-local","path":"tool/2","name":"manifest.json"}).include("repo","path","name")`)
	if len(res.Results) != 1 {
		t.Fatalf("push via virtual: %v", paths(res))
	}
	s.AddUser(User{Name: "dev", Password: "pw"})
	s.Grant("dev", "dev-local")
	api := s.BaseURL() + "/api/docker/docker/v2"
	// Resolution order: prod-local first for admin; the dev user only reads dev-local.
	r := call(t, "HEAD", api+"/app/manifests/1", "", admin)
	if r.header.Get("Docker-Content-Digest") != prod {
		t.Fatalf("virtual resolution: %v", r.header)
	}
	r = call(t, "HEAD", api+"/app/manifests/1", "", basic("dev", "pw"))
	if r.status != 200 || r.header.Get("Docker-Content-Digest") == prod {
		t.Fatalf("dev through virtual: %d %v", r.status, r.header)
	}
	expect(t, call(t, "GET", api+"/_catalog", "", basic("dev", "pw")), 200, "{\n  \"repositories\" : [ \"app\", \"tool\" ]\n}")
	// Storage through the virtual; a miss is a bare 404.
	if r := call(t, "GET", s.BaseURL()+"/api/storage/docker/app/1/manifest.json", "", admin); r.status != 200 || !strings.Contains(r.body, `"repo" : "docker"`) {
		t.Fatalf("storage via virtual: %d %s", r.status, r.body)
	}
	expect(t, call(t, "GET", s.BaseURL()+"/api/storage/docker/nothing", "", admin), 404, "")
	expect(t, call(t, "GET", s.BaseURL()+"/api/storage/docker?lastModified", "", admin), 400,
		envelope(400, "This method can only be invoked on local/cached repositories."))
}

// An image built from layers (not random) pulls identically.
func TestPushImageRoundTripConfig(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	layer, _ := random.Layer(64, types.DockerLayer)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.Config(img, v1.Config{Labels: map[string]string{"org.opencontainers.image.revision": "abc"}})
	if _, err := s.PushImage(context.Background(), "docker-local", "labelled", "1", img); err != nil {
		t.Fatal(err)
	}
	got, err := pullAll(t, mustRef(t, s.RegistryHost()+"/docker-local/labelled:1"), remote.WithAuth(&authn.Basic{Username: AdminName, Password: AdminPassword}))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := got.ConfigFile()
	if cf.Config.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Fatalf("labels %v", cf.Config.Labels)
	}
}

func TestPushThroughAPIPathWithBasic(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	api := s.BaseURL() + "/api/docker/docker-local/v2/app"
	blob := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	h, _, _ := v1.SHA256(strings.NewReader(string(blob)))

	r := call(t, "POST", api+"/blobs/uploads/", "", admin)
	loc := r.header.Get("Location")
	if r.status != 202 || !strings.HasPrefix(loc, "/artifactory/api/docker/docker-local/v2/app/blobs/uploads/") {
		t.Fatalf("start upload: %d %q", r.status, loc)
	}
	r = call(t, "PUT", s.URL()+loc+"?digest="+h.String(), string(blob), admin)
	if r.status != 201 {
		t.Fatalf("finish upload: %d %s", r.status, r.body)
	}
	if r := call(t, "HEAD", api+"/blobs/"+h.String(), "", admin); r.status != 200 {
		t.Fatalf("HEAD uploaded blob: %d", r.status)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":%q},"layers":[]}`, len(blob), h)
	md, _, _ := v1.SHA256(strings.NewReader(manifest))
	withType := func(r *http.Request) {
		admin(r)
		r.Header.Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
	}
	r = call(t, "PUT", api+"/manifests/"+"sha256:"+strings.Repeat("1", 64), manifest, withType)
	if r.status != 400 || !strings.Contains(r.body, "DIGEST_INVALID") {
		t.Fatalf("wrong digest: %d %s", r.status, r.body)
	}
	r = call(t, "PUT", api+"/manifests/v1", manifest, withType)
	if r.status != 201 || r.header.Get("Docker-Content-Digest") != md.String() ||
		r.header.Get("Location") != "/artifactory/api/docker/docker-local/v2/app/manifests/"+md.String() {
		t.Fatalf("manifest PUT: %d %v", r.status, r.header)
	}
	r = call(t, "GET", s.BaseURL()+"/api/storage/docker-local/app/v1?list", "", admin)
	if !strings.Contains(r.body, `"/manifest.json"`) || !strings.Contains(r.body, `"/sha256__`+h.Hex+`"`) {
		t.Fatalf("storage after API-path push: %s", r.body)
	}
	// Registry-wide catalog does not exist on the repository-path method.
	if r := call(t, "GET", s.URL()+"/v2/_catalog", "", admin); r.status != 404 {
		t.Fatalf("/v2/_catalog: %d", r.status)
	}
	// Docker tokens are for V2 routes only.
	var tok struct{ Token string }
	_ = json.Unmarshal([]byte(call(t, "GET", s.URL()+"/v2/token", "", admin).body), &tok)
	expect(t, call(t, "GET", s.BaseURL()+"/api/system/version", "", bearer(tok.Token)), 401, envelope(401, "Bad credentials"))
}

func TestManifestDeleteByDigest(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	digest, err := s.PushImage(context.Background(), "docker-local", "app", "1", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	api := s.BaseURL() + "/api/docker/docker-local/v2/app/manifests/"
	s.AddUser(User{Name: "dev", Password: "pw"})
	s.Grant("dev", "docker-local")
	if r := call(t, "DELETE", api+digest, "", basic("dev", "pw")); r.status != 403 {
		t.Fatalf("non-admin delete: %d", r.status)
	}
	if r := call(t, "DELETE", api+digest, "", admin); r.status != 202 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", s.BaseURL()+"/api/storage/docker-local/app/1", "", admin); r.status != 404 {
		t.Fatalf("tag folder after delete: %d", r.status)
	}
	if r := call(t, "HEAD", api+"1", "", admin); r.status != 404 {
		t.Fatalf("tag after delete: %d", r.status)
	}
}
