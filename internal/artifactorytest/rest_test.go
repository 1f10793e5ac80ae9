package artifactorytest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorEnvelopeAndCommonHeaders(t *testing.T) {
	s := NewTest(t, WithVersion("7.161.20"))
	r := call(t, "GET", s.BaseURL()+"/api/system/version", "", nil)
	expect(t, r, 401, envelope(401, "Authentication is required"))
	if ct := r.header.Get("Content-Type"); ct != "application/json;charset=ISO-8859-1" {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="Artifactory Realm"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if got := r.header.Get("X-JFrog-Version"); got != "Artifactory/7.161.20 716120900" {
		t.Errorf("X-JFrog-Version = %q", got)
	}
	if r.header.Get("X-Artifactory-Id") == "" {
		t.Error("missing X-Artifactory-Id")
	}
	r = call(t, "GET", s.BaseURL()+"/api/system/version", "", basic("admin", "wrong"))
	expect(t, r, 401, envelope(401, "Bad credentials"))

	r = call(t, "GET", s.BaseURL()+"/api/system/version", "", admin)
	var v struct {
		Version, Revision, License string
		Addons                     []string
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &v) != nil {
		t.Fatalf("version: %d %s", r.status, r.body)
	}
	if v.Version != "7.161.20" || v.Revision != "716120900" || len(v.Addons) == 0 || v.License == "" {
		t.Fatalf("version body %+v", v)
	}
}

func TestPing(t *testing.T) {
	s := NewTest(t)
	expect(t, call(t, "GET", s.BaseURL()+"/api/system/ping", "", nil), 200, "OK")
	expect(t, call(t, "GET", s.BaseURL()+"/api/system/ping", "", admin), 200, "OK")
	expect(t, call(t, "GET", s.BaseURL()+"/api/system/ping", "", basic("admin", "nope")), 401, envelope(401, "Bad credentials"))

	lenient := NewTest(t, WithPingValidatesCredentials(false))
	expect(t, call(t, "GET", lenient.BaseURL()+"/api/system/ping", "", basic("admin", "nope")), 200, "OK")
}

func TestCredentialCarriers(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s := NewTest(t, WithClock(clock.Now))
	const key = "AKCp8jQ8tXvxNtZKnsHn6vYXuRgWWwZ4f6pLxRzBq2a3Mnz1XoYtR9vPfGhJkL2mN4bV6cX8zA1sD3fG5hJ7kL9"
	s.AddUser(User{Name: "ci", Password: "pw", APIKey: key})
	tok := s.IssueToken("ci", time.Hour)
	if !strings.HasPrefix(tok, "eyJ2ZXIiOiIy") || strings.Count(tok, ".") != 2 {
		t.Fatalf("token not JWT-shaped: %s", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(claims.Sub, "jfrt@") || !strings.HasSuffix(claims.Sub, "/users/ci") || claims.Exp != clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("claims %+v", claims)
	}

	url := s.BaseURL() + "/api/system/version"
	for name, auth := range map[string]func(*http.Request){
		"basic password":                    basic("ci", "pw"),
		"basic api key":                     basic("ci", key),
		"X-JFrog-Art-Api":                   header("X-JFrog-Art-Api", key),
		"X-Api-Key":                         header("X-Api-Key", key),
		"bearer token":                      bearer(tok),
		"basic token":                       basic("ci", tok),
		"basic token case-insensitive user": basic("CI", tok),
	} {
		if r := call(t, "GET", url, "", auth); r.status != 200 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	expect(t, call(t, "GET", url, "", basic("admin", tok)), 401, envelope(401, "Token principal mismatch."))
	expect(t, call(t, "GET", url, "", header("X-JFrog-Art-Api", "AKCp8bogus")), 401, envelope(401, "Bad credentials"))
	expect(t, call(t, "GET", url, "", bearer("eyJ2ZXIiOiIyIn0.e30.bogus")), 401, envelope(401, "Bad credentials"))

	clock.Add(time.Hour)
	expect(t, call(t, "GET", url, "", bearer(tok)), 401, envelope(401, "Bad credentials"))

	fresh := s.IssueToken("ci", 0)
	if r := call(t, "GET", url, "", bearer(fresh)); r.status != 200 {
		t.Fatalf("non-expiring token: %d", r.status)
	}
	s.RevokeToken(fresh)
	expect(t, call(t, "GET", url, "", bearer(fresh)), 401, envelope(401, "Bad credentials"))

	// A token for a user that does not exist still authenticates (self-authenticating token).
	ghost := s.IssueToken("robot", time.Hour)
	if r := call(t, "GET", url, "", bearer(ghost)); r.status != 200 {
		t.Fatalf("token without user: %d", r.status)
	}
}

func TestAnonymousAccess(t *testing.T) {
	s := NewTest(t, WithAnonymousAccess(true))
	s.AddRepository(Repository{Key: "docker-local"})
	s.AddRepository(Repository{Key: "private"})
	s.Grant(AnonymousUser, "docker-local")
	if r := call(t, "GET", s.BaseURL()+"/api/system/version", "", nil); r.status != 200 {
		t.Fatalf("anonymous version: %d", r.status)
	}
	r := call(t, "GET", s.BaseURL()+"/api/repositories", "", nil)
	if !strings.Contains(r.body, `"docker-local"`) || strings.Contains(r.body, `"private"`) {
		t.Fatalf("anonymous repositories: %s", r.body)
	}
	expect(t, call(t, "POST", s.BaseURL()+"/api/search/aql", `items.find()`, nil), 403,
		"Only non-anonymous users are allowed to access AQL queries\n")
	expect(t, call(t, "GET", s.BaseURL()+"/api/storage/docker-local?list", "", nil), 403,
		envelope(403, "This resource is available to authenticated users only."))
	expect(t, call(t, "GET", s.BaseURL()+"/api/storage/private", "", nil), 403,
		envelope(403, "Request for 'private:' is forbidden for user: 'anonymous'."))
}

func TestRepositoriesList(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local", Description: "images"})
	s.AddRepository(Repository{Key: "generic-local", PackageType: "generic"})
	s.AddRepository(Repository{Key: "docker-remote", Class: "remote"})
	s.AddRepository(Repository{Key: "docker", Class: "virtual", Members: []string{"docker-local", "docker-remote"}})
	s.AddUser(User{Name: "dev", Password: "pw"})
	s.Grant("dev", "docker-local")

	type repo struct{ Key, Type, Description, URL, PackageType string }
	list := func(query string, auth func(*http.Request)) []repo {
		t.Helper()
		r := call(t, "GET", s.BaseURL()+"/api/repositories"+query, "", auth)
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", query, r.status, r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
		var out []repo
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
		return out
	}
	all := list("", admin)
	if len(all) != 4 || all[0] != (repo{"docker-local", "LOCAL", "images", s.BaseURL() + "/docker-local", "Docker"}) {
		t.Fatalf("all: %+v", all)
	}
	if all[1].Key != "generic-local" || all[1].PackageType != "Generic" || all[2].Type != "REMOTE" ||
		all[2].URL != "https://registry-1.docker.io/" || all[3].Type != "VIRTUAL" {
		t.Fatalf("all: %+v", all)
	}
	if got := list("?type=local&packageType=docker", admin); len(got) != 1 || got[0].Key != "docker-local" {
		t.Fatalf("filtered: %+v", got)
	}
	if got := list("?packageType=Docker", admin); len(got) != 3 {
		t.Fatalf("packageType is case-insensitive: %+v", got)
	}
	for _, q := range []string{"?type=bogus", "?packageType=bogus", "?project=nope"} {
		if r := call(t, "GET", s.BaseURL()+"/api/repositories"+q, "", admin); r.body != "[ ]" {
			t.Fatalf("%s: %q", q, r.body)
		}
	}
	// Only what the caller may read; the virtual is readable through its member.
	got := list("", basic("dev", "pw"))
	if len(got) != 2 || got[0].Key != "docker-local" || got[1].Key != "docker" {
		t.Fatalf("dev sees %+v", got)
	}
}

func TestRepositoryConfiguration(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	s.AddRepository(Repository{Key: "docker", Class: "virtual", Members: []string{"docker-local"}, DefaultDeploymentRepo: "docker-local"})
	s.AddUser(User{Name: "dev", Password: "pw"})

	r := call(t, "GET", s.BaseURL()+"/api/repositories/docker-local", "", admin)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(r.body), &cfg); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if cfg["rclass"] != "local" || cfg["packageType"] != "docker" || cfg["dockerApiVersion"] != "V2" || cfg["repoLayoutRef"] != "simple-default" {
		t.Fatalf("config %v", cfg)
	}
	r = call(t, "GET", s.BaseURL()+"/api/repositories/docker", "", admin)
	if !strings.Contains(r.body, `"repositories" : [ "docker-local" ]`) || !strings.Contains(r.body, `"rclass" : "virtual"`) {
		t.Fatalf("virtual config %s", r.body)
	}
	expect(t, call(t, "GET", s.BaseURL()+"/api/repositories/missing", "", admin), 404, envelope(404, "The repository missing was not found"))
	expect(t, call(t, "GET", s.BaseURL()+"/api/repositories/docker-local", "", basic("dev", "pw")), 403, envelope(403, "Forbidden"))

	legacy := NewTest(t, WithLegacyMissingRepoStatus())
	if r := call(t, "GET", legacy.BaseURL()+"/api/repositories/missing", "", admin); r.status != 400 {
		t.Fatalf("legacy missing repo: %d", r.status)
	}
}

func TestRequestCounters(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "docker-local"})
	call(t, "GET", s.BaseURL()+"/api/repositories", "", admin)
	call(t, "GET", s.BaseURL()+"/api/repositories/docker-local", "", admin)
	call(t, "GET", s.BaseURL()+"/api/repositories/missing", "", admin)
	call(t, "GET", s.BaseURL()+"/api/storage/docker-local", "", admin)
	call(t, "GET", s.URL()+"/v2/", "", nil)
	got := s.Requests()
	if got["repositories"] != 3 || got["repository"] != 2 || got["storage"] != 1 || got["docker.ping"] != 1 {
		t.Fatalf("counters %v", got)
	}
}

func TestReferenceToken(t *testing.T) {
	s := NewTest(t)
	s.AddUser(User{Name: "ci", Password: "pw"})
	ref := s.IssueReferenceToken("ci", time.Hour)
	if len(ref) != 64 || !strings.HasPrefix(ref, "cmVmd") {
		t.Fatalf("reference token %q", ref)
	}
	url := s.BaseURL() + "/api/system/version"
	for _, auth := range []func(*http.Request){bearer(ref), header("X-JFrog-Art-Api", ref), basic("ci", ref)} {
		if r := call(t, "GET", url, "", auth); r.status != 200 {
			t.Fatalf("reference token: %d %s", r.status, r.body)
		}
	}
	expect(t, call(t, "GET", url, "", basic("admin", ref)), 401, envelope(401, "Token principal mismatch."))
}

func TestLoginLockout(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s := NewTest(t, WithClock(clock.Now), WithLoginLockout(3, 15*time.Second))
	url := s.BaseURL() + "/api/system/version"
	for i := 0; i < 3; i++ {
		expect(t, call(t, "GET", url, "", basic("admin", "wrong")), 401, envelope(401, "Bad credentials"))
	}
	blocked := envelope(403, "This request is blocked due to recurrent request failures, please try again in 15 second(s)")
	expect(t, call(t, "GET", url, "", basic("admin", "password")), 403, blocked)
	// Other clients are not blocked.
	s.AddUser(User{Name: "other", Password: "pw"})
	if r := call(t, "GET", url, "", basic("other", "pw")); r.status != 200 {
		t.Fatalf("other user: %d", r.status)
	}
	clock.Add(16 * time.Second)
	if r := call(t, "GET", url, "", admin); r.status != 200 {
		t.Fatalf("after the block: %d", r.status)
	}
}
