package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

const (
	testUser     = "ci-bot"
	testPassword = "pa55-Word!"
)

// images are the fixtures, built once per test binary (building the Go binary is the slow part).
type images struct {
	base, goApp, nodeApp, javaApp v1.Image
}

var (
	fixturesOnce sync.Once
	fixtures     images
	fixturesErr  error
)

func testImages(t testing.TB) images {
	t.Helper()
	fixturesOnce.Do(func() {
		var f images
		if f.base, fixturesErr = testimages.DebianBase(); fixturesErr != nil {
			return
		}
		if f.goApp, fixturesErr = testimages.GoApp(f.base, "goapp"); fixturesErr != nil {
			return
		}
		if f.nodeApp, fixturesErr = testimages.NodeApp(f.base, "webapp"); fixturesErr != nil {
			return
		}
		if f.javaApp, fixturesErr = testimages.JavaApp(f.base, "ledger"); fixturesErr != nil {
			return
		}
		fixtures = f
	})
	if fixturesErr != nil {
		t.Fatalf("build fixtures: %v", fixturesErr)
	}
	return fixtures
}

// clock is a settable offset on the real clock, shared by the double and tests.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time                 { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) set(d time.Duration)            { c.offset.Store(int64(d)) }
func (c *clock) advance(d time.Duration)        { c.offset.Add(int64(d)) }
func (c *clock) option() artifactorytest.Option { return artifactorytest.WithClock(c.now) }

type fixture struct {
	t   *testing.T
	srv *artifactorytest.Server
	dir string
	cfg *config.Config
}

// newFixture starts a double with docker-local and docker-prod readable by a
// user, and an engine configuration (directory output) pointing at it.
func newFixture(t *testing.T, opts ...artifactorytest.Option) *fixture {
	t.Helper()
	srv := artifactorytest.NewTest(t, opts...)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local", Class: "local", PackageType: "docker"})
	srv.AddRepository(artifactorytest.Repository{Key: "docker-prod", Class: "local", PackageType: "docker"})
	srv.AddUser(artifactorytest.User{Name: testUser, Password: testPassword})
	srv.Grant(testUser, "docker-local")
	srv.Grant(testUser, "docker-prod")
	dir := t.TempDir()
	cfg := &config.Config{
		Path:    filepath.Join(dir, "config.json"),
		AgentID: "test-agent",
		Integrations: []config.Integration{{
			Name:         "test",
			BaseURL:      srv.URL(),
			Username:     testUser,
			Secret:       testPassword,
			Repositories: []string{"docker-local", "docker-prod"},
		}},
		State:        filepath.Join(dir, "state", "imagewatch.db"),
		Outputs:      []config.Output{{Type: config.OutputDirectory, Path: filepath.Join(dir, "results")}},
		SBOMFormats:  []string{"cyclonedx-json"},
		PollInterval: time.Second,
		Workers:      2,
	}
	return &fixture{t: t, srv: srv, dir: dir, cfg: cfg}
}

// engine builds an Engine on the fixture's configuration with fast retries.
func (f *fixture) engine(opts ...Option) *Engine {
	f.t.Helper()
	base := []Option{
		WithRetryPolicy(5, 20*time.Millisecond, 200*time.Millisecond),
		WithClientOptions(artifactory.WithRetry(4, 5*time.Millisecond, 50*time.Millisecond)),
		WithProgressInterval(200 * time.Millisecond),
	}
	e, err := New(context.Background(), f.cfg, testLogger(f.t), append(base, opts...)...)
	if err != nil {
		f.t.Fatalf("engine.New: %v", err)
	}
	f.t.Cleanup(func() { _ = e.Close() })
	return e
}

// run runs a fresh engine with ro and fails the test on error.
func (f *fixture) run(ro RunOptions, opts ...Option) *Engine {
	f.t.Helper()
	e := f.engine(opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := e.Run(ctx, ro); err != nil {
		f.t.Fatalf("Run(%+v): %v", ro, err)
	}
	return e
}

func (f *fixture) push(repo, image, tag string, img v1.Image) string {
	f.t.Helper()
	d, err := f.srv.PushImage(context.Background(), repo, image, tag, img)
	if err != nil {
		f.t.Fatalf("push %s/%s:%s: %v", repo, image, tag, err)
	}
	return d
}

func (f *fixture) pushIndex(repo, image, tag string, idx v1.ImageIndex) string {
	f.t.Helper()
	d, err := f.srv.PushIndex(context.Background(), repo, image, tag, idx)
	if err != nil {
		f.t.Fatalf("push index %s/%s:%s: %v", repo, image, tag, err)
	}
	return d
}

// openStore opens the fixture's store after the engine closed it.
func (f *fixture) openStore() *store.Store {
	f.t.Helper()
	s, err := store.Open(context.Background(), f.cfg.State)
	if err != nil {
		f.t.Fatalf("open store: %v", err)
	}
	f.t.Cleanup(func() { _ = s.Close() })
	return s
}

func (f *fixture) resultDir(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(f.dir, "results", algo, hex)
}

// metadata reads the delivered metadata.json of digest.
func (f *fixture) metadata(digest string) map[string]any {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.resultDir(digest), "metadata.json"))
	if err != nil {
		f.t.Fatalf("metadata of %s: %v", digest, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		f.t.Fatalf("metadata of %s: %v", digest, err)
	}
	return m
}

// sbomPackages reads the delivered CycloneDX SBOM of digest: "type:name@version" set.
func (f *fixture) sbomPackages(digest string) map[string]bool {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.resultDir(digest), "sbom.cdx.json"))
	if err != nil {
		f.t.Fatalf("sbom of %s: %v", digest, err)
	}
	var doc struct {
		Components []struct {
			Name       string `json:"name"`
			Version    string `json:"version"`
			Properties []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"properties"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		f.t.Fatalf("sbom of %s: %v", digest, err)
	}
	out := map[string]bool{}
	for _, c := range doc.Components {
		typ := ""
		for _, p := range c.Properties {
			if p.Name == "syft:package:type" {
				typ = p.Value
			}
		}
		out[typ+":"+c.Name+"@"+c.Version] = true
	}
	return out
}

func (f *fixture) expectPackages(digest string, want ...[]testimages.Expect) {
	f.t.Helper()
	got := f.sbomPackages(digest)
	for _, list := range want {
		for _, e := range list {
			if !got[e.String()] {
				f.t.Errorf("SBOM of %s lacks %s (has %d packages)", digest, e, len(got))
			}
		}
	}
}

// statuses maps digest -> status of every analysis in the store.
func statuses(t *testing.T, s *store.Store) map[string]store.Analysis {
	t.Helper()
	as, err := s.List(context.Background(), store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Analysis{}
	for _, a := range as {
		out[a.Digest] = a
	}
	return out
}

func digestOf(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// testLogger writes to stderr, not t.Log: syft's and ggcr's loggers are bridged
// process-wide into the first analyzer's logger and may outlive a test.
func testLogger(testing.TB) hclog.Logger {
	level := hclog.Warn
	if v := os.Getenv("IMAGEWATCH_TEST_LOG"); v != "" {
		level = hclog.LevelFromString(v)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "engine-test", Level: level, Output: os.Stderr})
}
