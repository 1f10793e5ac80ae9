package main

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

// validate runs the real engine.Validate against the Artifactory double.
func TestValidateAgainstDouble(t *testing.T) {
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local"})
	srv.AddRepository(artifactorytest.Repository{Key: "generic-local", PackageType: "generic"})
	srv.AddUser(artifactorytest.User{Name: "watcher", Password: "watcher-pw-1"})
	srv.Grant("watcher", "docker-local")
	srv.Grant("watcher", "generic-local")
	t.Setenv("IW_TEST_WATCHER_PW", "watcher-pw-1")

	write := func(repos string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		body := fmt.Sprintf(`{"artifactory":[{"base_url":%q,"username":"watcher","password_env":"IW_TEST_WATCHER_PW","repositories":[%s]}]}`, srv.URL(), repos)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	code, stdout, stderr := runCLI(t, "validate", "--config", write(`"docker-local"`))
	t.Logf("report:\n%s", stdout)
	if code != exitOK || !strings.Contains(stdout, "docker-local") {
		t.Errorf("good config: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, "validate", "--config", write(`"docker-local","missing-repo","generic-local"`))
	if code != exitFailure {
		t.Errorf("failing repositories: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
	}
	for _, key := range []string{"missing-repo", "generic-local"} {
		if !strings.Contains(stdout, key) {
			t.Errorf("report does not name %s:\n%s", key, stdout)
		}
	}
	if strings.Contains(stdout+stderr, "watcher-pw-1") {
		t.Error("the password appears in the output")
	}
}

// run --once against the double: the real engine starts, finds nothing to do and exits 0.
func TestRunOnceAgainstDouble(t *testing.T) {
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local"})
	const user, pw = "runner", "runner-Pw-93e1"
	srv.AddUser(artifactorytest.User{Name: user, Password: pw})
	srv.Grant(user, "docker-local")
	t.Setenv("IW_TEST_RUNNER_PW", pw)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	body := fmt.Sprintf(`{"artifactory":[{"base_url":%q,"username":%q,"password_env":"IW_TEST_RUNNER_PW","repositories":["docker-local"]}],"log_format":"json","workers":1}`, srv.URL(), user)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "--config", cfg, "--once")
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("run writes logs to stderr only; stdout = %q", stdout)
	}
	if !strings.Contains(stderr, `"@message":"starting"`) {
		t.Errorf("logs are not JSON per log_format:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "imagewatch.db")); err != nil {
		t.Errorf("default state beside the config file: %v", err)
	}
	if strings.Contains(stderr, pw) {
		t.Error("the password appears in the logs")
	}
}

// SIGTERM in watch mode: run checkpoints and returns 0 well within 10 seconds.
func TestRunStopsOnSIGTERM(t *testing.T) {
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local"})
	name, pw := srv.AdminUser()
	t.Setenv("IW_TEST_SIG_PW", pw)
	cfg := filepath.Join(t.TempDir(), "config.json")
	body := fmt.Sprintf(`{"artifactory":[{"base_url":%q,"username":%q,"password_env":"IW_TEST_SIG_PW","repositories":["docker-local"]}],"poll_interval":"1s"}`, srv.URL(), name)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr logbuf.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"run", "--config", cfg}, &stdout, &stderr) }()
	// The handler is installed before the config is loaded, so once "starting" is logged
	// the signal goes to run and not to the default handler.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "starting") {
		if time.Now().After(deadline) {
			t.Fatalf("engine did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let it poll at least once
	sent := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after SIGTERM, want 0\n%s", code, stderr.String())
		}
		if d := time.Since(sent); d > 10*time.Second {
			t.Errorf("took %s to stop", d)
		}
	case <-time.After(12 * time.Second):
		t.Fatalf("run did not return within 12s of SIGTERM\n%s", stderr.String())
	}
}
