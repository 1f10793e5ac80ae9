package artifactory_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

const (
	bob       = "bob"
	bobPass   = "bob-password-1"
	bobAPIKey = "AKCp8bobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbob"
)

// fixture is a double with a user bob, repositories of several kinds and some images.
type fixture struct {
	srv *artifactorytest.Server
}

func newFixture(t *testing.T, opts ...artifactorytest.Option) *fixture {
	t.Helper()
	srv := artifactorytest.NewTest(t, opts...)
	srv.AddUser(artifactorytest.User{Name: bob, Password: bobPass, APIKey: bobAPIKey})
	for _, r := range []artifactorytest.Repository{
		{Key: "docker-local", Class: "local", PackageType: "docker"},
		{Key: "docker-prod", Class: "local", PackageType: "docker"},
		{Key: "docker-remote", Class: "remote", PackageType: "docker"},
		{Key: "docker-virtual", Class: "virtual", PackageType: "docker", Members: []string{"docker-prod"}},
		{Key: "generic-local", Class: "local", PackageType: "generic"},
		{Key: "secret-local", Class: "local", PackageType: "docker"},
	} {
		srv.AddRepository(r)
	}
	for _, k := range []string{"docker-local", "docker-prod", "docker-remote", "docker-virtual", "generic-local"} {
		srv.Grant(bob, k)
	}
	return &fixture{srv: srv}
}

func (f *fixture) client(t *testing.T, creds artifactory.Credentials, opts ...artifactory.Option) *artifactory.Client {
	t.Helper()
	c, err := artifactory.New(f.srv.URL(), append([]artifactory.Option{
		artifactory.WithCredentials(creds),
		artifactory.WithRetry(3, 10*time.Millisecond, 50*time.Millisecond),
		artifactory.WithTimeout(5 * time.Second),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomImage(t *testing.T, seed int) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A distinct config per seed keeps digests distinct.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"seed": fmt.Sprint(seed)}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (f *fixture) push(t *testing.T, key, image, tag string, seed int) string {
	t.Helper()
	d, err := f.srv.PushImage(context.Background(), key, image, tag, randomImage(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var keys = []string{"docker-local", "missing-repo", "generic-local", "secret-local", "docker-remote", "docker-virtual"}

func statuses(r *artifactory.ConnectionReport) string {
	var s []string
	for _, c := range r.Repositories {
		s = append(s, c.Key+"="+c.Status)
	}
	return strings.Join(s, " ")
}

func TestConnectionEveryAuthMode(t *testing.T) {
	f := newFixture(t)
	token := f.srv.IssueToken(bob, time.Hour)
	modes := []struct {
		name  string
		creds artifactory.Credentials
		mode  artifactory.AuthMode
	}{
		{"bearer token", artifactory.Credentials{Secret: token}, artifactory.AuthBearer},
		{"basic password", artifactory.Credentials{Username: bob, Secret: bobPass}, artifactory.AuthBasic},
		{"basic token", artifactory.Credentials{Username: bob, Secret: token}, artifactory.AuthBasic},
		{"basic api key", artifactory.Credentials{Username: bob, Secret: bobAPIKey}, artifactory.AuthBasic},
		{"api key header", artifactory.Credentials{Secret: bobAPIKey}, artifactory.AuthAPIKey},
	}
	want := "docker-local=ok missing-repo=not_found generic-local=not_docker secret-local=no_read_permission docker-remote=ok docker-virtual=ok"
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if m.creds.Mode() != m.mode {
				t.Fatalf("mode %v, want %v", m.creds.Mode(), m.mode)
			}
			c := f.client(t, m.creds)
			rep, err := c.TestConnection(context.Background(), keys)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.AuthOK || rep.Version.Version != "7.77.5" {
				t.Fatalf("auth %v version %q: %v", rep.AuthOK, rep.Version.Version, rep.AuthError)
			}
			if got := statuses(rep); got != want {
				t.Errorf("statuses:\n got %s\nwant %s", got, want)
			}
			for _, chk := range rep.Failed() {
				if chk.Reason == "" || !strings.Contains(chk.Reason, chk.Key) {
					t.Errorf("%s: reason must name the key: %q", chk.Key, chk.Reason)
				}
				if strings.Contains(chk.Reason, m.creds.Secret) {
					t.Errorf("secret in reason")
				}
			}
			byKey := map[string]artifactory.RepositoryCheck{}
			for _, chk := range rep.Repositories {
				byKey[chk.Key] = chk
			}
			if r := byKey["generic-local"]; !strings.Contains(r.Reason, "generic") || !strings.Contains(r.Reason, "not Docker") {
				t.Errorf("not_docker reason: %q", r.Reason)
			}
			if r := byKey["secret-local"]; !strings.Contains(r.Reason, "READ") || (m.mode != artifactory.AuthAPIKey && !strings.Contains(r.Reason, `"bob"`)) {
				t.Errorf("no read reason should name the user and READ: %q", r.Reason)
			}
			if r := byKey["docker-remote"]; r.Repository.Class != "remote" || !r.Repository.IsDocker() {
				t.Errorf("repository details: %+v", r.Repository)
			}
		})
	}
}

func TestConnectionCredentialFailures(t *testing.T) {
	var clock atomic.Pointer[time.Time]
	past := time.Now().Add(-2 * time.Hour)
	clock.Store(&past)
	f := newFixture(t, artifactorytest.WithClock(func() time.Time { return *clock.Load() }))
	expired := f.srv.IssueToken(bob, time.Hour) // expired an hour ago once the clock is back to now
	now := time.Now()
	clock.Store(&now)
	revoked := f.srv.IssueToken(bob, time.Hour)
	f.srv.RevokeToken(revoked)
	tests := []struct {
		name  string
		creds artifactory.Credentials
		hint  string
	}{
		{"expired token", artifactory.Credentials{Secret: expired}, "the access token has expired"},
		{"revoked token", artifactory.Credentials{Secret: revoked}, "access token was rejected"},
		{"wrong password", artifactory.Credentials{Username: bob, Secret: "nope"}, `for user "bob" was rejected`},
		{"unknown legacy key without username", artifactory.Credentials{Secret: "AKCp8" + strings.Repeat("z", 70)}, "a legacy API key needs a username"},
		{"no credentials", artifactory.Credentials{}, "does not allow anonymous access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := f.client(t, tt.creds).TestConnection(context.Background(), []string{"docker-local", "docker-prod"})
			if err != nil {
				t.Fatal(err)
			}
			if rep.AuthOK || !artifactory.IsUnauthorized(rep.AuthError) {
				t.Fatalf("AuthOK %v AuthError %v", rep.AuthOK, rep.AuthError)
			}
			if !strings.Contains(rep.Hint, tt.hint) {
				t.Errorf("hint %q does not contain %q", rep.Hint, tt.hint)
			}
			if tt.creds.Secret != "" && (strings.Contains(rep.Hint, tt.creds.Secret) || strings.Contains(rep.AuthError.Error(), tt.creds.Secret)) {
				t.Error("secret leaked into hint or error")
			}
			if got := statuses(rep); got != "docker-local=unauthorized docker-prod=unauthorized" {
				t.Errorf("statuses %s", got)
			}
		})
	}
	// Only the credential check ran: one version request per test, no per-key requests.
	if n := f.srv.Requests()["repository"]; n != 0 {
		t.Errorf("%d repository requests after a failed credential check", n)
	}
}

func TestConnectionLegacyMissingRepoStatus(t *testing.T) {
	f := newFixture(t, artifactorytest.WithLegacyMissingRepoStatus())
	rep, err := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass}).TestConnection(context.Background(), []string{"nope", "docker-local"})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); got != "nope=not_found docker-local=ok" {
		t.Errorf("statuses %s", got)
	}
}

func TestConnectionInvalidKeyIsAnError(t *testing.T) {
	f := newFixture(t)
	_, err := f.client(t, artifactory.Credentials{}).TestConnection(context.Background(), []string{"ok", "docker local"})
	if err == nil || !strings.Contains(err.Error(), "repository_keys[1]") {
		t.Errorf("err = %v", err)
	}
	if n := f.srv.Requests()["version"]; n != 0 {
		t.Errorf("invalid input still called the server %d times", n)
	}
}

func TestConnectionServerHangs(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(artifactorytest.Fault{Hang: true})
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass}, artifactory.WithTimeout(400*time.Millisecond))
	start := time.Now()
	rep, err := c.TestConnection(context.Background(), []string{"docker-local"})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("took %v with a 400ms timeout", el)
	}
	if rep.AuthOK || rep.Repositories[0].Status != artifactory.StatusUnreachable {
		t.Fatalf("report %+v", rep)
	}
	for _, want := range []string{f.srv.URL() + "/artifactory", "400ms"} {
		if !strings.Contains(rep.Hint, want) || !strings.Contains(rep.Repositories[0].Reason, want) {
			t.Errorf("hint/reason should name %q: %q / %q", want, rep.Hint, rep.Repositories[0].Reason)
		}
	}
}

func TestConnectionUnreachable(t *testing.T) {
	c, err := artifactory.New("http://127.0.0.1:1", artifactory.WithRetry(1, time.Millisecond, 5*time.Millisecond), artifactory.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.TestConnection(context.Background(), []string{"docker-local"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repositories[0].Status != artifactory.StatusUnreachable || !artifactory.IsUnreachable(rep.AuthError) {
		t.Fatalf("%+v", rep)
	}
	if !strings.Contains(rep.Hint, "http://127.0.0.1:1/artifactory") || !strings.Contains(rep.Hint, "timeout 2s") {
		t.Errorf("hint should name the URL and the timeout: %q", rep.Hint)
	}
}

func TestRetryAfterFromDouble(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(artifactorytest.Fault{Path: "/api/system/version", Status: 429, RetryAfter: time.Second, Count: 2})
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	start := time.Now()
	v, err := c.Version(context.Background())
	if err != nil || v.Version == "" {
		t.Fatalf("%v %v", v, err)
	}
	if n := f.srv.Requests()["version"]; n != 3 {
		t.Errorf("version requests = %d, want 2 throttled + 1", n)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Retry-After 1s should be capped at maxWait 50ms: took %v", el)
	}

	// Throttled past the retry budget: the 429 comes back typed, with its Retry-After.
	f.srv.SetFault(artifactorytest.Fault{Path: "/api/system/version", Status: 429, RetryAfter: 2 * time.Second})
	_, err = c.Version(context.Background())
	var e *artifactory.Error
	if !asError(err, &e) || e.StatusCode != 429 || e.RetryAfter != 2*time.Second {
		t.Errorf("want 429 with RetryAfter 2s, got %v", err)
	}
}

func TestServerErrorsRetriedAgainstDouble(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(artifactorytest.Fault{Path: "/api/repositories/", Status: 503, Count: 2})
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	rep, err := c.TestConnection(context.Background(), []string{"docker-local"})
	if err != nil || rep.Repositories[0].Status != artifactory.StatusOK {
		t.Fatalf("%v %+v", err, rep)
	}
}
