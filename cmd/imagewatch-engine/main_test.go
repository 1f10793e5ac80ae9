package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageErrors(t *testing.T) {
	good := writeConfig(t, `{"artifactory":[{"base_url":"https://a.example","repositories":["r"]}]}`)
	for _, tc := range []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"no command", nil, "Usage: imagewatch-engine <command>"},
		{"unknown command", []string{"watch"}, `unknown command "watch"`},
		{"run without config", []string{"run"}, "--config is required"},
		{"validate without config", []string{"validate"}, "--config is required"},
		{"unknown flag", []string{"run", "--config", good, "--bogus"}, "flag provided but not defined: -bogus"},
		{"positional argument", []string{"run", "--config", good, "extra"}, `unexpected argument "extra"`},
		{"bad backfill time", []string{"run", "--config", good, "--backfill-from=yesterday"}, `--backfill-from: "yesterday" is not a time`},
		{"future backfill", []string{"run", "--config", good, "--backfill-from=2999-01-01"}, "is in the future"},
		{"force without backfill", []string{"run", "--config", good, "--force"}, "use it together with --backfill-from"},
		{"bad flag value", []string{"run", "--config", good, "--once=maybe"}, "invalid boolean value"},
		{"version with argument", []string{"version", "now"}, `unexpected argument "now"`},
		{"missing config file", []string{"validate", "--config", filepath.Join(t.TempDir(), "nope.json")}, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty on a usage error, got:\n%s", stdout)
			}
		})
	}
}

func TestBadLogLevel(t *testing.T) {
	t.Setenv(logLevelEnv, "loud")
	cfg := writeConfig(t, `{"artifactory":[{"base_url":"https://a.example","repositories":["r"]}]}`)
	code, _, stderr := runCLI(t, "validate", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, `IMAGEWATCH_LOG_LEVEL="loud" is not a log level`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	cfg := writeConfig(t, `{
  "artifactory": [{
    "base_url": "https://acme.jfrog.io",
    "repositories": ["docker-local"],
    "image_filters": [{"repository": "docker-local", "tags": "^v[0-9"}]
  }],
  "workers": -1
}`)
	for _, cmd := range []string{"run", "validate"} {
		code, stdout, stderr := runCLI(t, cmd, "--config", cfg)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want 2", cmd, code)
		}
		for _, want := range []string{"invalid configuration (2 problems)", cfg + ": artifactory[0].image_filters[0].tags: invalid regular expression", cfg + ": workers: must be at least 1"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, stderr)
			}
		}
		if stdout != "" {
			t.Errorf("%s: stdout = %q", cmd, stdout)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Commands:", "run", "validate", "version", "IMAGEWATCH_LOG_LEVEL", "Exit status"}},
		{[]string{"help"}, []string{"Commands:"}},
		{[]string{"help", "run"}, []string{"Usage: imagewatch-engine run", "-backfill-from time", "-force", "-once", "-config file"}},
		{[]string{"run", "--help"}, []string{"Usage: imagewatch-engine run", "-backfill-from"}},
		{[]string{"validate", "-h"}, []string{"Usage: imagewatch-engine validate", "-config file"}},
		{[]string{"version", "--help"}, []string{"Usage: imagewatch-engine version"}},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != exitOK {
			t.Errorf("%v: exit %d, stderr:\n%s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, stdout)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	old := version
	version = "1.2.3-test" // as -ldflags "-X main.version=..." would
	t.Cleanup(func() { version = old })
	code, stdout, stderr := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "imagewatch-engine 1.2.3-test (go") || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestParseBackfillFrom(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-01-02":                time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05.5Z":    time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC),
		"2026-01-02T15:04:05+02:00": time.Date(2026, 1, 2, 13, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05":       time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	} {
		got, err := parseBackfillFrom(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseBackfillFrom(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "02/01/2026", "2026-13-01", "2026-11-23"} {
		if _, err := parseBackfillFrom(bad, now); err == nil {
			t.Errorf("parseBackfillFrom(%q) accepted", bad)
		}
	}
}

func TestLogLevel(t *testing.T) {
	for in, ok := range map[string]bool{"": true, "debug": true, "WARN": true, "trace": true, "error": true, "off": false, "verbose": false} {
		if _, err := logLevel(in); (err == nil) != ok {
			t.Errorf("logLevel(%q) err = %v", in, err)
		}
	}
}

func TestValidateBadFragment(t *testing.T) {
	dir := t.TempDir()
	intDir := filepath.Join(dir, "integrations.d")
	if err := os.Mkdir(intDir, 0o700); err != nil {
		t.Fatal(err)
	}
	frag := filepath.Join(intDir, "team-a.json")
	if err := os.WriteFile(frag, []byte(`{"base_url":"https://a.example","repositories":["r"],"exclude":["x"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"integrations_dir":"integrations.d"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "validate", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, frag+`: exclude: unknown key "exclude"`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestConfigWarningsShownWithErrors(t *testing.T) {
	cfg := writeConfig(t, `{"artifactory":[{"base_url":"https://a.example","username":"u","password":"pw","repositories":["r"]}],"log_format":"yaml"}`)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "run", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, "warning: "+cfg+" is accessible by group or others") || !strings.Contains(stderr, "log_format:") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, `"pw"`) || strings.Contains(stderr, ": pw") {
		t.Errorf("stderr shows the password:\n%s", stderr)
	}
}
