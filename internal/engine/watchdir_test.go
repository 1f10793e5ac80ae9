package engine

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

// syncBuffer is a log destination the test reads while the engine writes.
type syncBuffer struct{ logbuf.Buffer }

func (b *syncBuffer) count(substr string) int { return strings.Count(b.String(), substr) }

// logged builds an engine on f's configuration logging (Info and up) into the returned buffer.
func (f *fixture) logged(opts ...Option) (*Engine, *syncBuffer) {
	f.t.Helper()
	buf := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "engine-test", Level: hclog.Info, Output: buf})
	base := []Option{
		WithRetryPolicy(5, 20*time.Millisecond, 200*time.Millisecond),
		WithClientOptions(artifactory.WithRetry(4, 5*time.Millisecond, 50*time.Millisecond)),
	}
	e, err := New(context.Background(), f.cfg, logger, append(base, opts...)...)
	if err != nil {
		f.t.Fatalf("engine.New: %v", err)
	}
	f.t.Cleanup(func() { _ = e.Close() })
	return e, buf
}

// start runs e in watch mode; the returned func cancels it and checks Run
// returned nil promptly, with the integrations_dir watcher stopped.
func start(t *testing.T, e *Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx, RunOptions{}) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-ran:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// secondArtifactory is another double (its requests are counted apart) with
// docker-other readable by the test user.
func secondArtifactory(t *testing.T) *artifactorytest.Server {
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-other", Class: "local", PackageType: "docker"})
	srv.AddUser(artifactorytest.User{Name: testUser, Password: testPassword})
	srv.Grant(testUser, "docker-other")
	return srv
}

func fragmentJSON(name, url string, repos ...string) string {
	return fmt.Sprintf(`{"name":%q,"base_url":%q,"username":%q,"password":%q,"repositories":[%s]}`,
		name, url, testUser, testPassword, `"`+strings.Join(repos, `","`)+`"`)
}

// writeAtomic writes like Terraform: a temporary file, then a rename over the target.
func writeAtomic(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is filtered by the umask
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func hasIntegration(e *Engine, name string) bool {
	_, ok := e.integration(name)
	return ok
}

// TestWatchDirAddChangeRemove: with a poll interval of an hour, a fragment
// written into integrations_dir is polled within seconds; a Kubernetes-style
// ..data symlink swap changes it; removing it stops it at once and it is not
// polled again, while the other integration still is.
func TestWatchDirAddChangeRemove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := secondArtifactory(t)
	other.AddRepository(artifactorytest.Repository{Key: "docker-next", Class: "local", PackageType: "docker"})
	other.Grant(testUser, "docker-next")
	dir := t.TempDir()
	f.cfg.IntegrationsDir = dir
	e, logs := f.logged(WithPollInterval(time.Hour))
	start(t, e)
	waitFor(t, 30*time.Second, "the first poll", func() bool { return f.srv.Requests()["aql"] > 0 })
	if e.dirWatched == nil {
		t.Fatal("integrations_dir is not watched")
	}

	// 1. Added, written the way Terraform writes: polled without waiting for the hour.
	added := time.Now()
	writeAtomic(t, filepath.Join(dir, "other.json"), fragmentJSON("other", other.URL(), "docker-other"), 0o600)
	waitFor(t, 5*time.Second, "the new fragment to be polled", func() bool { return other.Requests()["aql"] > 0 })
	t.Logf("a new fragment was polled %s after it was written", time.Since(added).Round(time.Millisecond))
	if logs.count("integration added: integration=other") != 1 {
		t.Errorf("want one \"integration added\" line for other:\n%s", logs)
	}

	// 2. Changed through a Kubernetes Secret volume's ..data symlink swap: the new
	// settings apply and the changed integration is polled at once.
	k8s := t.TempDir()
	for i, repo := range []string{"docker-other", "docker-next"} {
		ts := filepath.Join(k8s, fmt.Sprintf("..2026_11_22_%d", i))
		if err := os.Mkdir(ts, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ts, "other.json"), []byte(fragmentJSON("other", other.URL(), repo)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "other.json")); err != nil {
		t.Fatal(err)
	}
	// Mount layout: dir/..data -> ..<ts>, dir/other.json -> ..data/other.json.
	if err := os.Symlink(filepath.Join(k8s, "..2026_11_22_0"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "other.json"), filepath.Join(dir, "other.json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the symlinked fragment loaded", func() bool {
		in, ok := e.integration("other")
		return ok && strings.Join(in.cfg.Repositories, ",") == "docker-other"
	})
	before := other.Requests()["aql"]
	if err := os.Symlink(filepath.Join(k8s, "..2026_11_22_1"), filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the ..data swap to change the integration", func() bool {
		in, ok := e.integration("other")
		return ok && strings.Join(in.cfg.Repositories, ",") == "docker-next"
	})
	waitFor(t, 5*time.Second, "the changed integration polled", func() bool { return other.Requests()["aql"] > before })
	if !strings.Contains(logs.String(), "integration changed; reloaded: integration=other") {
		t.Errorf("no \"integration changed\" line for other:\n%s", logs)
	}

	// 3. Removed: gone within seconds (no poll tick happens in this test), and a
	// poll asked for afterwards reaches the remaining integration only.
	removed := time.Now()
	if err := os.Remove(filepath.Join(dir, "other.json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the removed fragment to stop", func() bool { return !hasIntegration(e, "other") })
	t.Logf("a removed fragment stopped %s after its removal", time.Since(removed).Round(time.Millisecond))
	otherBefore, mainBefore := other.Requests(), f.srv.Requests()["aql"]
	e.Trigger("other")
	e.Trigger("test")
	waitFor(t, 5*time.Second, "the remaining integration polled", func() bool { return f.srv.Requests()["aql"] > mainBefore })
	time.Sleep(reloadDebounce + 200*time.Millisecond)
	if got := other.Requests(); total(got) != total(otherBefore) {
		t.Errorf("the removed integration's Artifactory was called again: %v -> %v", otherBefore, got)
	}
	if !strings.Contains(logs.String(), "integration removed; no longer polled, its results are kept: integration=other") {
		t.Errorf("no \"integration removed\" line for other:\n%s", logs)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestWatchDirProblemsLoggedOnce: a broken fragment is reported (naming its
// file) and skipped while the other integrations keep being polled; it and a
// group-readable fragment's warning are logged once, not at every poll; a
// different problem (a new mode) is logged again; fixing the fragment starts it.
func TestWatchDirProblemsLoggedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := secondArtifactory(t)
	dir := t.TempDir()
	f.cfg.IntegrationsDir = dir
	readable := filepath.Join(dir, "readable.json")
	writeAtomic(t, readable, fragmentJSON("readable", f.srv.URL(), "docker-prod"), 0o640)
	e, logs := f.logged(WithPollInterval(100 * time.Millisecond))
	start(t, e)
	const warned = "is accessible by group or others"

	broken := filepath.Join(dir, "broken.json")
	writeAtomic(t, broken, `{"name":"broken","base_url":`, 0o600)
	waitFor(t, 5*time.Second, "the broken fragment reported", func() bool {
		return strings.Contains(logs.String(), "cannot load from integrations_dir; what it names is skipped") && strings.Contains(logs.String(), broken)
	})
	// Several poll ticks (each re-reads integrations_dir) while both problems stay.
	polls := f.srv.Requests()["aql"]
	waitFor(t, 10*time.Second, "more polls of the healthy integrations", func() bool { return f.srv.Requests()["aql"] >= polls+10 })
	if n := logs.count(warned); n != 1 {
		t.Errorf("the group-readable warning was logged %d times over %d+ polls, want once:\n%s", n, 10, logs)
	}
	if n := logs.count("cannot load from integrations_dir; what it names is skipped"); n != 1 {
		t.Errorf("the broken fragment was reported %d times, want once:\n%s", n, logs)
	}
	if hasIntegration(e, "broken") {
		t.Error("the broken fragment was loaded")
	}
	for _, name := range []string{"test", "readable"} {
		if !hasIntegration(e, name) {
			t.Errorf("integration %s stopped because another fragment is broken", name)
		}
	}

	// A new mode is a new warning: logged again, once.
	if err := os.Chmod(readable, 0o644); err != nil {
		t.Fatal(err)
	}
	polls = f.srv.Requests()["aql"]
	waitFor(t, 10*time.Second, "more polls", func() bool { return f.srv.Requests()["aql"] >= polls+5 })
	if n := logs.count(warned); n != 2 {
		t.Errorf("after chmod 0644 the warning was logged %d times in all, want 2:\n%s", n, logs)
	}

	// Fixed: the integration starts and the fix is logged.
	writeAtomic(t, broken, fragmentJSON("broken", other.URL(), "docker-other"), 0o600)
	waitFor(t, 5*time.Second, "the fixed fragment polled", func() bool { return other.Requests()["aql"] > 0 })
	waitFor(t, 5*time.Second, "the fix logged", func() bool {
		return strings.Contains(logs.String(), "every fragment loads again")
	})
}

// TestWatchDirUnwatchable: an integrations_dir that cannot be watched (here:
// missing at start) is warned about once; it is then re-read every poll
// interval, so a fragment put there later is still picked up; Run stops cleanly.
func TestWatchDirUnwatchable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := secondArtifactory(t)
	dir := filepath.Join(t.TempDir(), "integrations.d")
	f.cfg.IntegrationsDir = dir
	e, logs := f.logged(WithPollInterval(100 * time.Millisecond))
	stop := start(t, e)
	polls := f.srv.Requests()["aql"]
	waitFor(t, 10*time.Second, "several polls", func() bool { return f.srv.Requests()["aql"] >= polls+5 })
	if n := logs.count("cannot watch integrations_dir"); n != 1 {
		t.Errorf("the watcher failure was logged %d times, want once:\n%s", n, logs)
	}
	if n := logs.count("cannot read integrations_dir"); n != 1 {
		t.Errorf("the missing directory was reported %d times over several polls, want once:\n%s", n, logs)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, filepath.Join(dir, "other.json"), fragmentJSON("other", other.URL(), "docker-other"), 0o600)
	waitFor(t, 5*time.Second, "the fragment picked up by the per-poll re-read", func() bool { return other.Requests()["aql"] > 0 })
	stop()
	if e.dirWatched != nil {
		t.Error("a watcher is recorded although the directory could not be watched")
	}
}

// TestWatchDirStopsWithRun: the watcher goroutine and fsnotify's own end with
// Run.
func TestWatchDirStopsWithRun(t *testing.T) {
	// Not parallel: it reads every goroutine's stack.
	f := newFixture(t)
	f.cfg.IntegrationsDir = t.TempDir()
	e, _ := f.logged(WithPollInterval(time.Hour))
	stop := start(t, e)
	waitFor(t, 30*time.Second, "the first poll", func() bool { return f.srv.Requests()["aql"] > 0 })
	writeAtomic(t, filepath.Join(f.cfg.IntegrationsDir, "x.json"), fragmentJSON("x", f.srv.URL(), "docker-prod"), 0o600)
	waitFor(t, 5*time.Second, "the fragment loaded", func() bool { return hasIntegration(e, "x") })
	stop()
	select {
	case <-e.dirWatched:
	default:
		t.Fatal("the integrations_dir watcher is still running after Run returned")
	}
	if stacks := goroutineStacks(); strings.Contains(stacks, "runDirWatch") || strings.Contains(stacks, "fsnotify") {
		t.Errorf("watcher goroutines left after Run returned:\n%s", stacks)
	}
}

func goroutineStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestWatchDirRemovalCancelsPoll: removing a fragment cancels its poll in
// flight (here stuck on a slow Artifactory), so the other integrations' polls,
// which never overlap with it, are not held up.
func TestWatchDirRemovalCancelsPoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	slow := secondArtifactory(t)
	slow.SetFault(artifactorytest.Fault{Path: "/api/search/aql", Latency: time.Minute})
	dir := t.TempDir()
	f.cfg.IntegrationsDir = dir
	e, _ := f.logged(WithPollInterval(time.Hour))
	start(t, e)
	waitFor(t, 30*time.Second, "the first poll", func() bool { return f.srv.Requests()["aql"] > 0 })
	frag := filepath.Join(dir, "slow.json")
	writeAtomic(t, frag, fragmentJSON("slow", slow.URL(), "docker-other"), 0o600)
	waitFor(t, 5*time.Second, "the new fragment's poll to hang on AQL", func() bool { return slow.Requests()["aql"] > 0 })
	if err := os.Remove(frag); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the removed fragment to stop", func() bool { return !hasIntegration(e, "slow") })
	before := f.srv.Requests()["aql"]
	e.Trigger("test")
	waitFor(t, 5*time.Second, "a poll of the remaining integration", func() bool { return f.srv.Requests()["aql"] > before })
}

// TestReloadRemovalBesideBrokenFragment: a broken fragment keeps its
// integration's previous configuration, but does not hold back the removal of
// another fragment; nor does one that was broken from the start.
func TestReloadRemovalBesideBrokenFragment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	f.cfg.IntegrationsDir = dir
	write := func(file, body string) {
		t.Helper()
		writeAtomic(t, filepath.Join(dir, file), body, 0o600)
	}
	remove := func(file string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, file)); err != nil {
			t.Fatal(err)
		}
	}
	names := func(e *Engine) string {
		var out []string
		for _, in := range e.activeIntegrations() {
			out = append(out, in.name+":"+strings.Join(in.cfg.Repositories, ","))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	write("a.json", fragmentJSON("frag-a", f.srv.URL(), "docker-local"))
	write("b.json", fragmentJSON("frag-b", f.srv.URL(), "docker-prod"))
	write("c.json", `{"name":"frag-c",`) // broken from the start
	e, logs := f.logged()
	if got, want := names(e), "frag-a:docker-local frag-b:docker-prod test:docker-local,docker-prod"; got != want {
		t.Fatalf("at start: %s, want %s", got, want)
	}
	write("b.json", `{"name":"frag-b","base_url":`)
	e.reloadIntegrations()
	if got, want := names(e), "frag-a:docker-local frag-b:docker-prod test:docker-local,docker-prod"; got != want {
		t.Fatalf("after breaking b.json: %s, want %s (frag-b kept as it was)", got, want)
	}
	remove("a.json")
	e.reloadIntegrations()
	if got, want := names(e), "frag-b:docker-prod test:docker-local,docker-prod"; got != want {
		t.Fatalf("after removing a.json beside broken b.json and c.json: %s, want %s", got, want)
	}
	remove("b.json")
	e.reloadIntegrations()
	if got, want := names(e), "test:docker-local,docker-prod"; got != want {
		t.Fatalf("after removing broken b.json: %s, want %s", got, want)
	}
	for _, n := range []string{"frag-a", "frag-b"} {
		if c := logs.count("integration removed; no longer polled, its results are kept: integration=" + n); c != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", n, c, logs)
		}
	}
}
