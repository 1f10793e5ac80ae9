// Package tftest drives the real Terraform CLI and the binaries built from this
// tree in tests: it finds terraform, builds the provider (and the engine) once
// per test binary, writes a dev_overrides CLI configuration so no registry is
// ever contacted, and runs terraform commands in a working directory.
//
// A test package that uses it calls Cleanup from its TestMain after m.Run.
package tftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Names of the provider as Terraform and the build know it.
const (
	ProviderSource    = "imagewatch/imagewatch"
	ProviderLocalName = "imagewatch"
	ProviderBinary    = "terraform-provider-imagewatch"
	EngineBinary      = "imagewatch-engine"
)

// Timeouts of one build and one terraform command.
const (
	buildTimeout   = 10 * time.Minute
	commandTimeout = 2 * time.Minute
)

var (
	mu     sync.Mutex
	binDir string                // shared by every build of this test binary
	builds = map[string]*build{} // by package
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Terraform returns the CLI the acceptance tests use too: TF_ACC_TERRAFORM_PATH,
// else terraform on PATH. Without one the test is skipped (.ci/run requires it).
func Terraform(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform CLI not found (set TF_ACC_TERRAFORM_PATH or put terraform on PATH); .ci/run requires it")
	}
	return p
}

// BuildProvider builds the provider once per test binary and returns the
// directory holding it (what dev_overrides names).
func BuildProvider(t testing.TB) string {
	t.Helper()
	return filepath.Dir(Build(t, ".", ProviderBinary))
}

// BuildEngine builds imagewatch-engine once per test binary and returns its path.
func BuildEngine(t testing.TB) string {
	t.Helper()
	return Build(t, "./cmd/imagewatch-engine", EngineBinary)
}

// Build compiles pkg (relative to the module root) into a binary named name,
// once per test binary, and returns the binary's path.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	mu.Lock()
	b, ok := builds[pkg]
	if !ok {
		b = &build{}
		builds[pkg] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.path, b.err = compile(pkg, name) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func compile(pkg, name string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go toolchain not on PATH: %w", err)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	mu.Lock()
	if binDir == "" {
		binDir, err = os.MkdirTemp("", "imagewatch-tftest-")
	}
	dir := binDir
	mu.Unlock()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-buildvcs=false", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// moduleRoot is the nearest directory above the working directory with a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("tftest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Cleanup removes the binaries built by this test binary. Call it from TestMain.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
		binDir = ""
	}
}

// DevOverridesEnv writes a CLI config that serves the provider from providerDir
// and returns the environment every terraform run of the test uses (no
// inherited TF_VAR_, TF_CLI_ARGS or data dir; no checkpoint calls).
func DevOverridesEnv(t testing.TB, providerDir string) []string {
	t.Helper()
	cfg := fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %q
  }
}
`, ProviderSource, providerDir)
	path := filepath.Join(t.TempDir(), "terraform.rc")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "TF_CLI_CONFIG_FILE=") || strings.HasPrefix(kv, "TF_DATA_DIR=") ||
			strings.HasPrefix(kv, "TF_CLI_ARGS") || strings.HasPrefix(kv, "TF_VAR_")
	})
	return append(env, "TF_CLI_CONFIG_FILE="+path, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
}

// Run runs terraform args in dir with env (its data dir inside dir).
func Run(t testing.TB, tf string, env []string, dir string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf, args...)
	cmd.Dir = dir
	cmd.Env = append(slices.Clip(env), "TF_DATA_DIR="+filepath.Join(dir, ".terraform"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}
