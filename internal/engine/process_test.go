package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/analyze"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// These tests run the real imagewatch-engine binary as a child process, so a
// kill -9 really kills it.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	// The first analyzer of a process bridges syft's and ggcr's process-global
	// loggers; do it before parallel tests push images with ggcr (a data race
	// otherwise, harmless in the engine where it happens once at startup).
	if a, err := analyze.New(analyze.WithLogger(testLogger(nil))); err == nil {
		_ = a.Close()
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// engineBinary builds cmd/imagewatch-engine once per test binary.
func engineBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "imagewatch-engine-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "imagewatch-engine")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/imagewatch/terraform-provider-imagewatch/cmd/imagewatch-engine")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + out.String())
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// writeConfigFile writes the fixture's configuration as the CLI reads it.
func (f *fixture) writeConfigFile(t *testing.T) string {
	t.Helper()
	ic := f.cfg.Integrations[0]
	doc := map[string]any{
		"agent_id": "test-agent",
		"artifactory": []map[string]any{{
			"name": ic.Name, "base_url": ic.BaseURL, "username": ic.Username, "password": ic.Secret,
			"repositories": ic.Repositories,
		}},
		"state":         f.cfg.State,
		"outputs":       []map[string]any{{"type": "directory", "path": f.cfg.Outputs[0].Path}},
		"workers":       f.cfg.Workers,
		"poll_interval": "1s",
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfg.Path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f.cfg.Path
}

func (f *fixture) startEngine(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(engineBinary(t), args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "IMAGEWATCH_LOG_LEVEL=info")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &logs
}

// waitForResult waits until at least one metadata.json is delivered.
func (f *fixture) waitForResult(t *testing.T, cmd *exec.Cmd, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		m, _ := filepath.Glob(filepath.Join(f.dir, "results", "sha256", "*", "metadata.json"))
		if len(m) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no result delivered in time; engine output:\n%s", logs.String())
}

// slowRegistry adds latency to every registry request so a run lasts long
// enough to be interrupted in the middle.
func slowRegistry(srv *artifactorytest.Server) {
	srv.SetFault(artifactorytest.Fault{Path: "/v2/", Latency: 150 * time.Millisecond})
}

// TestKill9MidBackfillLosesNothing: the engine is killed with SIGKILL in the
// middle of a backfill; a restart of the same command ends with every image
// analysed and delivered.
func TestKill9MidBackfillLosesNothing(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	from := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	want := []string{
		f.push("docker-local", "debian", "12", imgs.base),
		f.push("docker-local", "goapp", "1.0", imgs.goApp),
		f.push("docker-local", "webapp", "1.0", imgs.nodeApp),
		f.push("docker-local", "ledger", "1.0", imgs.javaApp),
	}
	f.push("docker-prod", "ledger", "1.0", imgs.javaApp)
	slowRegistry(f.srv)
	cfgPath := f.writeConfigFile(t)
	args := []string{"run", "--config", cfgPath, "--backfill-from", from}

	cmd, logs := f.startEngine(t, args...)
	f.waitForResult(t, cmd, logs)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, err := store.Open(context.Background(), f.cfg.State)
	if err != nil {
		t.Fatalf("store after kill -9: %v", err)
	}
	st := statuses(t, s)
	notDone := 0
	for _, d := range want {
		if st[d].Status != store.StatusDone {
			notDone++
		}
	}
	_ = s.Close()
	if notDone == 0 {
		t.Fatalf("the kill came after the backfill finished; engine output:\n%s", logs.String())
	}
	t.Logf("killed with %d of %d images left", notDone, len(want))

	cmd, logs = f.startEngine(t, args...)
	if err := waitExit(cmd, 3*time.Minute); err != nil {
		t.Fatalf("restarted backfill: %v; output:\n%s", err, logs.String())
	}
	s = f.openStore()
	st = statuses(t, s)
	for _, d := range want {
		if st[d].Status != store.StatusDone {
			t.Errorf("%s: status %q (error %q) after the restart, want done", d, st[d].Status, st[d].Error)
		}
		for _, file := range []string{"metadata.json", "sbom.cdx.json"} {
			if _, err := os.Stat(filepath.Join(f.resultDir(d), file)); err != nil {
				t.Errorf("%s: %s not delivered: %v", d, file, err)
			}
		}
	}
	checkDelivered(t, s, f)
}

// TestSIGTERMCheckpointsAndExits: SIGTERM in the middle of a backfill makes
// the engine exit 0 within 10 seconds, leaving nothing marked running.
func TestSIGTERMCheckpointsAndExits(t *testing.T) {
	t.Parallel()
	imgs := testImages(t)
	f := newFixture(t)
	from := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	f.push("docker-local", "debian", "12", imgs.base)
	f.push("docker-local", "goapp", "1.0", imgs.goApp)
	f.push("docker-local", "webapp", "1.0", imgs.nodeApp)
	f.push("docker-local", "ledger", "1.0", imgs.javaApp)
	slowRegistry(f.srv)
	cmd, logs := f.startEngine(t, "run", "--config", f.writeConfigFile(t), "--backfill-from", from)
	f.waitForResult(t, cmd, logs)

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := waitExit(cmd, 10*time.Second)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("after SIGTERM: %v (%s); output:\n%s", err, took, logs.String())
	}
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	counts, err := f.openStore().Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.StatusRunning] != 0 {
		t.Errorf("after SIGTERM the store has %d running analyses, want 0 (checkpointed as pending)", counts[store.StatusRunning])
	}
}

// TestBadConfigExits2NamingTheField runs the binary on an invalid configuration.
func TestBadConfigExits2NamingTheField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	body := `{"artifactory":[{"base_url":"https://acme.jfrog.io","username":"u","password":"p",
		"repositories":["docker-local"],"image_filters":[{"repository":"docker-local","tags":"^v[0-9"}]}]}`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(engineBinary(t), "run", "--config", p, "--once")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit = %v, want status 2; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "artifactory[0].image_filters[0].tags") {
		t.Errorf("stderr does not name the field artifactory[0].image_filters[0].tags:\n%s", stderr.String())
	}
}

// waitExit waits for cmd to exit 0 within d.
func waitExit(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("did not exit within " + d.String())
	}
}
